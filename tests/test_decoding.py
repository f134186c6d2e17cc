"""From model outputs to verdicts (numpy, shared by evaluation and serving)."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanjiwrite.datasets.contract import ACCEPT, LABELS, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES, model_inputs
from kanjiwrite.models.decoding import Partner, build_batch, decode, grade
from kanjiwrite.models.messages import explain

STROKE = (POINTS_PER_STROKE, len(FEATURES))  # points x features of one model-input stroke


def outputs(orders, count, p_correct, errors=None, matches=None):
    """Fake outputs: p_correct[o][k] for stroke k under order o (same in every prefix)."""
    n = len(orders[0])
    verdict = np.zeros((len(orders) * count, count, len(LABELS)))
    match = np.zeros((len(orders) * count, count, n + 1))
    for o in range(len(orders)):
        for item in range(count):
            for k in range(count):
                p = p_correct[o][k]
                verdict[o * count + item, k, 0] = p
                err = (errors or {}).get(k, 1)
                verdict[o * count + item, k, err] = 1 - p
                match[o * count + item, k, (matches or {}).get(k, min(k, n))] = 1.0
    return verdict, match


def test_batch_holds_every_prefix_for_every_order(pack):
    ref = pack["主"]
    drawn = [s * 2 + 10 for s in ref.strokes[:3]]
    inputs, orders = build_batch(ref, drawn, (300, 300))
    assert orders == ref.orders() and len(orders) >= 2
    assert inputs["drawn"].shape == (3 * len(orders), 3, *STROKE)
    assert inputs["reference"].shape == (3 * len(orders), 5, *STROKE)
    np.testing.assert_array_equal(inputs["drawn_mask"][:3], np.tril(np.ones((3, 3), bool)))
    second = [ref.strokes[i] for i in orders[1]]
    a, b = model_inputs(drawn[:2], (300, 300), second)
    np.testing.assert_allclose(inputs["drawn"][3 + 1, :2], a, atol=1e-5)
    np.testing.assert_allclose(inputs["reference"][3 + 1], b, atol=1e-5)


def test_decode_rules():
    orders = [(0, 1, 2)]
    verdict, match = outputs(orders, 4, [[0.9, ACCEPT, 0.2, 0.99]], errors={2: 3}, matches={3: 3})
    result = decode(verdict, match, orders, 4)
    assert [s.verdict for s in result.strokes] == ["correct", "correct", "wrong_shape", "extra"]
    assert result.strokes[2].p_correct == pytest.approx(0.2)
    assert [s.expected_index for s in result.strokes] == [0, 1, 2, None]
    assert result.strokes[3].matched_index is None  # the "none" column
    assert result.missing == [2] and not result.complete


def test_decode_picks_the_order_the_learner_followed():
    orders = [(0, 1, 2), (0, 2, 1)]
    verdict, match = outputs(orders, 3, [[0.9, 0.1, 0.2], [0.9, 0.95, 0.9]], matches={1: 1})
    result = decode(verdict, match, orders, 3)
    assert result.order == (0, 2, 1)
    assert [s.expected_index for s in result.strokes] == [0, 2, 1]
    assert result.strokes[1].matched_index == 2  # position 1 of order (0, 2, 1)
    assert result.complete


def test_grade_makes_one_call(pack):
    ref = pack["書"]
    calls = []

    def predict(inputs):
        calls.append(inputs["drawn"].shape)
        n = inputs["drawn"].shape[0]
        verdict = np.zeros((n, inputs["drawn"].shape[1], len(LABELS)))
        verdict[..., 0] = 1.0
        return verdict, np.ones((n, inputs["drawn"].shape[1], ref.stroke_count + 1))

    result = grade(predict, ref, ref.strokes[:4], (109, 109))
    assert len(calls) == 1 and [s.verdict for s in result.strokes] == ["correct"] * 4
    assert result.missing == list(range(4, 10))


def test_whole_request_mode_judges_the_newest_stroke_like_its_prefix(pack):
    from kanjiwrite.models.runtime import onnx_predict
    from kanjiwrite.serving.settings import shipped_model

    ref = pack["書"]
    rng = np.random.default_rng(0)
    drawn = [s * 3 + 20 + rng.normal(0, 1, s.shape) for s in ref.strokes[:6]]
    predict = onnx_predict(shipped_model())
    inputs, _ = build_batch(ref, drawn, (400, 400), prefixes=False)
    assert inputs["drawn"].shape[0] == len(ref.orders())
    whole = grade(predict, ref, drawn, (400, 400), prefixes=False)
    each = grade(predict, ref, drawn, (400, 400), prefixes=True)
    assert whole.strokes[-1].p_correct == pytest.approx(each.strokes[-1].p_correct, abs=1e-5)
    assert whole.strokes[-1].verdict == each.strokes[-1].verdict


def test_decode_keeps_the_order_consistent_with_the_strokes_already_accepted():
    # order A accepts the first two strokes; order B rejects the first but scores the
    # newest higher and has the higher mean: the client accepted the first two strokes,
    # so the newest is judged under A
    orders = [(0, 1, 2), (1, 0, 2)]
    verdict, match = outputs(orders, 3, [[0.9, 0.9, 0.3], [0.45, 0.99, 0.99]])
    result = decode(verdict, match, orders, 3)
    assert result.order == (0, 1, 2)
    assert [s.verdict for s in result.strokes][:2] == ["correct", "correct"]


def test_a_stroke_that_depicts_no_other_stroke_is_never_wrong_order():
    orders = [(0, 1, 2)]
    # the model's favourite error is wrong_order, but the match head says "stroke 0 itself"
    verdict, match = outputs(orders, 1, [[0.1]], errors={0: 2}, matches={0: 0})
    (stroke,) = decode(verdict, match, orders, 1).strokes
    assert stroke.verdict != "wrong_order" and stroke.matched_index == 0
    # and a stroke that depicts another one is wrong_order, not wrong_shape
    verdict, match = outputs(orders, 1, [[0.1]], errors={0: 3}, matches={0: 1})
    (stroke,) = decode(verdict, match, orders, 1).strokes
    assert stroke.verdict == "wrong_order" and stroke.matched_index == 1


def exact_predict(inputs):
    """A stand-in model that accepts a stroke exactly when its features equal those of the
    reference stroke at its position (both through the one normalisation)."""
    drawn, reference = inputs["drawn"], inputs["reference"]
    count = drawn.shape[1]
    same = np.zeros(drawn.shape[:2], bool)
    width = min(count, reference.shape[1])
    same[:, :width] = np.isclose(drawn[:, :width], reference[:, :width], atol=1e-4).all((-1, -2))
    verdict = np.zeros((*drawn.shape[:2], len(LABELS)))
    verdict[..., 0] = np.where(same, 0.99, 0.01)
    verdict[..., 3] = 1 - verdict[..., 0]
    match = np.zeros((*drawn.shape[:2], reference.shape[1] + 1))
    match[..., -1] = 1.0
    return verdict, match


def test_every_accepted_order_of_every_character_completes_stroke_by_stroke(pack):
    """As the demo and the app run it: after each pen lift the accepted strokes plus the
    new one are sent; every stroke of every accepted order is accepted, each under the
    order followed, and the last answer is complete."""
    checked = 0
    for char in pack.chars:
        ref = pack[char]
        if not ref.alternative_orders:
            continue
        for order in ref.orders():
            accepted = []
            for k, base in enumerate(order):
                accepted.append(ref.strokes[base])
                result = grade(exact_predict, ref, accepted, (109, 109), prefixes=False)
                assert result.strokes[-1].verdict == "correct", (char, order, k)
                assert [s.expected_index for s in result.strokes] == list(order[: k + 1])
            assert result.complete and result.order == order, (char, order)
            checked += 1
    assert checked >= 1900  # 886 characters with 1,048 alternative orders


def test_settled_strokes_stay_right_so_missing_follows_what_the_learner_was_shown():
    # the first two strokes were shown as right; in the context of the newest their
    # p_correct dropped below the threshold (the 凩 case): they stay right, the kanji completes
    orders = [(0, 1, 2)]
    verdict, match = outputs(orders, 3, [[0.4999, 0.45, 0.9]])
    verdict, match = verdict[-1:], match[-1:]  # the whole-request item
    result = decode(verdict, match, orders, 3, settled=2)
    assert [s.verdict for s in result.strokes] == ["correct"] * 3 and result.complete
    unsettled = decode(verdict, match, orders, 3)
    assert not unsettled.complete and unsettled.missing == [0, 1]


def test_a_tap_is_a_wrong_shape_never_another_stroke():
    orders = [(0, 1, 2)]
    # the verdict head likes wrong_order and the match head is sure of stroke 2
    verdict, match = outputs(orders, 1, [[0.1]], errors={0: 2}, matches={0: 2})
    (tap,) = decode(verdict, match, orders, 1, taps=np.array([True])).strokes
    assert tap.verdict == "wrong_shape" and tap.story is None
    (stroke,) = decode(verdict, match, orders, 1, taps=np.array([False])).strokes
    assert stroke.verdict == "wrong_order" and stroke.story == "later"


def test_again_only_for_a_stroke_already_accepted():
    orders = [(0, 1, 2)]
    # stroke 1 depicts stroke 0, which was accepted: "again"
    verdict, match = outputs(orders, 2, [[0.9, 0.1]], errors={1: 2}, matches={1: 0})
    result = decode(verdict[-1:], match[-1:], orders, 2)
    assert result.strokes[1].story == "again"
    # stroke 0 was rejected: stroke 1 depicting it is not "stroke 1 again"
    verdict, match = outputs(orders, 2, [[0.1, 0.1]], errors={0: 3, 1: 2}, matches={1: 0})
    result = decode(verdict[-1:], match[-1:], orders, 2)
    assert result.strokes[1].verdict != "wrong_order" and result.strokes[1].story is None


def partner_outputs(own, partner):
    """Whole-request outputs of one order and one partner: p_correct per stroke."""
    count = len(own)
    verdict = np.zeros((2, count, len(LABELS)))
    verdict[0, :, 0], verdict[1, :, 0] = own, partner
    verdict[:, :, 4] = 1 - verdict[:, :, 0]
    match = np.zeros((2, count, count + 1))
    match[:, np.arange(count), np.arange(count)] = 1.0
    return verdict, match


def test_a_partner_that_explains_the_writing_better_makes_the_stroke_where_it_differs_wrong(
    pack,
):
    partner = Partner(pack["士"], [("longer", 2, 0)])  # asked 土: its stroke 3 is the longer
    orders = [(0, 1, 2)]
    verdict, match = partner_outputs([0.8, 0.9, 0.55], [0.95, 0.9, 0.99])
    result = decode(verdict, match, orders, 3, partners=[partner], settled=2)
    newest = result.strokes[-1]
    assert newest.verdict == "misplaced" and newest.story == "lookalike"
    assert newest.lookalike == "士" and not result.complete
    (_, message) = explain(pack["土"], result, [partner])[-1]
    assert (
        message.startswith("This is turning into 士 (")
        and "stroke 3 is longer than stroke 1" in message
    )
    # a lead too small, or before the first stroke where the two differ, changes nothing
    verdict, match = partner_outputs([0.9, 0.9, 0.9], [0.9, 0.9, 0.903])  # within the dead zone
    assert decode(verdict, match, orders, 3, partners=[partner], settled=2).complete
    verdict, match = partner_outputs([0.6, 0.9, 0.9], [0.99, 0.9, 0.9])
    first = decode(verdict[:, :1], match[:, :1, [0, -1]], orders, 1, partners=[partner])
    assert first.strokes[0].correct
    # a lead that shows only after the first difference (冑 written as 胄: the difference
    # KanjiVG lists is at stroke 3, the writing parts at the bottom) is caught where it shows
    early = Partner(pack["士"], [("longer", 1, 0)])
    verdict, match = partner_outputs([0.9, 0.9, 0.7], [0.9, 0.9, 0.95])
    late = decode(verdict, match, orders, 3, partners=[early], settled=2).strokes[-1]
    assert late.story == "lookalike" and late.lookalike == "士"
    # a lead carried from an earlier stroke (rejected, then claimed right) does not flag a
    # later stroke that the partner explains no better
    claimed = Partner(pack["士"], [("stroke", 0, 0)])
    verdict, match = partner_outputs([0.1, 0.95, 0.95], [0.99, 0.95, 0.95])
    assert decode(verdict, match, orders, 3, partners=[claimed], settled=1).complete
    # a partner listing no difference is told apart by the scores alone
    bare = Partner(pack["士"], [])
    verdict, match = partner_outputs([0.9, 0.9, 0.7], [0.9, 0.9, 0.95])
    result = decode(verdict, match, orders, 3, partners=[bare], settled=2)
    assert result.strokes[-1].story == "lookalike"
    assert explain(pack["土"], result, [bare])[-1][1].endswith(
        "stroke 3 has another shape or place."
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_head_outputs_make_a_story_contradict_itself(data, pack):
    """Whatever the heads say, verdict, matched stroke, story and message agree."""
    n = data.draw(st.integers(1, 5))
    count = data.draw(st.integers(1, n + 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    orders = [tuple(range(n))]
    verdict = rng.dirichlet(np.ones(len(LABELS)) * 0.3, (1, count))
    match = rng.dirichlet(np.ones(n + 1) * 0.3, (1, count))
    settled = data.draw(st.integers(0, count - 1))
    taps = np.array(data.draw(st.lists(st.booleans(), min_size=count, max_size=count)))
    result = decode(verdict, match, orders, count, settled=settled, taps=taps)
    ref = pack[{1: "一", 2: "二", 3: "三", 4: "日", 5: "本"}[n]]
    accepted = set()
    for s in result.strokes:
        position = s.matched_index  # the standard order: positions are stroke numbers
        if s.index < settled and s.index < n:
            assert s.correct
        if s.verdict == "wrong_order":
            assert s.story in ("later", "again") and not taps[s.index]
            assert position is not None and position != s.index
            assert (position > s.index) == (s.story == "later")
            assert s.story == "later" or position in accepted
        else:
            assert s.story is None
        if taps[s.index] and s.index >= settled:
            assert s.verdict in ("wrong_shape", "extra")
        if s.correct:
            assert s.matched_index == s.expected_index
            accepted.add(s.index)
    assert result.missing == [i for i in range(n) if i not in accepted]
    for s, (_, message) in zip(result.strokes, explain(ref, result), strict=True):
        later = re.match(r"That is stroke (\d+); stroke (\d+) comes first", message)
        again = re.match(r"That is stroke (\d+) again; stroke (\d+) comes next", message)
        assert bool(later) == (s.story == "later") and bool(again) == (s.story == "again")
        if later:
            assert int(later[1]) > int(later[2])
        if again:
            assert int(again[1]) < int(again[2])


def test_a_first_stroke_far_from_its_place_in_the_box_is_misplaced_whatever_its_shape(pack):
    ref = pack["十"]
    canvas = (109.0, 109.0)  # the reference's own box
    verdict, match = outputs([(0, 1)], 1, [[0.95]])  # the shape passes
    verdict, match = verdict[-1:], match[-1:]

    def judged(dy: float, settled: int = 0):
        drawn = [np.asarray(ref.strokes[0]) + np.array([0.0, dy])]
        inputs, orders = build_batch(ref, drawn, canvas, prefixes=False)
        return decode(verdict, match, orders, 1, settled=settled, inputs=inputs).strokes[0]

    assert judged(0.0).correct and judged(-0.2 * 109).correct  # within FIRST_PLACE_FAR
    far = judged(-0.3 * 109)
    assert far.verdict == "misplaced" and not far.correct and far.story is None
    assert judged(-0.3 * 109, settled=1).correct  # shown as right: it stays right
