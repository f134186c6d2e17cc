"""KanjiVG references: SVG parsing, alternative stroke orders and the reference pack.

KanjiVG (https://kanjivg.tagaini.net) is by Ulrich Apel, CC BY-SA 3.0. Files come from the
PyPI package ``kanjivg`` (``kanji/`` in site-packages): ``05b57.svg`` is a base character,
``05b57-Kaisho.svg`` etc. are variants. Strokes are sampled by arc length in the 109 x 109
y-down box (see ``strokes``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from math import comb
from pathlib import Path

import numpy as np
import svgpathtools

from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.matching import assign
from kanjiwrite.datasets.strokes import KANJIVG_CANVAS, arc_length, resample, resample_many

KVG = "{http://kanjivg.tagaini.net}"
ATTRIBUTION = (
    "Stroke data from KanjiVG (https://kanjivg.tagaini.net) by Ulrich Apel, "
    "licensed CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/)."
)
SAMPLE_SPACING = 2.0  # reference polyline spacing, in KanjiVG units
POINT_SCALE = 100  # the pack stores points as int16 hundredths of a unit
CURVE_SAMPLES = 24  # points per Bezier segment before arc-length resampling
ALT_ORDER_TOLERANCE = 6.0  # max mean point distance (units) for a variant stroke to match
_FILE_NAME = re.compile(r"^([0-9a-f]{5})(?:-(\w+))?\.svg$")


@dataclass(frozen=True)
class Group:
    """A KanjiVG element group (component, radical) and the stroke indices it covers."""

    element: str
    position: str
    radical: str
    strokes: tuple[int, ...]


@dataclass
class KanjiRef:
    """One character's reference: strokes in writing order, with types and groups.

    ``alternative_orders`` lists other accepted writing orders, each a tuple of base stroke
    indices in the order they are written (taken from KanjiVG variant files).
    """

    char: str
    strokes: list[np.ndarray]
    types: list[str]
    groups: list[Group] = field(default_factory=list)
    alternative_orders: list[tuple[int, ...]] = field(default_factory=list)
    _resampled: np.ndarray | None = field(default=None, repr=False, compare=False)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def stroke_count(self) -> int:
        return len(self.strokes)

    def memo(self, key: Hashable, compute):
        """``compute()`` once per reference: later calls return the first result (for
        what is fixed per character, e.g. the geometry the order rules read)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def resampled(self) -> np.ndarray:
        """Strokes resampled to ``POINTS_PER_STROKE`` points, ``(S, P, 2)`` (computed once)."""
        if self._resampled is None:
            self._resampled = resample_many(self.strokes)
        return self._resampled

    def orders(self) -> list[tuple[int, ...]]:
        """All accepted writing orders, the standard one first."""
        return [tuple(range(self.stroke_count)), *self.alternative_orders]

    def interchangeable(self, order: tuple[int, ...], k: int) -> set[int]:
        """Positions in ``order`` (an accepted order) of the strokes some accepted order
        writes at position k: writing one of them there is never a wrong order."""
        allowed = self.memo(("interchangeable", order), lambda: self._interchangeable(order))
        return allowed[k]

    def _interchangeable(self, order: tuple[int, ...]) -> list[set[int]]:
        position = {base: i for i, base in enumerate(order)}
        return [{position[o[k]] for o in self.orders()} for k in range(self.stroke_count)]


def kanjivg_dir() -> Path:
    """Folder of the installed KanjiVG SVG files."""
    folder = Path(str(metadata.distribution("kanjivg").locate_file("kanji")))
    if not folder.is_dir():
        raise FileNotFoundError(f"KanjiVG files not found at {folder}; pip install kanjivg")
    return folder


def kanjivg_version() -> str:
    return metadata.version("kanjivg")


def sample_path(d: str, spacing: float = SAMPLE_SPACING) -> np.ndarray:
    """Sample an SVG path ``d`` to a polyline with points every ``spacing`` units.

    The full path grammar (M/m, C/c, S/s, L/l, H/h, V/v, Q/q, T/t, A/a, Z/z, implicit
    repeats) is parsed by svgpathtools; each segment is evaluated densely, then the
    polyline is resampled by arc length.
    """
    path = svgpathtools.parse_path(d)
    if len(path) == 0:
        raise ValueError(f"empty path {d!r}")
    t = np.linspace(0.0, 1.0, CURVE_SAMPLES)
    pieces = []
    for segment in path:
        if isinstance(segment, svgpathtools.Line):
            z = np.array([segment.start, segment.end])
        elif isinstance(segment, svgpathtools.CubicBezier | svgpathtools.QuadraticBezier):
            control = np.array(segment.bpoints())
            degree = len(control) - 1
            basis = np.stack(
                [comb(degree, i) * t**i * (1 - t) ** (degree - i) for i in range(degree + 1)]
            )
            z = control @ basis
        else:
            z = np.array([segment.point(v) for v in t])
        pieces.append(z if not pieces else z[1:])
    z = np.concatenate(pieces)
    dense = np.stack([z.real, z.imag], axis=1)
    n = max(2, int(np.ceil(arc_length(dense)[-1] / spacing)) + 1)
    return resample(dense, n)


def parse_svg(path: Path) -> KanjiRef:
    """Parse one KanjiVG SVG file into a ``KanjiRef`` (no alternative orders yet)."""
    root = ET.parse(path).getroot()
    code = _FILE_NAME.match(path.name)
    if code is None:
        raise ValueError(f"not a KanjiVG file name: {path.name}")
    char = chr(int(code.group(1), 16))
    strokes: list[np.ndarray] = []
    types: list[str] = []
    groups: list[Group] = []

    def walk(node: ET.Element) -> list[int]:
        covered: list[int] = []
        for child in node:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "path":
                covered.append(len(strokes))
                strokes.append(sample_path(child.attrib["d"]))
                types.append(child.attrib.get(f"{KVG}type", ""))
            elif tag == "g":
                inner = walk(child)
                element = child.attrib.get(f"{KVG}element", "")
                if element and inner and not child.attrib.get("id", "").endswith(code.group(1)):
                    groups.append(
                        Group(
                            element=element,
                            position=child.attrib.get(f"{KVG}position", ""),
                            radical=child.attrib.get(f"{KVG}radical", ""),
                            strokes=tuple(inner),
                        )
                    )
                covered.extend(inner)
        return covered

    stroke_group = next(
        (g for g in root.iter() if g.attrib.get("id", "").startswith("kvg:StrokePaths")), None
    )
    if stroke_group is None:
        raise ValueError(f"{path.name}: no StrokePaths group")
    walk(stroke_group)
    return KanjiRef(char=char, strokes=strokes, types=types, groups=groups)


def match_alternative_order(base: KanjiRef, variant: KanjiRef) -> tuple[int, ...] | None:
    """The base stroke indices in the variant's writing order, if the variant is the same
    strokes written in another order (``matching.assign`` in the 109 box, every stroke
    within ``ALT_ORDER_TOLERANCE``); ``None`` if it differs in shape or is the same order."""
    if base.stroke_count < 2:
        return None
    order = assign(
        base,
        variant.strokes,
        align=False,
        any_order=True,
        max_distance=ALT_ORDER_TOLERANCE / KANJIVG_SIZE,
    )
    return None if order == tuple(range(base.stroke_count)) else order


def list_files(folder: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """Base files and, per base code, its variant files."""
    base, variants = [], {}
    for path in sorted(folder.glob("*.svg")):
        m = _FILE_NAME.match(path.name)
        if m is None:
            continue
        if m.group(2) is None:
            base.append(path)
        else:
            variants.setdefault(m.group(1), []).append(path)
    return base, variants


def load_reference(base_path: Path, variant_paths: list[Path]) -> KanjiRef:
    """A base character with the alternative orders found among its variant files."""
    ref = parse_svg(base_path)
    for path in variant_paths:
        order = match_alternative_order(ref, parse_svg(path))
        if order is not None and order not in ref.alternative_orders:
            ref.alternative_orders.append(order)
    return ref


# --- The reference pack -------------------------------------------------------------------
#
# One compressed .npz, no pickled objects, so any platform with a zip and .npy reader can
# load it. Arrays (C characters, S strokes, P points, A alternative orders):
#   codepoints         int32  (C,)     Unicode code point of each character
#   char_stroke_start  int32  (C+1,)   strokes of character i: [start[i], start[i+1])
#   stroke_point_start int32  (S+1,)   points of stroke j: [start[j], start[j+1])
#   points             int16  (P, 2)   x, y * POINT_SCALE in the 109 x 109 y-down box
#   stroke_type        int16  (S,)     index into type_names
#   type_names         <U     (T,)     kvg:type strings ("" when absent)
#   alt_char           int32  (A,)     character index of each alternative order
#   alt_order_start    int32  (A+1,)   entries of alternative order a in alt_orders
#   alt_orders         int16  (sum,)   base stroke indices in the alternative writing order
#   groups_json        uint8           UTF-8 JSON {char: [[element, position, radical, [i..]]]}
#   meta_json          uint8           UTF-8 JSON {pack_version, kanjivg_version, ...}

PACK_FORMAT = 1


def pack_version() -> str:
    """Version string of the pack built from the installed KanjiVG."""
    return f"kvg{kanjivg_version()}-p{PACK_FORMAT}-s{SAMPLE_SPACING}"


def _json_bytes(obj: object) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, ensure_ascii=False).encode(), dtype=np.uint8)


def write_pack(refs: list[KanjiRef], path: Path) -> None:
    """Write references to a pack file (atomically)."""
    type_names = sorted({t for r in refs for t in r.types})
    type_index = {t: i for i, t in enumerate(type_names)}
    strokes = [s for r in refs for s in r.strokes]
    alt = [(i, order) for i, r in enumerate(refs) for order in r.alternative_orders]
    arrays = {
        "codepoints": np.array([ord(r.char) for r in refs], np.int32),
        "char_stroke_start": np.cumsum([0] + [r.stroke_count for r in refs]).astype(np.int32),
        "stroke_point_start": np.cumsum([0] + [len(s) for s in strokes]).astype(np.int32),
        "points": np.round(np.concatenate(strokes) * POINT_SCALE).astype(np.int16),
        "stroke_type": np.array([type_index[t] for r in refs for t in r.types], np.int16),
        "type_names": np.array(type_names),
        "alt_char": np.array([i for i, _ in alt], np.int32),
        "alt_order_start": np.cumsum([0] + [len(o) for _, o in alt]).astype(np.int32),
        "alt_orders": np.array([i for _, o in alt for i in o], np.int16),
        "groups_json": _json_bytes(
            {
                r.char: [[g.element, g.position, g.radical, list(g.strokes)] for g in r.groups]
                for r in refs
            }
        ),
        "meta_json": _json_bytes(
            {
                "pack_version": pack_version(),
                "kanjivg_version": kanjivg_version(),
                "sample_spacing": SAMPLE_SPACING,
                "point_scale": POINT_SCALE,
                "canvas": list(KANJIVG_CANVAS),
                "attribution": ATTRIBUTION,
            }
        ),
    }
    write_atomically(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary name unique to this call (same folder and suffix),
    then rename it to ``path``: processes building the same cache file at once never see
    or clobber one another's half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


class ReferencePack:
    """All KanjiVG references, loaded from a pack file. Lookup by character."""

    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as data:
            self._arrays = {k: data[k] for k in data.files}
        a = self._arrays
        self.path = path
        self.meta: dict = json.loads(a["meta_json"].tobytes())
        # decoded in float32 (what the app's pack reader computes), held as float64: the
        # stroke format's dtype, so no consumer converts a reference stroke again
        scale = np.float32(self.meta["point_scale"])
        self._points = (a["points"].astype(np.float32) / scale).astype(np.float64)
        self.chars: list[str] = [chr(c) for c in a["codepoints"]]
        self._index = {c: i for i, c in enumerate(self.chars)}
        self._alt: dict[int, list[tuple[int, ...]]] = {}
        starts = a["alt_order_start"]
        for k, char_i in enumerate(a["alt_char"]):
            order = tuple(int(v) for v in a["alt_orders"][starts[k] : starts[k + 1]])
            self._alt.setdefault(int(char_i), []).append(order)
        self._groups: dict | None = None

    @property
    def version(self) -> str:
        return self.meta["pack_version"]

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._index

    def stroke_counts(self) -> np.ndarray:
        return np.diff(self._arrays["char_stroke_start"])

    def longest(self) -> str:
        """The character with the most strokes (of several, the highest code point)."""
        counts = self.stroke_counts()
        return max(c for c, n in zip(self.chars, counts, strict=True) if n == counts.max())

    def costliest(self) -> str:
        """The character costliest to grade: the most strokes x accepted orders (the model
        reads every stroke once per order; of several, the highest code point)."""
        orders = np.ones(len(self.chars), int)
        np.add.at(orders, self._arrays["alt_char"], 1)
        cost = self.stroke_counts() * orders
        return max(c for c, n in zip(self.chars, cost, strict=True) if n == cost.max())

    def alternative_order_count(self) -> int:
        return len(self._arrays["alt_char"])

    def __getitem__(self, char: str) -> KanjiRef:
        if char not in self._index:
            raise KeyError(f"{char!r} is not in the reference pack")
        a = self._arrays
        i = self._index[char]
        first, last = a["char_stroke_start"][i], a["char_stroke_start"][i + 1]
        bounds = a["stroke_point_start"][first : last + 1]
        strokes = [self._points[bounds[j] : bounds[j + 1]] for j in range(last - first)]
        types = [str(a["type_names"][t]) for t in a["stroke_type"][first:last]]
        if self._groups is None:
            self._groups = json.loads(a["groups_json"].tobytes())
        groups = [Group(e, p, r, tuple(s)) for e, p, r, s in self._groups.get(char, [])]
        return KanjiRef(char, strokes, types, groups, list(self._alt.get(i, [])))


def default_pack_path() -> Path:
    """Where the pack for the installed KanjiVG is cached (``KANJIWRITE_CACHE`` overrides)."""
    cache_dir = os.environ.get("KANJIWRITE_CACHE")
    root = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "kanjiwrite"
    return root / f"reference-pack-{pack_version()}.npz"


def _load_one(item: tuple[Path, list[Path]]) -> KanjiRef:
    return load_reference(*item)


def build_pack(path: Path | None = None, workers: int | None = None) -> Path:
    """Parse every base KanjiVG file (and its variants) and write the pack."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    path = path or default_pack_path()
    base, variants = list_files(kanjivg_dir())
    items = [(p, variants.get(p.name[:5], [])) for p in base]
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        refs = list(
            tqdm(
                pool.map(_load_one, items, chunksize=64),
                total=len(items),
                desc="KanjiVG -> reference pack",
                unit="char",
            )
        )
    write_pack(refs, path)
    return path


@cache
def load_pack(path: Path | None = None) -> ReferencePack:
    """The reference pack, built on first use and cached on disk."""
    path = path or default_pack_path()
    if not path.exists():
        build_pack(path)
    return ReferencePack(path)
