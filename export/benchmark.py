"""Model size and latency: ONNX Runtime against PyTorch eager, one CPU core, same inputs.

Two workloads on a 20-stroke kanji: "one stroke" is what the app and the server run after
a pen lift (one item: 20 drawn strokes against the reference, the newest one judged);
"whole kanji" grades all 20 strokes each as it was at its own pen lift (20 prefixes in one
batch, what the evaluation runs).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.strokes import model_inputs
from kanjiwrite.models.decoding import build_batch


def workloads(strokes: int = 20, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    pack = load_pack()
    char = next(
        c for c in pack.chars if pack[c].stroke_count == strokes and not pack[c].alternative_orders
    )
    ref = pack[char]
    drawn, canvas = humanize(ref.strokes, np.random.default_rng(seed))
    ink, reference = model_inputs(drawn, canvas, ref.strokes)
    one = {
        "drawn": ink[None],
        "drawn_mask": np.ones((1, strokes), np.float32),
        "reference": reference[None],
        "reference_mask": np.ones((1, strokes), np.float32),
    }
    whole, _ = build_batch(ref, drawn, canvas)
    return {"one stroke": one, "whole kanji": {k: v.astype(np.float32) for k, v in whole.items()}}


def timings(run, inputs, repeats: int) -> dict[str, float]:
    for _ in range(20):
        run(inputs)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(inputs)
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": float(np.median(samples)), "p99_ms": float(np.percentile(samples, 99))}


def benchmark(
    onnx_path: Path, checkpoint: Path, coreml_path: Path | None = None, repeats: int = 500
) -> dict:
    """Sizes and latencies; ONNX Runtime and PyTorch both limited to one thread."""
    import torch

    from kanjiwrite.models.grader import Grader, parameter_count
    from kanjiwrite.models.runtime import onnx_predict, torch_predict

    torch.set_num_threads(1)
    onnx_run = onnx_predict(onnx_path, threads=1)
    model = Grader.from_checkpoint(checkpoint)
    torch_run = torch_predict(model)
    result: dict = {"onnx_bytes": onnx_path.stat().st_size, "parameters": parameter_count(model)}
    result["fp16_weight_bytes"] = 2 * result["parameters"]
    if coreml_path is not None and coreml_path.exists():
        result["coreml_bytes"] = sum(
            f.stat().st_size for f in coreml_path.rglob("*") if f.is_file()
        )
    for name, inputs in workloads().items():
        onnx_t = timings(onnx_run, inputs, repeats)
        torch_t = timings(torch_run, inputs, repeats)
        result[name] = {
            "onnxruntime": onnx_t,
            "pytorch": torch_t,
            "speedup_median": torch_t["median_ms"] / onnx_t["median_ms"],
            "batch": int(inputs["drawn"].shape[0]),
        }
    return result
