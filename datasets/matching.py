"""Which reference stroke each of a character's strokes depicts: the one matcher for
KanjiVG's variant files (alternative orders), other hands (``styles``), real writing kept
for calibration (``tegaki.correct_attempts``) and real writing scored in evaluation.

``assign`` pairs strokes with reference strokes by the optimal assignment of mean point
distances (16 points a stroke, in character units). With ``align`` (strokes in their own
frame: other hands, real writing) both characters are first put in a unit box, then the
strokes are mapped onto their partners by one affine fit, twice (assign, fit, assign, fit);
without it (a KanjiVG variant file) they are compared in the 109 box as they are.

The reversed-stroke rule, decided here once: a stroke runs in its partner's direction or it
does not depict it. ``check_direction`` (the default, used everywhere) compares forward
distances only and rejects an assignment where any stroke is nearer its partner reversed,
so writing with a backwards stroke is neither a correct rendering, nor a correct attempt
for calibration, nor correct writing in the real-writing evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.strokes import resample_many

if TYPE_CHECKING:  # kanjivg imports this module for its variant files
    from kanjiwrite.datasets.kanjivg import KanjiRef

MATCH_POINTS = 16  # points a stroke when comparing strokes
MAX_STROKE_DISTANCE = 0.2  # character units: a stroke this far from its partner is no match


def distances(
    drawn: list[np.ndarray], reference: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean point distances ``(len(drawn), len(reference))`` of every drawn stroke to every
    reference stroke, as drawn (forward) and reversed (backward)."""
    a, b = resample_many(drawn, MATCH_POINTS), resample_many(reference, MATCH_POINTS)
    forward = np.linalg.norm(a[:, None] - b[None], axis=-1).mean(-1)
    backward = np.linalg.norm(a[:, None, ::-1] - b[None], axis=-1).mean(-1)
    return forward, backward


def _unit_box(strokes: list[np.ndarray]) -> list[np.ndarray]:
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    return [(s - (low + high) / 2) / max(float((high - low).max()), 1e-9) for s in strokes]


def assign(
    ref: KanjiRef,
    strokes: list[np.ndarray],
    check_direction: bool = True,
    *,
    align: bool = True,
    any_order: bool = False,
    max_distance: float = MAX_STROKE_DISTANCE,
) -> tuple[int, ...] | None:
    """The reference stroke index each of ``strokes`` depicts (see module doc), or ``None``
    when they are not the reference stroke by stroke: another count, a stroke farther than
    ``max_distance`` (character units) from its partner, a stroke reversed (with
    ``check_direction``), or an assignment that is not an accepted order (unless
    ``any_order``: finding a variant file's order)."""
    if len(strokes) != ref.stroke_count or not strokes:
        return None
    if align:
        drawn, reference = _unit_box(strokes), _unit_box(ref.strokes)
    else:
        drawn = [s / KANJIVG_SIZE for s in strokes]
        reference = [s / KANJIVG_SIZE for s in ref.strokes]
    columns = np.arange(len(drawn))
    for _ in range(2 if align else 1):  # assign, fit the affine map on it, assign again
        forward, backward = distances(drawn, reference)
        _, columns = linear_sum_assignment(
            forward if check_direction else np.minimum(forward, backward)
        )
        if align:
            linear, shift = geometry.fit_alignment(drawn, [reference[c] for c in columns])
            drawn = [s @ linear.T + shift for s in drawn]
    if align:
        forward, backward = distances(drawn, reference)
    rows = np.arange(len(drawn))
    order = tuple(int(c) for c in columns)
    cost = forward if check_direction else np.minimum(forward, backward)
    if not any_order and order not in ref.orders():
        return None
    if cost[rows, columns].max() > max_distance:
        return None
    if check_direction and (forward[rows, columns] > backward[rows, columns]).any():
        return None
    return order
