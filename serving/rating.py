"""How a practice attempt is graded and rated: the server grades every stroke the learner
drew (so a client cannot fake its rating), then one table turns the misses and the help
used into an FSRS rating, with the reasons in words.

The rating table (``rate``): an attempt starts at Good (Easy when fast but humanly so) and
each kind of help caps it:

===============================================================  =========
help                                                             at most
===============================================================  =========
not finished                                                     Again
``MISSES_FOR_AGAIN`` or more misses and hints in all             Again
a stroke revealed (``reveal_after`` misses on it)                Again
the whole stroke order watched before finishing                  Again
a miss (the right stroke is then shown in place)                 Hard
a hint asked for (the next stroke shown)                         Hard
the outline or the faded guide seen while writing                Hard
a stroke counted right on the learner's word ("I was right")    Good
===============================================================  =========
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import fsrs
import numpy as np

from kanjiwrite.datasets.contract import ACCEPT, MISSES_BEFORE_HINT
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import GradeResult, Partner, Predict
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
    partners: Sequence[Partner] = (),
) -> GradedAttempt:
    """Replay an attempt as the demo runs it (``models.replay``: each stroke graded with the
    strokes accepted before it, kept when right, a miss on the stroke expected there when
    wrong). Grading stops when the character is complete or the rating is settled (the
    ``MISSES_FOR_AGAIN``-th miss makes it Again whatever follows), so the work is at most
    ``stroke_count + MISSES_FOR_AGAIN`` requests, whatever is sent; with ``claimed`` (the
    strokes the client accepted) in one batched call unless the client lied. The kanji's
    look-alike ``partners`` are compared in every request, as in the app.
    """
    run = replay(
        predict,
        ref,
        strokes,
        canvas,
        accept,
        claimed=claimed,
        max_misses=MISSES_FOR_AGAIN,
        partners=partners,
    )
    graded = run.steps[-1].stroke + 1 if run.steps else 0
    return GradedAttempt(run.misses(), run.complete, len(strokes), graded, run.calls)


def exam_outcome(result: GradeResult, stroke_count: int) -> GradedAttempt:
    """An exam-mode attempt (no verdicts while writing) graded as a whole in one call: a
    miss for each stroke drawn wrong (at the position it was expected) and for each
    reference stroke never drawn right; complete when as many strokes were drawn as the
    kanji has (the misses then say how well)."""
    position = {base: k for k, base in enumerate(result.order)}
    misses = [0] * stroke_count
    for stroke in result.strokes:
        if not stroke.correct:
            expected = position.get(stroke.expected_index, stroke_count - 1)
            misses[expected] += 1
    for base in result.missing:
        misses[position[base]] = max(misses[position[base]], 1)
    drawn = len(result.strokes)
    return GradedAttempt(misses, drawn >= stroke_count, drawn, drawn, 1)


@dataclass(frozen=True)
class Help:
    """What an attempt had beyond the learner's memory (see the rating table above)."""

    hints: int = 0  # strokes shown on request
    order: bool = False  # the whole stroke order watched before finishing
    guide: str = "none"  # the most tracing guide seen while writing: none, faded, outline
    overruled: int = 0  # strokes counted right on the learner's word
    reveal_after: int = MISSES_BEFORE_HINT  # misses on a stroke before it is revealed


@dataclass(frozen=True)
class Rated:
    rating: fsrs.Rating
    reasons: list[str]  # why this rating, in words ("you used the outline")

    @property
    def explanation(self) -> str:
        """The rating and its reasons for the learner: "Hard: you used the outline"."""
        return (
            f"{self.rating.name}: {'; '.join(self.reasons)}" if self.reasons else self.rating.name
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def rate(misses: list[int], complete: bool, duration_ms: int | None, aids: Help = Help()) -> Rated:
    """FSRS rating of one graded attempt, by the table in this module's doc; the reasons
    are those of the caps that decide the rating (or why it is Good or Easy)."""
    slips = sum(misses) + aids.hints
    caps: list[tuple[fsrs.Rating, str]] = []
    if not complete:
        caps.append((fsrs.Rating.Again, "not finished"))
    if slips >= MISSES_FOR_AGAIN:
        caps.append((fsrs.Rating.Again, f"{_count(slips, 'miss')} and hints in all"))
    revealed = [i + 1 for i, m in enumerate(misses) if m >= aids.reveal_after]
    if revealed:
        which = ", ".join(map(str, revealed))
        caps.append(
            (fsrs.Rating.Again, f"stroke {which} revealed after {aids.reveal_after} misses")
        )
    if aids.order:
        caps.append((fsrs.Rating.Again, "you watched the stroke order"))
    if sum(misses):
        caps.append((fsrs.Rating.Hard, f"{_count(sum(misses), 'miss')} (the stroke was shown)"))
    if aids.hints:
        caps.append((fsrs.Rating.Hard, f"you asked for {_count(aids.hints, 'hint')}"))
    if aids.guide != "none":
        guide = "the outline" if aids.guide == "outline" else "the faded guide"
        caps.append((fsrs.Rating.Hard, f"you used {guide}"))
    if aids.overruled:
        caps.append((fsrs.Rating.Good, f"{_count(aids.overruled, 'stroke')} counted on your word"))
    if caps:
        rating = min(cap for cap, _ in caps)
        return Rated(rating, [reason for cap, reason in caps if cap == rating])
    strokes = len(misses)
    if duration_ms is not None and (
        MIN_MS_PER_STROKE * strokes <= duration_ms <= FAST_MS_PER_STROKE * strokes
    ):
        return Rated(fsrs.Rating.Easy, ["every stroke right first time, and fast"])
    return Rated(fsrs.Rating.Good, ["every stroke right first time"])
