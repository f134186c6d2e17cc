"""ONNX export of the grader: one self-contained file, dynamic batch and stroke counts.

Inputs (all float32; masks are 1 for a real stroke, 0 for padding):
``drawn`` (B, D, 32, 6), ``drawn_mask`` (B, D), ``reference`` (B, R, 32, 6),
``reference_mask`` (B, R). Outputs: ``verdict_probs`` (B, D, 6) calibrated probabilities
over ``LABELS``; ``match_probs`` (B, D, R + 1), the last column being "no stroke".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from kanjiwrite.datasets.errors import LABELS
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.models.grader import Grader, PredictWrapper

OPSET = 18
INPUTS = {
    "drawn": "Learner strokes so far, each resampled to 32 points x (x, y, dx, dy, pen_down, "
    "pen_up) in the frame of all drawn strokes (see docs/preprocessing.md).",
    "drawn_mask": "1 for a real drawn stroke, 0 for padding.",
    "reference": "Reference strokes in the expected order, 32 points x 6 features, in the "
    "frame of as many leading reference strokes as were drawn.",
    "reference_mask": "1 for a real reference stroke, 0 for padding.",
}
OUTPUTS = {
    "verdict_probs": "Calibrated probabilities per drawn stroke over " + ", ".join(LABELS) + ".",
    "match_probs": "Probability that each drawn stroke depicts each reference stroke; the "
    "last column is 'no reference stroke'.",
}


def example_tensors(batch: int = 2, drawn: int = 3, reference: int = 5) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, drawn, 32, 6, generator=generator),
        torch.ones(batch, drawn),
        torch.randn(batch, reference, 32, 6, generator=generator),
        torch.ones(batch, reference),
    )


def model_metadata(checkpoint: dict, model_version: str, run_id: str | None) -> dict[str, str]:
    """Metadata written into every exported model."""
    return {
        "model_version": model_version,
        "training_run_id": run_id or "",
        "data_version": json.dumps(
            {k: checkpoint["data"][k] for k in ("pack_version", "kanjivg_version", "split_seed")}
        ),
        "labels": json.dumps(list(LABELS)),
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


def onnx_predict(path: Path, threads: int = 1):
    """A ``predict`` function over an ONNX file (float masks, as exported)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        verdict, match = session.run(list(OUTPUTS), feed)
        return verdict, match

    return predict
