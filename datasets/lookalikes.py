"""Look-alike kanji: pairs that correspond stroke by stroke but differ where it matters
(土/士, 末/未, 甲/申, 提/堤 ...), mined from KanjiVG, with the per-stroke labels of writing one
when the other was asked for.

A pair (A, B) qualifies when both have the same stroke count, B's strokes are close to A's
of the same number on average and none is far (so B reads as A written with a few strokes
changed), and either a relation that tells characters apart differs
(``geometry.relations``: which of two parallel strokes is the longer, a clear crossing) or
some strokes are clearly different. Writing B for A labels each stroke against A: wrong
where it is clearly different, and where a relation breaks, the later stroke of the pair
(the stroke with which the learner's writing stops being A: a stroke-by-stroke grader
cannot know the first one is off before the second is drawn); ``misplaced`` when the
shape is A's (too long, too short, moved), ``wrong_shape`` otherwise; the rest
``correct``.

Mining compares every two characters of a stroke count (38 s over the whole pack on one
core), so the pairs of the whole pack are mined once and cached beside the reference pack
(``lookalikes-<pack version>-la<format>.json``); a split's pairs are those whose two
characters are both in the split (the same as mining the split alone: a pair's test looks
at its two characters only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE, LABEL_INDEX
from kanjiwrite.datasets.kanjivg import ReferencePack, write_atomically

DIFFERENT = 0.1  # mean point distance (char units) of a stroke that is clearly another
FAR = 0.2  # no stroke of a look-alike is this far from its partner
MEAN = 0.1  # mean over all strokes
SAME_SHAPE = 0.2  # shape distance under which a wrong stroke counts as misplaced
RELATIONS = ("longer", "crossing")  # what tells kanji apart ("apart" also varies by style)
LOOKALIKE_FORMAT = 1  # bump when the mining rule changes: the cache is rebuilt


@dataclass(frozen=True)
class LookAlike:
    asked: str  # the character asked for
    written: str  # the look-alike written instead
    labels: tuple[int, ...]  # per stroke of ``written``, against ``asked`` (LABELS indices)


def stroke_distances(pack: ReferencePack, chars: list[str]) -> np.ndarray:
    """Mean point distance between stroke i of every two of ``chars`` (all with the same
    stroke count S): ``(C, C, S)`` in character units."""
    points = np.stack([pack[c].resampled() for c in chars])  # (C, S, P, 2)
    distances = np.empty((len(chars), len(chars), points.shape[1]))
    for i in range(len(chars)):
        distances[i] = np.linalg.norm(points[i][None] - points, axis=-1).mean(-1)
    return distances / KANJIVG_SIZE


def wrong_strokes(pack: ReferencePack, asked: str, written: str, distances: np.ndarray) -> set:
    """Strokes of ``written`` that are wrong for ``asked`` (see module doc)."""
    wrong = {int(i) for i in np.flatnonzero(distances > DIFFERENT)}
    a = geometry.relations(pack[asked].strokes, KANJIVG_SIZE)
    b = geometry.relations(pack[written].strokes, KANJIVG_SIZE)
    for name in RELATIONS:
        wrong |= {max(pair) for pair in a[name] ^ b[name]}
    return wrong


def label_pair(pack: ReferencePack, asked: str, written: str, wrong: set) -> LookAlike:
    labels = []
    for i, (a, b) in enumerate(zip(pack[asked].strokes, pack[written].strokes, strict=True)):
        if i not in wrong:
            labels.append(LABEL_INDEX["correct"])
        elif geometry.shape_distance(b, a, KANJIVG_SIZE) <= SAME_SHAPE:
            labels.append(LABEL_INDEX["misplaced"])
        else:
            labels.append(LABEL_INDEX["wrong_shape"])
    return LookAlike(asked, written, tuple(labels))


def mine_lookalikes(pack: ReferencePack, chars: list[str]) -> dict[str, list[LookAlike]]:
    """Every look-alike among ``chars`` (see module doc), by the character asked for."""
    by_count: dict[int, list[str]] = {}
    for c in chars:
        if pack[c].stroke_count >= 2:
            by_count.setdefault(pack[c].stroke_count, []).append(c)
    found: dict[str, list[LookAlike]] = {}
    for count, group in by_count.items():
        if len(group) < 2:
            continue
        d = stroke_distances(pack, group)
        near = (d.max(-1) < FAR) & (d.mean(-1) <= MEAN)
        for i, j in zip(*np.nonzero(near), strict=True):
            if i == j:
                continue
            wrong = wrong_strokes(pack, group[i], group[j], d[i, j])
            if wrong and 3 * len(wrong) <= 2 * count:
                pair = label_pair(pack, group[i], group[j], wrong)
                found.setdefault(pair.asked, []).append(pair)
    return found


def lookalike_cache_path(pack: ReferencePack) -> Path:
    return Path(pack.path).parent / f"lookalikes-{pack.version}-la{LOOKALIKE_FORMAT}.json"


@cache
def all_lookalikes(pack: ReferencePack) -> dict[str, list[LookAlike]]:
    """``mine_lookalikes`` over the whole pack, mined on first use and cached on disk."""
    path = lookalike_cache_path(pack)
    if not path.exists():
        mined = mine_lookalikes(pack, list(pack.chars))
        rows = [[p.asked, p.written, list(p.labels)] for pairs in mined.values() for p in pairs]
        text = json.dumps(rows, ensure_ascii=False)
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    found: dict[str, list[LookAlike]] = {}
    for asked, written, labels in json.loads(path.read_text(encoding="utf-8")):
        found.setdefault(asked, []).append(LookAlike(asked, written, tuple(labels)))
    return found


@cache
def lookalikes_of(pack: ReferencePack, split_chars: tuple[str, ...]) -> dict[str, list[LookAlike]]:
    """The look-alike pairs of a split: both characters in ``split_chars``."""
    chars = set(split_chars)
    found = {
        asked: [p for p in pairs if p.written in chars]
        for asked, pairs in all_lookalikes(pack).items()
        if asked in chars
    }
    return {asked: pairs for asked, pairs in found.items() if pairs}


# --- partners: the look-alikes a drawing is compared with while it is graded ---------------

PARTNERS_PER_KANJI = 4  # the nearest look-alikes kept per kanji (one batch item each)
# small kana differ from their full-size kana only in size and place, which writers vary
SMALL_KANA = set("ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ")
PARTNER_TABLE = Path(__file__).parent / "data" / "lookalikes.json"

Difference = tuple[
    str, int, int
]  # ("longer", i, j), ("crosses", i, j), ("apart", i, j), ("stroke", k, k)


def differences(pack: ReferencePack, asked: str, written: str) -> list[Difference]:
    """What the asked character has that the look-alike written instead does not (stroke
    indices of ``asked``): stroke i clearly the longer of i and j, strokes i and j crossing
    clearly (or clearly not), stroke k clearly another; most telling first."""
    a = geometry.relations(pack[asked].strokes, KANJIVG_SIZE)
    b = geometry.relations(pack[written].strokes, KANJIVG_SIZE)
    found: list[Difference] = [("longer", i, j) for i, j in sorted(a["longer"] - b["longer"])]
    found += [("crosses", i, j) for i, j in sorted(a["crossing"] - b["crossing"])]
    found += [("apart", i, j) for i, j in sorted(b["crossing"] - a["crossing"])]
    d = stroke_distances(pack, [asked, written])[0, 1]
    found += [("stroke", int(k), int(k)) for k in np.argsort(-d) if d[k] > DIFFERENT]
    return found


def mine_partner_table(pack: ReferencePack) -> dict[str, list[tuple[str, list[Difference]]]]:
    """For every character of the pack with look-alikes (kana too, small kana aside): its
    nearest ``PARTNERS_PER_KANJI`` look-alikes and how each differs (``differences``)."""
    table = {}
    for asked, pairs in all_lookalikes(pack).items():
        written = [p.written for p in pairs if p.written not in SMALL_KANA]
        if asked in SMALL_KANA or not written:
            continue
        d = stroke_distances(pack, [asked, *written])[0, 1:].mean(-1)
        nearest = [written[i] for i in np.argsort(d, kind="stable")[:PARTNERS_PER_KANJI]]
        table[asked] = [(w, differences(pack, asked, w)) for w in nearest]
    return table


def write_partner_table(pack: ReferencePack, path: Path = PARTNER_TABLE) -> Path:
    """Mine the partner table and write it as JSON (``kanjiwrite data lookalikes``)."""
    body = {"pack_version": pack.version, "partners": as_json(mine_partner_table(pack))}
    path.write_text(json.dumps(body, ensure_ascii=False, sort_keys=True, indent=0) + "\n")
    return path


@cache
def partner_table(pack: ReferencePack, path: Path = PARTNER_TABLE) -> dict[str, list]:
    """The shipped partner table of ``pack`` (``[written, differences]`` per asked
    character); mined here when the table was made for another pack version."""
    if path.exists():
        body = json.loads(path.read_text())
        if body["pack_version"] == pack.version:
            return body["partners"]
    return as_json(mine_partner_table(pack))


def as_json(table: dict[str, list[tuple[str, list[Difference]]]]) -> dict[str, list]:
    return {a: [[w, [list(x) for x in diff]] for w, diff in ps] for a, ps in table.items()}
