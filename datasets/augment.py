"""Human-like augmentation: turn reference strokes into what a finger on a phone produces.

Small pure functions over stroke arrays, composed by ``humanize_many`` (``humanize`` for
one character). Variation is structured as writers vary, in the reference box: components
(KanjiVG element groups) move and scale together; one end of a stroke stops short or runs
on (an inner stroke that stops before the wall); dots turn and change length; then each
stroke gets a small offset, scale and rotation, a smooth low-frequency wobble, hooks at the
start and tails at the end. The relations that tell characters apart
(``geometry.relations``: the longer of two parallel strokes, clear crossings, strokes
clearly apart) are kept: a character whose variation breaks one is varied again, and after
``relation_tries`` only wobbled. Per character: a random affine (rotation, shear, aspect)
placing the reference box (the whole character's, whatever has been drawn of it) in the
writing box of a canvas of 100 to 1000 px as real writers do (``box_scale``,
``box_offset``: calibrated on the Tegaki train part, ``kanjiwrite data realism``), so where
a stroke lies in the box means what it means for a learner; then uneven speed (8 to 200
points per stroke) and quantisation to whole pixels.

Speed: every stroke of every character in a batch is varied at once as a polyline of
``VARY_POINTS`` points evenly spaced by arc length, an array ``(N, P, 2)`` with the
character each stroke belongs to beside it (``owner``); per-character draws (components,
the affine, the canvas) are indexed by it. A training pool of hundreds of characters costs
a few hundred numpy calls, not a few hundred per character.

All per-stroke bounds are in character units (fraction of the character size) and are the
*correct-variation* side of the margins stated in ``errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.strokes import arc_axis, interpolate_axis, resample_many


@dataclass(frozen=True)
class AugmentConfig:
    # per character
    rotation_deg: float = 7.0
    shear: float = 0.15
    aspect: float = 0.12  # x/y scale ratio within exp(+-aspect)
    # the reference box onto the writing box (the canvas's centred square): size factor
    # (real writers: 0.68 to 1.17 of the reference's size, 1st to 99th percentile) and
    # offset of the centre in box units (real: sd 0.04, 95th percentile 0.08)
    box_scale: tuple[float, float] = (0.68, 1.08)
    box_offset_sd: float = 0.04
    box_offset_max: float = 0.12
    canvas_px: tuple[int, int] = (100, 1000)
    canvas_aspect: tuple[float, float] = (0.75, 1.33)  # non-square canvases, half the time
    # per stroke, character units: the bounds of variation still labelled correct,
    # calibrated on real writing (Tegaki train part, see `kanjiwrite data realism`)
    stroke_offset: float = 0.065
    stroke_scale: float = 0.22  # per-axis size factor within exp(+-stroke_scale)
    stroke_rotation_deg: float = 10.0
    component_offset: float = 0.05  # a component (element group) moves as one
    component_scale: float = 0.18  # and scales as one, within exp(+-component_scale)
    endpoint_probability: float = 0.5  # one end of a stroke stops short or runs on
    endpoint_change: float = 0.24  # by up to this share of the stroke's length
    dot_length: float = 0.14  # strokes shorter than this (char units) are dots
    dot_rotation_deg: float = 25.0
    dot_scale: float = 0.3  # dots' length factor within exp(+-dot_scale)
    relation_tries: int = 3  # variations drawn before falling back to wobble and hooks only
    wobble: float = 0.03
    hook_probability: float = 0.35
    hook_length: float = 0.04
    # sampling
    points: tuple[int, int] = (8, 200)
    speed_variation: float = 0.8
    quantise: bool = True


DEFAULT_AUGMENT = AugmentConfig()


VARY_POINTS = 41  # strokes are varied as polylines of this many points, even in arc length
HOOK_POINTS = 2  # points a hook (or tail) adds at each end of a varied stroke


@dataclass
class Writing:
    """One character to humanize: strokes in the reference box, the components (lists of
    stroke positions) that move together, and the relations to keep as pair arrays
    (``geometry.relation_pairs``; ``None``: all of the strokes', ``geometry.relations``)."""

    strokes: list[np.ndarray]
    components: list[list[int]] = field(default_factory=list)
    relations: dict[str, np.ndarray] | None = None


def rotate(vectors: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """``vectors (..., 2)`` each turned by its ``angle_rad`` (broadcast over the rest)."""
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    x, y = vectors[..., 0], vectors[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def lengths_of(lines: np.ndarray) -> np.ndarray:
    """Arc length of each of ``lines (N, P, 2)``."""
    step = np.diff(lines, axis=1)
    return np.sqrt(step[..., 0] ** 2 + step[..., 1] ** 2).sum(axis=1)


def jitter(
    lines: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> np.ndarray:
    """Offset, stretch (each axis on its own) and rotate each of ``lines (N, P, 2)`` about
    its centre within the correct-variation bounds."""
    count = len(lines)
    centres = lines.mean(axis=1, keepdims=True)
    angle = np.deg2rad(rng.uniform(-cfg.stroke_rotation_deg, cfg.stroke_rotation_deg, count))
    scale = np.exp(rng.uniform(-cfg.stroke_scale, cfg.stroke_scale, (count, 1, 2)))
    radius = rng.uniform(0, cfg.stroke_offset, count) * char_size
    theta = rng.uniform(0, 2 * np.pi, count)
    shift = (radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1))[:, None]
    return rotate((lines - centres) * scale, angle[:, None]) + centres + shift


WAVE_POINTS = 11  # wobble is evaluated at this many points along a stroke, then interpolated


@lru_cache(maxsize=8)
def wave_interpolation(points: int) -> np.ndarray:
    """The ``(points, WAVE_POINTS)`` matrix of linear interpolation from ``WAVE_POINTS``
    evenly spaced points to ``points``."""
    fine, coarse = np.linspace(0.0, 1.0, points), np.linspace(0.0, 1.0, WAVE_POINTS)
    return np.stack([np.interp(fine, coarse, unit) for unit in np.eye(WAVE_POINTS)], 1)


def wobble(
    lines: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> np.ndarray:
    """Add to each of ``lines (N, P, 2)`` a smooth displacement (three low-frequency waves
    along it, at most two cycles each: evaluated at ``WAVE_POINTS`` points and interpolated)
    of at most ``cfg.wobble`` char units."""
    count, points = lines.shape[:2]
    u = np.linspace(0.0, 1.0, WAVE_POINTS)[None, None, :, None]  # fraction of the arc
    freq = rng.uniform(0.3, 2.0, (count, 3, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (count, 3, 1, 2))
    weight = rng.dirichlet(np.ones(3), count)[:, :, None, None]
    amplitude = rng.uniform(0, cfg.wobble, count) * char_size / np.sqrt(2)
    waves = (weight * np.sin(2 * np.pi * freq * u + phase)).sum(axis=1)  # (N, W, 2), |.| <= 1
    displacement = np.tensordot(waves, wave_interpolation(points), axes=([1], [1]))  # (N, 2, P)
    displacement = displacement.transpose(0, 2, 1)
    taps = lengths_of(lines) < 1e-9  # a tap has no arc: it moves as one point
    displacement[taps] = displacement[taps, :1]
    return lines + amplitude[:, None, None] * displacement


def add_hooks(
    lines: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> np.ndarray:
    """Maybe give each of ``lines (N, P, 2)`` a start hook and an end tail, each at most
    ``hook_length`` long (and a fifth of the stroke), bent 30 to 150 degrees from its
    direction there: ``(N, P + 4, 2)``, a hook not drawn being points on the end itself."""
    count = len(lines)
    chosen = rng.random((count, 2)) < cfg.hook_probability
    bend = np.deg2rad(rng.uniform(30, 150, (count, 2))) * rng.choice([-1.0, 1.0], (count, 2))
    reach = rng.uniform(0.3, 1.0, (count, 2))
    bulge = rng.normal(0, 0.1, (count, 2, 2))
    longest = np.minimum(cfg.hook_length * char_size, 0.2 * lengths_of(lines))
    ends = lines[:, [0, -1]]  # (N, 2 ends, 2)
    direction = ends - lines[:, [1, -2]]
    norm = np.hypot(direction[..., 0], direction[..., 1])
    reach = np.where(chosen & (norm > 1e-9), reach * longest[:, None], 0.0)
    tip = ends + rotate(direction, bend) * (reach / np.maximum(norm, 1e-9))[..., None]
    hook = tip - ends
    middle = (ends + tip) / 2 + bulge * np.hypot(hook[..., 0], hook[..., 1])[..., None]
    return np.concatenate([tip[:, :1], middle[:, :1], lines, middle[:, 1:], tip[:, 1:]], axis=1)


def move_components(
    lines: np.ndarray,
    component: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> np.ndarray:
    """Shift and scale the ``lines (N, P, 2)`` of each component together, about the
    component's centre; ``component`` numbers each line's component (-1: none)."""
    members = np.flatnonzero(component >= 0)
    if len(members) == 0:
        return lines
    members = members[np.argsort(component[members], kind="stable")]  # by component
    ids, starts, index = np.unique(component[members], return_index=True, return_inverse=True)
    moving = lines[members]
    low = np.minimum.reduceat(moving.min(axis=1), starts)
    high = np.maximum.reduceat(moving.max(axis=1), starts)
    middle = ((low + high) / 2)[index][:, None]
    scale = np.exp(rng.uniform(-cfg.component_scale, cfg.component_scale, (len(ids), 2)))
    theta = rng.uniform(0, 2 * np.pi, len(ids))
    radius = rng.uniform(0, cfg.component_offset, len(ids)) * char_size
    shift = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    out = lines.copy()
    out[members] = (moving - middle) * scale[index][:, None] + middle + shift[index][:, None]
    return out


def change_endpoints(
    lines: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> np.ndarray:
    """Let one end of some of ``lines (N, P, 2)`` stop short or run on (straight, along
    the stroke's direction at that end) by up to ``endpoint_change`` of the stroke's
    length; dots turn and change length about their centre instead."""
    count, points = lines.shape[:2]
    total = lengths_of(lines)
    dot = (total > 1e-9) & (total < cfg.dot_length * char_size)
    angle = np.deg2rad(rng.uniform(-cfg.dot_rotation_deg, cfg.dot_rotation_deg, count))
    factor = np.exp(rng.uniform(-cfg.dot_scale, cfg.dot_scale, count))
    changed = ~dot & (total > 1e-9) & (rng.random(count) < cfg.endpoint_probability)
    change = np.where(changed, rng.uniform(-1, 1, count) * cfg.endpoint_change, 0.0)
    at_start = rng.random(count) < 0.5
    # the part kept, as fractions [low, high] of the arc; beyond an end, straight on
    low = np.where(at_start, -change, 0.0)
    high = 1.0 + np.where(at_start, 0.0, change)
    fraction = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, points)[None]
    out = lines.copy()
    out[changed] = along(lines[changed], fraction[changed], total[changed])
    middle = lines[dot].mean(axis=1, keepdims=True)
    turned = rotate(lines[dot] - middle, angle[dot, None]) * factor[dot, None, None]
    out[dot] = turned + middle
    return out


def along(lines: np.ndarray, fraction: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Points of ``lines (N, P, 2)`` (evenly spaced by arc length, of arc length ``total``)
    at ``fraction (N, Q)`` of their arc; below 0 and above 1, straight on along the
    direction at that end."""
    count, points = lines.shape[:2]
    position = np.clip(fraction, 0.0, 1.0) * (points - 1)
    index = np.minimum(position.astype(int), points - 2)
    weight = (position - index)[..., None]
    rows = np.arange(count)[:, None]
    out = lines[rows, index] * (1 - weight) + lines[rows, index + 1] * weight
    lead = min(2, points - 1)
    ends = np.stack([lines[:, 0] - lines[:, lead], lines[:, -1] - lines[:, -1 - lead]], 1)
    ends /= np.maximum(np.hypot(ends[..., 0], ends[..., 1]), 1e-9)[..., None]
    before = (np.maximum(-fraction, 0.0) * total[:, None])[..., None] * ends[:, None, 0]
    beyond = (np.maximum(fraction - 1.0, 0.0) * total[:, None])[..., None] * ends[:, None, 1]
    return out + before + beyond


def vary_once(
    lines: np.ndarray,
    component: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> np.ndarray:
    """One draw of the human variation of ``lines (N, P, 2)``: ``(N, P + 4, 2)``."""
    varied = move_components(lines, component, rng, cfg, char_size)
    varied = change_endpoints(varied, rng, cfg, char_size)
    varied = wobble(jitter(varied, rng, cfg, char_size), rng, cfg, char_size)
    return add_hooks(varied, rng, cfg, char_size)


@dataclass
class RelationPairs:
    """The relations to keep in a batch of characters, as pairs of line indices: ``longer``
    (first longer), ``crossing`` (must cross) and ``apart`` (must not touch)."""

    longer: np.ndarray  # (n, 2) int
    crossing: np.ndarray
    apart: np.ndarray

    @classmethod
    def of(cls, relations: Sequence[dict[str, np.ndarray]], starts: np.ndarray) -> RelationPairs:
        """The pair arrays of several characters (``geometry.relation_pairs``), the first
        strokes of which are at ``starts``."""

        def pairs(kind: str) -> np.ndarray:
            found = [r[kind] + start for r, start in zip(relations, starts, strict=True)]
            return np.concatenate(found) if found else np.zeros((0, 2), int)

        return cls(pairs("longer"), pairs("crossing"), pairs("apart"))

    def broken(self, lines: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
        """Which of ``count`` characters (``owner`` of each of ``lines (N, P + 4, 2)``)
        break a relation."""
        relation_lines, lengths = geometry.polylines_and_lengths(list(lines))
        failed = geometry.broken_relations(vars(self), relation_lines, lengths)
        return np.bincount(owner[failed], minlength=count) > 0

    def within(self, keep: np.ndarray) -> RelationPairs:
        """The pairs among the lines ``keep`` (indices), renumbered to their positions."""
        position = np.full(keep.max(initial=-1) + 1, -1)
        position[keep] = np.arange(len(keep))

        def renumber(pairs: np.ndarray) -> np.ndarray:
            inside = np.all(pairs < len(position), axis=1)
            mapped = position[pairs[inside]]
            return mapped[np.all(mapped >= 0, axis=1)]

        return RelationPairs(renumber(self.longer), renumber(self.crossing), renumber(self.apart))


def vary_lines(
    lines: np.ndarray,
    owner: np.ndarray,
    component: np.ndarray,
    keep: RelationPairs,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> np.ndarray:
    """The human variation of ``lines (N, P, 2)`` (of characters ``owner``), keeping the
    relations ``keep``: characters that break one are varied again, up to
    ``relation_tries`` times, then only wobbled. ``(N, P + 4, 2)``."""
    count = int(owner.max(initial=-1)) + 1
    out = np.empty((len(lines), lines.shape[1] + 2 * HOOK_POINTS, 2))
    pending = np.arange(len(lines))
    for _ in range(cfg.relation_tries):
        varied = vary_once(lines[pending], component[pending], rng, cfg, char_size)
        broken = keep.within(pending).broken(varied, owner[pending], count)[owner[pending]]
        out[pending[~broken]] = varied[~broken]
        pending = pending[broken]
        if len(pending) == 0:
            return out
    wobbled = wobble(lines[pending], rng, cfg, char_size)
    out[pending] = np.pad(wobbled, ((0, 0), (HOOK_POINTS, HOOK_POINTS), (0, 0)), mode="edge")
    return out


def character_affines(
    count: int, char_size: float, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random 2x3 affines ``(count, 2, 3)``, each taking the reference box
    (``char_size`` square) into the writing box of a random canvas as a writer places a
    character, and those canvases ``(count, 2)`` (width, height in whole pixels)."""
    side = np.exp(rng.uniform(*np.log(cfg.canvas_px), count))
    ratio = np.where(rng.random(count) < 0.5, rng.uniform(*cfg.canvas_aspect, count), 1.0)
    width = np.minimum(np.where(ratio >= 1, side, side / ratio), cfg.canvas_px[1])
    height = np.minimum(np.where(ratio >= 1, side * ratio, side), cfg.canvas_px[1])
    unit = np.minimum(width, height)
    aspect = np.exp(rng.uniform(-cfg.aspect, cfg.aspect, count))
    scale = np.exp(rng.uniform(*np.log(cfg.box_scale), count)) * unit / char_size
    angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg, count))
    shear = rng.uniform(-cfg.shear, cfg.shear, count)
    cos, sin = np.cos(angle), np.sin(angle)
    # scale * rotation @ [[1, shear], [0, 1]] @ diag(aspect, 1 / aspect)
    linear = scale[:, None, None] * np.stack(
        [
            np.stack([cos * aspect, (cos * shear - sin) / aspect], 1),
            np.stack([sin * aspect, (sin * shear + cos) / aspect], 1),
        ],
        1,
    )
    offset = np.clip(
        rng.normal(0.0, cfg.box_offset_sd, (count, 2)), -cfg.box_offset_max, cfg.box_offset_max
    )
    target = np.stack([width, height], 1) / 2 + offset * unit[:, None]
    translation = target - linear @ np.full(2, char_size / 2)
    return np.concatenate([linear, translation[..., None]], 2), np.round(
        np.stack([width, height], 1)
    )


def sample_unevenly(
    strokes: Sequence[np.ndarray], rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Resample strokes as a touch screen would: 8 to 200 points each, slow at the ends and
    faster in the middle (a minimum-jerk profile) with random variation in speed. All
    points stacked ``(sum n, 2)`` and each stroke's count ``n``."""
    points, axis, first, total = arc_axis(strokes)
    n = np.exp(rng.uniform(*np.log(cfg.points), len(strokes))).astype(int)
    ids = np.repeat(np.arange(len(strokes)), n)
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    t = (np.arange(n.sum()) - starts[ids]) / (n - 1)[ids]
    blend = rng.uniform(0, cfg.speed_variation, len(strokes))[ids]
    profile = (1 - blend) * t + blend * (t * t * t * (10 + t * (6 * t - 15)))
    steps = np.diff(profile, prepend=0.0) * rng.uniform(0.5, 1.5, len(t))
    steps[starts] = 0.0
    u = np.cumsum(steps)
    u -= u[starts][ids]
    u /= np.maximum(u[starts + n - 1], 1e-12)[ids]
    return interpolate_axis(points, axis, first[ids] + u * total[ids]), n


def vary_writings(
    writings: Sequence[Writing], rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The human variation (``vary_lines``) of every stroke of ``writings`` at once, in the
    reference box: the varied lines ``(N, P + 4, 2)``, the writing each belongs to
    (``owner``), and each writing's first line and number of lines."""
    sizes = np.array([len(w.strokes) for w in writings])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    owner = np.repeat(np.arange(len(writings)), sizes)
    lines = resample_many([s for w in writings for s in w.strokes], VARY_POINTS)
    component = np.full(len(lines), -1)
    groups = 0
    for writing, start in zip(writings, starts, strict=True):
        for members in writing.components:
            component[start + np.asarray(members, int)] = groups
            groups += 1
    keep = RelationPairs.of(
        [
            w.relations
            if w.relations is not None
            else geometry.relation_pairs(geometry.relations(w.strokes, char_size))
            for w in writings
        ],
        starts,
    )
    return vary_lines(lines, owner, component, keep, rng, cfg, char_size), owner, starts, sizes


def humanize_many(
    writings: Sequence[Writing],
    rng: np.random.Generator,
    cfg: AugmentConfig = DEFAULT_AUGMENT,
    char_size: float = KANJIVG_SIZE,
) -> list[tuple[list[np.ndarray], tuple[float, float]]]:
    """Make each character's reference-box strokes look hand-drawn on a random canvas: per
    writing, the strokes in canvas pixels and the canvas ``(width, height)``. All strokes
    of all characters are varied together (see module doc)."""
    varied, owner, starts, sizes = vary_writings(writings, rng, cfg, char_size)
    matrices, canvases = character_affines(len(writings), char_size, rng, cfg)
    affine = matrices[owner]  # (N, 2, 3)
    x, y = varied[..., 0], varied[..., 1]
    placed = np.stack(
        [
            affine[:, None, 0, 0] * x + affine[:, None, 0, 1] * y + affine[:, None, 0, 2],
            affine[:, None, 1, 0] * x + affine[:, None, 1, 1] * y + affine[:, None, 1, 2],
        ],
        -1,
    )
    flat, counts = sample_unevenly(list(placed), rng, cfg)
    flat = np.clip(flat, 0.0, np.repeat(canvases[owner], counts, axis=0))
    if cfg.quantise:
        flat = np.round(flat)  # a touch screen ends at its edges and counts whole pixels
    ends = np.cumsum(counts).tolist()
    drawn = [flat[end - n : end] for end, n in zip(ends, counts.tolist(), strict=True)]
    return [
        (drawn[start : start + size], (int(canvases[i, 0]), int(canvases[i, 1])))
        for i, (start, size) in enumerate(zip(starts, sizes, strict=True))
    ]


def humanize(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    cfg: AugmentConfig = DEFAULT_AUGMENT,
    char_size: float = KANJIVG_SIZE,
    components: list[list[int]] | None = None,
    relations: dict[str, np.ndarray] | None = None,
) -> tuple[list[np.ndarray], tuple[float, float]]:
    """``humanize_many`` of one character: its strokes in canvas pixels and the canvas.
    ``components`` are lists of stroke positions that move together
    (``synthesis.components``)."""
    return humanize_many([Writing(strokes, components or [], relations)], rng, cfg, char_size)[0]


def vary_strokes(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    cfg: AugmentConfig = DEFAULT_AUGMENT,
    char_size: float = KANJIVG_SIZE,
    components: list[list[int]] | None = None,
) -> list[np.ndarray]:
    """The human variation alone (no placement in a canvas) of one character's strokes, in
    the reference box."""
    writing = Writing(strokes, components or [])
    return list(vary_writings([writing], rng, cfg, char_size)[0])
