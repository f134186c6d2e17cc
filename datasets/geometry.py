"""Stroke-to-stroke measures shared by the error synthesis (its margins) and the baseline grader.

Distances are in *character units*: a length divided by the character size (109 for a
KanjiVG reference). Shapes are compared after resampling to ``POINTS_PER_STROKE`` points.
"""

from __future__ import annotations

import numpy as np

from kanjiwrite.datasets.strokes import POINTS_PER_STROKE, arc_length, resample

MIN_SHAPE_SIZE = 0.08  # floor on a stroke's own size when normalising its shape (char units)


def extent(stroke: np.ndarray) -> float:
    """Diagonal of the stroke's bounding box."""
    return float(np.linalg.norm(stroke.max(axis=0) - stroke.min(axis=0)))


def centre(stroke: np.ndarray) -> np.ndarray:
    return (stroke.max(axis=0) + stroke.min(axis=0)) / 2.0


def length(stroke: np.ndarray) -> float:
    return float(arc_length(stroke)[-1])


def curvedness(stroke: np.ndarray) -> float:
    """Largest distance of the stroke from its chord, over the chord length (0 = straight)."""
    chord = stroke[-1] - stroke[0]
    chord_length = float(np.linalg.norm(chord))
    if chord_length < 1e-9:
        return float("inf") if length(stroke) > 0 else 0.0
    rel = stroke - stroke[0]
    deviation = np.abs(rel[:, 0] * chord[1] - rel[:, 1] * chord[0]) / chord_length
    return float(deviation.max() / chord_length)


def shape_distance(a: np.ndarray, b: np.ndarray, char_size: float) -> float:
    """Mean point distance after centring each stroke and scaling it by its own size.

    Invariant to position and size, sensitive to direction (points are compared in
    writing order). Sizes are floored at ``MIN_SHAPE_SIZE`` so dots do not amplify noise.
    """
    floor = MIN_SHAPE_SIZE * char_size
    ra, rb = resample(a), resample(b)
    na = (ra - centre(ra)) / max(extent(ra), floor)
    nb = (rb - centre(rb)) / max(extent(rb), floor)
    return float(np.linalg.norm(na - nb, axis=1).mean())


def point_distance(a: np.ndarray, b: np.ndarray, char_size: float) -> float:
    """Mean distance between corresponding resampled points, in character units."""
    return float(np.linalg.norm(resample(a) - resample(b), axis=1).mean() / char_size)


def offset(a: np.ndarray, b: np.ndarray, char_size: float) -> float:
    """Distance between the strokes' bounding-box centres, in character units."""
    return float(np.linalg.norm(centre(a) - centre(b)) / char_size)


def size_ratio(a: np.ndarray, b: np.ndarray, char_size: float) -> float:
    """Ratio of bounding-box diagonals of ``a`` to ``b`` (floored like shapes), >= 1 form."""
    floor = MIN_SHAPE_SIZE * char_size
    ratio = max(extent(a), floor) / max(extent(b), floor)
    return float(max(ratio, 1.0 / ratio))


def fit_similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and translation (no rotation) mapping ``source`` points onto ``target`` points
    in the least-squares sense: ``target ~= scale * source + shift``."""
    ms, mt = source.mean(axis=0), target.mean(axis=0)
    s, t = source - ms, target - mt
    denom = float((s**2).sum())
    scale = float((s * t).sum() / denom) if denom > 1e-12 else 1.0
    scale = max(scale, 1e-6)
    return scale, mt - scale * ms


def resampled(strokes: list[np.ndarray]) -> np.ndarray:
    """All strokes resampled to ``POINTS_PER_STROKE`` points, stacked ``(S * P, 2)``."""
    return np.concatenate([resample(s, POINTS_PER_STROKE) for s in strokes])
