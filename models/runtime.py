"""The grader behind one ``predict`` signature, whatever runs it (ONNX Runtime, PyTorch).

``predict(inputs) -> (verdict_probs, match_probs)`` takes the four named numpy inputs that
``decoding.build_batch`` makes; every runtime is wrapped to it, so decoding, evaluation,
parity checks and the service share one code path. This module imports neither torch nor
onnxruntime at import time (the service has no torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kanjiwrite.datasets.contract import POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.models.decoding import Predict

INPUT_NAMES = ("drawn", "drawn_mask", "reference", "reference_mask")
OUTPUT_NAMES = ("verdict_probs", "match_probs")


class OnnxPredict:
    """``predict`` over an ONNX file with ONNX Runtime on the CPU (masks sent as float32,
    as exported). Sessions are safe to call from several threads."""

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        verdict, match = self.session.run(list(OUTPUT_NAMES), feed)
        return verdict, match


def onnx_predict(path: Path, threads: int = 1) -> OnnxPredict:
    return OnnxPredict(path, threads)


def torch_predict(model) -> Predict:
    """``predict`` with a PyTorch ``Grader`` (calibrated probabilities, no gradients)."""
    import torch

    @torch.no_grad()
    def predict(inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        tensors = [torch.from_numpy(np.asarray(inputs[name])) for name in INPUT_NAMES]
        verdict, match = model.predict(*tensors)
        return verdict.numpy(), match.numpy()

    return predict


def example_tensors(batch: int = 2, drawn: int = 3, reference: int = 5) -> tuple:
    """Random inputs of the given sizes (float masks), for tracing exporters."""
    import torch

    generator = torch.Generator().manual_seed(0)
    point = (POINTS_PER_STROKE, len(FEATURES))
    return (
        torch.randn(batch, drawn, *point, generator=generator),
        torch.ones(batch, drawn),
        torch.randn(batch, reference, *point, generator=generator),
        torch.ones(batch, reference),
    )
