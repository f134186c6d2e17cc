"""One training run from start to finish: train (DDP under torchrun), evaluate on rank 0,
and track both in MLflow. What ``kanjiwrite train`` runs."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from kanjiwrite.training.evaluate import evaluate_checkpoint
from kanjiwrite.training.train import TrainConfig, train


@dataclass
class RunResult:
    checkpoint: Path
    report: dict | None  # the evaluation (rank 0 only)
    run_id: str | None  # the MLflow run (when tracked)


def train_and_evaluate(
    cfg: TrainConfig, resume: Path | None = None, tegaki: Path | None = None, track: bool = True
) -> RunResult:
    """Train, then (rank 0) evaluate the best checkpoint on the synthetic test set and,
    with ``tegaki``, real handwriting; with ``track``, log everything to one MLflow run."""
    if int(os.environ.get("RANK", 0)) != 0:
        return RunResult(train(cfg, resume), None, None)
    if track:
        from kanjiwrite.training.tracking import tracked_run

        context = tracked_run(cfg.name, cfg.to_dict())
    else:
        context = nullcontext()
    with context as tracker:
        best = train(cfg, resume, tracker)
        folder = Path(cfg.run.out_dir) / "evaluation"
        report = evaluate_checkpoint(best, folder, tegaki=tegaki, attempts=cfg.eval_attempts)
        if tracker is not None:
            tracker.log_artifact(best, "checkpoint")
            tracker.log_evaluation(report, folder)
            tracker.log_grader(best)
    return RunResult(best, report, tracker.run_id if tracker is not None else None)
