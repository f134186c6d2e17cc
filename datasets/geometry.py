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


def fit_alignment(
    source: list[np.ndarray], target: list[np.ndarray], min_spread: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Map corresponding ``source`` strokes onto ``target`` strokes: ``x @ A.T + b``.

    With three or more strokes spread in both directions (smaller/larger principal spread
    >= ``min_spread``), the least-squares affine map over their resampled points (learners
    slant, stretch and rotate their writing). Otherwise the scale of the bounding-box
    diagonals and the shift of the box centres, which one or two strokes still determine.
    """
    s, t = resampled(source), resampled(target)
    if len(source) >= 3:
        ms, mt = s.mean(axis=0), t.mean(axis=0)
        spread = np.linalg.svd(s - ms, compute_uv=False)
        if spread[0] > 1e-9 and spread[-1] / spread[0] >= min_spread:
            solution, *_ = np.linalg.lstsq(s - ms, t - mt, rcond=None)
            return solution.T, mt - ms @ solution
    scale = max(extent(t), 1e-6) / max(extent(s), 1e-6)
    return np.eye(2) * scale, centre(t) - scale * centre(s)


def resampled(strokes: list[np.ndarray]) -> np.ndarray:
    """All strokes resampled to ``POINTS_PER_STROKE`` points, stacked ``(S * P, 2)``."""
    return np.concatenate([resample(s, POINTS_PER_STROKE) for s in strokes])
