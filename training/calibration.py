"""Calibration of a trained checkpoint on the validation set: temperature scaling and the
accept threshold of each strictness level. A calibrated checkpoint is another model (the
temperature is a weight): ``calibrate`` stores its new ``model_id``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from kanjiwrite.datasets.contract import ACCEPT, CORRECT
from kanjiwrite.models.grader import Grader, load_checkpoint, model_id
from kanjiwrite.training.validation import validation_outputs

TEMPERATURE_BOUNDS = (0.25, 4.0)
STRICTNESS_TARGETS = {"lenient": ("false_reject", 0.002), "strict": ("false_accept", 0.01)}


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling: the T minimising validation NLL of ``softmax(logits / T)``
    within ``TEMPERATURE_BOUNDS`` (a bounded 1-D search over log T; a T at a bound means a
    model too untrained to calibrate)."""
    from scipy.optimize import minimize_scalar

    logits = logits.detach().double()

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / math.exp(log_t), labels))

    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    best = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    # the bounds themselves are candidates too (the search stays strictly inside)
    log_t = min((best.x, low, high), key=nll)
    return float(math.exp(log_t))


def strictness_thresholds(p_correct: np.ndarray, correct: np.ndarray) -> dict:
    """Accept thresholds per strictness level, chosen on validation strokes (calibrated
    ``p_correct`` and whether each is correct): ``standard`` is ``contract.ACCEPT``;
    ``lenient`` the highest threshold (at most that) whose false-reject rate is within its
    target; ``strict`` the lowest (at least ``ACCEPT``) whose false-accept rate is. Returns
    the thresholds and the validation rates at each."""
    grid = np.linspace(0.02, 0.98, 97)
    frr = np.array([(p_correct[correct] < t).mean() for t in grid])
    far = np.array([(p_correct[~correct] >= t).mean() for t in grid])
    lenient = grid[(frr <= STRICTNESS_TARGETS["lenient"][1]) & (grid <= ACCEPT)]
    strict = grid[(far <= STRICTNESS_TARGETS["strict"][1]) & (grid >= ACCEPT)]
    thresholds = {
        "lenient": float(lenient.max()) if len(lenient) else float(grid[0]),
        "standard": ACCEPT,
        "strict": float(strict.min()) if len(strict) else float(grid[-1]),
    }
    rates = {
        level: {
            "false_reject": float((p_correct[correct] < t).mean()),
            "false_accept": float((p_correct[~correct] >= t).mean()),
        }
        for level, t in thresholds.items()
    }
    return {"thresholds": thresholds, "validation_rates": rates}


def calibrate(path: Path, val: list[dict]) -> dict:
    """Fit the checkpoint's temperature and strictness thresholds on the validation batches
    ``val`` (``validation.validation_batches``) and save it with its new ``model_id`` (the
    one it had before kept as ``calibrated_from``); returns the saved checkpoint."""
    checkpoint = load_checkpoint(path)
    model = Grader.from_checkpoint(checkpoint)
    before = model_id(model)
    model.temperature.fill_(1.0)
    logits, labels, _, _ = validation_outputs(model, val, torch.device("cpu"))
    temperature = fit_temperature(logits, labels)
    model.temperature.fill_(temperature)
    p_correct = (logits / temperature).softmax(-1)[:, CORRECT].numpy()
    checkpoint["temperature"] = temperature
    checkpoint["strictness"] = strictness_thresholds(p_correct, labels.numpy() == 0)
    checkpoint["model"] = model.state_dict()
    checkpoint["model_id"] = model_id(model)
    checkpoint["calibrated_from"] = before
    tmp = path.with_suffix(".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)
    return checkpoint
