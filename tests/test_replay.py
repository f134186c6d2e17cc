"""The app's protocol (``models.replay``): accepted strokes plus the new one, kept when
right; batched on honest claims, one call a stroke otherwise."""

import sys
from pathlib import Path

from kanjiwrite.models.replay import replay

sys.path.insert(0, str(Path(__file__).parent))
from test_decoding import exact_predict


def test_a_wrong_stroke_is_a_miss_and_dropped_from_later_requests(pack):
    ref = pack["日"]
    strokes = [ref.strokes[0], ref.strokes[1][::-1], ref.strokes[1], *ref.strokes[2:]]
    run = replay(exact_predict, ref, strokes, (109, 109))
    assert [s.request for s in run.steps] == [(0,), (0, 1), (0, 2), (0, 2, 3), (0, 2, 3, 4)]
    assert [s.accepted for s in run.steps] == [True, False, True, True, True]
    assert run.accepted == [0, 2, 3, 4] and run.complete
    assert run.misses() == [0, 1, 0, 0] and run.calls == len(strokes)


def test_honest_claims_grade_in_one_call_lies_fall_back_and_overrules_count(pack):
    ref = pack["日"]
    strokes = [ref.strokes[0], ref.strokes[1][::-1], *ref.strokes[1:]]
    plain = replay(exact_predict, ref, strokes, (109, 109))
    honest = [s.accepted for s in plain.steps]
    batched = replay(exact_predict, ref, strokes, (109, 109), claimed=honest)
    assert batched.calls == 1 and batched.steps == plain.steps
    lied = replay(exact_predict, ref, strokes, (109, 109), claimed=[True] * len(strokes))
    # one call up to the first lie (stroke 1), then one call a stroke
    assert lied.calls == 1 + len(strokes) - 2 and [s.accepted for s in lied.steps] == honest
    overruled = replay(exact_predict, ref, strokes, (109, 109), overruled={1})
    # the overruled backwards stroke stands for stroke 1; its redo is then a miss on stroke 2
    assert overruled.accepted == [0, 1, 3, 4] and overruled.misses() == [0, 0, 1, 0]


def test_grading_stops_at_the_miss_limit(pack):
    ref = pack["日"]
    strokes = [ref.strokes[1][::-1]] * 5
    run = replay(exact_predict, ref, strokes, (109, 109), max_misses=3)
    assert len(run.steps) == 3 and run.misses() == [3, 0, 0, 0] and not run.complete


def test_only_the_orders_that_begin_as_the_strokes_were_accepted_are_graded(pack):
    """驢 has 7 accepted orders that part at strokes 3 and 11-14: once a stroke only some
    orders expect is accepted, the others are no longer graded, so the replay grades far
    fewer items than requests x orders, in a few batched calls (one per parting), and every
    request is graded against orders that begin as its strokes were accepted."""
    from kanjiwrite.models.runtime import onnx_predict
    from kanjiwrite.serving.settings import shipped_model

    model = onnx_predict(shipped_model())
    ref = pack["驢"]
    items = []

    def counting(inputs):
        items.append(len(inputs["drawn"]))
        return model(inputs)

    strokes = [s * 3 + 40 for s in ref.strokes]
    plain = replay(counting, ref, strokes, (400, 400))
    assert plain.complete and plain.calls == ref.stroke_count
    assert sum(items) < 0.5 * ref.stroke_count * len(ref.orders())
    for step in plain.steps:
        assert step.result.order[: len(step.settled_as)] == step.settled_as
    items.clear()
    claims = [True] * len(strokes)
    batched = replay(counting, ref, strokes, (400, 400), claimed=claims)
    assert batched.steps == plain.steps and 1 < batched.calls <= 5
