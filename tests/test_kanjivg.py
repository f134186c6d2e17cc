"""KanjiVG parsing (hand-checked strokes), alternative orders and the reference pack."""

import numpy as np
import pytest

from kanjiwrite.datasets.kanjivg import (
    KanjiRef,
    ReferencePack,
    kanjivg_dir,
    load_reference,
    match_alternative_order,
    parse_svg,
    sample_path,
    write_pack,
)
from kanjiwrite.datasets.strokes import arc_length


def svg(code: str):
    return kanjivg_dir() / f"{code}.svg"


def near(polyline: np.ndarray, point) -> float:
    return float(np.min(np.linalg.norm(polyline - np.asarray(point), axis=1)))


@pytest.mark.parametrize(
    ("d", "start", "end", "length"),
    [
        ("M0,0 h10 v10 H0 V0 z", (0, 0), (0, 0), 40.0),  # H/h, V/v, Z
        ("M0 0 L10 0 20 0", (0, 0), (20, 0), 20.0),  # implicit repeat of L
        ("m5,5 10,0 l0,10", (5, 5), (15, 15), 20.0),  # implicit lineto after m
        ("M0,0 l3,4 l-3,4", (0, 0), (0, 8), 10.0),
    ],
)
def test_path_grammar_lines(d, start, end, length):
    poly = sample_path(d, spacing=0.5)
    np.testing.assert_allclose(poly[0], start, atol=1e-9)
    np.testing.assert_allclose(poly[-1], end, atol=1e-9)
    assert arc_length(poly)[-1] == pytest.approx(length, rel=1e-3)


def test_path_grammar_smooth_curves_reflect_the_control_point():
    # S's first control point is (10, 0) reflected about... (10, 10) -> (10, -10), so the
    # second curve is the mirror image of the first: its middle is at (15, -7.5)
    poly = sample_path("M0,0 C0,10 10,10 10,0 S20,-10 20,0", spacing=0.05)
    assert near(poly, (5, 7.5)) < 0.05 and near(poly, (15, -7.5)) < 0.05
    relative = sample_path("M0,0 c0,10 10,10 10,0 s10,-10 10,0", spacing=0.05)
    np.testing.assert_allclose(relative[[0, -1]], poly[[0, -1]], atol=1e-9)
    assert near(relative, (15, -7.5)) < 0.05


def test_sho_hand_checked():
    ref = parse_svg(svg("066f8"))
    assert ref.char == "書" and ref.stroke_count == 10
    assert ref.types == ["㇕c", "㇐", "㇐", "㇐", "㇐", "㇑a", "㇑", "㇕a", "㇐a", "㇐a"]
    # stroke 1: M30.74,20.63 then four relative c's ending at (73.97, 37.49)
    np.testing.assert_allclose(ref.strokes[0][0], (30.74, 20.63), atol=1e-6)
    np.testing.assert_allclose(ref.strokes[0][-1], (73.97, 37.49), atol=1e-6)
    assert near(ref.strokes[0], (74.19, 17.38)) < 1.0  # the corner of the turn
    # stroke 9: absolute C ending at (80.25, 81)
    np.testing.assert_allclose(ref.strokes[8][[0, -1]], [(35.5, 83.75), (80.25, 81)], atol=1e-6)
    groups = {g.element: g.strokes for g in ref.groups}
    assert groups["聿"] == (0, 1, 2, 3, 4, 5) and groups["日"] == (6, 7, 8, 9)
    assert groups["⺕"] == (0, 1, 2)


def test_kuchi_and_ei_hand_checked():
    kuchi = parse_svg(svg("053e3"))
    assert kuchi.char == "口" and kuchi.types == ["㇑", "㇕b", "㇐b"]
    np.testing.assert_allclose(kuchi.strokes[0][[0, -1]], [(22.25, 33.25), (30, 83)], atol=1e-6)
    ei = parse_svg(svg("06c38"))
    assert ei.char == "永" and ei.stroke_count == 5


def test_smooth_curve_commands_in_a_real_file():
    # 。 is drawn with s commands: M22.83,95.45 c.. s.. s.. s-4.04,12.02-11.77,12.02
    ref = parse_svg(svg("03002"))
    stroke = ref.strokes[0]
    np.testing.assert_allclose(stroke[0], (22.83, 95.45), atol=1e-6)
    np.testing.assert_allclose(stroke[-1], (23.52, 95.54), atol=1e-6)
    for corner in [(11.99, 83.56), (23.41, 72.14), (35.29, 83.52)]:
        assert near(stroke, corner) < 1.1


@pytest.mark.parametrize(
    ("char", "count"),
    [
        ("一", 1),
        ("二", 2),
        ("三", 3),
        ("口", 3),
        ("日", 4),
        ("木", 4),
        ("水", 4),
        ("永", 5),
        ("字", 6),
        ("学", 8),
        ("書", 10),
        ("漢", 13),
        ("議", 20),
        ("鬱", 29),
    ],
)
def test_stroke_counts(pack, char, count):
    assert pack[char].stroke_count == count


def test_pack_covers_every_base_file(pack):
    assert len(pack) >= 6700
    assert "書" in pack and "☃" not in pack
    with pytest.raises(KeyError):
        pack["☃"]


def test_alternative_orders_are_exposed(pack):
    # KanjiVG's 04e3b-*.svg variant writes 主's last three strokes in another order
    main = pack["主"]
    assert (0, 1, 3, 4, 2) in main.alternative_orders
    assert main.orders()[0] == (0, 1, 2, 3, 4)
    for order in main.orders():
        assert sorted(order) == list(range(main.stroke_count))
    assert pack.alternative_order_count() > 500


def test_alternative_order_matching_is_geometric():
    base = KanjiRef(
        "x",
        [
            np.array([[0, 0], [50, 0.0]]),
            np.array([[0, 20], [0, 90.0]]),
            np.array([[60, 10], [60, 90.0]]),
        ],
        ["", "", ""],
    )
    swapped = KanjiRef("x", [base.strokes[1] + 1, base.strokes[0], base.strokes[2]], ["", "", ""])
    assert match_alternative_order(base, swapped) == (1, 0, 2)
    assert match_alternative_order(base, base) is None  # same order
    moved = KanjiRef("x", [base.strokes[1] + 30, base.strokes[0], base.strokes[2]], ["", "", ""])
    assert match_alternative_order(base, moved) is None  # a different shape, not an order


def test_pack_round_trip(tmp_path):
    refs = [load_reference(svg(code), []) for code in ("066f8", "053e3", "06c38")]
    refs[1].alternative_orders.append((1, 0, 2))
    write_pack(refs, tmp_path / "pack.npz")
    pack = ReferencePack(tmp_path / "pack.npz")
    assert pack.chars == ["書", "口", "永"]
    for ref in refs:
        loaded = pack[ref.char]
        assert loaded.types == ref.types and loaded.groups == ref.groups
        assert loaded.alternative_orders == ref.alternative_orders
        for a, b in zip(loaded.strokes, ref.strokes, strict=True):
            np.testing.assert_allclose(a, b, atol=0.006)  # stored in hundredths
