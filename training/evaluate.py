"""Evaluation of the grader against the geometric baseline, on held-out characters and on
real handwriting. Writes ``metrics.json``, ``report.md`` and plots; logs them to MLflow.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, LABELS, reverse
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack, load_pack
from kanjiwrite.datasets.splits import split_characters
from kanjiwrite.datasets.synthesis import Attempt
from kanjiwrite.datasets.tegaki import HandwrittenSample, read_tegaki_folder
from kanjiwrite.datasets.torch_data import fixed_attempts
from kanjiwrite.models import baseline
from kanjiwrite.models.decoding import Predict, grade
from kanjiwrite.models.grader import Grader

TEST_SEED = 2026
TARGETS = {  # on the synthetic test set of held-out characters
    "false_reject": ("<=", 0.01),
    "false_accept": ("<=", 0.02),
    "wrong_verdict_accuracy": (">=", 0.95),
    "ece": ("<=", 0.02),
}
NATIVE_FALSE_REJECT_TARGET = 0.03


def torch_predict(model: Grader) -> Predict:
    """``predict`` over numpy inputs with a PyTorch grader (calibrated probabilities)."""

    @torch.no_grad()
    def predict(inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
        verdict, match = model.predict(
            tensors["drawn"], tensors["drawn_mask"], tensors["reference"], tensors["reference_mask"]
        )
        return verdict.numpy(), match.numpy()

    return predict


@dataclass
class Scored:
    """Per-stroke truth and predictions of one grader over a set."""

    truth: list[int]
    verdict: list[int]
    p_correct: list[float]
    stroke_count: list[int]

    def add(self, truth: int, verdict: str, p_correct: float, stroke_count: int) -> None:
        self.truth.append(int(truth))
        self.verdict.append(LABELS.index(verdict))
        self.p_correct.append(float(p_correct))
        self.stroke_count.append(stroke_count)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Binary ECE of ``p`` (probability of correct) against ``y`` (1 = correct)."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.mean() * abs(p[chosen].mean() - y[chosen].mean())
    return float(total)


def metrics(scored: Scored) -> dict:
    from sklearn.metrics import roc_auc_score

    truth, verdict = np.array(scored.truth), np.array(scored.verdict)
    p = np.array(scored.p_correct)
    correct, accepted = truth == 0, verdict == 0
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
        "false_reject": float((~accepted & correct).sum() / max(correct.sum(), 1)),
        "false_accept": float((accepted & wrong).sum() / max(wrong.sum(), 1)),
        "roc_auc": float(roc_auc_score(correct, p)) if 0 < correct.sum() < len(truth) else None,
        "ece": expected_calibration_error(p, correct.astype(float)),
        "verdict_accuracy": float((verdict == truth).mean()),
        "wrong_verdict_accuracy": float((verdict[wrong] == truth[wrong]).mean()),
        "per_type_accuracy": per_type,
        "binary_accuracy_by_stroke_count": by_count,
        "confusion": confusion.tolist(),
    }


def score_synthetic(predict: Predict, pack: ReferencePack, attempts: list[Attempt]):
    """Model and baseline verdicts for every stroke of ``attempts`` (and the worst misses)."""
    model, base = Scored([], [], [], []), Scored([], [], [], [])
    misses = []
    for attempt in tqdm(attempts, desc="synthetic test", unit="attempt"):
        ref = pack[attempt.kanji]
        result = grade(predict, ref, attempt.drawn, attempt.canvas)
        reference = baseline.grade(ref, attempt.drawn)
        for k, label in enumerate(attempt.labels):
            stroke = result.strokes[k]
            model.add(label, stroke.verdict, stroke.p_correct, ref.stroke_count)
            base.add(
                label,
                reference.strokes[k].verdict,
                reference.strokes[k].p_correct,
                ref.stroke_count,
            )
            if (label == 0) != (stroke.verdict == "correct"):
                misses.append(
                    {
                        "attempt": attempt,
                        "k": k,
                        "label": LABELS[label],
                        "verdict": stroke.verdict,
                        "p_correct": stroke.p_correct,
                    }
                )
    misses.sort(key=lambda m: -abs(m["p_correct"] - 0.5))
    return model, base, misses


def order_agrees(ref: KanjiRef, strokes: list[np.ndarray]) -> bool:
    """Whether real strokes follow an accepted KanjiVG order (same count, and the best
    assignment of drawn to reference strokes, after aligning the character, is an
    accepted order)."""
    if len(strokes) != ref.stroke_count:
        return False
    linear, shift = geometry.fit_alignment(ref.strokes, strokes)
    aligned = [r @ linear.T + shift for r in ref.strokes]
    cost = np.array(
        [
            [
                min(geometry.point_distance(s, a, 1.0), geometry.point_distance(s, reverse(a), 1.0))
                for a in aligned
            ]
            for s in strokes
        ]
    )
    _, columns = linear_sum_assignment(cost)
    return tuple(int(c) for c in columns) in ref.orders()


def score_real(predict: Predict, pack: ReferencePack, samples: list[HandwrittenSample], seed: int):
    """False rejects as written, and false accepts after injecting a reversed stroke and a
    swapped pair, on samples that agree with KanjiVG; the others reported separately."""
    rng = np.random.default_rng(seed)
    rows: dict[str, dict] = {}
    disagreeing = []
    for sample in tqdm(samples, desc="real handwriting", unit="sample"):
        if sample.char not in pack:
            continue
        ref = pack[sample.char]
        strokes = [s[:, :2] for s in sample.strokes]
        result = grade(predict, ref, strokes, sample.canvas)
        if not order_agrees(ref, strokes):
            disagreeing.append(
                {
                    "file": sample.source.name,
                    "writer": sample.writer,
                    "char": sample.char,
                    "strokes": len(strokes),
                    "reference_strokes": ref.stroke_count,
                    "verdicts": dict(Counter(s.verdict for s in result.strokes)),
                    "baseline_verdicts": dict(
                        Counter(s.verdict for s in baseline.grade(ref, strokes).strokes)
                    ),
                }
            )
            continue
        row = rows.setdefault(sample.writer, Counter())
        base = baseline.grade(ref, strokes)
        row["strokes"] += len(strokes)
        row["false_reject"] += sum(s.verdict != "correct" for s in result.strokes)
        row["baseline_false_reject"] += sum(s.verdict != "correct" for s in base.strokes)
        for kind, injected in inject_errors(ref, strokes, rng):
            k = len(injected) - 1
            model_ok = grade(predict, ref, injected, sample.canvas).strokes[k].verdict == "correct"
            base_ok = baseline.grade(ref, injected).strokes[k].verdict == "correct"
            row[f"{kind}_injected"] += 1
            row[f"{kind}_accepted"] += model_ok
            row[f"{kind}_baseline_accepted"] += base_ok
    writers = {}
    for writer, row in rows.items():
        injected = row["reversed_injected"] + row["swapped_injected"]
        writers[writer] = {
            "samples_strokes": row["strokes"],
            "false_reject": row["false_reject"] / max(row["strokes"], 1),
            "baseline_false_reject": row["baseline_false_reject"] / max(row["strokes"], 1),
            "false_accept": (row["reversed_accepted"] + row["swapped_accepted"]) / max(injected, 1),
            "baseline_false_accept": (
                row["reversed_baseline_accepted"] + row["swapped_baseline_accepted"]
            )
            / max(injected, 1),
            "false_accept_reversed": row["reversed_accepted"] / max(row["reversed_injected"], 1),
            "false_accept_swapped": row["swapped_accepted"] / max(row["swapped_injected"], 1),
            "injected": injected,
        }
    return writers, disagreeing


def inject_errors(ref: KanjiRef, strokes: list[np.ndarray], rng: np.random.Generator):
    """Yield (kind, strokes up to and including one wrong stroke): a reversed stroke, and
    two distinct strokes swapped (cut at the first of them)."""
    lengths = [geometry.length(s) for s in ref.strokes]
    long_enough = [
        k for k, n in enumerate(lengths) if n >= DEFAULT_ERRORS.min_direction_length * 109
    ]
    if long_enough:
        k = int(rng.choice(long_enough))
        yield "reversed", [*strokes[:k], reverse(strokes[k])]
    points = ref.resampled()
    pairs = [
        (k, j)
        for k in range(len(strokes))
        for j in range(k + 1, len(strokes))
        if np.linalg.norm(points[k] - points[j], axis=-1).mean() / 109
        >= DEFAULT_ERRORS.min_order_distance
        and all(order[k] != j for order in ref.orders())
    ]
    if pairs:
        k, j = pairs[rng.integers(len(pairs))]
        yield "swapped", [*strokes[:k], strokes[j]]


def plot_report(
    model: dict, base: dict, scored: Scored, base_scored: Scored, out: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    paths = []
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, s in (("model", scored), ("baseline", base_scored)):
        fpr, tpr, _ = roc_curve(np.array(s.truth) == 0, s.p_correct)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false accept rate (wrong strokes accepted)")
    ax.set_ylabel("true accept rate (correct strokes accepted)")
    ax.set_title(
        f"ROC: model AUC {model['roc_auc']:.4f}, baseline {base['roc_auc']:.4f}", fontsize=9
    )
    ax.legend()
    paths.append(_save(fig, out / "roc.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, (name, m) in zip(axes, (("model", model), ("baseline", base)), strict=True):
        confusion = np.array(m["confusion"], float)
        rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(LABELS)):
            for j in range(len(LABELS)):
                ax.text(
                    j,
                    i,
                    f"{int(confusion[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black",
                )
        ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(LABELS)), LABELS, fontsize=7)
        ax.set_xlabel("verdict")
        ax.set_ylabel("truth")
        ax.set_title(f"{name}: verdict accuracy {m['verdict_accuracy']:.3f}", fontsize=9)
    paths.append(_save(fig, out / "confusion.png"))

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    p, y = np.array(scored.p_correct), (np.array(scored.truth) == 0).astype(float)
    edges = np.linspace(0, 1, 16)
    index = np.clip(np.digitize(p, edges) - 1, 0, 14)
    centres = [
        (p[index == b].mean(), y[index == b].mean()) for b in range(15) if (index == b).any()
    ]
    ax.plot(*zip(*centres, strict=True), "o-", label="model")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("predicted p_correct")
    ax.set_ylabel("observed share correct")
    ax.set_title(f"reliability: ECE {model['ece']:.4f}", fontsize=9)
    paths.append(_save(fig, out / "reliability.png"))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, m in (("model", model), ("baseline", base)):
        buckets = m["binary_accuracy_by_stroke_count"]
        ax.plot(list(buckets), list(buckets.values()), "o-", label=name)
    ax.set_xlabel("strokes in the character")
    ax.set_ylabel("binary accuracy")
    ax.legend()
    paths.append(_save(fig, out / "accuracy_by_stroke_count.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate(
    predict: Predict,
    out: Path,
    tegaki: Path | None = None,
    attempts: int = 3000,
    seed: int = TEST_SEED,
) -> dict:
    """The full report for one ``predict`` (see module doc)."""
    pack = load_pack()
    test = split_characters(pack.chars, pack.stroke_counts())["test"]
    test_attempts = fixed_attempts(pack, test, attempts, seed)
    scored, base_scored, misses = score_synthetic(predict, pack, test_attempts)
    model, base = metrics(scored), metrics(base_scored)
    report: dict = {
        "test_characters": len(test),
        "test_attempts": attempts,
        "seed": seed,
        "model": model,
        "baseline": base,
    }
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
    if tegaki is not None:
        writers, disagreeing = score_real(predict, pack, read_tegaki_folder(tegaki), seed)
        report["real"] = {"writers": writers, "disagreeing_samples": disagreeing}
        native = [w for name, w in writers.items() if "native" in name]
        if native:
            value = float(np.mean([w["false_reject"] for w in native]))
            targets["native_false_reject"] = {
                "value": value,
                "target": f"<= {NATIVE_FALSE_REJECT_TARGET}",
                "met": value <= NATIVE_FALSE_REJECT_TARGET,
            }
    report["targets"] = targets
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = [str(p) for p in plot_report(model, base, scored, base_scored, out)]
    report["worst"] = [
        {k: v for k, v in m.items() if k != "attempt"} | {"kanji": m["attempt"].kanji}
        for m in misses[:20]
    ]
    report["summary"] = summary(report)
    (out / "metrics.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    (out / "report.md").write_text(report["summary"] + "\n")
    return report


def summary(report: dict) -> str:
    model, base = report["model"], report["baseline"]
    lines = [
        f"Synthetic test: {report['test_attempts']} attempts at {report['test_characters']} "
        f"held-out characters, seed {report['seed']}, {model['strokes']} strokes",
        "",
        "| metric | model | baseline | target |",
        "|---|---|---|---|",
    ]
    for name in (
        "binary_accuracy",
        "false_reject",
        "false_accept",
        "roc_auc",
        "ece",
        "verdict_accuracy",
        "wrong_verdict_accuracy",
    ):
        target = report["targets"].get(name, {})
        mark = ("met" if target.get("met") else "MISSED") if target else ""
        lines.append(
            f"| {name} | {model[name]:.4f} | {base[name]:.4f} | {target.get('target', '')} {mark} |"
        )
    lines += ["", "| error type | model accuracy | baseline accuracy |", "|---|---|---|"]
    for label in LABELS:
        lines.append(
            f"| {label} | {model['per_type_accuracy'].get(label, float('nan')):.4f} | "
            f"{base['per_type_accuracy'].get(label, float('nan')):.4f} |"
        )
    if "real" in report:
        lines += [
            "",
            "Real handwriting (samples whose count and order agree with KanjiVG):",
            "",
            "| writer | strokes | false reject | baseline | false accept (injected) | baseline | injected |",
            "|---|---|---|---|---|---|---|",
        ]
        for writer, w in report["real"]["writers"].items():
            lines.append(
                f"| {writer} | {w['samples_strokes']} | {w['false_reject']:.4f} | "
                f"{w['baseline_false_reject']:.4f} | {w['false_accept']:.4f} | "
                f"{w['baseline_false_accept']:.4f} | {w['injected']} |"
            )
        lines.append(
            f"\n{len(report['real']['disagreeing_samples'])} samples disagree with "
            "KanjiVG's count or order (reported in metrics.json)."
        )
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: Path, out: Path, tegaki: Path | None = None, attempts: int = 3000, tracker=None
) -> dict:
    """Evaluate a checkpoint; with a tracker, log the report, plots and the model."""
    from kanjiwrite.training.train import load_grader

    model, _ = load_grader(checkpoint)
    report = evaluate(torch_predict(model), out, tegaki=tegaki, attempts=attempts)
    if tracker is not None:
        flat = {f"test_{k}": v for k, v in report["model"].items() if isinstance(v, float)}
        flat |= {f"baseline_{k}": v for k, v in report["baseline"].items() if isinstance(v, float)}
        tracker.log_metrics(flat)
        for path in [out / "metrics.json", out / "report.md", *map(Path, report["plots"])]:
            tracker.log_artifact(path, "evaluation")
        example = example_inputs(load_pack())
        outputs = torch_predict(model)(example)
        from kanjiwrite.models.grader import PredictWrapper

        tracker.log_model(
            PredictWrapper(model), example, {"verdict_probs": outputs[0], "match_probs": outputs[1]}
        )
    return report


def example_inputs(pack: ReferencePack) -> dict[str, np.ndarray]:
    """A small real batch (書, three strokes drawn) for signatures and export checks."""
    from kanjiwrite.models.decoding import build_batch

    ref = pack["書"]
    inputs, _ = build_batch(ref, [s * 4 + 30 for s in ref.strokes[:3]], (500, 500))
    return inputs
