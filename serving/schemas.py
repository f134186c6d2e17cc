"""Request and response schemas of the REST API (the contract, also in the OpenAPI doc)."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from kanjiwrite.datasets.contract import (
    DEFAULT_STRICTNESS,
    KANJIVG_SIZE,
    LABELS,
    MAX_POINTS,
    MAX_STROKES,
    STRICTNESS,
)
from kanjiwrite.datasets.kanjidic import SET_LABELS
from kanjiwrite.datasets.strokes import as_stroke
from kanjiwrite.models.order_rules import RULES
from kanjiwrite.serving.attempts import GUIDES
from kanjiwrite.serving.practice_store import EXAM_MODES
from kanjiwrite.serving.rating import MISSES_BEFORE_HINT

Verdict = Literal[LABELS]
ExamMode = Literal[EXAM_MODES]
Guide = Literal[GUIDES]
Aid = Literal[("hint", "order", *GUIDES[1:])]
Strictness = Literal[STRICTNESS]
AttemptId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
OrderRule = Literal[tuple(RULES)]
MAX_CANVAS = 100_000.0  # canvas units a client may declare
MIN_CANVAS = 10.0  # the writing box is the unit of the box features: a usable size

Number = Annotated[float, Field(strict=True)]  # no strings or booleans posing as numbers
POINT_SCHEMA = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 2,
    "maxItems": 3,
    "description": "[x, y] in canvas units (y grows downward), optionally [x, y, t_ms]",
}


def parse_strokes(value: object, max_strokes: int) -> list[np.ndarray]:
    """JSON strokes -> ``(N, 2)`` float64 arrays, checked as arrays (shape, type, finite),
    not point by point as models."""
    if not isinstance(value, list) or not 1 <= len(value) <= max_strokes:
        raise ValueError(f"strokes: give 1 to {max_strokes} strokes")
    arrays = []
    for i, stroke in enumerate(value):
        if not isinstance(stroke, list) or not 1 <= len(stroke) <= MAX_POINTS:
            raise ValueError(f"stroke {i}: give 1 to {MAX_POINTS} points")
        if any(type(v) is bool for point in stroke if type(point) is list for v in point):
            raise ValueError(f"stroke {i}: coordinates must be numbers")
        try:
            array = np.array(stroke)
        except ValueError:
            raise ValueError(f"stroke {i}: every point must be [x, y] or [x, y, t]") from None
        if array.ndim != 2 or array.shape[1] not in (2, 3):
            raise ValueError(f"stroke {i}: every point must be [x, y] or [x, y, t]")
        if array.dtype.kind not in "iuf":
            raise ValueError(f"stroke {i}: coordinates must be numbers")
        if not np.isfinite(array).all():
            raise ValueError(f"stroke {i}: numbers must be finite")
        arrays.append(as_stroke(array))
    return arrays


def strokes_field(max_strokes: int, description: str):
    """A ``strokes`` field parsed by ``parse_strokes`` (documented as nested arrays)."""
    return Annotated[
        list,
        PlainValidator(lambda value: parse_strokes(value, max_strokes)),
        WithJsonSchema(
            {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": POINT_SCHEMA,
                    "minItems": 1,
                    "maxItems": MAX_POINTS,
                },
                "minItems": 1,
                "maxItems": max_strokes,
                "description": description,
            }
        ),
    ]


class Canvas(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: Number = Field(KANJIVG_SIZE, ge=MIN_CANVAS, le=MAX_CANVAS, description="Canvas width")
    height: Number = Field(KANJIVG_SIZE, ge=MIN_CANVAS, le=MAX_CANVAS, description="Canvas height")


class StrokesOnCanvas(BaseModel):
    """Checks shared by every request that carries strokes: points may stray off the canvas
    (a finger slides past the edge) but not by more than the canvas's own size."""

    strokes: list  # (N, 2) float64 arrays, timestamps dropped (subclasses: parse_strokes)
    canvas: Canvas = Field(default_factory=Canvas)

    def canvas_size(self) -> tuple[float, float]:
        return self.canvas.width, self.canvas.height

    @model_validator(mode="after")
    def inside_canvas(self) -> StrokesOnCanvas:
        w, h = self.canvas.width, self.canvas.height
        low, high = np.array([-w, -h]), np.array([2 * w, 2 * h])
        for i, stroke in enumerate(self.strokes):
            outside = ((stroke < low) | (stroke > high)).any(axis=1)
            if outside.any():
                j = int(np.argmax(outside))
                x, y = stroke[j]
                raise ValueError(
                    f"stroke {i} point {j} ({x:g}, {y:g}) is far outside the {w:g} x {h:g} canvas"
                )
        return self


class ScoreRequest(StrokesOnCanvas):
    """The strokes drawn so far, in writing order. A stroke of one point is a tap and is
    graded like any stroke (usually as a wrong shape unless a dot was expected)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kanji": "十",
                    "strokes": [[[20, 55], [90, 54]]],
                    "canvas": {"width": 109, "height": 109},
                }
            ]
        },
    )
    kanji: str = Field(min_length=1, max_length=1, description="One character", examples=["書"])
    strokes: strokes_field(MAX_STROKES, "Strokes drawn so far")
    strictness: Strictness = Field(
        DEFAULT_STRICTNESS, description="lenient (beginners), standard, strict (test-takers)"
    )
    settled: StrictInt = Field(
        0,
        ge=0,
        le=MAX_STROKES,
        description="How many leading strokes the client has already shown as right (the "
        "app's protocol: the accepted strokes plus the new one); they stay right",
    )
    settled_as: list[StrictInt] | None = Field(
        None,
        max_length=MAX_STROKES,
        description="The reference strokes the settled strokes were accepted as (each one's "
        "``expected_index``, as answered), in order: only the accepted stroke orders that "
        "begin so are graded (every order without it)",
    )

    @model_validator(mode="after")
    def settled_within_strokes(self) -> ScoreRequest:
        if self.settled > len(self.strokes):
            raise ValueError(
                f"settled: {self.settled} is more than the {len(self.strokes)} strokes sent"
            )
        if self.settled_as is not None and len(self.settled_as) != self.settled:
            raise ValueError(
                f"settled_as: give the {self.settled} settled strokes' reference strokes, "
                f"not {len(self.settled_as)}"
            )
        return self


class StrokeVerdict(BaseModel):
    index: int = Field(description="Position of the drawn stroke (0-based)")
    verdict: Verdict
    correct: bool
    p_correct: float = Field(ge=0, le=1, description="Calibrated probability the stroke is right")
    expected_index: int | None = Field(description="Reference stroke expected at this position")
    matched_index: int | None = Field(description="Reference stroke this stroke looks like")
    rule: OrderRule | None = Field(
        None, description="For a stroke written too early: the stroke-order rule it breaks"
    )
    lookalike: str | None = Field(
        None, description="The look-alike kanji the writing turned into at this stroke"
    )
    message: str = Field(description="A short sentence for the learner")


class ScoreResponse(BaseModel):
    kanji: str
    model_id: str = Field(description="The model's identity: semantic version + weights hash")
    model_version: str
    strokes: list[StrokeVerdict]
    missing: list[int] = Field(description="Reference strokes not (yet) drawn correctly")
    complete: bool = Field(description="Every reference stroke drawn correctly")


class KanjiReference(BaseModel):
    kanji: str
    stroke_count: int
    strokes: list[list[list[float]]] = Field(
        description="Reference strokes in the KanjiVG box (``canvas``), y down"
    )
    stroke_types: list[str] = Field(description="KanjiVG stroke type of each stroke")
    alternative_orders: list[list[int]] = Field(description="Other accepted writing orders")
    canvas: Canvas
    attribution: str


class Problem(BaseModel):
    detail: str | list


class Contract(BaseModel):
    labels: list[str] = Field(description="Verdict labels, in the model's output order")
    stroke_errors: list[str] = Field(description="Labels a rejected stroke can get")
    accept: float = Field(description="A stroke is correct when p_correct is at least this")
    strictness: list[str] = Field(description="Strictness levels, lenient to strict")
    default_strictness: str = Field(description="The level used when none is chosen")
    thresholds: dict[str, float] = Field(description="This model's threshold per level")
    kanjivg_size: float = Field(description="Side of the reference box")
    points_per_stroke: int
    max_strokes: int
    max_points: int
    misses_before_hint: int = Field(description="Misses on a stroke before its hint is shown")
    model_id: str


# --- daily practice ---------------------------------------------------------------------------

SetName = Literal[tuple(SET_LABELS)]


class LearnerToken(BaseModel):
    learner_token: str = Field(
        description="Random 256-bit bearer token: send it as 'Authorization: Bearer <token>'. "
        "Shown once (the server keeps only its hash): keep it secret."
    )


class AddCards(BaseModel):
    """Kanji to add to the learner's deck: a named set, a list, or both."""

    model_config = ConfigDict(extra="forbid")
    set: SetName | None = None
    kanji: list[Annotated[str, Field(min_length=1, max_length=1)]] = Field(
        default_factory=list, max_length=3000
    )

    @model_validator(mode="after")
    def set_or_kanji(self) -> AddCards:
        if self.set is None and not self.kanji:
            raise ValueError("give a set or a list of kanji")
        return self


class CardsAdded(BaseModel):
    added: int
    total: int


class Queue(BaseModel):
    due: list[str] = Field(description="Kanji due for review, most overdue first")
    new: list[str] = Field(description="New kanji for today, within the daily limit")
    next_due: str | None = Field(description="When the next review falls due (ISO 8601, UTC)")
    reps: dict[str, int] = Field(description="Reviews so far of each kanji listed")


class LearnerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daily_new: int = Field(strict=True, ge=0, le=200, description="New kanji a day")
    strictness: Strictness = Field(description="How strictly strokes are graded")
    exam: ExamMode = Field(
        "auto",
        description="Exam mode (no verdict until the kanji is done): auto (for cards past "
        "their second review), always, never",
    )
    reveal_after: int = Field(
        MISSES_BEFORE_HINT, ge=1, le=9, description="Misses on a stroke before it is revealed"
    )


class HardKanji(BaseModel):
    kanji: str
    again: int = Field(description="Reviews rated Again")
    reviews: int


class AttemptView(BaseModel):
    """The attempt in progress at a card (the first try of the day: leaving, reloading or
    another tab come back to it)."""

    kanji: str
    exam: bool = Field(description="No verdicts until the review (send the strokes with it)")
    reveal_after: int = Field(description="Misses on a stroke before it is revealed")
    canvas: Canvas = Field(description="The attempt's canvas, in the units of ``strokes``")
    strokes: list[list[list[float]]] = Field(description="The accepted strokes, in order")
    drawn: int = Field(description="Strokes drawn so far, wrong ones included")
    misses: list[int] = Field(description="Misses per reference stroke")
    hints: int
    order: bool = Field(description="The stroke order was watched")
    guide: Guide = Field(description="The most tracing guide seen while writing")
    claims: int = Field(description='Strokes counted right on the learner\'s word ("I was right")')
    complete: bool


class AttemptStrokes(StrokesOnCanvas):
    """New strokes of the attempt in progress, graded in turn after its accepted ones."""

    model_config = ConfigDict(extra="forbid")
    strokes: strokes_field(8, "New strokes, in writing order")


class AttemptGraded(BaseModel):
    strokes: list[StrokeVerdict] = Field(description="Each new stroke; index: in the attempt")
    accepted: int = Field(description="Strokes accepted so far")
    misses: list[int] = Field(description="Misses per reference stroke")
    complete: bool
    claimable: bool = Field(
        description='The newest stroke may be claimed right ("I was right"): rejected, not a '
        "tap, and plausibly the stroke that was due"
    )


class AidUsed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aid: Aid = Field(description="hint, order (the whole stroke order), or a guide seen")


class ReviewAttempt(StrokesOnCanvas):
    """Record the review of the attempt in progress. Its strokes were graded one by one
    (``/attempt/strokes``): send none. Otherwise (exam mode, or a client that grades at the
    end) send every stroke drawn, in order, wrong ones included: the server grades them."""

    model_config = ConfigDict(extra="forbid")
    strokes: strokes_field(4 * MAX_STROKES, "Every stroke drawn, wrong ones included") = Field(
        default_factory=list
    )
    hints: int = Field(
        0, strict=True, ge=0, le=1000, description="Hints not recorded with the attempt"
    )
    strictness: Strictness | None = Field(None, description="Default: the learner's setting")
    duration_ms: int | None = Field(None, strict=True, ge=0, le=86_400_000)
    attempt_id: AttemptId | None = Field(
        None,
        description="The client's id for this review (e.g. a UUID): a repeat of the same id "
        "returns the first result and stores nothing",
    )
    accepted: list[StrictBool] | None = Field(
        None,
        description="Which strokes the client accepted (one per stroke): lets the server "
        "grade the whole attempt in one batched inference (it checks every verdict itself)",
    )

    @model_validator(mode="after")
    def one_claim_per_stroke(self) -> ReviewAttempt:
        if self.accepted is not None and len(self.accepted) != len(self.strokes):
            raise ValueError("accepted: give one value per stroke")
        return self


class OverrideRequest(BaseModel):
    """'I was right': claim that a stroke of the attempt in progress at ``kanji`` is right
    (the newest one, rejected, plausibly the stroke that was due)."""

    model_config = ConfigDict(extra="forbid")
    kanji: str = Field(min_length=1, max_length=1)
    log_index: int = Field(strict=True, ge=0, description="The stroke's index in the attempt")


class OverrideStored(BaseModel):
    override_id: int
    kanji: str
    verdict_overruled: Verdict
    p_correct: float
    accepted: int = Field(description="Strokes accepted so far, the claimed one included")
    complete: bool


class ReviewResult(BaseModel):
    rating: Literal["Again", "Hard", "Good", "Easy"]
    reasons: list[str] = Field(description="Why this rating, in words")
    explanation: str = Field(description='The rating and its reasons: "Hard: you used the outline"')
    misses: list[int] = Field(description="Misses per reference stroke")
    complete: bool
    due: str = Field(description="Next review (ISO 8601, UTC)")
    interval_days: float
    replayed: bool = Field(False, description="This attempt id was reviewed before: not stored")
    strokes: list[StrokeVerdict] = Field(
        default_factory=list, description="Exam mode: the verdict of every stroke sent"
    )


class Stats(BaseModel):
    cards: int
    due_today: int
    reviews: int
    streak_days: int
    retention_30d: float | None = Field(
        description="Share of reviews (not first sightings) in the last 30 days not rated Again"
    )
    forecast: list[int] = Field(description="Reviews due on each of the next 7 days, today first")
    hardest: list[HardKanji] = Field(description="The kanji most often rated Again")
