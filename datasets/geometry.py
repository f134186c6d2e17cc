"""Stroke-to-stroke measures shared by the error synthesis (its margins) and the baseline grader.

Distances are in *character units*: a length divided by the character size (109 for a
KanjiVG reference). Shapes are compared after resampling to ``POINTS_PER_STROKE`` points.
"""

from __future__ import annotations

import numpy as np

from kanjiwrite.datasets.strokes import (
    POINTS_PER_STROKE,
    arc_axis,
    arc_length,
    interpolate_axis,
    resample,
    resample_many,
)

MIN_SHAPE_SIZE = 0.08  # floor on a stroke's own size when normalising its shape (char units)


def norms(vectors: np.ndarray) -> np.ndarray:
    """Lengths of ``vectors (..., 2)``."""
    return np.hypot(vectors[..., 0], vectors[..., 1])


def extent(stroke: np.ndarray) -> float:
    """Diagonal of the stroke's bounding box."""
    return float(norms(stroke.max(axis=0) - stroke.min(axis=0)))


def centre(stroke: np.ndarray) -> np.ndarray:
    return (stroke.max(axis=0) + stroke.min(axis=0)) / 2.0


def length(stroke: np.ndarray) -> float:
    return float(arc_length(stroke)[-1])


def curvedness(stroke: np.ndarray) -> float:
    """Largest distance of the stroke from its chord, over the chord length (0 = straight)."""
    chord = stroke[-1] - stroke[0]
    chord_length = float(np.hypot(*chord))
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
    shapes = shape_of(resample_many([a, b]), char_size)
    return float(norms(shapes[0] - shapes[1]).mean())


def shape_of(resampled: np.ndarray, char_size: float) -> np.ndarray:
    """Resampled strokes ``(..., P, 2)`` centred and scaled by their own size (floored at
    ``MIN_SHAPE_SIZE``): what ``shape_distance`` compares."""
    low, high = resampled.min(axis=-2, keepdims=True), resampled.max(axis=-2, keepdims=True)
    size = np.maximum(norms(high - low)[..., None], MIN_SHAPE_SIZE * char_size)
    return (resampled - (low + high) / 2) / size


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


# --- relations that tell characters apart ---------------------------------------------------

RELATION_POINTS = 9  # each stroke as a polyline of this many points for crossing tests
PARALLEL_DEG = 15.0  # two straight strokes this close in direction are parallel
LONGER = 1.25  # of two parallel strokes, one is "the longer" from this length ratio on
KEEP_LONGER = 1.1  # and a correct variation keeps it at least this much longer
CLEAR = 0.1  # a crossing this far (char units) from both strokes' ends is clear
STRAIGHT = 0.08  # a stroke this curved (see ``curvedness``) or less is straight
APART = 0.06  # strokes at least this far apart (char units) clearly do not touch


def pair_hits(polylines: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Whether polylines i and j intersect, for each pair ``(i, j)`` of ``pairs (n, 2)``."""
    a, b = polylines[pairs[:, 0]], polylines[pairs[:, 1]]  # (n, P, 2)
    pa, da = a[:, :-1, None], np.diff(a, axis=1)[:, :, None]  # against every segment of b
    pb, db = b[:, None, :-1], np.diff(b, axis=1)[:, None, :]
    cross = da[..., 0] * db[..., 1] - da[..., 1] * db[..., 0]
    delta = pb - pa
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (delta[..., 0] * db[..., 1] - delta[..., 1] * db[..., 0]) / cross
        u = (delta[..., 0] * da[..., 1] - delta[..., 1] * da[..., 0]) / cross
    hit = (np.abs(cross) > 1e-12) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    return hit.any(axis=(1, 2))


def crossings(polylines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For S polylines ``(S, P, 2)``: whether strokes i and j intersect ``(S, S)``, and the
    shortest arc distance from an intersection to an end of stroke i ``(S, S)`` (inf if none)."""
    a, b = polylines[:, :-1], polylines[:, 1:]  # (S, P-1, 2) segments
    d = b - a
    count, segments = a.shape[0], a.shape[1]
    pa, pd = a.reshape(-1, 2), d.reshape(-1, 2)
    cross = pd[:, None, 0] * pd[None, :, 1] - pd[:, None, 1] * pd[None, :, 0]
    delta = pa[None, :, :] - pa[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (delta[..., 0] * pd[None, :, 1] - delta[..., 1] * pd[None, :, 0]) / cross
        u = (delta[..., 0] * pd[:, None, 1] - delta[..., 1] * pd[:, None, 0]) / cross
    hit = (np.abs(cross) > 1e-12) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    seg_len = np.linalg.norm(pd, axis=1).reshape(count, segments)
    along = np.concatenate([np.zeros((count, 1)), np.cumsum(seg_len, axis=1)], axis=1)
    total = along[:, -1]
    position = (
        along[:, :-1].reshape(-1)[:, None] + np.where(hit, t, 0.0) * seg_len.reshape(-1)[:, None]
    )
    to_end = np.minimum(position, np.repeat(total, segments)[:, None] - position)
    to_end = np.where(hit, to_end, np.inf)
    hit_s = hit.reshape(count, segments, count, segments).any(axis=(1, 3))
    end_s = to_end.reshape(count, segments, count, segments).min(axis=(1, 3))
    return hit_s, end_s


def polylines_and_lengths(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every stroke as a ``RELATION_POINTS`` polyline ``(S, RELATION_POINTS, 2)`` and its arc
    length ``(S,)``, in one pass over all points."""
    points, axis, first, total = arc_axis(strokes)
    targets = first[:, None] + np.linspace(0.0, 1.0, RELATION_POINTS)[None, :] * total[:, None]
    lines = interpolate_axis(points, axis, targets.ravel()).reshape(len(strokes), -1, 2)
    return lines, total


def straight_strokes(strokes: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """``curvedness(s) < STRAIGHT`` for every stroke (of arc ``lengths``), vectorised over
    all points."""
    sizes = np.fromiter((len(s) for s in strokes), int, len(strokes))
    points = np.concatenate(strokes)[:, :2]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ids = np.repeat(np.arange(len(strokes)), sizes)
    chord = points[starts + sizes - 1] - points[starts]
    chord_length = np.hypot(chord[:, 0], chord[:, 1])
    rel = points - points[starts][ids]
    deviation = np.abs(rel[:, 0] * chord[ids, 1] - rel[:, 1] * chord[ids, 0])
    widest = np.maximum.reduceat(deviation, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        curved = widest / chord_length**2
    return np.where(chord_length < 1e-9, lengths <= 0, curved < STRAIGHT)


def relations(strokes: list[np.ndarray], char_size: float) -> dict[str, set]:
    """The relations between strokes that tell look-alike characters apart:

    * ``longer``: (i, j) for parallel straight strokes where i is clearly the longer;
    * ``crossing``: {i, j} pairs that cross clearly away from both strokes' ends;
    * ``apart``: {i, j} pairs that are clearly apart (do not touch or cross).
    """
    lines, lengths = polylines_and_lengths(strokes)
    straight = straight_strokes(strokes, lengths)
    chords = lines[:, -1] - lines[:, 0]
    angle = np.degrees(np.arctan2(chords[:, 1], chords[:, 0])) % 180
    hit, to_end = crossings(lines)
    gaps = np.linalg.norm(lines[:, None, :, None] - lines[None, :, None, :], axis=-1).min((-1, -2))
    upper = np.triu(np.ones((len(lines),) * 2, bool), 1)
    turn = np.abs(angle[:, None] - angle[None, :])
    parallel = (
        upper
        & straight[:, None]
        & straight[None, :]
        & (np.minimum(turn, 180 - turn) <= PARALLEL_DEG)
    )
    longer = parallel & (lengths[:, None] >= LONGER * lengths[None, :])
    shorter = parallel & ~longer & (lengths[None, :] >= LONGER * lengths[:, None])
    clear = hit & (np.minimum(to_end, to_end.T) >= CLEAR * char_size)
    apart = ~hit & (gaps >= APART * char_size)

    def pairs(matrix: np.ndarray) -> set:
        return {(int(i), int(j)) for i, j in zip(*np.nonzero(matrix), strict=True)}

    return {
        "longer": pairs(longer) | {(j, i) for i, j in pairs(shorter)},
        "crossing": pairs(upper & clear),
        "apart": pairs(upper & ~clear & apart),
    }


def relation_pairs(relations: dict[str, set]) -> dict[str, np.ndarray]:
    """``relations`` as ``(n, 2)`` int arrays of pairs, in order."""
    return {kind: np.array(sorted(pairs), int).reshape(-1, 2) for kind, pairs in relations.items()}


def keeps_relations(before: dict[str, set], strokes: list[np.ndarray], char_size: float) -> bool:
    """Whether ``strokes`` keep the relations ``before`` (of the strokes they vary): the
    longer of two parallel strokes stays longer, clear crossings still cross, strokes
    clearly apart still do not touch or cross."""
    lines, lengths = polylines_and_lengths(strokes)
    return len(broken_relations(relation_pairs(before), lines, lengths)) == 0


def broken_relations(
    pairs: dict[str, np.ndarray], lines: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """The first stroke of every relation of ``pairs`` (``relation_pairs``) that strokes
    given as ``RELATION_POINTS`` polylines ``lines`` of arc ``lengths`` no longer keep."""
    longer, crossing, apart = pairs["longer"], pairs["crossing"], pairs["apart"]
    shrunk = lengths[longer[:, 0]] < KEEP_LONGER * lengths[longer[:, 1]]
    low, high = lines.min(axis=1), lines.max(axis=1)
    i, j = apart[:, 0], apart[:, 1]
    close = np.all((low[i] <= high[j]) & (low[j] <= high[i]), axis=1)  # boxes overlap
    touching = apart[close][pair_hits(lines, apart[close])]
    crossed = pair_hits(lines, crossing)
    return np.concatenate([longer[shrunk, 0], crossing[~crossed, 0], touching[:, 0]])
