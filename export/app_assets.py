"""What the iOS app needs besides the model: the reference pack in a plain binary layout,
and golden vectors that pin preprocessing and decoding to ours.

Binary reference pack (``reference-pack.kwrp``), all integers little-endian:

    bytes 0-3   magic "KWRP"
    bytes 4-7   uint32 format version (1)
    bytes 8-11  uint32 N, the length of the JSON header that follows
    N bytes     UTF-8 JSON: {"pack_version", "model_id", "point_scale", "attribution",
                "type_names", "arrays": {name: {"dtype", "count", "offset"}}}
    then the arrays, each starting at its "offset" (bytes from the start of the file,
    4-byte aligned): the arrays of the .npz pack (see ``datasets/kanjivg.py``):
    codepoints int32, char_stroke_start int32, stroke_point_start int32,
    points int16 (x, y interleaved, divide by point_scale), stroke_type int16,
    alt_char int32, alt_order_start int32, alt_orders int16.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.contract import LABELS, STROKE_ERRORS
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, corrupt
from kanjiwrite.datasets.kanjivg import ReferencePack
from kanjiwrite.models.decoding import Predict, build_batch, decode

MAGIC = b"KWRP"
FORMAT = 1
ARRAYS = (
    "codepoints",
    "char_stroke_start",
    "stroke_point_start",
    "points",
    "stroke_type",
    "alt_char",
    "alt_order_start",
    "alt_orders",
)
GOLDEN_KANJI = "一二口日木水永右左必書漢"  # a dozen, incl. an alternative order (右, 左, 必)


def write_binary_pack(pack: ReferencePack, path: Path, model_id: str) -> Path:
    """The reference pack in the binary layout above, for the model ``model_id`` (the app
    refuses a pack whose ``model_id`` is not its model's)."""
    with np.load(pack.path, allow_pickle=False) as data:
        arrays = {name: np.ascontiguousarray(data[name]) for name in ARRAYS}
        type_names = [str(t) for t in data["type_names"]]
    header = {
        "pack_version": pack.version,
        "model_id": model_id,
        "point_scale": pack.meta["point_scale"],
        "attribution": pack.meta["attribution"],
        "type_names": type_names,
        "arrays": {},
    }
    # offsets depend on the header's length, which depends on the offsets: settle it twice
    for _ in range(2):
        offset = 12 + len(json.dumps(header, ensure_ascii=False).encode())
        for name, array in arrays.items():
            offset += -offset % 4
            header["arrays"][name] = {
                "dtype": array.dtype.str,
                "count": int(array.size),
                "offset": offset,
            }
            offset += array.nbytes
    blob = json.dumps(header, ensure_ascii=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(MAGIC + struct.pack("<II", FORMAT, len(blob)) + blob)
        for name, array in arrays.items():
            out.write(b"\0" * (header["arrays"][name]["offset"] - out.tell()))
            out.write(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return path


def read_binary_pack(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read the binary pack back (what the app does), for tests and checks."""
    raw = Path(path).read_bytes()
    if raw[:4] != MAGIC:
        raise ValueError("not a Kanji Write reference pack")
    _version, length = struct.unpack("<II", raw[4:12])
    header = json.loads(raw[12 : 12 + length])
    arrays = {
        name: np.frombuffer(
            raw, dtype=np.dtype(info["dtype"]), count=info["count"], offset=info["offset"]
        )
        for name, info in header["arrays"].items()
    }
    return header, arrays


def golden_cases(pack: ReferencePack, seed: int = 11) -> list[dict]:
    """A dozen requests as the app makes them after a pen lift: raw strokes (canvas pixels)
    whose last stroke is right or wrong in each way, for kanji in ``GOLDEN_KANJI``."""
    rng = np.random.default_rng(seed)
    cases = []
    wanted = ["correct", *STROKE_ERRORS]
    donors = [s for c in "書永" for s in pack[c].strokes]
    for i, char in enumerate(GOLDEN_KANJI):
        ref = pack[char]
        label = wanted[i % len(wanted)]
        first = min(ref.stroke_count - 1, 1 + i % 3) if ref.stroke_count > 1 else 0
        made = None
        # the stroke the case is about, else the next ones where that error can be made
        for k in [*range(first, ref.stroke_count), *range(first)]:
            for _ in range(3):
                made = corrupt(ref.strokes, k, label, rng, DEFAULT_ERRORS, donors, set())
                if made is not None:
                    break
            if made is not None:
                break
        if made is None:
            k = first
            label, made = "correct", (ref.strokes[k], k)
        strokes = [*ref.strokes[:k], made[0]]
        drawn, canvas = humanize(strokes, rng)
        cases.append(
            {
                "kanji": char,
                "label": label,
                "canvas": list(canvas),
                "strokes": [s.astype(int).tolist() for s in drawn],
            }
        )
    return cases


def golden_vectors(predict: Predict, pack: ReferencePack) -> dict:
    """Raw strokes -> model inputs (one item per accepted order) -> outputs -> verdicts."""
    out = []
    for case in golden_cases(pack):
        ref = pack[case["kanji"]]
        drawn = [np.array(s, float) for s in case["strokes"]]
        canvas = tuple(case["canvas"])
        inputs, orders = build_batch(ref, drawn, canvas, prefixes=False)
        inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
        verdict_probs, match_probs = predict(inputs)
        result = decode(verdict_probs, match_probs, orders, len(drawn))
        last = result.strokes[-1]
        out.append(
            {
                **case,
                "orders": [list(o) for o in orders],
                "inputs": {k: np.round(v, 6).tolist() for k, v in inputs.items()},
                "outputs": {
                    "verdict_probs": np.round(verdict_probs, 6).tolist(),
                    "match_probs": np.round(match_probs, 6).tolist(),
                },
                "result": {
                    "order": list(result.order),
                    "last_stroke": {
                        "verdict": last.verdict,
                        "p_correct": round(last.p_correct, 6),
                        "expected_index": last.expected_index,
                        "matched_index": last.matched_index,
                    },
                },
            }
        )
    return {"labels": list(LABELS), "cases": out}
