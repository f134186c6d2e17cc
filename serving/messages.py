"""Short sentences for the learner, one rule per verdict (stroke numbers are 1-based)."""

from __future__ import annotations


def stroke_message(verdict: str, index: int, matched: int | None, stroke_count: int) -> str:
    n = index + 1
    if verdict == "correct":
        return f"Stroke {n} is right."
    if verdict == "wrong_direction":
        return f"Stroke {n} was drawn from the wrong end."
    if verdict == "wrong_order" and matched is not None:
        return (
            f"That is stroke {matched + 1}; stroke {n} comes first."
            if matched > index
            else (f"That is stroke {matched + 1} again; stroke {n} comes next.")
        )
    if verdict == "wrong_order":
        return f"Stroke {n} is out of order."
    if verdict == "wrong_shape":
        return f"Stroke {n} has the wrong shape."
    if verdict == "misplaced":
        return f"Stroke {n} has the right shape but the wrong place or size."
    return f"This kanji has only {stroke_count} strokes."
