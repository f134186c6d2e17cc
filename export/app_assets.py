"""The folder the iOS app bundles (``app/``): the CoreML model, the reference pack in a plain
binary layout, the prompts (KANJIDIC2 meanings and readings), the golden vectors
(``export.golden``) and a manifest (files, sizes, sha256, model id, pack id, licences).

Binary reference pack (``reference-pack.kwrp``), all integers little-endian:

    bytes 0-3   magic "KWRP"
    bytes 4-7   uint32 format version (1)
    bytes 8-11  uint32 N, the length of the JSON header that follows
    N bytes     UTF-8 JSON: {"pack_version", "model_id", "point_scale", "attribution",
                "type_names", "partners" (``lookalikes.partner_table``),
                "arrays": {name: {"dtype", "count", "offset"}}}
    then the arrays, each starting at its "offset" (bytes from the start of the file,
    4-byte aligned): the arrays of the .npz pack (see ``datasets/kanjivg.py``):
    codepoints int32, char_stroke_start int32, stroke_point_start int32,
    points int16 (x, y interleaved, divide by point_scale), stroke_type int16,
    alt_char int32, alt_order_start int32, alt_orders int16.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.kanjidic import ATTRIBUTION as KANJIDIC_ATTRIBUTION
from kanjiwrite.datasets.kanjidic import load_prompts
from kanjiwrite.datasets.kanjivg import ATTRIBUTION as KANJIVG_ATTRIBUTION
from kanjiwrite.datasets.kanjivg import ReferencePack
from kanjiwrite.datasets.lookalikes import partner_table

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
        "partners": partner_table(pack),
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


PACK_CHECK_KANJI = "一王あ"  # 王 has an alternative order; plus the longest character
LICENCES = {
    "grader.mlpackage": "Model: MIT. Trained on data derived from KanjiVG: " + KANJIVG_ATTRIBUTION,
    "reference-pack.kwrp": KANJIVG_ATTRIBUTION,
    "prompts.json": KANJIDIC_ATTRIBUTION,
    "golden_vectors.json": "Derived from KanjiVG: " + KANJIVG_ATTRIBUTION,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pack_checks(pack: ReferencePack, path: Path) -> dict:
    """What a reader of the binary pack at ``path`` must get: its checksum and size, the
    header's ids, and a few characters' strokes (KanjiVG units), types and orders."""
    header, _ = read_binary_pack(path)
    longest = pack.longest()
    return {
        "file": Path(path).name,
        "bytes": Path(path).stat().st_size,
        "sha256": sha256(path),
        "model_id": header["model_id"],
        "pack_version": header["pack_version"],
        "characters": len(pack),
        "checks": [
            {
                "kanji": ref.char,
                "strokes": [np.round(s, 2).tolist() for s in ref.strokes],
                "types": list(ref.types),
                "orders": [list(o) for o in ref.orders()],
            }
            for ref in (pack[c] for c in [*PACK_CHECK_KANJI, longest])
        ],
    }


def write_prompts(path: Path, pack: ReferencePack) -> Path:
    """The prompt table of every kanji the pack has (what the demo shows), with attribution."""
    table = load_prompts()
    prompts = {
        "attribution": table["attribution"],
        "kanji": {k: v for k, v in table["kanji"].items() if k in pack},
        "sets": table["sets"],
        "set_labels": table["set_labels"],
    }
    path.write_text(json.dumps(prompts, ensure_ascii=False, separators=(",", ":")))
    return path


def write_manifest(folder: Path, model_id: str, pack_version: str) -> dict:
    """``manifest.json``: every file of ``folder`` (the model package's files one by one)
    with its size, sha256 and licence; the model id and the pack id the app checks."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        name = path.relative_to(folder).as_posix()
        top = name.split("/")[0]
        files.append(
            {
                "name": name,
                "bytes": path.stat().st_size,
                "sha256": sha256(path),
                "licence": LICENCES[top],
            }
        )
    manifest = {
        "model_id": model_id,
        "pack_version": pack_version,
        "files": files,
        "attribution": [KANJIVG_ATTRIBUTION, KANJIDIC_ATTRIBUTION],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest
