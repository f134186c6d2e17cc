"""The demo's prompt table, distilled from KANJIDIC2 (fixture written here)."""

import gzip
import json
from pathlib import Path

from kanjiwrite.datasets.kanjidic import OUT, distil

FIXTURE = """<?xml version="1.0" encoding="UTF-8"?>
<kanjidic2>
<character><literal>書</literal>
 <misc><grade>2</grade><stroke_count>10</stroke_count><jlpt>4</jlpt></misc>
 <reading_meaning><rmgroup>
  <reading r_type="pinyin">shu1</reading><reading r_type="ja_on">ショ</reading>
  <reading r_type="ja_kun">か.く</reading>
  <meaning>write</meaning><meaning m_lang="fr">écrire</meaning>
 </rmgroup></reading_meaning></character>
<character><literal>丂</literal><misc><stroke_count>2</stroke_count></misc></character>
<character><literal>亜</literal>
 <misc><grade>8</grade><stroke_count>7</stroke_count><jlpt>1</jlpt></misc>
 <reading_meaning><rmgroup><reading r_type="ja_on">ア</reading><meaning>Asia</meaning>
 </rmgroup></reading_meaning></character>
</kanjidic2>
"""


def test_distil_keeps_joyo_and_jlpt_kanji(tmp_path: Path):
    source = tmp_path / "kanjidic2.xml.gz"
    with gzip.open(source, "wt", encoding="utf-8") as f:
        f.write(FIXTURE)
    table = distil(source, known={"書", "丂", "亜"})
    assert set(table["kanji"]) == {"書", "亜"}  # no grade and no JLPT level: left out
    sho = table["kanji"]["書"]
    assert sho == {
        "meanings": ["write"],
        "on": ["ショ"],
        "kun": ["か.く"],
        "strokes": 10,
        "grade": 2,
        "jlpt": "N5",
    }
    assert table["sets"] == {
        "grade-2": ["書"],
        "jlpt-n5": ["書"],
        "secondary": ["亜"],
        "jlpt-n1": ["亜"],
    }
    assert "CC BY-SA 4.0" in table["attribution"]


def test_committed_table_covers_every_set(pack):
    table = json.loads(OUT.read_text())
    sizes = {name: len(chars) for name, chars in table["sets"].items()}
    assert sizes["grade-1"] == 80 and sizes["grade-6"] == 191 and sizes["secondary"] > 1000
    assert {"jlpt-n5", "jlpt-n4", "jlpt-n3", "jlpt-n1"} <= set(sizes)
    assert all(c in pack for chars in table["sets"].values() for c in chars)
    assert OUT.stat().st_size < 500_000
