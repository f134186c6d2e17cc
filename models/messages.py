"""Short sentences for the learner, one per verdict label (stroke numbers are 1-based)."""

from __future__ import annotations

from kanjiwrite.datasets.contract import one_per_label
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import GradeResult
from kanjiwrite.models.order_rules import RULES, order_rule

MESSAGES = one_per_label(
    {
        "correct": "Stroke {n} is right.",
        "wrong_direction": "Stroke {n} was drawn from the wrong end.",
        "wrong_order": "Stroke {n} is out of order.",
        "wrong_shape": "Stroke {n} has the wrong shape.",
        "misplaced": "Stroke {n} has the right shape but the wrong place or size.",
        "extra": "This kanji has only {count} strokes.",
    },
    "models.messages.MESSAGES",
)


def stroke_message(
    verdict: str, index: int, depicted: int | None, stroke_count: int, rule: str | None = None
) -> str:
    """The sentence for stroke ``index``: ``depicted`` is the position, in the order
    followed, of the reference stroke it depicts (``None``: none); ``rule`` the stroke-order
    rule it breaks (``models.order_rules``)."""
    n = index + 1
    if verdict == "wrong_order" and depicted is not None:
        if depicted > index:
            why = f": {RULES[rule]}" if rule else ""
            return f"That is stroke {depicted + 1}; stroke {n} comes first{why}."
        return f"That is stroke {depicted + 1} again; stroke {n} comes next."
    return MESSAGES[verdict].format(n=n, count=stroke_count)


def explain(ref: KanjiRef, result: GradeResult, rules: bool = True) -> list[tuple[str | None, str]]:
    """``(rule, message)`` for every stroke of a decoded ``result``: the rule (with
    ``rules``) only for a ``wrong_order`` stroke that depicts a later stroke of the order."""
    out = []
    for s in result.strokes:
        position = result.order.index(s.matched_index) if s.matched_index is not None else None
        rule = (
            order_rule(ref, s.expected_index, s.matched_index)
            if rules and s.verdict == "wrong_order" and position is not None and position > s.index
            else None
        )
        out.append((rule, stroke_message(s.verdict, s.index, position, ref.stroke_count, rule)))
    return out
