"""Short sentences for the learner, one per verdict label (stroke numbers are 1-based)."""

from __future__ import annotations

from kanjiwrite.datasets.contract import LABELS
from kanjiwrite.models.order_rules import RULES

MESSAGES = {
    "correct": "Stroke {n} is right.",
    "wrong_direction": "Stroke {n} was drawn from the wrong end.",
    "wrong_order": "Stroke {n} is out of order.",
    "wrong_shape": "Stroke {n} has the wrong shape.",
    "misplaced": "Stroke {n} has the right shape but the wrong place or size.",
    "extra": "This kanji has only {count} strokes.",
}
assert set(MESSAGES) == set(LABELS), "every verdict label needs a message"


def stroke_message(
    verdict: str, index: int, matched: int | None, stroke_count: int, rule: str | None = None
) -> str:
    """The sentence for one stroke: ``matched`` is the stroke it depicts (numbered in the
    order followed), ``rule`` the stroke-order rule it breaks (``models.order_rules``)."""
    n = index + 1
    if verdict == "wrong_order" and matched is not None:
        if matched > index:
            why = f": {RULES[rule]}" if rule else ""
            return f"That is stroke {matched + 1}; stroke {n} comes first{why}."
        return f"That is stroke {matched + 1} again; stroke {n} comes next."
    return MESSAGES[verdict].format(n=n, count=stroke_count)
