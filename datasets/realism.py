"""How far correct strokes stray from KanjiVG: real writing against the augmentation.

Each stroke is compared with its reference stroke after aligning the reference to the
*other* strokes of the same sample (``geometry.fit_alignment``), as a grader with full
context would. The per-stroke augmentation bounds in ``AugmentConfig`` were calibrated so
the synthetic percentiles follow the real ones (Tegaki train part) up to about p90.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, AugmentConfig, humanize
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.datasets.strokes import as_stroke
from kanjiwrite.datasets.synthesis import components

MEASURES = {
    "offset": geometry.offset,
    "size_ratio": geometry.size_ratio,
    "shape_distance": geometry.shape_distance,
    "point_distance": geometry.point_distance,
}
PERCENTILES = (50, 90, 95, 99)


def stroke_deviations(ref: KanjiRef, drawn: list[np.ndarray]) -> dict[str, list[float]]:
    """Each measure for every stroke of one sample (same stroke count as ``ref``, >= 3)."""
    out: dict[str, list[float]] = {name: [] for name in MEASURES}
    for k, stroke in enumerate(drawn):
        others = [j for j in range(len(drawn)) if j != k]
        linear, shift = geometry.fit_alignment(
            [ref.strokes[j] for j in others], [drawn[j] for j in others]
        )
        size = float(np.sqrt(abs(np.linalg.det(linear)))) * KANJIVG_SIZE
        expected = ref.strokes[k] @ linear.T + shift
        for name, measure in MEASURES.items():
            out[name].append(measure(as_stroke(stroke), expected, size))
    return out


def percentiles(samples: Iterable[tuple[KanjiRef, list[np.ndarray]]]) -> dict[str, list[float]]:
    """``PERCENTILES`` of each measure over all strokes of samples that fit their reference."""
    pooled: dict[str, list[float]] = {name: [] for name in MEASURES}
    for ref, drawn in samples:
        if len(drawn) == ref.stroke_count >= 3:
            for name, values in stroke_deviations(ref, drawn).items():
                pooled[name] += values
    return {name: np.percentile(v, PERCENTILES).round(3).tolist() for name, v in pooled.items()}


def synthetic_samples(
    refs: list[KanjiRef], repeats: int, seed: int, cfg: AugmentConfig = DEFAULT_AUGMENT
) -> list[tuple[KanjiRef, list[np.ndarray]]]:
    """Correct synthetic attempts at ``refs``, ``repeats`` each."""
    rng = np.random.default_rng(seed)
    order = tuple(range(max(r.stroke_count for r in refs)))
    return [
        (
            ref,
            humanize(ref.strokes, rng, cfg, components=components(ref, order, ref.stroke_count))[0],
        )
        for ref in refs
        for _ in range(repeats)
    ]
