"""The stroke format and the one normalisation every component uses.

Stroke format (stated once, used everywhere):

* A *character* is a sequence of strokes in writing order.
* A *stroke* is a float array of shape ``(N, 2)``: ``x, y`` in canvas units, ``y`` growing
  downward, N >= 1. A third column (a timestamp in ms) may be present; it is ignored here.
* A *canvas* is ``(width, height)`` in the same units. KanjiVG references use ``contract.KANJIVG_CANVAS``.

Model inputs (``stroke_features``), for S strokes:

1. Each stroke is resampled to ``POINTS_PER_STROKE`` points evenly spaced by arc length
   (a zero-length stroke, a tap, becomes that point repeated).
2. The *frame* of the strokes given is their joint bounding box: its centre becomes the
   origin and its larger side the unit, floored at ``MIN_FRAME_FRACTION`` of the shorter
   canvas side so that one short stroke is not blown up to full size. Scale and translation
   are thus relative to what has been written, not to the canvas.
3. The *box* is the writing square: the canvas centre is the origin and the shorter canvas
   side the unit (a KanjiVG reference's box is its 109 x 109 viewBox). Where a stroke lies
   in the box is what tells a misplaced first stroke, or a later stroke drawn first, from a
   right one: the frame alone cannot (one stroke is always centred in its own frame).
4. Per point: ``x, y`` in the frame (about -0.5 .. 0.5), ``dx, dy`` the unit direction of
   travel (forward difference; the last point repeats the previous direction; (0, 0) for a
   tap), ``pen_down`` = 1 on a stroke's first point, ``pen_up`` = 1 on its last, and
   ``box_x, box_y`` the point in the box (about -0.5 .. 0.5).

Result: float32 ``(S, POINTS_PER_STROKE, len(FEATURES))``. ``model_inputs`` applies it to
the drawn strokes and to the reference (see there for the reference's frame). Golden
vectors in ``tests/golden/normalisation.json`` pin this for every consumer (training,
ONNX serving, the iOS app).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from kanjiwrite.datasets.contract import KANJIVG_CANVAS, POINTS_PER_STROKE

FEATURES = ("x", "y", "dx", "dy", "pen_down", "pen_up", "box_x", "box_y")
FRAME_XY = slice(FEATURES.index("x"), FEATURES.index("y") + 1)  # the point in its frame
BOX_XY = slice(FEATURES.index("box_x"), FEATURES.index("box_y") + 1)  # and in the box
MIN_FRAME_FRACTION = 0.25

Stroke = np.ndarray
Canvas = tuple[float, float]


def as_stroke(points: Sequence[Sequence[float]] | np.ndarray) -> Stroke:
    """Return the ``(N, 2)`` float64 x, y columns of a stroke (drops a timestamp column)."""
    already = type(points) is np.ndarray and points.dtype == np.float64
    if already and points.shape[1:] == (2,) and len(points) > 0:
        return points
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] not in (2, 3):
        raise ValueError(f"a stroke must have shape (N>=1, 2|3), got {array.shape}")
    return array[:, :2]


def arc_length(stroke: Stroke) -> np.ndarray:
    """Cumulative arc length at each point, starting at 0."""
    out = np.zeros(len(stroke))
    step = stroke[1:] - stroke[:-1]
    np.cumsum(np.sqrt(step[:, 0] ** 2 + step[:, 1] ** 2), out=out[1:])
    return out


def resample(stroke: Stroke, n: int = POINTS_PER_STROKE) -> Stroke:
    """Resample a stroke to ``n`` points evenly spaced by arc length."""
    return resample_many([stroke], n)[0]


def arc_axis(strokes: Sequence[Stroke]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lay strokes end to end on one increasing arc-length axis, a gap of 1 between them.

    Returns the stacked points ``(sum N, 2)``, the axis value of every point, and each
    stroke's first axis value and total length. One ``np.interp`` over this axis then
    samples all strokes at once.
    """
    sizes = np.array([len(s) for s in strokes])
    points = np.concatenate(strokes)[:, :2] if len(strokes) > 1 else strokes[0][:, :2]
    starts = np.zeros(len(strokes), int)
    np.cumsum(sizes[:-1], out=starts[1:])
    step = np.zeros(len(points))
    diff = points[1:] - points[:-1]
    step[1:] = np.sqrt(diff[:, 0] ** 2 + diff[:, 1] ** 2)
    step[starts] = 0.0
    step[starts[1:]] = 1.0
    axis = np.cumsum(step)
    first = axis[starts]
    return points, axis, first, axis[starts + sizes - 1] - first


def interpolate_axis(points: np.ndarray, axis: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Points at positions ``targets`` on an arc-length ``axis`` of ``points``."""
    out = np.empty((len(targets), 2))
    out[:, 0] = np.interp(targets, axis, points[:, 0])
    out[:, 1] = np.interp(targets, axis, points[:, 1])
    return out


@lru_cache(maxsize=64)
def even_fractions(n: int) -> np.ndarray:
    """``n`` evenly spaced fractions from 0 to 1 (read-only, shared)."""
    fractions = np.linspace(0.0, 1.0, n)
    fractions.flags.writeable = False
    return fractions


def resample_many(strokes: Sequence[Stroke], n: int = POINTS_PER_STROKE) -> np.ndarray:
    """Resample each stroke to ``n`` points evenly spaced by its arc length: ``(S, n, 2)``.
    A zero-length stroke (a tap) becomes its first point repeated."""
    if len(strokes) == 1:  # one stroke: its own arc (the common case of error synthesis)
        points = strokes[0][:, :2]
        axis = arc_length(points)
        targets = even_fractions(n) * axis[-1]
        return interpolate_axis(points, axis, targets)[None]
    points, axis, first, total = arc_axis(strokes)
    targets = first[:, None] + even_fractions(n)[None, :] * total[:, None]
    return interpolate_axis(points, axis, targets.ravel()).reshape(len(strokes), n, 2)


def character_frame(strokes: Sequence[Stroke], canvas: Canvas) -> tuple[float, float, float]:
    """Centre x, centre y and unit length of the frame of ``strokes`` (see module doc)."""
    points = np.concatenate([s[:, :2] for s in strokes])
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2.0
    extent = float(max(high - low))
    unit = max(extent, MIN_FRAME_FRACTION * float(min(canvas)))
    return float(centre[0]), float(centre[1]), unit


def in_box(xy: np.ndarray, canvas: Canvas) -> np.ndarray:
    """Points ``(..., 2)`` in the writing box of ``canvas`` (see module doc)."""
    width, height = float(canvas[0]), float(canvas[1])
    return (xy - np.array([width / 2.0, height / 2.0])) / min(width, height)


def directions(points: np.ndarray) -> np.ndarray:
    """Unit direction of travel at each point of ``(..., P, 2)`` resampled strokes."""
    step = np.diff(points, axis=-2)
    step = np.concatenate([step, step[..., -1:, :]], axis=-2)
    norm = np.hypot(step[..., :1], step[..., 1:])
    return np.divide(step, norm, out=np.zeros_like(step), where=norm > 1e-9)


def stroke_features(
    strokes: Sequence[Stroke], canvas: Canvas, frame_count: int | None = None
) -> np.ndarray:
    """Features of ``strokes``: float32 ``(S, POINTS_PER_STROKE, 8)`` (see module doc), in
    the frame of the first ``frame_count`` strokes (all by default)."""
    count = len(strokes) if frame_count is None else frame_count
    return features_many([(strokes, canvas, count)])[0]


def features_many(groups: Sequence[tuple[Sequence[Stroke], Canvas, int]]) -> list[np.ndarray]:
    """``stroke_features(strokes, canvas, frame_count)`` of every group, all strokes
    resampled and framed together."""
    sizes = np.array([len(g[0]) for g in groups], int)
    out = [np.zeros((0, POINTS_PER_STROKE, len(FEATURES)), np.float32)] * len(groups)
    if sizes.sum() == 0:
        return out
    clean = [as_stroke(s) for g in groups for s in g[0]]
    xy = resample_many(clean)
    # each group's frame: the bounding box of its first frame_count strokes' points
    point_starts = np.concatenate(([0], np.cumsum([len(s) for s in clean])))
    points = np.concatenate([*clean, clean[-1][:1]])  # one row past the end for reduceat
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    drawn = np.flatnonzero(sizes)
    first = point_starts[starts[drawn]]
    last = point_starts[starts[drawn] + np.clip([groups[i][2] for i in drawn], 1, sizes[drawn])]
    bounds = np.stack([first, last], 1).ravel()
    low = np.minimum.reduceat(points, bounds)[::2]
    high = np.maximum.reduceat(points, bounds)[::2]
    canvas = np.array([groups[i][1] for i in drawn], float)
    unit = np.maximum((high - low).max(axis=1), MIN_FRAME_FRACTION * canvas.min(axis=1))
    owner = np.repeat(np.arange(len(drawn)), sizes[drawn])
    framed = (xy - ((low + high) / 2)[owner, None]) / unit[owner, None, None]
    box = (xy - (canvas / 2)[owner, None]) / canvas.min(axis=1)[owner, None, None]
    made = assemble_features(framed, box)
    ends = np.cumsum(sizes[drawn]).tolist()
    features = [made[end - n : end] for end, n in zip(ends, sizes[drawn].tolist(), strict=True)]
    for i, made in zip(drawn, features, strict=True):
        out[i] = made
    return out


def assemble_features(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Features of resampled strokes ``(..., S, P, 2)`` in their frame, with the same points
    in the box ``(S, P, 2)`` (broadcast)."""
    out = np.zeros((*xy.shape[:-1], len(FEATURES)), np.float32)
    out[..., FRAME_XY] = xy
    out[..., FEATURES.index("dx") : FEATURES.index("dy") + 1] = directions(xy)
    out[..., 0, FEATURES.index("pen_down")] = 1.0
    out[..., -1, FEATURES.index("pen_up")] = 1.0
    out[..., BOX_XY] = box
    return out


def model_inputs(
    drawn: Sequence[Stroke], canvas: Canvas, reference: Sequence[Stroke]
) -> tuple[np.ndarray, np.ndarray]:
    """The grader's two inputs, ``(S_drawn, P, 8)`` and ``(S_ref, P, 8)`` float32.

    Drawn strokes are in the frame of all drawn strokes; reference strokes (KanjiVG box, in
    the expected order) in the frame of as many leading reference strokes as were drawn.
    When the learner writes correctly both frames cover the same strokes, so drawn stroke k
    and reference stroke k land in about the same place whatever the canvas.
    """
    return model_inputs_many([(drawn, canvas, reference)])[0]


def model_inputs_many(
    attempts: Sequence[tuple[Sequence[Stroke], Canvas, Sequence[Stroke]]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``model_inputs(drawn, canvas, reference)`` of every attempt, computed together."""
    groups: list[tuple[Sequence[Stroke], Canvas, int]] = []
    for drawn, canvas, reference in attempts:
        groups.append((drawn, canvas, len(drawn)))
        groups.append((reference, KANJIVG_CANVAS, max(1, min(len(drawn), len(reference)))))
    features = features_many(groups)
    return list(zip(features[::2], features[1::2], strict=True))


def prefix_features(
    strokes: Sequence[Stroke], canvas: Canvas, frame_counts: Sequence[int]
) -> np.ndarray:
    """``stroke_features(strokes, canvas, c)`` for every ``c`` in ``frame_counts`` at once:
    ``(len(frame_counts), S, P, 6)``; the strokes are resampled once."""
    clean = [as_stroke(s) for s in strokes]
    xy = resample_many(clean)
    frames = np.array([character_frame(clean[:c], canvas) for c in frame_counts])
    framed = (xy[None] - frames[:, None, None, :2]) / frames[:, None, None, 2:]
    return assemble_features(framed, in_box(xy, canvas))


def graded_inputs(
    drawn: Sequence[Stroke],
    canvas: Canvas,
    references: Sequence[Sequence[Stroke]],
    prefixes: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The drawn strokes' inputs and each reference's, for grading ``drawn`` against every
    one of ``references`` (the drawn strokes featured once, the references together).

    Without ``prefixes``: ``model_inputs(drawn, canvas, r)`` for every r, the drawn part
    ``(1, S, P, 8)`` shared, each reference's ``(1, R, P, 8)``. With ``prefixes``:
    ``model_inputs(drawn[:k + 1], canvas, r)`` for every k, stacked: drawn ``(S, S, P, 8)``
    (item k holds strokes 0..k, the rest zeros) and each reference's ``(S, R, P, 8)``.
    This is how every stroke of an attempt is graded as it was when the pen lifted, in one
    batch."""
    count = len(drawn)
    if not prefixes:
        return graded_inputs_many([drawn], canvas, references)[0]
    counts = np.arange(1, count + 1)
    ink = prefix_features(drawn, canvas, counts)
    ink[np.triu_indices(count, 1)] = 0.0  # item k does not see strokes after k
    refs = [prefix_features(r, KANJIVG_CANVAS, np.minimum(counts, len(r))) for r in references]
    return ink.astype(np.float32), [r.astype(np.float32) for r in refs]


def graded_inputs_many(
    requests: Sequence[Sequence[Stroke]], canvas: Canvas, references: Sequence[Sequence[Stroke]]
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """``graded_inputs(drawn, canvas, references)`` (without prefixes) of every request,
    all featured together."""
    groups: list[tuple[Sequence[Stroke], Canvas, int]] = []
    for drawn in requests:
        groups.append((drawn, canvas, len(drawn)))
        groups += [(r, KANJIVG_CANVAS, max(1, min(len(drawn), len(r)))) for r in references]
    made = features_many(groups)
    step = 1 + len(references)
    return [
        (made[i][None], [m[None] for m in made[i + 1 : i + step]])
        for i in range(0, len(made), step)
    ]
