"""The geometric baseline grader returns the same verdict labels, by explicit rules."""

import numpy as np
import pytest

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.contract import LABELS
from kanjiwrite.datasets.errors import reverse
from kanjiwrite.models.baseline import grade


@pytest.fixture(scope="module")
def sho(pack):
    return pack["書"]


def test_clean_writing_is_accepted(sho):
    rng = np.random.default_rng(0)
    accepted = total = 0
    for _ in range(20):
        drawn, _ = humanize(sho.strokes, rng)
        verdict = grade(sho, drawn)
        accepted += sum(v.verdict == "correct" for v in verdict.strokes)
        total += len(drawn)
    assert accepted / total > 0.9


def test_partial_attempt_lists_missing_strokes(sho):
    drawn = [s * 3 + 20 for s in sho.strokes[:4]]
    verdict = grade(sho, drawn)
    assert [v.verdict for v in verdict.strokes] == ["correct"] * 4
    assert verdict.missing == list(range(4, 10))
    assert [v.expected_index for v in verdict.strokes] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda s: reverse(s[3]), "wrong_direction"),
        (lambda s: s[7], "wrong_order"),
        (lambda s: s[3] + np.array([22.0, 0.0]), "misplaced"),
        (lambda s: np.array([[60.0, 40.0], [60.0, 70.0]]), "wrong_shape"),
    ],
)
def test_each_error_is_named(sho, make, expected):
    strokes = [*sho.strokes[:3], make(sho.strokes)]
    verdict = grade(sho, strokes)
    assert [v.verdict for v in verdict.strokes[:3]] == ["correct"] * 3
    assert verdict.strokes[3].verdict == expected
    assert verdict.strokes[3].verdict in LABELS
    if expected == "wrong_order":
        assert verdict.strokes[3].matched_index == 7


def test_a_stroke_too_many_is_extra(pack):
    one = pack["一"]
    verdict = grade(one, [one.strokes[0], one.strokes[0] + [0, 30]])
    assert [v.verdict for v in verdict.strokes] == ["correct", "extra"]
    assert verdict.missing == []


def test_alternative_order_is_accepted(pack):
    main = pack["主"]
    order = (0, 1, 3, 4, 2)
    verdict = grade(main, [main.strokes[i] for i in order])
    assert verdict.order == order
    assert all(v.verdict == "correct" for v in verdict.strokes)
