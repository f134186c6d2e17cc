"""Distil KANJIDIC2 into the prompt table (``datasets/data/kanji-info.json``) that the demo
serves and the iOS app bundles (``prompts.json``).

KANJIDIC2 is by the Electronic Dictionary Research and Development Group (EDRDG), licensed
CC BY-SA 4.0; here it comes from Debian's ``kanjidic-xml`` package. The table keeps, for
every Jōyō kanji (grades 1-6 and secondary) or kanji with a JLPT level that the
reference pack has: English
meanings, on and kun readings, stroke count, grade and JLPT level.

JLPT levels: KANJIDIC2 records the pre-2010 four-level test; the table maps 4 -> N5,
3 -> N4, 2 -> N3 (which also covers what is now N2) and 1 -> N1.

    python -m kanjiwrite.datasets.kanjidic [/usr/share/edict/kanjidic2.xml.gz]
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

DEBIAN_KANJIDIC2 = Path("/usr/share/edict/kanjidic2.xml.gz")
OUT = Path(__file__).parent / "data" / "kanji-info.json"
JLPT = {4: "N5", 3: "N4", 2: "N3", 1: "N1"}
GRADE_SETS = {
    1: "grade-1",
    2: "grade-2",
    3: "grade-3",
    4: "grade-4",
    5: "grade-5",
    6: "grade-6",
    8: "secondary",
}
# every set of the demo and the practice API: id -> (group, label), in display order
SET_LABELS = {
    "grade-1": ("Jōyō", "Grade 1"),
    "grade-2": ("Jōyō", "Grade 2"),
    "grade-3": ("Jōyō", "Grade 3"),
    "grade-4": ("Jōyō", "Grade 4"),
    "grade-5": ("Jōyō", "Grade 5"),
    "grade-6": ("Jōyō", "Grade 6"),
    "secondary": ("Jōyō", "Secondary school"),
    "jlpt-n5": ("JLPT", "N5"),
    "jlpt-n4": ("JLPT", "N4"),
    "jlpt-n3": ("JLPT", "N3 (and N2)"),
    "jlpt-n1": ("JLPT", "N1"),
}
ATTRIBUTION = (
    "Meanings and readings from KANJIDIC2 by the Electronic Dictionary Research "
    "and Development Group (EDRDG), CC BY-SA 4.0 (https://www.edrdg.org/)."
)


RADICAL_NAME = re.compile(r"\bradical \(no\.\s*\d+\)")
# countries and regions KANJIDIC lists for phonetic abbreviations (土 "Turkey" from 土耳古):
# noise in a prompt for writing the kanji
ABBREVIATED_PLACES = {
    "Africa",
    "America",
    "Asia",
    "Australia",
    "Belgium",
    "Brazil",
    "Canada",
    "Europe",
    "France",
    "Germany",
    "Holland",
    "India",
    "Italy",
    "Mexico",
    "Portugal",
    "Prussia",
    "Russia",
    "Spain",
    "Turkey",
    "Vietnam",
}


def clean_meanings(meanings: list[str]) -> list[str]:
    """Meanings fit for a prompt: without radical names ("one radical (no.1)") and
    abbreviated place names, unless nothing else is left."""
    kept = [m for m in meanings if not RADICAL_NAME.search(m) and m not in ABBREVIATED_PLACES]
    return kept or meanings


def load_prompts() -> dict:
    """The prompt table: ``attribution``, ``kanji`` (meanings, readings, stroke count,
    grade, JLPT level), ``sets`` and ``set_labels``."""
    return json.loads(OUT.read_text())


def distil(source: Path, known: set[str]) -> dict:
    with gzip.open(source) as handle:
        root = ET.parse(handle).getroot()
    kanji, sets = {}, {}
    for character in root.iter("character"):
        literal = character.findtext("literal")
        grade = character.findtext("misc/grade")
        jlpt = character.findtext("misc/jlpt")
        joyo = grade is not None and int(grade) in GRADE_SETS
        if literal not in known or not (joyo or jlpt is not None):
            continue
        meanings = clean_meanings(
            [m.text for m in character.iter("meaning") if not m.attrib and m.text]
        )
        readings = list(character.iter("reading"))
        entry = {
            "meanings": meanings[:5],
            "on": [r.text for r in readings if r.attrib.get("r_type") == "ja_on"],
            "kun": [r.text for r in readings if r.attrib.get("r_type") == "ja_kun"],
            "strokes": int(character.findtext("misc/stroke_count")),
            "grade": int(grade) if grade else None,
            "jlpt": JLPT[int(jlpt)] if jlpt else None,
        }
        kanji[literal] = entry
        if entry["grade"] in GRADE_SETS:
            sets.setdefault(GRADE_SETS[entry["grade"]], []).append(literal)
        if entry["jlpt"]:
            sets.setdefault("jlpt-" + entry["jlpt"].lower(), []).append(literal)
    return {
        "attribution": ATTRIBUTION,
        "kanji": kanji,
        "sets": sets,
        "set_labels": [
            {"id": name, "group": group, "label": label}
            for name, (group, label) in SET_LABELS.items()
        ],
    }


if __name__ == "__main__":
    from kanjiwrite.datasets.kanjivg import load_pack

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEBIAN_KANJIDIC2
    table = distil(source, set(load_pack().chars))
    OUT.write_text(json.dumps(table, ensure_ascii=False, separators=(",", ":")))
    print(
        f"wrote {OUT}: {len(table['kanji'])} kanji, sets "
        + ", ".join(f"{k} {len(v)}" for k, v in sorted(table["sets"].items()))
    )
