"""Which stroke-order rule a learner broke, from the reference alone (numpy only).

When stroke ``later`` of a character is written where stroke ``expected`` belongs, the
rule that puts ``expected`` first is derived from the two strokes' geometry and KanjiVG
types, in the reference box, checked in this order:

* ``shorter_crossing_first``: a horizontal and a left-falling stroke that cross: the
  shorter one first (右, 左);
* ``piercing_last``: ``later`` clearly crosses three or more others, or two when it is
  long (中, 書);
* ``enclosure_closed_last``: in a character framed on three sides or more, ``later``
  closes the frame at the bottom and ``expected`` is inside it or part of it (口, 田, 国);
* ``outside_before_inside``: in such a character, ``expected`` runs along the outline and
  ``later`` sits inside (国);
* ``horizontal_before_vertical``: a horizontal crossed by a vertical (十);
* ``centre_before_sides``: ``expected`` stands on the centre line and ``later`` is one of
  two symmetric sides (小);
* ``top_before_bottom``, ``left_before_right``: by the strokes' places.

``None`` when no rule explains it (an exception the learner must simply remember).
"""

from __future__ import annotations

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.kanjivg import KanjiRef

RULES = {
    "piercing_last": "a stroke that pierces the others comes last",
    "enclosure_closed_last": "an enclosure is closed last, after what is inside",
    "outside_before_inside": "the outside comes before the inside",
    "shorter_crossing_first": "of a crossing horizontal and sweep, the shorter comes first",
    "horizontal_before_vertical": "a horizontal comes before the vertical that crosses it",
    "centre_before_sides": "the centre comes before symmetric sides",
    "top_before_bottom": "top before bottom",
    "left_before_right": "left before right",
}
EDGE = 0.1  # character units: a stroke this close to the character's outline runs along it
SIDE = 0.1  # a centre this far from the other stroke's is clearly above / left of it


def _kind(stroke_type: str) -> str:
    """``h`` horizontal, ``v`` vertical, ``s`` left-falling sweep, ``o`` other."""
    return {"㇐": "h", "㇑": "v", "㇒": "s", "㇓": "s"}.get(stroke_type[:1], "o")


def order_rule(ref: KanjiRef, expected: int, later: int) -> str | None:
    """The rule (a key of ``RULES``) that puts base stroke ``expected`` before ``later``."""
    strokes, size = ref.strokes, KANJIVG_SIZE
    crossing = geometry.relations(strokes, size)["crossing"]  # clear crossings (i < j)
    crosses_other = (min(expected, later), max(expected, later)) in crossing
    crossed_by_later = sum(later in pair for pair in crossing)
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    span = high - low
    e, x = strokes[expected], strokes[later]
    ke, kx = _kind(ref.types[expected]), _kind(ref.types[later])

    def inside(stroke: np.ndarray) -> bool:
        middle, margin = geometry.centre(stroke), EDGE * size
        return bool((middle > low + margin).all() and (middle < high - margin).all())

    def edges(stroke: np.ndarray) -> set[str]:
        """The sides of the character's box the stroke runs along (most of their length)."""
        s_low, s_high = stroke.min(axis=0), stroke.max(axis=0)
        near, out = EDGE * size, set()
        if s_high[1] - s_low[1] >= 0.5 * span[1]:
            out |= {"left"} if s_low[0] - low[0] < near else set()
            out |= {"right"} if high[0] - s_high[0] < near else set()
        if s_high[0] - s_low[0] >= 0.5 * span[0]:
            out |= {"top"} if s_low[1] - low[1] < near else set()
            out |= {"bottom"} if high[1] - s_high[1] < near else set()
        return out

    if crosses_other and {ke, kx} == {"h", "s"}:
        return "shorter_crossing_first"
    long = geometry.extent(x) >= 0.6 * float(span.max())
    if crossed_by_later >= 3 or (long and crossed_by_later >= 2):
        return "piercing_last"
    framed = len(set().union(*(edges(s) for s in strokes))) >= 3
    if framed and kx == "h" and "bottom" in edges(x) and (inside(e) or edges(e)):
        return "enclosure_closed_last"
    if framed and edges(e) and inside(x):
        return "outside_before_inside"
    if crosses_other and ke == "h" and kx == "v":
        return "horizontal_before_vertical"
    axis = (low[0] + high[0]) / 2  # the character's vertical mid-line
    ce, cx = geometry.centre(e), geometry.centre(x)
    if abs(ce[0] - axis) < 0.08 * size and abs(cx[0] - axis) >= 0.12 * size:
        mirror = np.array([2 * axis - cx[0], cx[1]])
        if any(
            i not in (expected, later) and np.linalg.norm(geometry.centre(s) - mirror) < 0.15 * size
            for i, s in enumerate(strokes)
        ):
            return "centre_before_sides"
    dy, dx = cx[1] - ce[1], cx[0] - ce[0]
    if dy >= SIDE * size and dy >= abs(dx):
        return "top_before_bottom"
    if dx >= SIDE * size:
        return "left_before_right"
    if dy >= SIDE * size:
        return "top_before_bottom"
    return None
