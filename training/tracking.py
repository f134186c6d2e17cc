"""MLflow tracking: the embedded default store (``sqlite:///mlflow.db`` and ``mlruns/`` in
the working directory) unless ``MLFLOW_TRACKING_URI`` is set.

A training run gets a unique name (profile, UTC time, a short random id), its config as
parameters, tags that say where it came from (git commit and whether the tree was dirty,
KanjiVG and pack versions, split seed, the Tegaki folder), per-epoch metrics and the
evaluation (synthetic test, real writing per writer, each target met or not). A release
logs its exported files to the training run and registers the ONNX model (MLflow's ONNX
flavour: ``mlflow.pyfunc.load_model(...).predict`` takes a dict of the four float32 inputs
with any batch and stroke counts) with an alias, a description and headline tags.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

EXPERIMENT = "kanjiwrite-grader"
REGISTERED_MODEL = "kanjiwrite-grader"
CANDIDATE, CHAMPION = "candidate", "champion"  # a new release; the one in models/
HEADLINE = (  # evaluation metrics copied onto a registered version as tags
    "test_false_reject",
    "test_false_accept",
    "test_ece",
    "test_wrong_verdict_accuracy",
)


def run_name(profile: str) -> str:
    """``profile-YYYYmmdd-HHMMSS-xxxx`` (UTC), unique per run."""
    return f"{profile}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def git_tags(repo: Path | None = None) -> dict[str, str]:
    """The commit the code came from and whether the working tree had changes."""
    repo = repo or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
        )
        if result.returncode:
            raise RuntimeError(result.stderr)
        return result.stdout.strip()

    try:
        return {
            "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": str(bool(git("status", "--porcelain"))),
        }
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def data_tags(data: dict, tegaki: Path | None) -> dict[str, str]:
    """Tags for the data a model was trained and evaluated on (``train.data_version()``)."""
    return {
        "kanjivg_version": str(data["kanjivg_version"]),
        "pack_version": str(data["pack_version"]),
        "split_seed": str(data["split_seed"]),
        "tegaki": str(tegaki.resolve()) if tegaki else "",
    }


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value
    return out


def evaluation_metrics(report: dict) -> dict[str, float]:
    """The numbers of an evaluation report as flat metrics: ``test_*`` and ``baseline_*``
    (synthetic test), ``real_<writer>_*`` (real writing), ``target_<name>_met`` (1 or 0)."""
    flat = {f"test_{k}": v for k, v in report["model"].items() if isinstance(v, float)}
    flat |= {f"baseline_{k}": v for k, v in report["baseline"].items() if isinstance(v, float)}
    for writer, figures in report.get("real", {}).get("writers", {}).items():
        name = "".join(c if c.isalnum() else "_" for c in writer)
        flat |= {f"real_{name}_{k}": float(v) for k, v in figures.items()}
    flat |= {f"target_{k}_met": float(t["met"]) for k, t in report["targets"].items()}
    return flat


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

    def set_tags(self, tags: dict[str, str]) -> None:
        self.mlflow.set_tags(tags)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=folder)

    def log_evaluation(self, report: dict, folder: Path) -> None:
        """The evaluation's metrics (``evaluation_metrics``) and its files."""
        self.log_metrics(evaluation_metrics(report))
        for path in [folder / "metrics.json", folder / "report.md", *map(Path, report["plots"])]:
            self.log_artifact(path, "evaluation")

    def log_export(self, out_dir: Path, report: dict) -> None:
        """The files of ``export.release.export_all`` and their checks."""
        for name in ("grader.onnx", "export_report.json"):
            self.log_artifact(out_dir / name, "export")
        self.mlflow.log_artifacts(str(out_dir / "app"), "export/app")
        self.log_metrics(
            {
                "onnx_max_abs_diff": report["onnx"]["parity"]["max_abs_diff"],
                "onnx_bytes": report["onnx"]["bytes"],
                "coreml_bytes": report["coreml"]["bytes"],
            }
        )
        self.set_tags({"model_id": report["model_id"]})

    def register(self, onnx_path: Path, model_id: str, alias: str) -> str:
        """Log the ONNX model (MLflow's ONNX flavour, no pickles) with a signature of the
        four float32 inputs and two outputs, all with open batch and stroke axes; register
        it as ``REGISTERED_MODEL`` under ``alias`` with a description and the run's headline
        metrics as tags. Returns the registered version."""
        import onnx
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        from kanjiwrite.datasets.contract import LABELS, POINTS_PER_STROKE
        from kanjiwrite.datasets.strokes import FEATURES

        f32, point = np.dtype(np.float32), (POINTS_PER_STROKE, len(FEATURES))
        signature = ModelSignature(
            inputs=Schema(
                [
                    TensorSpec(f32, (-1, -1, *point), "drawn"),
                    TensorSpec(f32, (-1, -1), "drawn_mask"),
                    TensorSpec(f32, (-1, -1, *point), "reference"),
                    TensorSpec(f32, (-1, -1), "reference_mask"),
                ]
            ),
            outputs=Schema(
                [
                    TensorSpec(f32, (-1, -1, len(LABELS)), "verdict_probs"),
                    TensorSpec(f32, (-1, -1, -1), "match_probs"),
                ]
            ),
        )
        info = self.mlflow.onnx.log_model(
            onnx.load(str(onnx_path)),
            name="model",
            signature=signature,
            registered_model_name=REGISTERED_MODEL,
            save_as_external_data=False,
            onnx_execution_providers=["CPUExecutionProvider"],
            metadata={"model_id": model_id},
        )
        version = str(info.registered_model_version)
        client = self.mlflow.MlflowClient()
        metrics = client.get_run(self.run_id).data.metrics
        client.update_model_version(
            REGISTERED_MODEL,
            version,
            description=(
                f"Kanji Write per-stroke grader {model_id} (run {self.run_id}). Inputs: drawn, "
                "drawn_mask, reference, reference_mask (float32; see export/APP_SPEC.md); "
                "outputs: verdict_probs, match_probs. Trained on data derived from KanjiVG "
                "(Ulrich Apel, CC BY-SA 3.0)."
            ),
        )
        client.set_model_version_tag(REGISTERED_MODEL, version, "model_id", model_id)
        for name in HEADLINE:
            if name in metrics:
                client.set_model_version_tag(
                    REGISTERED_MODEL, version, name, f"{metrics[name]:.4f}"
                )
        client.set_registered_model_alias(REGISTERED_MODEL, alias, version)
        return version


def configure():
    """The ``mlflow`` module, pointed at the default store and the experiment."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import mlflow.onnx

    if not os.environ.get("MLFLOW_TRACKING_URI"):  # absolute: MLflow caches stores by URI
        mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def run_exists(run_id: str) -> bool:
    """Whether the tracking store holds run ``run_id``."""
    mlflow = configure()
    try:
        mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    return True


@contextmanager
def tracked_run(
    name: str | None, params: dict, run_id: str | None = None, tags: dict | None = None
):
    """Start (or, with ``run_id``, reopen) an MLflow run and yield its ``Tracker``."""
    mlflow = configure()
    with mlflow.start_run(run_id=run_id, run_name=name) as run:
        tracker = Tracker(mlflow, run)
        if params:
            tracker.log_params(params)
        if tags:
            tracker.set_tags(tags)
        yield tracker
