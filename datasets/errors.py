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

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import CORRECT, KANJIVG_SIZE, LABELS
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
    min_direction_length: float = 0.10  # strokes shorter than this are never reversed
    min_curvedness: float = 0.15  # only hooked/turned/curved strokes are straightened/cut
    truncate_keep: tuple[float, float] = (0.35, 0.6)
    shape_attempts: int = 6
    proportion_probability: float = 0.4  # share of misplaced strokes made by ``proportion``
    proportion_flip: tuple[float, float] = (0.55, 0.8)  # the longer becomes this x the other


DEFAULT_ERRORS = ErrorConfig()
# a stroke moved a third of the box away (what a learner's misplaced stroke is tested with)
THIRD_OF_THE_BOX = ErrorConfig(misplace_offset=(1 / 3, 1 / 3), misplace_resize_probability=0.0)


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
    return stroke[rng.integers(len(stroke))][None].copy()


def merge(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two strokes written as one, without lifting the pen."""
    return np.concatenate([first, second])


def fit_to_box(donor: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``donor`` moved and scaled (keeping its aspect) to ``target``'s centre and size."""
    scale = max(geometry.extent(target), 1e-6) / max(geometry.extent(donor), 1e-6)
    return (donor - geometry.centre(donor)) * scale + geometry.centre(target)


def misplace(
    stroke: np.ndarray, rng: np.random.Generator, cfg: ErrorConfig, char_size: float
) -> np.ndarray:
    """Move the stroke by ``misplace_offset`` of the character (its centre staying in the
    box where it can), or resize a large stroke by ``misplace_scale`` either way (small
    strokes are only moved: their size is dominated by hand jitter)."""
    middle = geometry.centre(stroke)
    large = geometry.extent(stroke) >= cfg.min_resize_extent * char_size
    if large and rng.random() < cfg.misplace_resize_probability:
        factor = rng.uniform(*cfg.misplace_scale)
        factor = factor if rng.random() < 0.5 else 1.0 / factor
        return (stroke - middle) * factor + middle
    distance = rng.uniform(*cfg.misplace_offset) * char_size
    theta = rng.uniform(0, 2 * np.pi, 8)  # the first direction that stays in the box
    moved = middle + distance * np.stack([np.cos(theta), np.sin(theta)], 1)
    inside = np.all((moved >= 0.1 * char_size) & (moved <= 0.9 * char_size), axis=1)
    return stroke + moved[int(np.argmax(inside))] - middle


def proportion(
    strokes: list[np.ndarray], k: int, rng: np.random.Generator, cfg: ErrorConfig, char_size: float
) -> np.ndarray | None:
    """Stroke k drawn so that its length relation with an earlier parallel stroke j breaks
    (``geometry.relations``): if it is the longer, cut from its end to ``proportion_flip``
    times j's length; if the shorter, run on to ``1 / proportion_flip`` times. ``None``
    when stroke k has no such partner."""
    related = geometry.relations(strokes[: k + 1], char_size)["longer"]
    partners = [(a, b) for a, b in related if k in (a, b)]
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


def wrong_shape_candidates(
    strokes: list[np.ndarray],
    k: int,
    donors: list[np.ndarray],
    rng: np.random.Generator,
    cfg: ErrorConfig,
) -> Iterator[np.ndarray]:
    """Possible wrong shapes for stroke k in random order, made only when asked for
    (unchecked against the margin)."""
    stroke = strokes[k]
    makers: list[Callable[[], np.ndarray]] = []
    if geometry.curvedness(stroke) >= cfg.min_curvedness:
        makers.append(lambda: straighten(stroke))
        makers.append(lambda: truncate(stroke, rng.uniform(*cfg.truncate_keep)))
    if k + 1 < len(strokes):
        makers.append(lambda: merge(stroke, strokes[k + 1]))
    makers.append(lambda: tap(stroke, rng))
    if donors:
        makers += [lambda: fit_to_box(donors[rng.integers(len(donors))], stroke)] * 3
    for i in rng.permutation(len(makers)):
        yield makers[i]()


def reversible(stroke: np.ndarray, cfg: ErrorConfig, char_size: float = KANJIVG_SIZE) -> bool:
    """Whether the stroke is long enough for its direction to be judged (``wrong_direction``
    is made only of those)."""
    return geometry.length(stroke) >= cfg.min_direction_length * char_size


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
    forward = np.linalg.norm(points - points[k], axis=-1).mean(-1)
    backward = np.linalg.norm(points[:, ::-1] - points[k], axis=-1).mean(-1)
    far = np.minimum(forward, backward) >= cfg.min_order_distance * char_size
    return [int(j) for j in np.flatnonzero(far) if j != k and j not in forbidden_order]


def corrupt(
    strokes: list[np.ndarray],
    k: int,
    label: str,
    rng: np.random.Generator,
    cfg: ErrorConfig,
    donors: list[np.ndarray],
    forbidden_order: set[int],
    char_size: float = KANJIVG_SIZE,
    resampled: np.ndarray | None = None,
) -> tuple[np.ndarray, int] | None:
    """Stroke k of ``strokes`` (reference box, expected order) turned into ``label``.

    Returns the stroke and the reference index it depicts, or ``None`` when that error
    cannot be made unambiguous for this stroke. ``forbidden_order`` lists strokes that
    an accepted alternative order allows at position k (never a ``wrong_order``,
    ``KanjiRef.interchangeable``).
    ``resampled`` optionally gives ``strokes`` already resampled, ``(S, P, 2)``.
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
        j = int(pool[rng.integers(len(pool))])
        return strokes[j], j
    if label == "wrong_shape":
        candidates = wrong_shape_candidates(strokes, k, donors, rng, cfg)
        for candidate in itertools.islice(candidates, cfg.shape_attempts):
            if geometry.shape_distance(candidate, stroke, char_size) >= cfg.min_shape_distance:
                return candidate, k
        return None
    if label == "misplaced":  # a first stroke too: its place in the writing box is judged
        if k > 0 and rng.random() < cfg.proportion_probability:
            made = proportion(strokes, k, rng, cfg, char_size)
            if made is not None:
                return made, k
        return misplace(stroke, rng, cfg, char_size), k
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

    donors = [s for strokes in references for s in strokes]
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
