"""Does int8 help? Dynamic int8 quantisation of the ONNX model, measured against fp32:
size, latency (one core) and accuracy on the synthetic test set. The int8 model would ship
only if it is faster for the server and its binary accuracy stays within 0.2 points of
fp32's (the app runs the fp16 CoreML model, so size alone does not count)."""

from __future__ import annotations

from pathlib import Path

from kanjiwrite.datasets.contract import CORRECT, is_correct
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import test_attempts
from kanjiwrite.export.benchmark import timings, workloads
from kanjiwrite.models.decoding import grade
from kanjiwrite.models.runtime import onnx_predict

MAX_ACCURACY_DROP = 0.002


def binary_accuracy(predict, attempts, pack) -> float:
    right = total = 0
    for attempt in attempts:
        result = grade(predict, pack[attempt.kanji], attempt.drawn, attempt.canvas)
        for label, stroke in zip(attempt.labels, result.strokes, strict=True):
            right += (label == CORRECT) == is_correct(stroke.verdict)
            total += 1
    return right / total


def quantization_report(onnx_path: Path, out: Path, attempts: int = 600) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(onnx_path), str(out), weight_type=QuantType.QInt8)
    pack = load_pack()
    sample = test_attempts(attempts, pack=pack)
    report = {}
    for name, path in (("fp32", onnx_path), ("int8", out)):
        predict = onnx_predict(path)
        report[name] = {
            "bytes": path.stat().st_size,
            "binary_accuracy": binary_accuracy(predict, sample, pack),
            **{
                f"{w} median_ms": timings(predict, inputs, 300)["median_ms"]
                for w, inputs in workloads().items()
            },
        }
    drop = report["fp32"]["binary_accuracy"] - report["int8"]["binary_accuracy"]
    report["accuracy_drop_points"] = float(100 * drop)
    report["ship_int8"] = bool(
        drop <= MAX_ACCURACY_DROP and report["int8"]["bytes"] < report["fp32"]["bytes"]
    )
    return report
