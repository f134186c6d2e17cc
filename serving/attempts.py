"""The attempt in progress at a practice card, kept by the server: the strokes drawn (once,
compactly), how each was graded, the help used. The first try of the day decides the
rating: leaving the card, reloading or a new tab return to the same attempt.

Strokes are kept in thousandths of the canvas's longer side, as integers, consecutive
repeats dropped (``compact``): at most ``MAX_STROKES_PER_ATTEMPT`` strokes and
``MAX_POINTS_PER_ATTEMPT`` points, so an attempt stays under ~100 KB of JSON.

"I was right" (``claim_problem``) is a bounded claim about a stroke of this attempt: the
newest stroke, rejected, not a tap, and plausibly the stroke that was due: the grader
matched it to the due stroke, or its p_correct is at least ``CLAIM_FLOOR``. At most
``MAX_CLAIMS_PER_ATTEMPT`` per attempt; a claimed stroke caps the rating at Good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from kanjiwrite.models.decoding import GradeResult, StrokeResult
from kanjiwrite.serving.rating import GradedAttempt

UNITS = 1000  # canvas units kept per side (the longer one)
MAX_STROKES_PER_ATTEMPT = 120  # strokes drawn at one card, wrong ones included
MAX_POINTS_PER_ATTEMPT = 8000  # points kept, all strokes together
MAX_CLAIMS_PER_ATTEMPT = 2  # "I was right" per attempt
CLAIM_FLOOR = 0.25  # p_correct from which a stroke the model did not match may be claimed
MIN_CLAIM_POINTS = 3  # fewer points is a tap, never claimed
MIN_CLAIM_LENGTH = 0.03  # of the canvas side: a shorter stroke is a tap, never claimed
GUIDES = ("none", "faded", "outline")  # tracing guides, least help first


@dataclass
class GradedStroke:
    """What the grader said of one stroke of the attempt, when it was drawn."""

    verdict: str
    p_correct: float
    expected_index: int | None
    matched_index: int | None

    @classmethod
    def of(cls, result: StrokeResult) -> GradedStroke:
        return cls(result.verdict, result.p_correct, result.expected_index, result.matched_index)


@dataclass
class Attempt:
    """One attempt at a card (see the module doc)."""

    kanji: str
    stroke_count: int
    exam: bool = False
    canvas: tuple[int, int] = (UNITS, UNITS)  # in kept units
    strokes: list[list[list[int]]] = field(default_factory=list)  # every stroke drawn
    graded: list[GradedStroke] = field(default_factory=list)  # one per stroke graded
    accepted: list[int] = field(default_factory=list)  # indices of accepted strokes, in order
    claimed: list[int] = field(default_factory=list)  # indices counted right on the word
    misses: list[int] = field(default_factory=list)  # per reference stroke
    hints: int = 0
    order: bool = False  # the stroke order was watched before finishing
    guide: str = "none"  # the most tracing guide seen while writing

    def __post_init__(self):
        if not self.misses:
            self.misses = [0] * self.stroke_count

    @property
    def complete(self) -> bool:
        return len(self.accepted) == self.stroke_count

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.strokes)

    def arrays(self, indices: list[int]) -> list[np.ndarray]:
        """The strokes ``indices`` as arrays in kept units (the canvas is ``canvas``)."""
        return [np.asarray(self.strokes[i], dtype=np.float64) for i in indices]

    def outcome(self) -> GradedAttempt:
        """The attempt as graded stroke by stroke, for its rating."""
        graded = len(self.graded)
        return GradedAttempt(list(self.misses), self.complete, len(self.strokes), graded, graded)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Attempt:
        graded = [GradedStroke(**g) for g in data.pop("graded")]
        return cls(**{**data, "canvas": tuple(data["canvas"]), "graded": graded})

    def add(self, strokes: list[np.ndarray], canvas: tuple[float, float]) -> list[int]:
        """Keep strokes drawn on ``canvas`` (compactly); their indices. ``AttemptFull``
        past the caps (nothing kept then)."""
        side = max(canvas)
        if not self.strokes:
            self.canvas = (round(UNITS * canvas[0] / side), round(UNITS * canvas[1] / side))
        kept = [compact(s, UNITS / side) for s in strokes]
        if len(self.strokes) + len(kept) > MAX_STROKES_PER_ATTEMPT:
            raise AttemptFull(f"at most {MAX_STROKES_PER_ATTEMPT} strokes at one card")
        if self.points + sum(len(s) for s in kept) > MAX_POINTS_PER_ATTEMPT:
            raise AttemptFull(f"at most {MAX_POINTS_PER_ATTEMPT} points at one card")
        start = len(self.strokes)
        self.strokes += kept
        return list(range(start, len(self.strokes)))

    def write(
        self,
        strokes: list[np.ndarray],
        canvas: tuple[float, float],
        grade: Callable[[list[np.ndarray], tuple[int, int], list[int]], GradeResult],
    ) -> list[tuple[int, GradeResult]]:
        """Keep new strokes (``add``) and grade each after the accepted ones with
        ``grade(strokes, canvas, settled_as)`` (``settled_as``: the reference strokes the
        accepted ones were graded as), as the learner drew them; strokes past completion are
        not kept. The index and result of each stroke graded."""
        indices = self.add(strokes, canvas)
        graded = []
        for index in indices:
            if self.complete:
                break
            settled_as = [self.graded[i].expected_index for i in self.accepted]
            result = grade(self.arrays([*self.accepted, index]), self.canvas, settled_as)
            self._record(index, result.strokes[-1])
            graded.append((index, result))
        del self.strokes[indices[0] + len(graded) :]
        return graded

    def _record(self, index: int, result: StrokeResult) -> None:
        """The grader's verdict on stroke ``index`` (graded after the accepted ones)."""
        self.graded.append(GradedStroke.of(result))
        if result.verdict == "correct":
            self.accepted.append(index)
        else:
            self.misses[len(self.accepted)] += 1

    def claim_problem(self, index: int) -> str | None:
        """Why stroke ``index`` cannot be claimed right ("I was right"), or ``None``."""
        if index != len(self.strokes) - 1 or index >= len(self.graded):
            return "only the newest graded stroke of this attempt can be claimed"
        if len(self.claimed) >= MAX_CLAIMS_PER_ATTEMPT:
            return f"at most {MAX_CLAIMS_PER_ATTEMPT} claims per attempt"
        if index in self.accepted:
            return "this stroke counts as right already"
        graded = self.graded[index]
        stroke = np.asarray(self.strokes[index], dtype=np.float64)
        length = float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum()) / UNITS
        if len(stroke) < MIN_CLAIM_POINTS or length < MIN_CLAIM_LENGTH:
            return "a tap is not a stroke"
        due = graded.expected_index is not None and graded.matched_index == graded.expected_index
        if not due and graded.p_correct < CLAIM_FLOOR:
            return "the grader found no likeness to the stroke that was due"
        return None

    def claim(self, index: int) -> None:
        """Count stroke ``index`` right (after ``claim_problem`` said nothing against it)."""
        self.misses[len(self.accepted)] -= 1
        self.accepted.append(index)
        self.claimed.append(index)

    def restart(self) -> None:
        """Start the kanji over (Retry): the accepted strokes go, the misses and help stay."""
        self.accepted = []

    def use(self, aid: str) -> None:
        """Record help used: ``hint``, ``order``, or a guide seen (``faded``, ``outline``)."""
        if aid == "hint":
            self.hints += 1
        elif aid == "order":
            self.order = True
        elif GUIDES.index(aid) > GUIDES.index(self.guide):
            self.guide = aid


class AttemptFull(Exception):
    pass


def compact(stroke: np.ndarray, scale: float) -> list[list[int]]:
    """A stroke in kept units: scaled, rounded to integers, consecutive repeats dropped."""
    points = np.rint(np.asarray(stroke)[:, :2] * scale).astype(np.int64)
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = (np.diff(points, axis=0) != 0).any(axis=1)
    return points[keep].tolist()
