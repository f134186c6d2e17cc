"""Labelled wrong strokes: what a learner's stroke k can be, against reference stroke k.

Labels (``contract.LABELS``; ``extra`` and missing strokes are attempt-level):

* ``correct``: reference stroke k within the human variation of ``augment``.
* ``wrong_direction``: stroke k drawn from its end to its start.
* ``wrong_order``: another stroke j of the same character, drawn in its own place.
* ``wrong_shape``: a different shape of similar extent: a stroke of another type fitted
  to stroke k's box, a straight line where a hook or turn belongs, a truncated stroke,
  strokes k and k+1 merged into one, or a tap (one point) where a stroke belongs.
* ``misplaced``: stroke k's shape, moved and/or resized in the writing box (the first
  stroke too) and relative to the rest, or drawn so
  that a relation with an earlier stroke breaks (``proportion``: of two parallel strokes,
  the longer drawn shorter than the other or the shorter longer).
* ``extra``: a stroke after the character is complete.

Every error is corrupted in the reference box *before* the human augmentation, and is
only produced when it is unambiguous, i.e. clear of the correct-variation bounds by the
margins in ``ErrorConfig`` (see ``margin_report`` for measured values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import CORRECT, KANJIVG_SIZE, LABELS, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import arc_length, interpolate_axis, resample_many


@dataclass(frozen=True)
class ErrorConfig:
    """Error magnitudes (character units) and the unambiguity rules.

    Correct variation (``AugmentConfig``, calibrated on real writing): offset <= 0.07,
    size x0.74 to x1.35 per axis, rotation <= 10 deg, wobble <= 0.03, hooks <= 0.04.
    The errors stay clear of that by the margins ``margin_report`` measures.
    """

    misplace_offset: tuple[float, float] = (0.26, 0.45)  # beyond the largest correct offset
    misplace_scale: tuple[float, float] = (2.8, 3.6)  # or 1/that; correct stays < 1.6
    misplace_resize_probability: float = 0.35
    min_resize_extent: float = 0.25  # only strokes at least this large are resized
    min_shape_distance: float = 0.38  # for wrong_shape; correct variation stays < 0.22
    min_order_distance: float = 0.25  # stroke j must be this far from stroke k (points)
    misplace_clearance: float = 0.15  # a moved stroke this far from every other's place
    min_direction_length: float = 0.10  # strokes shorter than this are never reversed
    min_curvedness: float = 0.15  # only hooked/turned/curved strokes are straightened/cut
    truncate_keep: tuple[float, float] = (0.35, 0.6)
    shape_attempts: int = 6
    proportion_probability: float = 0.4  # share of misplaced strokes made by ``proportion``
    proportion_flip: tuple[float, float] = (0.55, 0.8)  # the longer becomes this x the other


DEFAULT_ERRORS = ErrorConfig()
# a stroke moved a third of the box away (what a learner's misplaced stroke is tested with)
THIRD_OF_THE_BOX = ErrorConfig(misplace_offset=(1 / 3, 1 / 3), misplace_resize_probability=0.0)


def pick(rng: np.random.Generator, count: int) -> int:
    """A uniform index below ``count`` (``Generator.integers`` costs ten times more)."""
    return min(int(rng.random() * count), count - 1)


def reverse(stroke: np.ndarray) -> np.ndarray:
    return stroke[::-1].copy()


def straighten(stroke: np.ndarray) -> np.ndarray:
    """A straight line from the stroke's start to its end."""
    return np.linspace(stroke[0], stroke[-1], max(len(stroke), 2))


def truncate(stroke: np.ndarray, keep: float) -> np.ndarray:
    """The first ``keep`` fraction of the stroke by arc length."""
    s = arc_length(stroke)
    return interpolate_axis(
        stroke, s, np.linspace(0.0, keep * s[-1], max(2, int(len(stroke) * keep)))
    )


def tap(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A touch without a stroke: one point somewhere on the stroke."""
    return stroke[pick(rng, len(stroke))][None].copy()


def merge(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two strokes written as one, without lifting the pen."""
    return np.concatenate([first, second])


def fit_to_box(donor: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``donor`` moved and scaled (keeping its aspect) to ``target``'s centre and size."""
    donor_low, donor_high = donor.min(axis=0), donor.max(axis=0)
    target_low, target_high = target.min(axis=0), target.max(axis=0)
    scale = max(geometry.norms(target_high - target_low), 1e-6) / max(
        geometry.norms(donor_high - donor_low), 1e-6
    )
    return (donor - (donor_low + donor_high) / 2) * scale + (target_low + target_high) / 2


def misplace(
    stroke: np.ndarray,
    rng: np.random.Generator,
    cfg: ErrorConfig,
    char_size: float,
    points: np.ndarray | None = None,
    k: int = 0,
) -> np.ndarray | None:
    """Move the stroke by ``misplace_offset`` of the character (its centre staying in the
    box where it can), or resize a large stroke by ``misplace_scale`` either way (small
    strokes are only moved: their size is dominated by hand jitter). Given the character's
    strokes resampled (``points``, the stroke being ``points[k]``), a moved stroke also
    stays ``misplace_clearance`` away from every other stroke's place (there it would
    depict that stroke, a ``wrong_order``): ``None`` when no direction does."""
    low, high = stroke.min(axis=0), stroke.max(axis=0)
    middle = (low + high) / 2
    large = geometry.norms(high - low) >= cfg.min_resize_extent * char_size
    if large and rng.random() < cfg.misplace_resize_probability:
        factor = rng.uniform(*cfg.misplace_scale)
        factor = factor if rng.random() < 0.5 else 1.0 / factor
        return (stroke - middle) * factor + middle
    distance = rng.uniform(*cfg.misplace_offset) * char_size
    theta = rng.uniform(0, 2 * np.pi, 8)  # the first direction that stays in the box
    shifts = distance * np.stack([np.cos(theta), np.sin(theta)], 1)
    moved = middle + shifts
    usable = np.all((moved >= 0.1 * char_size) & (moved <= 0.9 * char_size), axis=1)
    if points is not None and len(points) > 1:
        coarse = points[:, ::4]  # every 4th point is enough to tell places apart
        others = coarse[np.arange(len(coarse)) != k]
        apart = distances_both_ways(others, coarse[k] + shifts[:, None, :])  # (8, S - 1)
        usable &= np.all(apart >= cfg.misplace_clearance * char_size, axis=1)
        if not usable.any():
            return None
    return stroke + shifts[int(np.argmax(usable))]


def proportion(
    strokes: list[np.ndarray],
    k: int,
    rng: np.random.Generator,
    cfg: ErrorConfig,
    char_size: float,
    longer: set[tuple[int, int]] | None = None,
) -> np.ndarray | None:
    """Stroke k drawn so that its length relation with an earlier parallel stroke j breaks
    (``geometry.relations``, whose ``longer`` pairs of ``strokes`` may be given): if it is
    the longer, cut from its end to ``proportion_flip`` times j's length; if the shorter,
    run on to ``1 / proportion_flip`` times. ``None`` when stroke k has no such partner."""
    if longer is None:
        longer = geometry.relations(strokes[: k + 1], char_size)["longer"]
    partners = [(a, b) for a, b in longer if k in (a, b) and a <= k and b <= k]
    if not partners:
        return None
    longer, shorter = partners[rng.integers(len(partners))]
    other = geometry.length(strokes[shorter if longer == k else longer])
    factor = rng.uniform(*cfg.proportion_flip)
    target = factor * other if longer == k else other / factor
    stroke = strokes[k]
    s = arc_length(stroke)
    if target <= s[-1]:
        return interpolate_axis(stroke, s, np.linspace(0.0, target, max(2, len(stroke))))
    direction = stroke[-1] - stroke[-2] if len(stroke) > 1 else np.zeros(2)
    norm = float(np.hypot(*direction))
    if norm < 1e-9:
        return None
    return np.concatenate([stroke, stroke[-1:] + direction / norm * (target - s[-1])])


class Donors(Sequence[np.ndarray]):
    """Strokes of other characters (reference box), the pool wrong shapes and extra strokes
    are drawn from. Each one's shape as ``geometry.shape_of`` sees it at unit size is
    computed once, so a donor fitted to a stroke's box (``fit_to_box``) is compared with
    that stroke without fitting or resampling it."""

    def __init__(self, strokes: Sequence[np.ndarray]):
        self.strokes = list(strokes)
        self._shapes: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.strokes)

    def __getitem__(self, index):  # type: ignore[override]
        return self.strokes[index]

    def shapes(self, picked: np.ndarray, size: float, char_size: float) -> np.ndarray:
        """``geometry.shape_of`` of the resampled donors ``picked`` fitted to a box of
        diagonal ``size`` (``fit_to_box``): ``(len(picked), P, 2)``."""
        if len(picked) == 0:
            return np.zeros((0, POINTS_PER_STROKE, 2))
        if self._shapes is None:
            lines = resample_many(self.strokes)
            low, high = lines.min(axis=1, keepdims=True), lines.max(axis=1, keepdims=True)
            resampled = np.maximum(geometry.norms(high - low)[:, 0], 1e-12)
            raw = np.array([max(geometry.extent(stroke), 1e-6) for stroke in self.strokes])
            unit = (lines - (low + high) / 2) / resampled[:, None, None]
            self._shapes = unit, resampled / raw
        unit, ratio = self._shapes
        fitted = max(size, 1e-6) * ratio[picked]
        floor = geometry.MIN_SHAPE_SIZE * char_size
        return unit[picked] * (fitted / np.maximum(fitted, floor))[:, None, None]


def wrong_shape(
    strokes: list[np.ndarray],
    k: int,
    donors: Donors,
    rng: np.random.Generator,
    cfg: ErrorConfig,
    char_size: float,
    resampled: np.ndarray | None = None,
) -> np.ndarray | None:
    """A different shape for stroke k (``resampled``: the strokes resampled, if known):
    the first of its possible wrong shapes (a straight
    line or a truncation of a curved stroke, the stroke merged with the next, a tap, three
    donors fitted to its box), in random order, at least ``min_shape_distance`` from it
    (``geometry.shape_distance``); ``None`` if none of ``shape_attempts`` is."""
    stroke = strokes[k]
    own = resampled[k] if resampled is not None else resample_many([stroke])[0]
    made: list[np.ndarray] = []
    exact: list[np.ndarray | None] = []  # each one resampled, where known without resampling
    if geometry.curvedness(stroke) >= cfg.min_curvedness:
        made += [straighten(stroke), truncate(stroke, rng.uniform(*cfg.truncate_keep))]
        exact += [np.linspace(stroke[0], stroke[-1], len(own)), None]
    if k + 1 < len(strokes):
        made.append(merge(stroke, strokes[k + 1]))
        exact.append(None)
    made.append(tap(stroke, rng))
    exact.append(np.repeat(made[-1], len(own), axis=0))
    pending = [m for m, e in zip(made, exact, strict=True) if e is None]
    fresh = iter(resample_many(pending) if pending else ())
    lines = [e if e is not None else next(fresh) for e in exact]
    picked = (rng.random(3 if len(donors) else 0) * len(donors)).astype(int)
    target = geometry.shape_of(own, char_size)
    shapes = np.concatenate(
        [
            geometry.shape_of(np.stack(lines), char_size),
            donors.shapes(picked, geometry.extent(stroke), char_size),
        ]
    )
    tried = rng.permutation(len(shapes))[: cfg.shape_attempts]
    gap = geometry.norms(shapes[tried] - target).sum(axis=1) / len(own)
    far = gap >= cfg.min_shape_distance
    if not far.any():
        return None
    chosen = int(tried[np.argmax(far)])
    if chosen < len(made):
        return made[chosen]
    return fit_to_box(donors[picked[chosen - len(made)]], stroke)


def reversible(stroke: np.ndarray, cfg: ErrorConfig, char_size: float = KANJIVG_SIZE) -> bool:
    """Whether the stroke is long enough for its direction to be judged (``wrong_direction``
    is made only of those)."""
    return geometry.length(stroke) >= cfg.min_direction_length * char_size


def distances_both_ways(points: np.ndarray, stroke: np.ndarray) -> np.ndarray:
    """Mean point distance of each of ``points (..., S, P, 2)`` to ``stroke (..., P, 2)``
    (resampled), whichever way either runs: ``(..., S)``."""
    stroke = stroke[..., None, :, :]
    forward = geometry.norms(points - stroke).sum(-1)
    backward = geometry.norms(points[..., ::-1, :] - stroke).sum(-1)
    return np.minimum(forward, backward) / points.shape[-2]


def order_candidates(
    points: np.ndarray,
    k: int,
    forbidden_order: set[int],
    cfg: ErrorConfig,
    char_size: float = KANJIVG_SIZE,
) -> list[int]:
    """The strokes j that written at position k are a ``wrong_order``: far enough from
    stroke k whichever way either runs (``points``: the strokes resampled, ``(S, P, 2)``)
    and not allowed there by an accepted order (``forbidden_order``,
    ``KanjiRef.interchangeable``)."""
    far = distances_both_ways(points, points[k]) >= cfg.min_order_distance * char_size
    return [int(j) for j in np.flatnonzero(far) if j != k and j not in forbidden_order]


def corrupt(
    strokes: list[np.ndarray],
    k: int,
    label: str,
    rng: np.random.Generator,
    cfg: ErrorConfig,
    donors: Sequence[np.ndarray],
    forbidden_order: set[int],
    char_size: float = KANJIVG_SIZE,
    resampled: np.ndarray | None = None,
    longer: set[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, int] | None:
    """Stroke k of ``strokes`` (reference box, expected order) turned into ``label``.

    Returns the stroke and the reference index it depicts, or ``None`` when that error
    cannot be made unambiguous for this stroke. ``forbidden_order`` lists strokes that
    an accepted alternative order allows at position k (never a ``wrong_order``,
    ``KanjiRef.interchangeable``).
    ``resampled`` optionally gives ``strokes`` already resampled, ``(S, P, 2)``, and
    ``longer`` the ``longer`` relations of ``strokes`` (``geometry.relations``).
    """
    stroke = strokes[k]
    if label == LABELS[CORRECT]:
        return stroke, k
    if label == "wrong_direction":
        if not reversible(stroke, cfg, char_size):
            return None
        return reverse(stroke), k
    if label == "wrong_order":
        points = resampled if resampled is not None else resample_many(strokes)
        candidates = order_candidates(points, k, forbidden_order, cfg, char_size)
        if not candidates:
            return None
        later = [j for j in candidates if j > k]
        pool = later if later and rng.random() < 0.75 else candidates
        j = int(pool[pick(rng, len(pool))])
        return strokes[j], j
    if label == "wrong_shape":
        pool = donors if isinstance(donors, Donors) else Donors(donors)
        made = wrong_shape(strokes, k, pool, rng, cfg, char_size, resampled)
        return None if made is None else (made, k)
    if label == "misplaced":  # a first stroke too: its place in the writing box is judged
        if k > 0 and rng.random() < cfg.proportion_probability:
            made = proportion(strokes, k, rng, cfg, char_size, longer)
            if made is not None:
                return made, k
        points = resampled if resampled is not None else resample_many(strokes)
        moved = misplace(stroke, rng, cfg, char_size, points, k)
        return None if moved is None else (moved, k)
    raise ValueError(f"unknown stroke label {label!r}")


def margin_report(
    references: list[list[np.ndarray]],
    rng: np.random.Generator,
    cfg: ErrorConfig = DEFAULT_ERRORS,
    samples: int = 2000,
    char_size: float = KANJIVG_SIZE,
) -> dict[str, dict[str, float]]:
    """Measure the margins after the per-stroke human variation, on random strokes.

    For each measure: the largest value among correct strokes and the smallest among the
    errors it separates (offset and size ratio: misplaced strokes moved or resized, the
    size ratio over strokes large enough to be resized; shape
    distance: wrong shapes; point distance to stroke k: wrong-order strokes).
    """
    from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, vary_strokes

    def human(s: np.ndarray) -> np.ndarray:
        return vary_strokes([s], rng, DEFAULT_AUGMENT, char_size)[0]

    donors = Donors([s for strokes in references for s in strokes])
    correct: dict[str, list[float]] = {m: [] for m in MARGIN_MEASURES}
    wrong: dict[str, list[float]] = {m: [] for m in MARGIN_MEASURES}
    for _ in range(samples):
        strokes = references[rng.integers(len(references))]
        k = int(rng.integers(len(strokes)))
        ref = strokes[k]
        drawn = human(ref)
        for name, measure in MARGIN_MEASURES.items():
            if name != "size_ratio" or geometry.extent(ref) >= cfg.min_resize_extent * char_size:
                correct[name].append(measure(drawn, ref, char_size))
        if k > 0:  # moved or resized (proportion errors are measured by their relation)
            made = (misplace(ref, rng, cfg, char_size), k)
            drawn = human(made[0])
            resized = geometry.size_ratio(made[0], ref, char_size) > 1.3
            name = "size_ratio" if resized else "offset"
            wrong[name].append(MARGIN_MEASURES[name](drawn, ref, char_size))
        if (made := corrupt(strokes, k, "wrong_shape", rng, cfg, donors, set())) is not None:
            wrong["shape_distance"].append(geometry.shape_distance(human(made[0]), ref, char_size))
        if (made := corrupt(strokes, k, "wrong_order", rng, cfg, donors, set())) is not None:
            wrong["point_distance"].append(geometry.point_distance(human(made[0]), ref, char_size))
    return {
        name: {
            "correct_max": float(np.max(correct[name])),
            "correct_p99": float(np.percentile(correct[name], 99)),
            "error_min": float(np.min(wrong[name])) if wrong[name] else float("nan"),
            "error_p01": float(np.percentile(wrong[name], 1)) if wrong[name] else float("nan"),
            "errors": len(wrong[name]),
        }
        for name in MARGIN_MEASURES
    }


MARGIN_MEASURES = {
    "offset": geometry.offset,
    "size_ratio": geometry.size_ratio,
    "shape_distance": geometry.shape_distance,
    "point_distance": geometry.point_distance,
}
