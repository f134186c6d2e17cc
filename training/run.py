"""One training run from start to finish: train (DDP under torchrun), evaluate on rank 0,
and track both in MLflow. What ``kanjiwrite train`` runs.

A new run writes into ``<run.out_dir>/<run name>/``; a resumed one stays in its checkpoint's
folder, trains with the checkpoint's config (``config.resumed_config``) and, when tracked,
reopens the MLflow run the checkpoint names; a finished one is left as it is. A run stopped
by SIGTERM or Ctrl-C is saved, calibrated and logged, skips the evaluation, and its MLflow run
ends KILLED (``interrupts``).
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from kanjiwrite.models.grader import load_checkpoint
from kanjiwrite.training.config import TrainConfig, data_version
from kanjiwrite.training.evaluate import evaluate_checkpoint
from kanjiwrite.training.interrupts import StopRequests
from kanjiwrite.training.train import resumable, train


@dataclass
class RunResult:
    checkpoint: Path | None  # the best checkpoint (None: a resume with nothing left to do)
    report: dict | None  # the evaluation (rank 0, not after a stop signal)
    run_id: str | None  # the MLflow run (when tracked)
    stopped_by: str | None = None  # SIGTERM or SIGINT when a signal stopped the run


def open_tracking(cfg: TrainConfig, resume: Path | None, tegaki: Path | None, name: str):
    """The MLflow run to log into: the checkpoint's when it is in the store, else new."""
    from kanjiwrite.training import tracking

    run_id = load_checkpoint(resume).get("mlflow_run_id") if resume is not None else None
    if run_id and tracking.run_exists(run_id):  # reattach; params stay as first logged
        return tracking.tracked_run(
            None, {}, run_id=run_id, tags={"resumed_with": json.dumps(cfg.to_dict())}
        )
    tags = tracking.git_tags() | tracking.data_tags(data_version(), tegaki)
    return tracking.tracked_run(name, cfg.to_dict(), tags=tags | {"profile": cfg.name})


def train_and_evaluate(
    cfg: TrainConfig,
    resume: Path | None = None,
    tegaki: Path | None = None,
    track: bool = True,
    deadline: float | None = None,
) -> RunResult:
    """Train (stopping by the Unix time ``deadline`` at the latest), then (rank 0) evaluate
    the best checkpoint on the synthetic test set and, with ``tegaki``, real handwriting;
    with ``track``, log everything to one MLflow run."""
    if int(os.environ.get("RANK", 0)) != 0:
        return RunResult(train(cfg, resume=resume, deadline=deadline), None, None)
    if resume is not None and (reason := resumable(cfg, resume)):
        print(f"nothing left to do: {resume} is finished ({reason})", flush=True)
        return RunResult(None, None, None)
    from kanjiwrite.training import tracking

    name = Path(resume).parent.name if resume is not None else tracking.run_name(cfg.name)
    out_dir = Path(resume).parent if resume is not None else Path(cfg.run.out_dir) / name
    requests = StopRequests()
    context = open_tracking(cfg, resume, tegaki, name) if track else nullcontext()
    with requests.installed(), context as tracker:
        if tracker is not None:
            requests.on_interrupt.append(lambda: tracker.end("KILLED"))
        best = train(cfg, out_dir, resume, tracker, deadline, requests)
        run_id = tracker.run_id if tracker is not None else None
        checkpoint = load_checkpoint(best)
        report = None
        if requests.signal is None:
            report = evaluate_checkpoint(
                best,
                out_dir / "evaluation",
                tegaki=tegaki,
                attempts=cfg.eval_attempts,
                threads=cfg.run.threads,
                held_out=cfg.eval_held_out,
            )
        if tracker is not None:
            tracker.log_training(out_dir, checkpoint)
            if report is not None:
                tracker.log_evaluation(report, out_dir / "evaluation")
            if requests.signal is not None:
                tracker.end("KILLED")
    return RunResult(best, report, run_id, requests.signal)
