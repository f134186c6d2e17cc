"""How a practice attempt is graded and rated: the server replays every stroke the learner
drew through the grader (so a client cannot fake its rating), then one rule turns the
misses into an FSRS rating."""

from __future__ import annotations

from dataclasses import dataclass

import fsrs
import numpy as np

from kanjiwrite.datasets.contract import ACCEPT
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import Predict, grade

MISSES_BEFORE_HINT = 3  # the demo shows the stroke after this many misses on it
FAST_MS_PER_STROKE = 1500


@dataclass
class GradedAttempt:
    misses: list[int]  # per reference stroke (standard numbering of the order followed)
    complete: bool
    strokes_drawn: int


def grade_attempt(
    predict: Predict,
    ref: KanjiRef,
    strokes: list[np.ndarray],
    canvas: tuple[float, float],
    accept: float = ACCEPT,
) -> GradedAttempt:
    """Replay an attempt as the demo runs it: each stroke in turn is graded with the strokes
    accepted before it; a right stroke is kept, a wrong one counts as a miss on the stroke
    expected there and is discarded."""
    accepted: list[np.ndarray] = []
    misses = [0] * ref.stroke_count
    for stroke in strokes:
        if len(accepted) == ref.stroke_count:
            break
        result = grade(predict, ref, [*accepted, stroke], canvas, prefixes=False, accept=accept)
        if result.strokes[-1].verdict == "correct":
            accepted.append(stroke)
        else:
            misses[len(accepted)] += 1
    return GradedAttempt(misses, len(accepted) == ref.stroke_count, len(strokes))


def rate_attempt(
    misses: list[int], hints: int, complete: bool, duration_ms: int | None
) -> fsrs.Rating:
    """FSRS rating of one graded attempt.

    * not finished, a hint needed (asked for, or shown after 3 misses on a stroke), or 3 or
      more misses in all: Again;
    * one or two corrected strokes: Hard;
    * every stroke right first time: Good, or Easy when also fast (under 1.5 s a stroke).
    """
    total = sum(misses)
    hinted = hints > 0 or any(m >= MISSES_BEFORE_HINT for m in misses)
    if not complete or hinted or total >= 3:
        return fsrs.Rating.Again
    if total > 0:
        return fsrs.Rating.Hard
    if duration_ms is not None and duration_ms <= FAST_MS_PER_STROKE * len(misses):
        return fsrs.Rating.Easy
    return fsrs.Rating.Good
