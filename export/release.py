"""``kanjiwrite export all``: ONNX + CoreML + parity + app assets, in one place (the
training run's tracking logs the result: ``training.tracking.log_export``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import test_attempts
from kanjiwrite.export.app_assets import (
    pack_checks,
    write_binary_pack,
    write_manifest,
    write_prompts,
)
from kanjiwrite.export.golden import golden_vectors
from kanjiwrite.export.to_coreml import export_coreml, structural_report
from kanjiwrite.export.to_onnx import export_onnx, model_metadata
from kanjiwrite.models.decoding import build_batch, decode
from kanjiwrite.models.grader import Grader, load_checkpoint, model_id
from kanjiwrite.models.runtime import onnx_predict, torch_predict

PARITY_TOLERANCE = 1e-4  # max abs difference of ONNX Runtime's outputs from PyTorch's
GOLDEN_BUDGET_S = 30.0  # the shipped model's golden search takes about a second (40 calls)


class ParityError(RuntimeError):
    """An export whose outputs differ from the PyTorch model's beyond ``PARITY_TOLERANCE``."""


class UncoveredGoldenCases(Exception):
    """The model cannot show every case of the app's contract (``export.golden``)."""


def parity_report(predict_a, predict_b, attempts: int = 150) -> dict:
    """Max abs difference of outputs and verdict agreement between two runtimes over the
    prefix items of ``attempts`` synthetic test attempts (held-out characters)."""
    pack = load_pack()
    items = verdicts = same = 0
    worst = 0.0
    for attempt in test_attempts(attempts, pack=pack):
        ref = pack[attempt.kanji]
        inputs, orders = build_batch(ref, attempt.drawn, attempt.canvas)
        a, b = predict_a(inputs), predict_b(inputs)
        worst = max(worst, float(np.abs(a[0] - b[0]).max()), float(np.abs(a[1] - b[1]).max()))
        first = decode(*a, orders, len(attempt.drawn))
        second = decode(*b, orders, len(attempt.drawn))
        items += len(inputs["drawn"])
        verdicts += len(first.strokes)
        same += sum(
            x.verdict == y.verdict and x.matched_index == y.matched_index
            for x, y in zip(first.strokes, second.strokes, strict=True)
        )
    return {
        "items": items,
        "strokes": verdicts,
        "max_abs_diff": worst,
        "identical_verdicts": same == verdicts,
        "verdict_agreement": same / max(verdicts, 1),
    }


def checked_onnx(model: Grader, out_dir: Path, metadata: dict[str, str]) -> tuple[Path, dict]:
    """``out_dir/grader.onnx`` and its parity report, written only when its outputs are
    the PyTorch model's within ``PARITY_TOLERANCE`` (``ParityError`` otherwise)."""
    unchecked = export_onnx(model, out_dir / "grader.unchecked.onnx", metadata)
    parity = parity_report(torch_predict(model), onnx_predict(unchecked))
    if parity["max_abs_diff"] > PARITY_TOLERANCE:
        unchecked.unlink()
        raise ParityError(
            f"the ONNX export differs from the PyTorch model by up to "
            f"{parity['max_abs_diff']:.2e} over {parity['items']} items (tolerance "
            f"{PARITY_TOLERANCE:.0e}): not exported"
        )
    return unchecked.replace(out_dir / "grader.onnx"), parity


def export_all(
    checkpoint: Path,
    out_dir: Path,
    run_id: str | None = None,
    golden_budget_s: float | None = GOLDEN_BUDGET_S,
    allow_uncovered: bool = True,
) -> dict:
    """Write grader.onnx and export_report.json to ``out_dir`` and the app's folder
    ``out_dir/app`` (grader.mlpackage, reference-pack.kwrp, prompts.json,
    golden_vectors.json, manifest.json: ``export.app_assets``), check them; returns the
    report (``golden_uncovered``: the cases the model could not show). The golden search
    comes first and stops after ``golden_budget_s`` (``None``: unbounded); without
    ``allow_uncovered`` a gap raises ``UncoveredGoldenCases`` before anything is exported.
    Raises ``ParityError`` (no ONNX file written) when the ONNX export is not the PyTorch
    model within ``PARITY_TOLERANCE``."""
    info = load_checkpoint(checkpoint)
    model = Grader.from_checkpoint(info)
    run_id = run_id or info.get("mlflow_run_id")
    identity = model_id(model)
    metadata = model_metadata(info, identity, run_id)
    pack = load_pack()
    thresholds = json.loads(metadata["thresholds"])
    golden = golden_vectors(torch_predict(model), pack, thresholds, identity, golden_budget_s)
    if golden["uncovered"] and not allow_uncovered:
        raise UncoveredGoldenCases(
            f"{len(golden['uncovered'])} golden cases uncovered ({', '.join(golden['uncovered'])})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, parity = checked_onnx(model, out_dir, metadata)
    app = out_dir / "app"
    if app.exists():
        shutil.rmtree(app)
    coreml_path = export_coreml(model, app / "grader.mlpackage", metadata)
    structure = structural_report(coreml_path)
    pack_path = write_binary_pack(pack, app / "reference-pack.kwrp", identity)
    golden["pack"] = pack_checks(pack, pack_path)
    (app / "golden_vectors.json").write_text(json.dumps(golden, ensure_ascii=False))
    write_prompts(app / "prompts.json", pack)
    manifest = write_manifest(app, identity, pack.version)
    report = {
        "model_id": identity,
        "pack_version": pack.version,
        "golden_uncovered": golden["uncovered"],
        "training_run_id": run_id,
        "onnx": {"path": str(onnx_path), "bytes": onnx_path.stat().st_size, "parity": parity},
        "coreml": {
            "path": str(coreml_path),
            **{k: v for k, v in structure.items() if k != "metadata"},
        },
        "app": {f["name"]: f["bytes"] for f in manifest["files"] if "/" not in f["name"]}
        | {"grader.mlpackage": sum(f["bytes"] for f in manifest["files"] if "/" in f["name"])},
    }
    (out_dir / "export_report.json").write_text(json.dumps(report, indent=1))
    return report
