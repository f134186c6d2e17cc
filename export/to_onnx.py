"""ONNX export of the grader: one self-contained file, dynamic batch and stroke counts.

Inputs (all float32; masks are 1 for a real stroke, 0 for padding): ``drawn`` (B, D, P, F),
``drawn_mask`` (B, D), ``reference`` (B, R, P, F), ``reference_mask`` (B, R), with
P = ``contract.POINTS_PER_STROKE`` points and F = ``len(strokes.FEATURES)`` features a point.
Outputs: ``verdict_probs`` (B, D, ``len(contract.LABELS)``) calibrated probabilities over
``contract.LABELS``; ``match_probs`` (B, D, R + 1), the last column being "no stroke".
The descriptions stored in the model (``INPUTS``, ``OUTPUTS``) are built from those
constants. Running it: ``models.runtime.onnx_predict``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from kanjiwrite.datasets import contract
from kanjiwrite.datasets.contract import POINTS_PER_STROKE
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.models.grader import Grader, PredictWrapper
from kanjiwrite.models.runtime import INPUT_NAMES, OUTPUT_NAMES, example_tensors

OPSET = 18
_POINTS = f"{POINTS_PER_STROKE} points x ({', '.join(FEATURES)})"
INPUTS = dict(
    zip(
        INPUT_NAMES,
        (
            f"Learner strokes so far, each resampled to {_POINTS} in the frame of all drawn "
            "strokes (see export/APP_SPEC.md).",
            "1 for a real drawn stroke, 0 for padding.",
            f"Reference strokes in the expected order, {_POINTS}, in the frame of as many "
            "leading reference strokes as were drawn (see export/APP_SPEC.md).",
            "1 for a real reference stroke, 0 for padding.",
        ),
        strict=True,
    )
)
OUTPUTS = dict(
    zip(
        OUTPUT_NAMES,
        (
            "Calibrated probabilities per drawn stroke over " + ", ".join(contract.LABELS) + ".",
            "Probability that each drawn stroke depicts each reference stroke; the last column "
            "is 'no reference stroke'.",
        ),
        strict=True,
    )
)


def model_metadata(checkpoint: dict, model_id: str, run_id: str | None) -> dict[str, str]:
    """Metadata written into every exported model. ``model_id`` (``models.grader.model_id``:
    semantic version + weights hash) identifies the weights; ``pack_version`` the reference
    pack the model must be used with."""
    return {
        "model_id": model_id,
        "model_version": model_id.split("+")[0],
        "pack_version": checkpoint["data"]["pack_version"],
        "training_run_id": run_id or "",
        "data_version": json.dumps(
            {k: checkpoint["data"][k] for k in ("pack_version", "kanjivg_version", "split_seed")}
        ),
        "labels": json.dumps(list(contract.LABELS)),
        "accept_threshold": f"{contract.ACCEPT}",
        "thresholds": json.dumps(
            checkpoint.get("strictness", {}).get("thresholds", contract.DEFAULT_THRESHOLDS)
        ),
        "temperature": f"{checkpoint.get('temperature', 1.0):.6f}",
        "license": "Model: MIT. Trained on data derived from KanjiVG, CC BY-SA 3.0.",
        "attribution": ATTRIBUTION,
    }


def export_onnx(model: Grader, path: Path, metadata: dict[str, str]) -> Path:
    """Export ``model.predict`` to ``path`` (opset 18, no external data) and check it."""
    import onnx

    wrapper = PredictWrapper(model.eval())
    batch, drawn, reference = (
        torch.export.Dim(n, min=1, max=1024) for n in ("batch", "drawn", "reference")
    )
    dynamic = {
        "drawn": {0: batch, 1: drawn},
        "drawn_mask": {0: batch, 1: drawn},
        "reference": {0: batch, 1: reference},
        "reference_mask": {0: batch, 1: reference},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    program = torch.onnx.export(
        wrapper,
        example_tensors(),
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        dynamic_shapes=dynamic,
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
    )
    proto = program.model_proto
    for value in proto.graph.input:
        value.doc_string = INPUTS[value.name]
    for value in proto.graph.output:
        value.doc_string = OUTPUTS[value.name]
    proto.doc_string = "Kanji Write per-stroke grader. " + ATTRIBUTION
    proto.producer_name = "kanjiwrite"
    proto.model_version = int(metadata["model_version"].replace(".", "")[:9] or 0)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))
    return path
