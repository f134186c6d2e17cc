"""Other correct hands: renderings of a character besides KanjiVG's reference glyph.

Sources:

* ``kaisho``: KanjiVG's ``*-Kaisho*.svg`` variant files (brush-style regular script:
  inner strokes that stop short, slanted dots, other endings), in the ``kanjivg`` package;
* ``tomoe``: tomoe_data by Hiroyuki Komatsu (one writer's hand-drawn kanji and hiragana,
  Apache-2.0 or CC BY 4.0, copied unchanged into ``datasets/data/tomoe/``): per character
  a line with the character, ``:<strokes>``, then one line a stroke ``n (x y) (x y) ...``
  in a 0..320 box, y down.

A rendering is kept only when it corresponds to the reference stroke by stroke
(``matching.assign``): the same number of strokes, the best assignment of its strokes to
the reference's is an accepted writing order, every stroke runs in the reference stroke's
direction, and no stroke is far from its partner. Its strokes are then stored in the
reference's stroke numbering (stroke ``i`` depicts reference stroke ``i``) and mapped onto
the reference's box by one affine map (the character's own slant and aspect are the
augmentation's job; what stays is where strokes start, stop and sit relative to each other).

The style set is cached like the reference pack (``style-pack-<version>.npz``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.kanjivg import (
    KanjiRef,
    ReferencePack,
    kanjivg_dir,
    list_files,
    load_pack,
    parse_svg,
    write_atomically,
)
from kanjiwrite.datasets.matching import assign

TOMOE = Path(__file__).parent / "data" / "tomoe"
SOURCES = ("kaisho", "tomoe")
STYLE_FORMAT = 1


@dataclass
class Rendering:
    char: str
    source: str  # one of SOURCES
    strokes: list[np.ndarray]  # in the reference's stroke numbering, its 109 box


def read_tdic(path: Path) -> Iterable[tuple[str, list[np.ndarray]]]:
    """(character, strokes) of every entry of a tomoe ``.tdic`` file, in its 0..320 box."""
    char, strokes = None, []
    for line in [*Path(path).read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if char is not None and strokes:
                yield char, strokes
            char, strokes = None, []
        elif line.startswith(":"):
            continue
        elif char is None:
            char = line
        else:
            numbers = line.replace("(", " ").replace(")", " ").split()[1:]
            strokes.append(np.array(numbers, float).reshape(-1, 2))


def rendering_of(ref: KanjiRef, source: str, strokes: list[np.ndarray]) -> Rendering | None:
    """``strokes`` as a rendering of ``ref`` (see module doc), or ``None`` if they do not
    correspond to it."""
    columns = assign(ref, strokes)
    if columns is None:
        return None
    ordered = [strokes[list(columns).index(i)] for i in range(ref.stroke_count)]
    linear, shift = geometry.fit_alignment(ordered, ref.strokes)
    return Rendering(ref.char, source, [s @ linear.T + shift for s in ordered])


def kaisho_candidates() -> Iterable[tuple[str, list[np.ndarray]]]:
    """(character, strokes) of every Kaisho variant file of the installed KanjiVG."""
    _, variants = list_files(kanjivg_dir())
    for paths in variants.values():
        for path in paths:
            if "Kaisho" in path.name:
                variant = parse_svg(path)
                yield variant.char, variant.strokes


def tomoe_candidates(folder: Path = TOMOE) -> Iterable[tuple[str, list[np.ndarray]]]:
    for name in ("all.tdic", "hiragana.tdic"):
        if (folder / name).exists():
            yield from read_tdic(folder / name)


def build_renderings(pack: ReferencePack, tomoe: Path = TOMOE) -> tuple[list[Rendering], dict]:
    """Every rendering that corresponds to its reference, and counts of what was dropped."""
    kept: list[Rendering] = []
    counts: dict[str, dict[str, int]] = {}
    for source, candidates in (("kaisho", kaisho_candidates()), ("tomoe", tomoe_candidates(tomoe))):
        seen = counts.setdefault(source, {"candidates": 0, "unknown": 0, "kept": 0})
        for char, strokes in candidates:
            seen["candidates"] += 1
            if char not in pack:
                seen["unknown"] += 1
                continue
            rendering = rendering_of(pack[char], source, strokes)
            if rendering is not None:
                kept.append(rendering)
                seen["kept"] += 1
    return kept, counts


class StylePack:
    """The cached renderings: per character, its renderings (and the build's counts)."""

    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as data:
            self.meta = json.loads(bytes(data["meta_json"]).decode())
            chars = "".join(chr(c) for c in data["codepoints"])
            sources = data["source"]
            starts, points_start = data["rendering_stroke_start"], data["stroke_point_start"]
            points = data["points"].astype(np.float64) / 100.0
        self.by_char: dict[str, list[Rendering]] = {}
        for i, char in enumerate(chars):
            strokes = [
                points[points_start[j] : points_start[j + 1]]
                for j in range(starts[i], starts[i + 1])
            ]
            self.by_char.setdefault(char, []).append(Rendering(char, SOURCES[sources[i]], strokes))

    def __getitem__(self, char: str) -> list[Rendering]:
        return self.by_char.get(char, [])


def write_style_pack(renderings: list[Rendering], counts: dict, path: Path, version: str) -> None:
    strokes = [s for r in renderings for s in r.strokes]
    sizes = [len(r.strokes) for r in renderings]
    arrays = {
        "codepoints": np.array([ord(r.char) for r in renderings], np.int32),
        "source": np.array([SOURCES.index(r.source) for r in renderings], np.int8),
        "rendering_stroke_start": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32),
        "stroke_point_start": np.concatenate([[0], np.cumsum([len(s) for s in strokes])]).astype(
            np.int32
        ),
        "points": np.round(np.concatenate(strokes) * 100).astype(np.int16),
        "meta_json": np.frombuffer(
            json.dumps({"version": version, "counts": counts}).encode(), np.uint8
        ),
    }
    write_atomically(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def style_version(pack: ReferencePack) -> str:
    return f"{pack.version}-st{STYLE_FORMAT}"


@cache
def load_styles(pack: ReferencePack | None = None) -> StylePack:
    """The style set for the reference pack, built on first use and cached beside it."""
    pack = pack or load_pack()
    version = style_version(pack)
    path = Path(pack.path).parent / f"style-pack-{version}.npz"
    if not path.exists():
        renderings, counts = build_renderings(pack)
        write_style_pack(renderings, counts, path, version)
    return StylePack(path)
