"""Other correct hands (tomoe, Kaisho) and real kana collections (the stroke-by-stroke
matcher they are kept by is tested in ``test_matching``)."""

import gzip

import numpy as np
import pytest

from kanjiwrite.datasets.matching import assign
from kanjiwrite.datasets.styles import (
    load_styles,
    read_tdic,
    rendering_of,
)
from kanjiwrite.datasets.tegaki import correct_attempts, read_tegaki_collection

TDIC = """二
:2
2 (60 100) (260 96)
2 (20 240) (300 236)

十
:2
2 (30 150) (290 148)
2 (160 20) (158 300)
"""


def test_read_tdic(tmp_path):
    path = tmp_path / "mini.tdic"
    path.write_text(TDIC, encoding="utf-8")
    entries = list(read_tdic(path))
    assert [char for char, _ in entries] == ["二", "十"]
    assert [s.shape for s in entries[0][1]] == [(2, 2), (2, 2)]
    np.testing.assert_array_equal(entries[1][1][1], [[160, 20], [158, 300]])


def test_tomoe_strokes_correspond_to_kanjivg(tmp_path, pack):
    path = tmp_path / "mini.tdic"
    path.write_text(TDIC, encoding="utf-8")
    for char, strokes in read_tdic(path):
        rendering = rendering_of(pack[char], "tomoe", strokes)
        assert rendering is not None and len(rendering.strokes) == pack[char].stroke_count
        # mapped onto the reference box, stroke i near reference stroke i
        for drawn, reference in zip(rendering.strokes, pack[char].strokes, strict=True):
            assert np.linalg.norm(drawn.mean(0) - reference.mean(0)) < 15


def test_style_set_holds_renderings_of_both_sources(pack):
    styles = load_styles(pack)
    counts = styles.meta["counts"]
    assert counts["kaisho"]["kept"] > 3000 and counts["tomoe"]["kept"] > 2000
    sources = {r.source for r in styles["方"]}
    assert sources == {"kaisho", "tomoe"}
    for rendering in styles["目"]:
        assert len(rendering.strokes) == pack["目"].stroke_count


def test_read_kana_collection_and_keep_corresponding_samples(tmp_path, pack):
    strokes = "".join(
        "<stroke>"
        + "".join(
            f'<point x="{x * 8:.0f}" y="{y * 8:.0f}" timestamp="{t}"/>'
            for t, (x, y) in enumerate(s)
        )
        + "</stroke>"
        for s in pack["い"].strokes
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><character-collection>'
        f'<set name="い"><character><utf8>い</utf8><width>1000</width><height>1000</height>'
        f"<strokes>{strokes}</strokes></character></set>"
        '<set name="う"></set></character-collection>'
    )
    path = tmp_path / "hiragana-fixture.charcol.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(xml)
    (sample,) = read_tegaki_collection(path)
    assert sample.char == "い" and sample.writer == "hiragana-fixture"
    assert sample.strokes[0].shape[1] == 3  # timestamps kept
    (attempt,) = correct_attempts(pack, [sample])
    assert (attempt.labels == 0).all() and attempt.order == (0, 1)


@pytest.mark.parametrize("char", ["目", "方"])
def test_renderings_keep_the_reference_numbering(pack, char):
    for rendering in load_styles(pack)[char]:
        assert assign(pack[char], rendering.strokes) == tuple(range(pack[char].stroke_count))
