"""One training run from start to finish: train (DDP under torchrun), evaluate on rank 0,
and track both in MLflow. What ``kanjiwrite train`` runs.

A new run writes into ``<run.out_dir>/<run name>/``; a resumed one stays in its checkpoint's
folder and, when tracked, reopens the MLflow run the checkpoint names.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from kanjiwrite.models.grader import load_checkpoint
from kanjiwrite.training.evaluate import evaluate_checkpoint
from kanjiwrite.training.train import TrainConfig, data_version, train


@dataclass
class RunResult:
    checkpoint: Path | None  # the best checkpoint (None: a resume with nothing left to do)
    report: dict | None  # the evaluation (rank 0 only)
    run_id: str | None  # the MLflow run (when tracked)


def train_and_evaluate(
    cfg: TrainConfig, resume: Path | None = None, tegaki: Path | None = None, track: bool = True
) -> RunResult:
    """Train, then (rank 0) evaluate the best checkpoint on the synthetic test set and,
    with ``tegaki``, real handwriting; with ``track``, log everything to one MLflow run."""
    if int(os.environ.get("RANK", 0)) != 0:
        return RunResult(train(cfg, resume=resume), None, None)
    from kanjiwrite.training import tracking

    previous = load_checkpoint(resume) if resume is not None else {}
    name = Path(resume).parent.name if resume is not None else tracking.run_name(cfg.name)
    out_dir = Path(resume).parent if resume is not None else Path(cfg.run.out_dir) / name
    context = nullcontext()
    if track:
        run_id = previous.get("mlflow_run_id")
        if run_id and tracking.run_exists(run_id):  # reattach; params stay as first logged
            context = tracking.tracked_run(
                None, {}, run_id=run_id, tags={"resumed_with": json.dumps(cfg.to_dict())}
            )
        else:
            tags = tracking.git_tags() | tracking.data_tags(data_version(), tegaki)
            context = tracking.tracked_run(name, cfg.to_dict(), tags=tags | {"profile": cfg.name})
    with context as tracker:
        best = train(cfg, out_dir, resume, tracker)
        run_id = tracker.run_id if tracker is not None else None
        if best is None:
            return RunResult(None, None, run_id)
        checkpoint = load_checkpoint(best)
        folder = out_dir / "evaluation"
        report = evaluate_checkpoint(
            best,
            folder,
            tegaki=tegaki,
            attempts=cfg.eval_attempts,
            threads=cfg.run.threads,
            held_out=cfg.eval_held_out,
        )
        if tracker is not None:
            tracker.log_metrics({"temperature": checkpoint["temperature"]})
            last = load_checkpoint(out_dir / "last.pt")
            tracker.set_tags({"stopped_by": str(last["stopped_by"]), "steps": str(last["step"])})
            tracker.log_artifact(best, "checkpoint")
            tracker.log_evaluation(report, folder)
    return RunResult(best, report, run_id)
