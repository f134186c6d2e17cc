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

from dataclasses import dataclass

import fsrs
import numpy as np

from kanjiwrite.datasets.contract import ACCEPT
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import GradeResult, Predict, grade_requests

MISSES_BEFORE_HINT = 3  # the demo shows the stroke after this many misses on it
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
) -> GradedAttempt:
    """Replay an attempt as the demo runs it: each stroke in turn is graded with the strokes
    accepted before it; a right stroke is kept, a wrong one counts as a miss on the stroke
    expected there and is discarded. Grading stops when the character is complete or the
    rating is settled (the ``MISSES_FOR_AGAIN``-th miss makes it Again whatever follows),
    so the work is at most ``stroke_count + MISSES_FOR_AGAIN`` requests, whatever is sent.

    ``claimed`` (which strokes the client accepted, for a client that grades at the end) says
    what every stroke's request was, so one batched inference call grades them all; the server checks
    each verdict itself. At the first stroke where the grader disagrees the claims are
    dropped and the rest is graded one stroke at a time (as without claims), so a client
    that lies costs at most twice the work of one that does not.
    """
    claims = list(claimed) if claimed is not None else None
    accepted: list[int] = []
    misses = [0] * ref.stroke_count
    graded = calls = 0

    def settled() -> bool:
        return len(accepted) == ref.stroke_count or sum(misses) >= MISSES_FOR_AGAIN

    while graded < len(strokes) and not settled():
        window = ref.stroke_count - len(accepted) + MISSES_FOR_AGAIN - sum(misses)
        plan, requests = list(accepted), []
        for j in range(graded, min(len(strokes), graded + (window if claims else 1))):
            if len(plan) == ref.stroke_count:
                break
            requests.append([*plan, j])
            plan += [j] if claims and claims[j] else []
        results = grade_requests(
            predict, ref, [[strokes[i] for i in r] for r in requests], canvas, accept
        )
        calls += 1
        for request, result in zip(requests, results, strict=True):
            j = request[-1]
            right = result.strokes[-1].verdict == "correct"
            graded = j + 1
            if right:
                accepted.append(j)
            else:
                misses[len(accepted)] += 1
            if settled():
                break
            if claims and right != claims[j]:
                claims = None  # the later requests assumed another verdict
                break
    return GradedAttempt(misses, len(accepted) == ref.stroke_count, len(strokes), graded, calls)


def exam_outcome(result: GradeResult, stroke_count: int) -> GradedAttempt:
    """An exam-mode attempt (no verdicts while writing) graded as a whole in one call: a
    miss for each stroke drawn wrong (at the position it was expected) and for each
    reference stroke never drawn right; complete when as many strokes were drawn as the
    kanji has (the misses then say how well)."""
    position = {base: k for k, base in enumerate(result.order)}
    misses = [0] * stroke_count
    for stroke in result.strokes:
        if stroke.verdict != "correct":
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
