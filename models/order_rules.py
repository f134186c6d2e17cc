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

from dataclasses import dataclass

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


@dataclass
class Layout:
    """What the rules read of a character's reference, fixed per character (computed once
    per reference: ``KanjiRef.memo``)."""

    crossing: set[tuple[int, int]]  # clear crossings (i < j)
    crossed: list[int]  # clear crossings of each stroke
    span: np.ndarray  # the character's width and height
    centre_x: float  # of the character's box
    kinds: list[str]  # ``_kind`` of each stroke
    centres: np.ndarray  # (S, 2)
    extents: list[float]
    edges: list[set[str]]  # the box sides each stroke runs along
    inside: list[bool]  # each stroke's centre clear of the box's sides
    framed: bool  # three sides or more of the box are strokes

    @classmethod
    def of(cls, ref: KanjiRef) -> Layout:
        strokes, size = ref.strokes, KANJIVG_SIZE
        crossing = set(geometry.relations(strokes, size)["crossing"])
        points = np.concatenate(strokes)
        low, high = points.min(axis=0), points.max(axis=0)
        span, near = high - low, EDGE * size

        def edges(stroke: np.ndarray) -> set[str]:
            """The sides of the box the stroke runs along (most of their length)."""
            s_low, s_high = stroke.min(axis=0), stroke.max(axis=0)
            out = set()
            if s_high[1] - s_low[1] >= 0.5 * span[1]:
                out |= {"left"} if s_low[0] - low[0] < near else set()
                out |= {"right"} if high[0] - s_high[0] < near else set()
            if s_high[0] - s_low[0] >= 0.5 * span[0]:
                out |= {"top"} if s_low[1] - low[1] < near else set()
                out |= {"bottom"} if high[1] - s_high[1] < near else set()
            return out

        centres = np.array([geometry.centre(s) for s in strokes])
        sides = [edges(s) for s in strokes]
        return cls(
            crossing=crossing,
            crossed=[sum(i in pair for pair in crossing) for i in range(len(strokes))],
            span=span,
            centre_x=float((low[0] + high[0]) / 2),
            kinds=[_kind(t) for t in ref.types],
            centres=centres,
            extents=[geometry.extent(s) for s in strokes],
            edges=sides,
            inside=[bool((c > low + near).all() and (c < high - near).all()) for c in centres],
            framed=len(set().union(*sides)) >= 3,
        )


def order_rule(ref: KanjiRef, expected: int, later: int) -> str | None:
    """The rule (a key of ``RULES``) that puts base stroke ``expected`` before ``later``."""
    size = KANJIVG_SIZE
    layout: Layout = ref.memo("order_rules.layout", lambda: Layout.of(ref))
    crosses_other = (min(expected, later), max(expected, later)) in layout.crossing
    ke, kx = layout.kinds[expected], layout.kinds[later]
    if crosses_other and {ke, kx} == {"h", "s"}:
        return "shorter_crossing_first"
    long = layout.extents[later] >= 0.6 * float(layout.span.max())
    if layout.crossed[later] >= 3 or (long and layout.crossed[later] >= 2):
        return "piercing_last"
    e_edges, x_edges = layout.edges[expected], layout.edges[later]
    if layout.framed and kx == "h" and "bottom" in x_edges and (layout.inside[expected] or e_edges):
        return "enclosure_closed_last"
    if layout.framed and e_edges and layout.inside[later]:
        return "outside_before_inside"
    if crosses_other and ke == "h" and kx == "v":
        return "horizontal_before_vertical"
    centre_x = layout.centre_x
    ce, cx = layout.centres[expected], layout.centres[later]
    if abs(ce[0] - centre_x) < 0.08 * size and abs(cx[0] - centre_x) >= 0.12 * size:
        mirror = np.array([2 * centre_x - cx[0], cx[1]])
        if any(
            i not in (expected, later) and np.linalg.norm(c - mirror) < 0.15 * size
            for i, c in enumerate(layout.centres)
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
