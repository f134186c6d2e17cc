"""How a practice attempt is graded and rated: the server replays every stroke the learner
drew through the grader (so a client cannot fake its rating), then one rule turns the
misses into an FSRS rating."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import fsrs
import numpy as np

from kanjiwrite.datasets.contract import ACCEPT, MISSES_BEFORE_HINT
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import Partner, Predict
from kanjiwrite.models.replay import replay

MISSES_FOR_AGAIN = 3  # this many misses in all rate an attempt Again
FAST_MS_PER_STROKE = 1500  # an attempt this fast per stroke, every stroke right, is Easy
MIN_MS_PER_STROKE = 150  # faster than this per stroke is not a human writing: never Easy


@dataclass
class GradedAttempt:
    misses: list[int]  # per reference stroke (standard numbering of the order followed)
    complete: bool
    strokes_drawn: int
    strokes_graded: int  # fewer than drawn once the character was complete or the rating settled
    inference_calls: int


def grade_attempt(
    predict: Predict,
    ref: KanjiRef,
    strokes: list[np.ndarray],
    canvas: tuple[float, float],
    accept: float = ACCEPT,
    claimed: list[bool] | None = None,
    overruled: set[int] | None = None,
    partners: Sequence[Partner] = (),
) -> GradedAttempt:
    """Replay an attempt as the demo runs it (``models.replay``: each stroke graded with the
    strokes accepted before it, kept when right, a miss on the stroke expected there when
    wrong). Grading stops when the character is complete or the rating is settled (the
    ``MISSES_FOR_AGAIN``-th miss makes it Again whatever follows), so the work is at most
    ``stroke_count + MISSES_FOR_AGAIN`` requests, whatever is sent; with ``claimed`` (the
    strokes the client accepted) in one batched call unless the client lied. Strokes in
    ``overruled`` (the learner said "I was right", and the service stored it) count as right.
    The kanji's look-alike ``partners`` are compared in every request, as in the app.
    """
    run = replay(
        predict,
        ref,
        strokes,
        canvas,
        accept,
        claimed=claimed,
        overruled=overruled or (),
        max_misses=MISSES_FOR_AGAIN,
        partners=partners,
    )
    graded = run.steps[-1].stroke + 1 if run.steps else 0
    return GradedAttempt(run.misses(), run.complete, len(strokes), graded, run.calls)


def rate_attempt(
    misses: list[int], hints: int, complete: bool, duration_ms: int | None
) -> fsrs.Rating:
    """FSRS rating of one graded attempt.

    * not finished, a hint needed (asked for, or shown after 3 misses on a stroke), or 3 or
      more misses in all: Again;
    * one or two corrected strokes: Hard;
    * every stroke right first time: Good, or Easy when also fast (under 1.5 s a stroke)
      but plausible (a duration under 150 ms a stroke, or none, earns no Easy).
    """
    total = sum(misses)
    hinted = hints > 0 or any(m >= MISSES_BEFORE_HINT for m in misses)
    if not complete or hinted or total >= MISSES_FOR_AGAIN:
        return fsrs.Rating.Again
    if total > 0:
        return fsrs.Rating.Hard
    strokes = len(misses)
    if duration_ms is not None and (
        MIN_MS_PER_STROKE * strokes <= duration_ms <= FAST_MS_PER_STROKE * strokes
    ):
        return fsrs.Rating.Easy
    return fsrs.Rating.Good
