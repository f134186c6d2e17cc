"""The stroke format and normalisation, pinned by hand-checked cases and golden vectors."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kanjiwrite.datasets.strokes import (
    FEATURES,
    POINTS_PER_STROKE,
    as_stroke,
    character_frame,
    resample,
    resample_many,
    stroke_features,
)

GOLDEN = Path(__file__).parent / "golden" / "normalisation.json"


def golden_cases() -> list[dict]:
    """Inputs of the golden vectors: raw strokes as a client sends them."""
    return [
        {"name": "horizontal line", "canvas": [109, 109], "strokes": [[[10, 50], [90, 50]]]},
        {
            "name": "L shape, uneven sampling",
            "canvas": [200, 100],
            "strokes": [[[20, 10], [21, 10], [60, 10], [60, 40], [60, 90]]],
        },
        {
            "name": "tap (one point) then a stroke",
            "canvas": [1000, 1000],
            "strokes": [[[500, 500]], [[400, 520], [420, 600], [430, 700]]],
        },
        {
            "name": "repeated points and timestamps",
            "canvas": [320, 480],
            "strokes": [
                [[100, 100, 0], [100, 100, 16], [150, 120, 32], [150, 120, 48]],
                [[90, 200, 300], [160, 210, 316], [230, 205, 332]],
            ],
        },
        {
            "name": "three strokes of 三-like writing",
            "canvas": [375, 375],
            "strokes": [
                [[100, 100], [180, 98], [260, 101]],
                [[120, 180], [250, 178]],
                [[80, 270], [180, 266], [290, 272]],
            ],
        },
    ]


def test_golden_vectors_pin_the_normalisation():
    if os.environ.get("KANJIWRITE_WRITE_GOLDEN"):
        cases = [
            dict(
                case,
                features=stroke_features(
                    [np.array(s, float) for s in case["strokes"]], tuple(case["canvas"])
                )
                .round(6)
                .tolist(),
            )
            for case in golden_cases()
        ]
        GOLDEN.write_text(json.dumps({"features": FEATURES, "cases": cases}, ensure_ascii=False))
    golden = json.loads(GOLDEN.read_text())
    assert tuple(golden["features"]) == FEATURES
    assert [c["name"] for c in golden["cases"]] == [c["name"] for c in golden_cases()]
    for case in golden["cases"]:
        strokes = [np.array(s, float) for s in case["strokes"]]
        got = stroke_features(strokes, tuple(case["canvas"]))
        np.testing.assert_allclose(got, np.array(case["features"]), atol=2e-6, err_msg=case["name"])


def test_resample_is_even_by_arc_length_hand_checked():
    # an L of total length 100: 40 along x then 60 down; 6 points every 20 units
    stroke = np.array([[0, 0], [40, 0], [40, 60]], float)
    np.testing.assert_allclose(
        resample(stroke, 6), [[0, 0], [20, 0], [40, 0], [40, 20], [40, 40], [40, 60]]
    )


def test_resample_many_matches_one_by_one_and_handles_taps():
    strokes = [
        np.array([[0, 0], [3, 4], [3, 10]], float),
        np.array([[7, 7]], float),
        np.array([[1, 1], [1, 1], [5, 1]], float),
    ]
    together = resample_many(strokes, 5)
    for stroke, row in zip(strokes, together, strict=True):
        np.testing.assert_allclose(row, resample(stroke, 5), atol=1e-9)
    np.testing.assert_allclose(together[1], np.full((5, 2), 7.0))
    np.testing.assert_allclose(together[2][:, 0], [1, 2, 3, 4, 5])


def test_frame_is_the_joint_box_with_a_floor():
    strokes = [np.array([[10, 10], [50, 30]], float)]
    assert character_frame(strokes, (109, 109)) == (30.0, 20.0, 40.0)
    tiny = [np.array([[50, 50], [52, 50]], float)]
    assert character_frame(tiny, (400, 200))[2] == pytest.approx(0.25 * 200)


def test_features_shape_pen_flags_and_directions():
    f = stroke_features(
        [np.array([[0, 0], [100, 0]], float), np.array([[0, 50]], float)], (109, 109)
    )
    assert f.shape == (2, POINTS_PER_STROKE, len(FEATURES)) and f.dtype == np.float32
    assert f[0, 0, 4] == 1 and f[0, 1:, 4].sum() == 0 and f[0, -1, 5] == 1
    np.testing.assert_allclose(f[0, :, 2:4], np.tile([1.0, 0.0], (POINTS_PER_STROKE, 1)))
    np.testing.assert_allclose(f[1, :, 2:4], 0.0)  # a tap has no direction


def test_features_invariant_to_the_canvas_scale_and_frame_features_to_translation():
    rng = np.random.default_rng(3)
    strokes = [rng.uniform(100, 300, (12, 2)) for _ in range(4)]
    base = stroke_features(strokes, (400, 400))
    scaled = stroke_features([s * 2.5 for s in strokes], (1000, 1000))
    np.testing.assert_allclose(base, scaled, atol=1e-5)  # the same writing, a larger view
    moved = stroke_features([s * 2.5 + [40, -90] for s in strokes], (1000, 1000))
    frame = [FEATURES.index(f) for f in FEATURES if not f.startswith("box_")]
    np.testing.assert_allclose(base[..., frame], moved[..., frame], atol=1e-5)


def test_timestamps_are_ignored_and_bad_shapes_rejected():
    with_time = np.array([[0, 0, 0], [10, 0, 16], [10, 10, 40]], float)
    np.testing.assert_allclose(
        stroke_features([with_time], (109, 109)), stroke_features([with_time[:, :2]], (109, 109))
    )
    for bad in (np.zeros((0, 2)), np.zeros((3,)), np.zeros((3, 4))):
        with pytest.raises(ValueError):
            as_stroke(bad)


def test_box_features_place_points_in_the_writing_box_hand_checked():
    # a 400 x 300 canvas: the box is its centred 300 x 300 square, unit 300
    stroke = np.array([[200.0, 150.0], [50.0, 0.0]])
    features = stroke_features([stroke], (400, 300))
    box = features[0][:, [FEATURES.index("box_x"), FEATURES.index("box_y")]]
    np.testing.assert_allclose(box[0], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(box[-1], [-0.5, -0.5], atol=1e-6)
    # the frame features of one stroke do not move with it; its box features do
    moved = stroke_features([stroke + np.array([100.0, 0.0])], (400, 300))[0]
    frame = [FEATURES.index("x"), FEATURES.index("y")]
    np.testing.assert_allclose(moved[:, frame], features[0][:, frame], atol=1e-6)
    assert not np.allclose(moved[:, FEATURES.index("box_x")], box[:, 0])
