"""Reader for Tegaki character XML (real human pen data) into the stroke format: single
files (``read_tegaki_file``, folders of them) and gzip'd character collections.

A file is ``<character><utf8>X</utf8><strokes><stroke><point x=".." y=".." [timestamp=".."]/>
...</stroke>...</strokes></character>``, optionally with ``<width>``/``<height>``; without
them the canvas is 1000 x 1000 (Tegaki's default). Points keep the timestamp, when
present, as a third column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEGAKI_CANVAS = (1000.0, 1000.0)


@dataclass
class HandwrittenSample:
    char: str
    strokes: list[np.ndarray]  # (N, 2) or (N, 3) with timestamps in ms
    canvas: tuple[float, float]
    source: Path
    writer: str  # e.g. "japanese-learner1"


def read_tegaki_file(path: Path, writer: str = "") -> HandwrittenSample:
    """Parse one Tegaki XML file; raises ``ValueError`` on a file that is not one."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"{path}: not XML ({error})") from error
    return parse_character(root, path, writer)


def parse_character(root: ET.Element, path: Path, writer: str) -> HandwrittenSample:
    """One ``<character>`` element; raises ``ValueError`` when it holds no sample."""
    char = (root.findtext("utf8") or "").strip()
    if len(char) != 1:
        raise ValueError(f"{path}: <utf8> must hold one character, got {char!r}")
    strokes = []
    for stroke in root.iter("stroke"):
        rows = [
            [float(p.attrib["x"]), float(p.attrib["y"])]
            + ([float(p.attrib["timestamp"])] if "timestamp" in p.attrib else [])
            for p in stroke.iter("point")
        ]
        if rows:
            width = min(len(r) for r in rows)
            strokes.append(np.array([r[:width] for r in rows]))
    if not strokes:
        raise ValueError(f"{path}: no strokes")
    width = float(root.findtext("width") or TEGAKI_CANVAS[0])
    height = float(root.findtext("height") or TEGAKI_CANVAS[1])
    return HandwrittenSample(char, strokes, (width, height), path, writer)


def correct_attempts(pack, samples: list[HandwrittenSample]) -> list:
    """Real samples as attempts labelled correct stroke by stroke: those of known
    characters whose strokes correspond to the reference (``matching.assign``: the count,
    an accepted order, every stroke's direction, none far off), in the order they follow."""
    from kanjiwrite.datasets.matching import assign
    from kanjiwrite.datasets.strokes import as_stroke
    from kanjiwrite.datasets.synthesis import Attempt

    attempts = []
    for sample in samples:
        if sample.char not in pack:
            continue
        ref = pack[sample.char]
        strokes = [as_stroke(s) for s in sample.strokes]
        order = assign(ref, strokes)
        if order is None:
            continue
        reference = [ref.strokes[i] for i in order]
        attempts.append(Attempt.in_order(ref.char, reference, strokes, sample.canvas, order))
    return attempts


def read_tegaki_collection(path: Path) -> list[HandwrittenSample]:
    """Every sample of a gzip'd Tegaki character collection (``*.charcol.gz``: sets of
    ``<character>`` elements as in the single-character files); the writer is the file
    name without its suffixes."""
    import gzip

    writer = Path(path).name.split(".")[0]
    with gzip.open(path) as handle:
        root = ET.parse(handle).getroot()
    samples = []
    for number, character in enumerate(root.iter("character")):
        try:
            samples.append(parse_character(character, Path(f"{path}#{number}"), writer))
        except ValueError:
            continue  # an empty sample
    return samples


def read_tegaki_folder(folder: Path) -> list[HandwrittenSample]:
    """Every ``*.xml`` below ``folder``, sorted by path; the writer is taken from a
    ``japanese-*`` folder name on the way, when there is one."""
    samples = []
    for path in sorted(Path(folder).rglob("*.xml")):
        writer = next((p for p in path.parts if p.startswith("japanese-")), path.parent.name)
        samples.append(read_tegaki_file(path, writer))
    return samples
