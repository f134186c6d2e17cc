"""Human-like augmentation: invariants and seeded determinism."""

from dataclasses import replace

import numpy as np
import pytest

from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, humanize, sample_unevenly, vary_strokes
from kanjiwrite.datasets.geometry import offset


@pytest.fixture(scope="module")
def sho(pack):
    return pack["書"].strokes


def test_drawn_strokes_look_like_touch_input(sho):
    rng = np.random.default_rng(0)
    for _ in range(200):
        drawn, (w, h) = humanize(sho, rng)
        assert len(drawn) == len(sho)
        assert min(w, h) >= 100 and max(w, h) <= 1000
        for stroke in drawn:
            assert 8 <= len(stroke) <= 200
            assert np.all(stroke == np.round(stroke))  # whole pixels
            assert stroke[:, 0].min() >= -1 and stroke[:, 0].max() <= w + 1
            assert stroke[:, 1].min() >= -1 and stroke[:, 1].max() <= h + 1


def test_character_sits_in_the_writing_box_as_real_writers_place_it(sho):
    # real writers (Tegaki train part): ink centre within sd 0.04 of the reference's place
    # in the box, size 0.68-1.17 of the reference's (1st-99th percentile)
    rng = np.random.default_rng(1)
    ref = np.concatenate(sho)
    ref_centre = ((ref.max(0) + ref.min(0)) / 2 - 54.5) / 109.0
    ref_size = (ref.max(0) - ref.min(0)).max() / 109.0
    shifts, sizes = [], []
    for _ in range(300):
        drawn, canvas = humanize(sho, rng)
        points = np.concatenate(drawn)
        box = (points - np.array(canvas) / 2) / min(canvas)
        shifts.append((box.max(0) + box.min(0)) / 2 - ref_centre)
        sizes.append((box.max(0) - box.min(0)).max() / ref_size)
    shifts = np.array(shifts)
    assert 0.03 < shifts.std() < 0.08 and np.abs(shifts).max() < 0.2
    assert min(sizes) > 0.55 and max(sizes) < 1.45 and np.std(sizes) > 0.08


def test_per_stroke_variation_stays_within_the_correct_bounds(sho):
    cfg = DEFAULT_AUGMENT
    # a stroke's own offset, its component's, half the length change of one end (the
    # centre moves by half of it), and what wobble and hooks add
    bound = cfg.stroke_offset + cfg.component_offset + cfg.endpoint_change / 2 + 0.08
    rng = np.random.default_rng(2)
    for _ in range(100):
        for ref, varied in zip(
            sho, vary_strokes(sho, rng, components=[[0, 1, 2, 3, 4]]), strict=True
        ):
            assert offset(varied, ref, 109.0) <= bound


def test_a_tap_stays_a_tap(sho):
    """A one-point stroke is moved as a whole (no wobble along it, no hooks): still a tap
    when drawn, as on a touch screen."""
    rng = np.random.default_rng(4)
    for _ in range(50):
        drawn, _ = humanize([*sho[:2], sho[2][:1]], rng)
        assert np.ptp(drawn[2], axis=0).max() == 0 and np.ptp(drawn[1], axis=0).max() > 0


def test_sampling_is_uneven_but_keeps_the_path(sho):
    rng = np.random.default_rng(3)
    stroke = sho[0]
    sampled, _ = sample_unevenly([stroke], rng, DEFAULT_AUGMENT)  # one stroke: all points
    steps = np.linalg.norm(np.diff(sampled, axis=0), axis=1)
    assert steps.std() > 0.05 * steps.mean()
    np.testing.assert_allclose(sampled[[0, -1]], stroke[[0, -1]], atol=1e-6)


def test_seeded_determinism(sho):
    a, ca = humanize(sho, np.random.default_rng(42))
    b, cb = humanize(sho, np.random.default_rng(42))
    c, _ = humanize(sho, np.random.default_rng(43))
    assert ca == cb and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_quantisation_can_be_switched_off(sho):
    drawn, _ = humanize(sho, np.random.default_rng(0), replace(DEFAULT_AUGMENT, quantise=False))
    assert any(np.any(s != np.round(s)) for s in drawn)


def test_synthetic_variation_is_calibrated_like_real_writing(pack):
    # median deviations of real writing (Tegaki train part, `kanjiwrite data realism`):
    # offset 0.040, size ratio 1.157, shape distance 0.048, point distance 0.048
    from kanjiwrite.datasets.realism import percentiles, synthetic_samples

    # the characters of the real set (Tegaki), the ones the calibration is measured on
    refs = [pack[c] for c in "一三二代使便全初副化北反坂坊央女妄妨始安忘想感撃旅族板業歯水氷決"]
    table = percentiles(synthetic_samples(refs, repeats=6, seed=0))
    assert 0.03 < table["offset"][0] < 0.055
    assert 1.08 < table["size_ratio"][0] < 1.22
    assert 0.035 < table["shape_distance"][0] < 0.065
    assert 0.035 < table["point_distance"][0] < 0.065


@pytest.mark.parametrize(
    ("char", "longer"), [("土", (2, 0)), ("士", (0, 2)), ("末", (0, 1)), ("未", (1, 0))]
)
def test_variation_keeps_what_tells_look_alikes_apart(pack, char, longer):
    """Writers vary, but the longer of two parallel strokes stays the longer: 士 never
    becomes 土 by correct variation (and 末 never 未)."""
    from kanjiwrite.datasets.geometry import keeps_relations, length, relations
    from kanjiwrite.datasets.synthesis import components

    ref = pack[char]
    before = relations(ref.strokes, 109.0)
    assert longer in before["longer"]
    rng = np.random.default_rng(0)
    parts = components(ref, tuple(range(ref.stroke_count)), ref.stroke_count)
    for _ in range(300):
        varied = vary_strokes(ref.strokes, rng, DEFAULT_AUGMENT, 109.0, parts)
        assert length(varied[longer[0]]) > length(varied[longer[1]])
        kept = keeps_relations(before, varied, 109.0)
        assert kept or not before["apart"]  # wobble may graze a gap, never flip a length


def test_variation_is_structured(pack):
    """Components move together, one end of a stroke may stop short or run on, dots turn."""
    from kanjiwrite.datasets.augment import VARY_POINTS, change_endpoints, move_components
    from kanjiwrite.datasets.strokes import resample_many

    rng = np.random.default_rng(1)
    ref = pack["好"]  # 女 + 子
    lines = resample_many(ref.strokes, VARY_POINTS)
    component = np.array([0, 0, 0] + [-1] * (ref.stroke_count - 3))
    moved = move_components(lines, component, rng, DEFAULT_AUGMENT, 109.0)
    shifts = [moved[i].mean(0) - lines[i].mean(0) for i in range(3)]
    assert np.ptp([np.linalg.norm(s) for s in shifts]) < 3.0  # one shift (and scale) for 女
    assert np.array_equal(moved[3:], lines[3:])
    line = resample_many([np.array([[0.0, 50.0], [100.0, 50.0]])], VARY_POINTS)
    lengths = {
        round(float(np.ptp(s[0, :, 0])), 1)
        for s in (change_endpoints(line, rng, DEFAULT_AUGMENT, 109.0) for _ in range(50))
    }
    assert min(lengths) < 95 and max(lengths) > 105 and max(lengths) <= 124.1
    dot = resample_many([np.array([[50.0, 50.0], [55.0, 55.0]])], VARY_POINTS)
    turned = change_endpoints(dot, rng, DEFAULT_AUGMENT, 109.0)[0]
    chord = turned[-1] - turned[0]
    assert not np.isclose(np.arctan2(chord[1], chord[0]), np.pi / 4)  # dots turn
    assert np.allclose(turned.mean(0), [52.5, 52.5])  # about their centre
