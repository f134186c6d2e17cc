"""Human-like augmentation: turn reference strokes into what a finger on a phone produces.

Small pure functions over ``(N, 2)`` arrays, composed by ``humanize``. Variation is
structured as writers vary, in the reference box: components (KanjiVG element groups) move
and scale together; one end of a stroke stops short or runs on (an inner stroke that stops
before the wall); dots turn and change length; then each stroke gets a small offset, scale
and rotation, a smooth low-frequency wobble, hooks at the start and tails at the end. The
relations that tell characters apart (``geometry.relations``: the longer of two parallel
strokes, clear crossings, strokes clearly apart) are kept: a variation that breaks one is
drawn again, smaller. Per character: a random affine (rotation, shear, aspect) placing the
reference box (the whole character's, whatever has been drawn of it) in the writing box of
a canvas of 100 to 1000 px as real writers do (``box_scale``, ``box_offset``: calibrated on
the Tegaki train part, ``kanjiwrite data realism``), so where a stroke lies in the box
means what it means for a learner; then uneven speed (8 to 200 points per stroke) and
quantisation to whole pixels.

The per-character affine is one 3x3 matrix applied to all points in numpy; the same
transform through torchvision's ``KeyPoints`` costs a tensor dispatch per character, which
the 5,000 samples/s/core budget does not afford.

All per-stroke bounds are in character units (fraction of the character size) and are the
*correct-variation* side of the margins stated in ``errors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.strokes import arc_axis, arc_length, interpolate_axis


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


def rotation(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s], [s, c]])


def jitter(
    points: np.ndarray,
    ids: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> np.ndarray:
    """Offset, stretch (each axis on its own) and rotate each stroke (points of stroke
    ``ids``) about its centre within the correct-variation bounds."""
    count = int(ids[-1]) + 1
    sizes = np.bincount(ids, minlength=count)[:, None]
    centres = np.stack([np.bincount(ids, points[:, d], count) for d in (0, 1)], 1) / sizes
    angle = np.deg2rad(rng.uniform(-cfg.stroke_rotation_deg, cfg.stroke_rotation_deg, count))
    scale = np.exp(rng.uniform(-cfg.stroke_scale, cfg.stroke_scale, (count, 2)))
    radius = rng.uniform(0, cfg.stroke_offset, count) * char_size
    theta = rng.uniform(0, 2 * np.pi, count)
    cos, sin = np.cos(angle)[ids], np.sin(angle)[ids]
    rel = (points - centres[ids]) * scale[ids]
    moved = np.stack([cos * rel[:, 0] - sin * rel[:, 1], sin * rel[:, 0] + cos * rel[:, 1]], 1)
    shift = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    return moved + (centres + shift)[ids]


def wobble(
    points: np.ndarray,
    ids: np.ndarray,
    u: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> np.ndarray:
    """Add to each stroke a smooth displacement (three low-frequency waves along it, ``u``
    being the fraction of arc length at each point) of at most ``cfg.wobble`` char units."""
    count = int(ids[-1]) + 1
    freq = rng.uniform(0.3, 2.0, (count, 3))
    phase = rng.uniform(0, 2 * np.pi, (count, 3, 2))
    weight = rng.dirichlet(np.ones(3), count)
    amplitude = rng.uniform(0, cfg.wobble, count) * char_size / np.sqrt(2)
    waves = np.sin(2 * np.pi * freq[ids, :, None] * u[:, None, None] + phase[ids])
    displacement = (weight[ids, :, None] * waves).sum(axis=1)  # |.| <= 1 per axis
    return points + amplitude[ids, None] * displacement


def add_hooks(
    strokes: list[np.ndarray], rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> list[np.ndarray]:
    """Maybe give each stroke a start hook and an end tail, each at most ``hook_length``
    long (and a fifth of the stroke), bent 30 to 150 degrees from its direction there."""
    count = len(strokes)
    chosen = rng.random((count, 2)) < cfg.hook_probability
    bend = np.deg2rad(rng.uniform(30, 150, (count, 2))) * rng.choice([-1.0, 1.0], (count, 2))
    reach = rng.uniform(0.3, 1.0, (count, 2))
    bulge = rng.normal(0, 0.1, (count, 2, 2))
    out = list(strokes)
    for i in np.flatnonzero(chosen.any(axis=1)):
        stroke = strokes[i]
        if len(stroke) < 2:
            continue
        longest = min(cfg.hook_length * char_size, 0.2 * float(arc_length(stroke)[-1]))
        parts = [stroke]
        for end_index, (end, inner) in enumerate(
            ((stroke[0], stroke[1]), (stroke[-1], stroke[-2]))
        ):
            direction = end - inner
            norm = float(np.hypot(*direction))
            if not chosen[i, end_index] or norm < 1e-9:
                continue
            tip = end + rotation(bend[i, end_index]) @ direction * (
                reach[i, end_index] * longest / norm
            )
            middle = (end + tip) / 2 + bulge[i, end_index] * float(np.hypot(*(tip - end)))
            if end_index == 0:
                parts.insert(0, np.stack([tip, middle]))
            else:
                parts.append(np.stack([middle, tip]))
        out[i] = np.concatenate(parts)
    return out


def move_components(
    strokes: list[np.ndarray],
    components: list[list[int]],
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
) -> list[np.ndarray]:
    """Shift and scale the strokes of each component (lists of stroke positions) together,
    about the component's centre."""
    out = list(strokes)
    for members in components:
        points = np.concatenate([out[i] for i in members])
        middle = (points.min(axis=0) + points.max(axis=0)) / 2
        scale = np.exp(rng.uniform(-cfg.component_scale, cfg.component_scale, 2))
        theta = rng.uniform(0, 2 * np.pi)
        shift = (
            rng.uniform(0, cfg.component_offset)
            * char_size
            * np.array([np.cos(theta), np.sin(theta)])
        )
        for i in members:
            out[i] = (out[i] - middle) * scale + middle + shift
    return out


def change_endpoints(
    strokes: list[np.ndarray], rng: np.random.Generator, cfg: AugmentConfig, char_size: float
) -> list[np.ndarray]:
    """Let one end of some strokes stop short or run on (straight, along the stroke's
    direction at that end) by up to ``endpoint_change`` of the stroke's length; dots turn
    and change length about their centre instead."""
    out = []
    for stroke in strokes:
        total = float(arc_length(stroke)[-1]) if len(stroke) > 1 else 0.0
        if total < 1e-9:
            out.append(stroke)
        elif total < cfg.dot_length * char_size:
            middle = stroke.mean(axis=0)
            angle = np.deg2rad(rng.uniform(-cfg.dot_rotation_deg, cfg.dot_rotation_deg))
            factor = np.exp(rng.uniform(-cfg.dot_scale, cfg.dot_scale))
            out.append((stroke - middle) @ rotation(angle).T * factor + middle)
        elif rng.random() < cfg.endpoint_probability:
            change = rng.uniform(-cfg.endpoint_change, cfg.endpoint_change) * total
            flipped = rng.random() < 0.5
            line = stroke[::-1] if flipped else stroke
            if change < 0:  # stop short: keep the first total + change of the arc
                s = arc_length(line)
                keep = s <= s[-1] + change
                tip = interpolate_axis(line, s, np.array([s[-1] + change]))
                line = np.concatenate([line[keep], tip])
            else:  # run on along the last direction
                direction = line[-1] - line[max(len(line) - 3, 0)]
                norm = float(np.hypot(*direction))
                if norm > 1e-9:
                    line = np.concatenate([line, line[-1:] + direction / norm * change])
            out.append(line[::-1] if flipped else line)
        else:
            out.append(stroke)
    return out


def vary_strokes(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    cfg: AugmentConfig = DEFAULT_AUGMENT,
    char_size: float = KANJIVG_SIZE,
    components: list[list[int]] | None = None,
) -> list[np.ndarray]:
    """The human variation (components, endpoints and dots, per-stroke jitter; then wobble
    and hooks), in the reference box, keeping the strokes' distinguishing relations."""
    before = geometry.relations(strokes, char_size)
    for _ in range(cfg.relation_tries):
        candidate = move_components(strokes, components or [], rng, cfg, char_size)
        candidate = change_endpoints(candidate, rng, cfg, char_size)
        candidate = add_hooks(
            smooth_noise(candidate, rng, cfg, char_size, True), rng, cfg, char_size
        )
        if geometry.keeps_relations(before, candidate, char_size):
            return candidate
    return smooth_noise(strokes, rng, cfg, char_size, False)  # wobble only


def smooth_noise(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    cfg: AugmentConfig,
    char_size: float,
    with_jitter: bool,
) -> list[np.ndarray]:
    """Per-stroke jitter (offset, scale, rotation; optional) and wobble."""
    sizes = [len(s) for s in strokes]
    ids = np.repeat(np.arange(len(strokes)), sizes)
    points, axis, first, total = arc_axis(strokes)
    if with_jitter:
        points = jitter(points, ids, rng, cfg, char_size)
    u = (axis - first[ids]) / np.where(total > 0, total, 1.0)[ids]
    points = wobble(points, ids, u, rng, cfg, char_size)
    return np.split(points, np.cumsum(sizes)[:-1])


def character_affine(
    char_size: float, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, tuple[float, float]]:
    """A random 2x3 affine taking the reference box (``char_size`` square) into the writing
    box of a random canvas as a writer places a character, and that canvas."""
    side = float(np.exp(rng.uniform(*np.log(cfg.canvas_px))))
    ratio = rng.uniform(*cfg.canvas_aspect) if rng.random() < 0.5 else 1.0
    width, height = (side, side * ratio) if ratio >= 1 else (side / ratio, side)
    width, height = min(width, cfg.canvas_px[1]), min(height, cfg.canvas_px[1])
    unit = min(width, height)
    aspect = np.exp(rng.uniform(-cfg.aspect, cfg.aspect))
    scale = np.exp(rng.uniform(*np.log(cfg.box_scale))) * unit / char_size
    linear = scale * (
        rotation(np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)))
        @ np.array([[1.0, rng.uniform(-cfg.shear, cfg.shear)], [0.0, 1.0]])
        @ np.diag([aspect, 1.0 / aspect])
    )
    offset = np.clip(rng.normal(0.0, cfg.box_offset_sd, 2), -cfg.box_offset_max, cfg.box_offset_max)
    target = np.array([width, height]) / 2 + offset * unit
    matrix = np.concatenate([linear, (target - linear @ np.full(2, char_size / 2))[:, None]], 1)
    return matrix, (round(width), round(height))


def apply_affine(stroke: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return stroke @ matrix[:, :2].T + matrix[:, 2]


def sample_unevenly(
    strokes: list[np.ndarray], rng: np.random.Generator, cfg: AugmentConfig
) -> list[np.ndarray]:
    """Resample strokes as a touch screen would: 8 to 200 points each, slow at the ends and
    faster in the middle (a minimum-jerk profile) with random variation in speed."""
    points, axis, first, total = arc_axis(strokes)
    n = np.exp(rng.uniform(*np.log(cfg.points), len(strokes))).astype(int)
    ids = np.repeat(np.arange(len(strokes)), n)
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    t = (np.arange(n.sum()) - starts[ids]) / (n - 1)[ids]
    blend = rng.uniform(0, cfg.speed_variation, len(strokes))[ids]
    profile = (1 - blend) * t + blend * (10 * t**3 - 15 * t**4 + 6 * t**5)
    steps = np.diff(profile, prepend=0.0) * rng.uniform(0.5, 1.5, len(t))
    steps[starts] = 0.0
    u = np.cumsum(steps)
    u -= u[starts][ids]
    u /= np.maximum(u[starts + n - 1], 1e-12)[ids]
    sampled = interpolate_axis(points, axis, first[ids] + u * total[ids])
    return np.split(sampled, starts[1:])


def humanize(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    cfg: AugmentConfig = DEFAULT_AUGMENT,
    char_size: float = KANJIVG_SIZE,
    components: list[list[int]] | None = None,
) -> tuple[list[np.ndarray], tuple[float, float]]:
    """Make reference-box strokes look hand-drawn on a random canvas: strokes in canvas
    pixels, and the canvas ``(width, height)``. ``components`` are lists of stroke
    positions that move together (``synthesis.components``)."""
    varied = vary_strokes(strokes, rng, cfg, char_size, components)
    matrix, canvas = character_affine(char_size, rng, cfg)
    drawn = sample_unevenly([apply_affine(s, matrix) for s in varied], rng, cfg)
    drawn = [np.clip(s, 0.0, canvas) for s in drawn]  # a touch screen ends at its edges
    if cfg.quantise:
        drawn = [np.round(s) for s in drawn]
    return drawn, canvas
