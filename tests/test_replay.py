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
