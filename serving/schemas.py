"""Request and response schemas of the REST API (the contract, also in the OpenAPI doc)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kanjiwrite.datasets.contract import (
    DEFAULT_STRICTNESS,
    KANJIVG_SIZE,
    LABELS,
    MAX_POINTS,
    MAX_STROKES,
    STRICTNESS,
)
from kanjiwrite.datasets.kanjidic import SET_LABELS
from kanjiwrite.models.order_rules import RULES

Verdict = Literal[LABELS]
Strictness = Literal[STRICTNESS]
OrderRule = Literal[tuple(RULES)]
MAX_CANVAS = 100_000.0  # canvas units a client may declare

Number = Annotated[float, Field(strict=True)]  # no strings or booleans posing as numbers
Point = Annotated[
    list[Number],
    Field(
        min_length=2,
        max_length=3,
        description="[x, y] in canvas units (y grows downward), optionally [x, y, t_ms]",
    ),
]


class Canvas(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: Number = Field(KANJIVG_SIZE, gt=0, le=MAX_CANVAS, description="Canvas width")
    height: Number = Field(KANJIVG_SIZE, gt=0, le=MAX_CANVAS, description="Canvas height")


class StrokesOnCanvas(BaseModel):
    """Checks shared by every request that carries strokes: finite numbers, and points
    that may stray off the canvas (a finger slides past the edge) but not by more than the
    canvas's own size."""

    strokes: list[list[Point]]
    canvas: Canvas = Field(default_factory=Canvas)

    @field_validator("strokes")
    @classmethod
    def finite(cls, strokes: list[list[list[float]]]) -> list[list[list[float]]]:
        for i, stroke in enumerate(strokes):
            for j, point in enumerate(stroke):
                if not all(math.isfinite(v) for v in point):
                    raise ValueError(f"stroke {i} point {j}: numbers must be finite")
        return strokes

    def arrays(self) -> list[np.ndarray]:
        """The strokes as ``(N, 2)`` arrays (timestamps dropped)."""
        return [
            np.array([point[:2] for point in stroke], dtype=np.float64) for stroke in self.strokes
        ]

    def canvas_size(self) -> tuple[float, float]:
        return self.canvas.width, self.canvas.height

    @model_validator(mode="after")
    def inside_canvas(self) -> StrokesOnCanvas:
        w, h = self.canvas.width, self.canvas.height
        for i, stroke in enumerate(self.strokes):
            for j, (x, y, *_) in enumerate(stroke):
                if not (-w <= x <= 2 * w and -h <= y <= 2 * h):
                    raise ValueError(
                        f"stroke {i} point {j} ({x}, {y}) is far outside the {w:g} x {h:g} canvas"
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
    strokes: list[Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]] = Field(
        min_length=1, max_length=MAX_STROKES, description="Strokes drawn so far"
    )
    strictness: Strictness = Field(
        DEFAULT_STRICTNESS, description="lenient (beginners), standard, strict (test-takers)"
    )


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
    thresholds: dict[str, float] = Field(description="This model's threshold per level")
    kanjivg_size: float = Field(description="Side of the reference box")
    points_per_stroke: int
    max_strokes: int
    max_points: int
    misses_before_hint: int = Field(description="Misses on a stroke before its hint is shown")
    model_id: str


# --- daily practice ---------------------------------------------------------------------------

SetName = Literal[tuple(SET_LABELS)]


class LearnerCreated(BaseModel):
    learner_id: str = Field(description="Random 128-bit token (hex): keep it secret, it is the key")


class AddCards(BaseModel):
    """Kanji to add to the learner's deck: a named set, a list, or both."""

    model_config = ConfigDict(extra="forbid")
    set: SetName | None = None
    kanji: list[Annotated[str, Field(min_length=1, max_length=1)]] = Field(
        default_factory=list, max_length=3000
    )

    @model_validator(mode="after")
    def something(self) -> AddCards:
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


class ReviewAttempt(StrokesOnCanvas):
    """Every stroke the learner drew for this kanji, in order, wrong ones included (the
    server grades them itself, so the rating cannot be faked)."""

    model_config = ConfigDict(extra="forbid")
    strokes: list[Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]] = Field(
        min_length=1, max_length=4 * MAX_STROKES
    )
    hints: int = Field(0, ge=0, le=1000, description="Hints the learner asked for")
    strictness: Strictness = DEFAULT_STRICTNESS
    duration_ms: int | None = Field(None, ge=0, le=86_400_000)


class ReviewResult(BaseModel):
    rating: Literal["Again", "Hard", "Good", "Easy"]
    misses: list[int] = Field(description="Misses per reference stroke")
    complete: bool
    due: str = Field(description="Next review (ISO 8601, UTC)")
    interval_days: float


class Stats(BaseModel):
    cards: int
    due_today: int
    reviews: int
    streak_days: int
    retention_30d: float | None = Field(
        description="Share of reviews (not first sightings) in the last 30 days not rated Again"
    )
