"""The stroke-order rule a wrong_order message names, on classic cases."""

import pytest

from kanjiwrite.models.decoding import StrokeResult
from kanjiwrite.models.messages import stroke_message
from kanjiwrite.models.order_rules import RULES, order_rule

CASES = [  # kanji, the stroke expected, the later stroke written in its place, the rule
    ("十", 0, 1, "horizontal_before_vertical"),
    ("右", 0, 1, "shorter_crossing_first"),
    ("左", 0, 1, "shorter_crossing_first"),
    ("田", 2, 4, "enclosure_closed_last"),
    ("田", 0, 2, "outside_before_inside"),
    ("国", 0, 2, "outside_before_inside"),
    ("国", 2, 7, "enclosure_closed_last"),
    ("口", 0, 2, "enclosure_closed_last"),
    ("小", 0, 1, "centre_before_sides"),
    ("中", 0, 3, "piercing_last"),
    ("必", 0, 4, "left_before_right"),
    ("書", 1, 5, "horizontal_before_vertical"),
    ("書", 5, 6, "top_before_bottom"),
    ("三", 0, 1, "top_before_bottom"),
    ("川", 0, 1, "left_before_right"),
]


@pytest.mark.parametrize(("kanji", "expected", "later", "rule"), CASES)
def test_classic_cases(pack, kanji, expected, later, rule):
    assert order_rule(pack[kanji], expected, later) == rule


def test_the_message_names_the_rule():
    later = StrokeResult(0, "wrong_order", 0.1, 0, 1, story="later")
    message = stroke_message(later, 1, 2, "horizontal_before_vertical")
    assert message == (
        "That is stroke 2; stroke 1 comes first: "
        "a horizontal comes before the vertical that crosses it."
    )
    again = StrokeResult(1, "wrong_order", 0.1, 1, 0, story="again")
    assert stroke_message(again, 0, 2) == "That is stroke 1 again; stroke 2 comes next."
    assert set(RULES) >= {rule for *_, rule in CASES}
