"""MLflow tracking: the embedded default store (``sqlite:///mlflow.db`` and ``mlruns/`` in
the working directory) unless ``MLFLOW_TRACKING_URI`` is set."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

EXPERIMENT = "kanjiwrite-grader"
REGISTERED_MODEL = "kanjiwrite-grader"


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value
    return out


class Tracker:
    """A thin wrapper over the active MLflow run."""

    def __init__(self, mlflow, run):
        self.mlflow, self.run = mlflow, run

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def log_params(self, params: dict) -> None:
        flat = _flatten("", params, {})
        self.mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=folder)

    def log_evaluation(self, report: dict, folder: Path) -> None:
        """The evaluation's headline metrics (``test_*``, ``baseline_*``) and its files."""
        flat = {f"test_{k}": v for k, v in report["model"].items() if isinstance(v, float)}
        flat |= {f"baseline_{k}": v for k, v in report["baseline"].items() if isinstance(v, float)}
        self.log_metrics(flat)
        for path in [folder / "metrics.json", folder / "report.md", *map(Path, report["plots"])]:
            self.log_artifact(path, "evaluation")

    def log_grader(self, checkpoint: Path) -> None:
        """Log the checkpoint's predicting model with its signature and register it."""
        from mlflow.models import infer_signature

        from kanjiwrite.datasets.kanjivg import load_pack
        from kanjiwrite.models.grader import Grader, PredictWrapper
        from kanjiwrite.models.runtime import OUTPUT_NAMES, example_inputs, torch_predict

        model = Grader.from_checkpoint(checkpoint)
        example = example_inputs(load_pack())
        outputs = dict(zip(OUTPUT_NAMES, torch_predict(model)(example), strict=True))
        self.mlflow.pytorch.log_model(
            PredictWrapper(model),
            name="model",
            signature=infer_signature(example, outputs),
            registered_model_name=REGISTERED_MODEL,
            serialization_format="pickle",  # pt2 would need one example tensor per input
        )

    def log_export(self, out_dir: Path, report: dict) -> None:
        """The exported files of ``export.release.export_all`` and their checks."""
        for name in ("grader.onnx", "golden_vectors.json", "export_report.json"):
            self.log_artifact(out_dir / name, "export")
        self.mlflow.log_artifacts(str(out_dir / "grader.mlpackage"), "export/grader.mlpackage")
        self.log_metrics(
            {
                "onnx_max_abs_diff": report["onnx"]["parity"]["max_abs_diff"],
                "onnx_bytes": report["onnx"]["bytes"],
                "coreml_bytes": report["coreml"]["bytes"],
            }
        )


@contextmanager
def tracked_run(run_name: str | None, params: dict, run_id: str | None = None):
    """Start (or, with ``run_id``, reopen) an MLflow run on the embedded store by default,
    and yield its ``Tracker``."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_id=run_id, run_name=run_name) as run:
        tracker = Tracker(mlflow, run)
        if params:
            tracker.log_params(params)
        yield tracker
