"""MLflow tracking: the embedded default store (``sqlite:///mlflow.db`` and ``mlruns/`` in
the working directory) unless ``MLFLOW_TRACKING_URI`` is set; with an SQLite store the
experiment keeps its artifacts in ``mlruns/`` beside the database file, wherever the
process runs.

A training run gets a unique name (profile, UTC time, a short random id), its config as
parameters, tags that say where it came from (git commit and whether the tree was dirty,
KanjiVG and pack versions, split seed, the Tegaki folder), per-epoch metrics, the calibrated
checkpoint and the evaluation: every number of its report as a metric named
``<section>_<part>_..._<figure>`` (``metric_name``; e.g. ``test_false_reject``,
``real_japanese_learner1_false_reject_ci_high``, ``style_shift_tomoe_model_false_reject``,
``target_real_japanese_learner1_false_reject_met``). A release
logs its exported files to the training run and registers the ONNX model (MLflow's ONNX
flavour: ``mlflow.pyfunc.load_model(...).predict`` takes a dict of the four float32 inputs
with any batch and stroke counts) with an alias, a description and headline tags.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from kanjiwrite.models.grader import load_checkpoint
from kanjiwrite.training.interrupts import Interrupted

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


def metric_name(*parts: str) -> str:
    """The one naming scheme of logged figures: lower-case parts, anything but letters and
    digits as ``_``, joined by ``_``."""
    return "_".join("".join(c if c.isalnum() else "_" for c in str(part).lower()) for part in parts)


def _numbers(parts: tuple, value, out: dict) -> dict:
    """Every number (bools as 0/1) under ``value``, named by its path; lists are left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            _numbers((*parts, key), item, out)
    elif isinstance(value, bool | int | float) and value is not None:
        out[metric_name(*parts)] = float(value)
    return out


# report section -> metric prefix (``model`` is the synthetic test)
REPORT_SECTIONS = {
    "model": "test",
    "baseline": "baseline",
    "real": "real",
    "kana": "kana",
    "style_shift": "style_shift",
    "lookalike": "lookalike",
    "strictness": "strictness",
    "excluded": "excluded",
}


def evaluation_metrics(report: dict) -> dict[str, float]:
    """Every figure of an evaluation report as a flat metric (``metric_name``): the
    synthetic test (``test_*``) and the baseline, real writing and kana per writer (with
    counts and 95% intervals), the style shift and look-alikes (model and baseline), the
    strictness levels, the exclusions, and per target its value and whether it is met."""
    flat: dict[str, float] = {}
    for section, prefix in REPORT_SECTIONS.items():
        value = report.get(section, {})
        if section in ("real", "kana"):
            _numbers((prefix,), value.get("writers", {}), flat)
            if "disagreeing_samples" in value:
                flat[metric_name(prefix, "disagreeing_samples")] = len(value["disagreeing_samples"])
        else:
            _numbers((prefix,), value, flat)
    for name, target in report["targets"].items():
        flat[metric_name("target", name, "value")] = float(target["value"])
        flat[metric_name("target", name, "met")] = float(target["met"])
    return flat


def artifact_root(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``mlruns/`` beside an SQLite store's
    file (MLflow's default is ``./mlruns`` of whatever the working directory is); ``None``
    (the server's choice) for other stores."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return (Path(tracking_uri[len(prefix) :]).resolve().parent / "mlruns").as_uri()


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

    def end(self, status: str) -> None:
        """End the run now with ``status`` (FINISHED, FAILED, KILLED)."""
        self.mlflow.end_run(status)

    def log_training(self, out_dir: Path, checkpoint: dict) -> None:
        """What training left: the calibrated best checkpoint and its temperature, model id
        and validation thresholds, why training stopped and after how many steps."""
        last = load_checkpoint(out_dir / "last.pt")
        self.log_metrics(
            {"temperature": checkpoint["temperature"]}
            | _numbers(("calibration",), checkpoint["strictness"], {})
        )
        self.set_tags(
            {
                "stopped_by": str(last["stopped_by"]),
                "steps": str(last["step"]),
                "model_id": checkpoint["model_id"],
            }
        )
        self.log_artifact(out_dir / "best.pt", "checkpoint")

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
            input_example=input_example(),
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
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(EXPERIMENT) is None:
        # (another process may create it first)
        with suppress(mlflow.exceptions.MlflowException):
            client.create_experiment(
                EXPERIMENT, artifact_location=artifact_root(mlflow.get_tracking_uri())
            )
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
        try:
            yield tracker
        except (Interrupted, KeyboardInterrupt):  # stopped by a signal, not failed
            tracker.end("KILLED")
            raise


def input_example() -> dict[str, np.ndarray]:
    """A real input (書, three strokes drawn, an item per accepted order and prefix), as
    ``decoding.build_batch`` makes it: logged with the registered model."""
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.models.decoding import build_batch

    ref = load_pack()["書"]
    inputs, _ = build_batch(ref, [s * 4 + 30 for s in ref.strokes[:3]], (500, 500))
    return inputs


def log_calibration(checkpoint: Path, training_run_id: str | None, config: Path | None) -> str:
    """A new MLflow run for a recalibrated checkpoint (another model: a new ``model_id``),
    linked to the run it was trained in; the checkpoint now names this run. Returns its id."""
    import torch

    info = load_checkpoint(checkpoint)
    with tracked_run(
        f"calibrate-{info['model_id']}",
        {"checkpoint": str(Path(checkpoint).resolve()), "config": str(config or "checkpoint's")},
        tags={
            "training_run_id": training_run_id or "",
            "model_id": info["model_id"],
            "calibrated_from": info["calibrated_from"],
            **git_tags(),
        },
    ) as tracker:
        tracker.log_metrics(
            {"temperature": info["temperature"]}
            | _numbers(("calibration",), info["strictness"], {})
        )
        info["mlflow_run_id"] = tracker.run_id
        tmp = Path(checkpoint).with_suffix(".tmp")
        torch.save(info, tmp)
        tmp.replace(checkpoint)
        tracker.log_artifact(checkpoint, "checkpoint")
        return tracker.run_id
