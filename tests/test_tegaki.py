"""Tegaki XML reader, on tiny fixtures written here (never the shared GPL files)."""

import numpy as np
import pytest

from kanjiwrite.datasets.strokes import stroke_features
from kanjiwrite.datasets.tegaki import read_tegaki_file, read_tegaki_folder

TWO_STROKES = """<?xml version="1.0" encoding="UTF-8"?>
<character>
  <utf8>二</utf8>
  <strokes>
    <stroke><point x="300" y="350"/><point x="500" y="340"/><point x="700" y="345"/></stroke>
    <stroke><point x="150" y="700" timestamp="10"/><point x="850" y="690" timestamp="90"/></stroke>
  </strokes>
</character>
"""

SIZED = """<character><utf8>一</utf8><width>400</width><height>300</height>
<strokes><stroke><point x="10" y="150"/><point x="390" y="150"/></stroke></strokes></character>"""


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_reads_strokes_canvas_and_timestamps(tmp_path):
    sample = read_tegaki_file(write(tmp_path, "20108.xml", TWO_STROKES))
    assert sample.char == "二" and sample.canvas == (1000.0, 1000.0)
    assert [s.shape for s in sample.strokes] == [(3, 2), (2, 3)]
    np.testing.assert_allclose(sample.strokes[1][:, 2], [10, 90])
    sized = read_tegaki_file(write(tmp_path, "19968.xml", SIZED))
    assert sized.canvas == (400.0, 300.0)


def test_maps_into_the_one_representation(tmp_path):
    sample = read_tegaki_file(write(tmp_path, "20108.xml", TWO_STROKES))
    features = stroke_features(sample.strokes, sample.canvas)
    assert features.shape[:2] == (2, 32)
    assert features[..., :2].min() >= -0.5 - 1e-6 and features[..., :2].max() <= 0.5 + 1e-6


def test_folder_reader_keeps_the_writer(tmp_path):
    write(tmp_path / "eval" / "japanese-learner1" / "s1", "20108.xml", TWO_STROKES)
    write(tmp_path / "eval" / "japanese-native1" / "s1", "19968.xml", SIZED)
    samples = read_tegaki_folder(tmp_path)
    assert [(s.char, s.writer) for s in samples] == [
        ("二", "japanese-learner1"),
        ("一", "japanese-native1"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "not xml <",
        "<character><utf8>ab</utf8><strokes><stroke><point x='1' y='2'/></stroke>"
        "</strokes></character>",
        "<character><utf8>一</utf8><strokes></strokes></character>",
    ],
)
def test_rejects_malformed_files(tmp_path, text):
    with pytest.raises(ValueError):
        read_tegaki_file(write(tmp_path, "bad.xml", text))
