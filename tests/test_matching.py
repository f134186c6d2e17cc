"""The one stroke matcher (``matching.assign``): accepted orders only, the reversed-stroke
rule shared by calibration and the real-writing evaluation, KanjiVG's variant files."""

from pathlib import Path

import numpy as np

from kanjiwrite.datasets.errors import DEFAULT_ERRORS, order_candidates, reversible
from kanjiwrite.datasets.matching import assign
from kanjiwrite.datasets.tegaki import HandwrittenSample, correct_attempts
from kanjiwrite.models.grader import Grader, GraderConfig
from kanjiwrite.models.runtime import torch_predict
from kanjiwrite.training.evaluate import inject_errors, score_real


def scaled(strokes, order=None):
    order = order or range(len(strokes))
    return [strokes[i] * 2.5 + 40 for i in order]


def test_assign_accepts_accepted_orders_only(pack):
    ref = pack["必"]  # has an alternative order
    for order in ref.orders():
        assert assign(ref, scaled(ref.strokes, order)) == order
    swapped = list(range(ref.stroke_count))
    swapped[3], swapped[4] = 4, 3
    assert assign(ref, scaled(ref.strokes, swapped)) is None  # not an accepted order
    assert assign(ref, scaled(ref.strokes, swapped), any_order=True) == tuple(swapped)


def test_assign_rejects_reversed_strokes_other_counts_and_characters(pack):
    ref = pack["書"]
    reversed_one = scaled(ref.strokes)
    reversed_one[5] = reversed_one[5][::-1]
    assert assign(ref, reversed_one) is None
    assert assign(ref, reversed_one, check_direction=False) is not None
    assert assign(ref, scaled(ref.strokes)[:-1]) is None
    other = next(c for c in pack.chars if pack[c].stroke_count == 10 and c != "書")
    assert assign(ref, scaled(pack[other].strokes)) is None


def test_real_writing_with_a_reversed_stroke_is_neither_kept_nor_scored(pack):
    """Calibration (``correct_attempts``) and the real-writing evaluation (``score_real``)
    drop the same samples: one written right is kept and scored, the same with one stroke
    backwards is dropped by both."""
    ref = pack["日"]
    right = scaled(ref.strokes)
    backwards = [*right[:1], right[1][::-1], *right[2:]]
    samples = [
        HandwrittenSample("日", strokes, (400.0, 400.0), Path(f"{name}.xml"), "japanese-fixture1")
        for name, strokes in (("right", right), ("backwards", backwards))
    ]
    (kept,) = correct_attempts(pack, samples)
    np.testing.assert_array_equal(kept.drawn[1], right[1])
    model = Grader(GraderConfig(d_model=32, heads=2, layers=1, conv_channels=16)).eval()
    writers, disagreeing, _ = score_real(torch_predict(model), pack, samples, seed=0)
    assert writers["japanese-fixture1"]["samples_strokes"] == ref.stroke_count
    assert [d["file"] for d in disagreeing] == ["backwards.xml"]


def test_injected_errors_are_those_the_synthesis_would_make(pack):
    """``inject_errors`` takes its checks from ``errors``: only strokes long enough are
    reversed, and a stroke written early is far from the one expected (either way round)
    and never one an accepted order allows there, for writing in an alternative order too."""
    ref = pack["必"]
    order = ref.alternative_orders[0]
    strokes = scaled(ref.strokes, order)
    points = ref.resampled()[list(order)]
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(40):
        for kind, injected in inject_errors(ref, strokes, order, rng):
            k = len(injected) - 1
            kinds.add(kind)
            if kind == "reversed":
                assert reversible(ref.strokes[order[k]], DEFAULT_ERRORS)
                np.testing.assert_array_equal(injected[k], strokes[k][::-1])
            else:
                (j,) = [i for i, s in enumerate(strokes) if s is injected[k]]
                assert j > k and j not in ref.interchangeable(order, k)
                assert j in order_candidates(points, k, set(), DEFAULT_ERRORS)
    assert kinds == {"reversed", "swapped"}
