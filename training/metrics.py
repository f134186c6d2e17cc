"""Per-stroke metrics of a grader over a labelled set: binary accept/reject rates,
verdict accuracy, calibration, and the targets the shipped model is held to."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kanjiwrite.datasets.contract import CORRECT, LABEL_INDEX, LABELS

TARGETS = {  # on the synthetic test set of held-out characters
    "false_reject": ("<=", 0.01),
    "false_accept": ("<=", 0.02),
    "wrong_verdict_accuracy": (">=", 0.95),
    "ece": ("<=", 0.02),
    "misplaced_recall": (">=", 0.95),
}
# false-reject targets on real writing, by writer kind (a part of the writer's name)
REAL_FALSE_REJECT = {"native": 0.015, "learner": 0.01, "hiragana": 0.015, "katakana": 0.015}
STYLE_FALSE_REJECT = 0.015  # held-out Kaisho / tomoe renderings
LOOKALIKE_ACCEPTED = 0.02  # look-alikes written for test characters, accepted whole
CORRECT_ACCEPTED = 0.98  # the same test characters written correctly, accepted whole
CALIBRATION_BINS = 15


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate ``successes / n`` (95% by default); (0, 1) for
    ``n == 0``. Honest for the small counts of real writing, where the normal
    approximation gives negative lower bounds."""
    if n == 0:
        return 0.0, 1.0
    rate = successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def rate_with_interval(name: str, successes: int, n: int) -> dict[str, float]:
    """``{name: rate, name_count: successes, name_of: n, name_ci_low, name_ci_high}``."""
    low, high = wilson_interval(successes, n)
    return {
        name: successes / n if n else 0.0,
        f"{name}_count": successes,
        f"{name}_of": n,
        f"{name}_ci_low": low,
        f"{name}_ci_high": high,
    }


@dataclass
class Scored:
    """Per-stroke truth and predictions of one grader over a set."""

    truth: list[int] = field(default_factory=list)
    verdict: list[int] = field(default_factory=list)
    p_correct: list[float] = field(default_factory=list)
    stroke_count: list[int] = field(default_factory=list)

    def add(self, truth: int, verdict: str, p_correct: float, stroke_count: int) -> None:
        self.truth.append(int(truth))
        self.verdict.append(LABEL_INDEX[verdict])
        self.p_correct.append(float(p_correct))
        self.stroke_count.append(stroke_count)


def calibration_bins(
    p: np.ndarray, y: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[tuple[float, float, float]]:
    """(share of items, mean predicted p, observed mean y) of each non-empty bin of ``p``
    over ``bins`` equal-width bins of [0, 1]."""
    index = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
    return [
        (float((index == b).mean()), float(p[index == b].mean()), float(y[index == b].mean()))
        for b in range(bins)
        if (index == b).any()
    ]


def expected_calibration_error(p: np.ndarray, y: np.ndarray) -> float:
    """Binary ECE of ``p`` (probability of correct) against ``y`` (1 = correct)."""
    return float(
        sum(share * abs(mean_p - mean_y) for share, mean_p, mean_y in calibration_bins(p, y))
    )


def accept_rates(accepted: np.ndarray, correct: np.ndarray | bool) -> dict[str, float]:
    """The false-reject rate (share of correct strokes not accepted) and false-accept rate
    (share of wrong strokes accepted) of per-stroke ``accepted`` flags against ``correct``
    (broadcast: ``True`` for strokes all correct); 0 for a rate with nothing to count. Every
    false-reject and false-accept figure is computed here."""
    accepted = np.asarray(accepted, bool)
    correct = np.broadcast_to(np.asarray(correct, bool), accepted.shape)
    return {
        "false_reject": float((~accepted & correct).sum() / max(correct.sum(), 1)),
        "false_accept": float((accepted & ~correct).sum() / max((~correct).sum(), 1)),
    }


def binary_rates(truth: np.ndarray, verdict: np.ndarray) -> dict[str, float]:
    """``accept_rates`` of verdicts against true labels (indices into ``LABELS``)."""
    return accept_rates(np.asarray(verdict) == CORRECT, np.asarray(truth) == CORRECT)


def metrics(scored: Scored) -> dict:
    from sklearn.metrics import roc_auc_score

    truth, verdict = np.array(scored.truth), np.array(scored.verdict)
    p = np.array(scored.p_correct)
    correct, accepted = truth == CORRECT, verdict == CORRECT
    wrong = ~correct
    confusion = np.zeros((len(LABELS), len(LABELS)), int)
    np.add.at(confusion, (truth, verdict), 1)
    per_type = {
        LABELS[i]: float(confusion[i, i] / confusion[i].sum())
        for i in range(len(LABELS))
        if confusion[i].sum()
    }
    counts = np.array(scored.stroke_count)
    by_count = {}
    for low, high in [(1, 3), (4, 6), (7, 9), (10, 12), (13, 15), (16, 19), (20, 40)]:
        chosen = (counts >= low) & (counts <= high)
        if chosen.any():
            by_count[f"{low}-{high}"] = float(((accepted == correct)[chosen]).mean())
    return {
        "strokes": len(truth),
        "binary_accuracy": float((accepted == correct).mean()),
        **binary_rates(truth, verdict),
        "roc_auc": float(roc_auc_score(correct, p)) if 0 < correct.sum() < len(truth) else None,
        "ece": expected_calibration_error(p, correct.astype(float)),
        "verdict_accuracy": float((verdict == truth).mean()),
        "wrong_verdict_accuracy": float((verdict[wrong] == truth[wrong]).mean()),
        "per_type_accuracy": per_type,
        "misplaced_recall": per_type.get("misplaced", float("nan")),
        "binary_accuracy_by_stroke_count": by_count,
        "confusion": confusion.tolist(),
    }


def _target(value: float, op: str, bound: float, baseline: float | None = None) -> dict:
    met = value <= bound if op == "<=" else value >= bound
    return {"value": value, "target": f"{op} {bound}", "met": bool(met), "baseline": baseline}


def held_out_targets(report: dict) -> dict:
    """The targets on the held-out sets of a report: real writing per writer (native,
    learner, kana), the style shift, the look-alikes."""
    targets = {}
    for section, bounds in (("real", REAL_FALSE_REJECT), ("kana", REAL_FALSE_REJECT)):
        for writer, figures in report.get(section, {}).get("writers", {}).items():
            kind = next((k for k in bounds if k in writer), None)
            if kind is not None:
                targets[f"{section}_{writer}_false_reject"] = _target(
                    figures["false_reject"], "<=", bounds[kind], figures["baseline_false_reject"]
                )
    for source, figures in report.get("style_shift", {}).items():
        targets[f"style_{source}_false_reject"] = _target(
            figures["model"]["false_reject"],
            "<=",
            STYLE_FALSE_REJECT,
            figures["baseline"]["false_reject"],
        )
    if "lookalike" in report:
        wrong, right = report["lookalike"]["lookalike"], report["lookalike"]["correct"]
        targets["lookalike_accepted_whole"] = _target(
            wrong["model"]["accepted_whole"],
            "<=",
            LOOKALIKE_ACCEPTED,
            wrong["baseline"]["accepted_whole"],
        )
        targets["lookalike_correct_accepted_whole"] = _target(
            right["model"]["accepted_whole"],
            ">=",
            CORRECT_ACCEPTED,
            right["baseline"]["accepted_whole"],
        )
    return targets


def check_targets(model: dict, base: dict) -> dict:
    """Each target of ``TARGETS``: the model's value, met or not, and the baseline's."""
    targets = {}
    for name, (op, bound) in TARGETS.items():
        value = model[name]
        met = value <= bound if op == "<=" else value >= bound
        better = (value < base[name]) if op == "<=" else (value > base[name])
        targets[name] = {
            "value": value,
            "target": f"{op} {bound}",
            "met": bool(met),
            "better_than_baseline": bool(better),
            "baseline": base[name],
        }
    return targets
