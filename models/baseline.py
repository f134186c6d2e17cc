"""A transparent geometric grader: no learning, explicit rules and thresholds.

For drawn stroke k, the reference is first aligned to the learner's writing
(``geometry.fit_alignment``) from the reference strokes to the drawn strokes already
judged correct (none yet: stroke k's own box, so only its shape and direction count).
Then, with ``R_j`` the aligned reference strokes and all measures from
``datasets.geometry`` in the learner's character units:

1. k beyond the reference: ``extra``.
2. shape distance to ``R_k`` <= ``shape``, offset <= ``offset``, size ratio <= ``size``:
   ``correct``.
3. shape distance to reversed ``R_k`` <= ``shape`` (and better than forward):
   ``wrong_direction``.
4. some other ``R_j`` (either direction) within ``order`` mean point distance:
   ``wrong_order`` (with no aligned context: the shape of ``R_j`` matches, that of
   ``R_k`` does not).
5. shape distance to ``R_k`` <= ``shape`` (so the place or size is off): ``misplaced``.
6. otherwise ``wrong_shape``.

Thresholds sit between the 1% tails of correct variation and of synthesised errors
measured by ``datasets.errors.margin_report``. Every accepted stroke order is tried; the
one that accepts the most strokes wins (ties: the standard order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE, is_correct
from kanjiwrite.datasets.errors import reverse
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.datasets.strokes import as_stroke
from kanjiwrite.models.decoding import GradeResult, StrokeResult


@dataclass(frozen=True)
class Thresholds:
    # between the 1% tails of synthetic correct variation and errors (dataset card)
    shape: float = 0.24  # correct p99 0.171, wrong shape p1 0.300
    offset: float = 0.15  # correct p99 0.090, misplaced (moved) p1 0.227
    size: float = 1.7  # correct p99 1.44, misplaced (resized) p1 1.97
    order: float = 0.16  # correct p99 0.108, wrong order p1 0.227


def _score(badness: float) -> float:
    """Map the worst measure/threshold ratio to (0, 1): 0.5 at the threshold."""
    return float(1.0 / (1.0 + badness**4))


def grade_in_order(
    reference: list[np.ndarray],
    drawn: list[np.ndarray],
    thresholds: Thresholds = Thresholds(),
    char_size: float = KANJIVG_SIZE,
) -> list[tuple[str, int | None, float, dict[str, float]]]:
    """Verdict, matched reference position, score and measures for each drawn stroke,
    against ``reference`` strokes in the order expected."""
    t = thresholds
    n = len(reference)
    accepted: list[int] = []
    out = []
    for k, stroke in enumerate(drawn):
        context = accepted or [min(k, n - 1)]  # none yet: stroke k's own box
        linear, shift = geometry.fit_alignment(
            [reference[j] for j in context], [drawn[j] if accepted else stroke for j in context]
        )
        size = float(np.sqrt(abs(np.linalg.det(linear)))) * char_size
        aligned = [r @ linear.T + shift for r in reference]
        distances = [
            min(
                geometry.point_distance(stroke, r, size),
                geometry.point_distance(stroke, reverse(r), size),
            )
            for r in aligned
        ]
        if k >= n:
            out.append(("extra", int(np.argmin(distances)), 0.0, {}))
            continue
        expected = aligned[k]
        m = {
            "shape": geometry.shape_distance(stroke, expected, size),
            "shape_reversed": geometry.shape_distance(stroke, reverse(expected), size),
            "offset": geometry.offset(stroke, expected, size),
            "size_ratio": geometry.size_ratio(stroke, expected, size),
        }
        badness = max(
            m["shape"] / t.shape, m["offset"] / t.offset, (m["size_ratio"] - 1) / (t.size - 1)
        )
        others = [j for j in range(n) if j != k]
        best = min(others, key=lambda j: distances[j]) if others else None
        if badness <= 1.0:
            verdict, matched = "correct", k
            accepted.append(k)
        elif m["shape_reversed"] <= t.shape and m["shape_reversed"] < m["shape"]:
            verdict, matched = "wrong_direction", k
        elif best is not None and (
            distances[best] <= t.order
            if accepted
            else geometry.shape_distance(stroke, aligned[best], size) <= t.shape < m["shape"]
        ):
            verdict, matched = "wrong_order", best
        elif m["shape"] <= t.shape:
            verdict, matched = "misplaced", k
        else:
            verdict, matched = "wrong_shape", k
        out.append((verdict, matched, _score(badness), m))
    return out


def grade(
    ref: KanjiRef,
    drawn: list[np.ndarray],
    thresholds: Thresholds = Thresholds(),
) -> GradeResult:
    """Grade drawn strokes (canvas coordinates, writing order) against a character; the
    same result type as the learned grader's (``p_correct`` is a monotone score here, not
    a calibrated probability)."""
    strokes = [as_stroke(s) for s in drawn]
    best_order, best_result, best_correct = None, None, -1
    for order in ref.orders():
        result = grade_in_order([ref.strokes[i] for i in order], strokes, thresholds)
        correct = sum(is_correct(v) for v, *_ in result)
        if correct > best_correct:
            best_order, best_result, best_correct = order, result, correct
    assert best_order is not None and best_result is not None
    verdicts = [
        StrokeResult(
            index=k,
            verdict=verdict,
            p_correct=p_correct,
            expected_index=best_order[k] if k < len(best_order) else None,
            matched_index=best_order[matched] if matched is not None else None,
        )
        for k, (verdict, matched, p_correct, _measures) in enumerate(best_result)
    ]
    return GradeResult.of(verdicts, best_order)
