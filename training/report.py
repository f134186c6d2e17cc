"""The evaluation report: plots (ROC, confusion, reliability, accuracy by stroke count)
and the markdown summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kanjiwrite.datasets.contract import CORRECT, LABELS
from kanjiwrite.datasets.render import save_figure
from kanjiwrite.training.metrics import Scored, calibration_bins


def plot_report(
    model: dict, base: dict, scored: Scored, base_scored: Scored, out: Path
) -> list[Path]:
    # figures outside pyplot: no backend is chosen or switched (a notebook keeps showing
    # its own figures after an evaluation)
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    paths = []
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    for name, s in (("model", scored), ("baseline", base_scored)):
        fpr, tpr, _ = roc_curve(np.array(s.truth) == CORRECT, s.p_correct)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false accept rate (wrong strokes accepted)")
    ax.set_ylabel("true accept rate (correct strokes accepted)")
    ax.set_title(
        f"ROC: model AUC {model['roc_auc']:.4f}, baseline {base['roc_auc']:.4f}", fontsize=9
    )
    ax.legend()
    paths.append(save_figure(fig, out / "roc.png"))

    fig = Figure(figsize=(11, 4.8))
    axes = fig.subplots(1, 2)
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
    paths.append(save_figure(fig, out / "confusion.png"))

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    p, y = np.array(scored.p_correct), (np.array(scored.truth) == CORRECT).astype(float)
    centres = [(mean_p, mean_y) for _, mean_p, mean_y in calibration_bins(p, y)]
    ax.plot(*zip(*centres, strict=True), "o-", label="model")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("predicted p_correct")
    ax.set_ylabel("observed share correct")
    ax.set_title(f"reliability: ECE {model['ece']:.4f}", fontsize=9)
    paths.append(save_figure(fig, out / "reliability.png"))

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for name, m in (("model", model), ("baseline", base)):
        buckets = m["binary_accuracy_by_stroke_count"]
        ax.plot(list(buckets), list(buckets.values()), "o-", label=name)
    ax.set_xlabel("strokes in the character")
    ax.set_ylabel("binary accuracy")
    ax.legend()
    paths.append(save_figure(fig, out / "accuracy_by_stroke_count.png"))
    return paths


def summary(report: dict) -> str:
    """The markdown report: the synthetic test, real writing, the held-out sets, the
    strictness levels and the targets."""
    lines = synthetic_lines(report)
    for section, title in (("real", "Real handwriting"), ("kana", "Real kana")):
        if section in report:
            lines += real_writing_lines(report[section], title)
    lines += held_out_lines(report)
    if "strictness" in report:
        lines += ["", "| strictness | threshold | synthetic false reject | false accept |"]
        lines += ["|---|---|---|---|"]
        for level, r in report["strictness"].items():
            lines.append(
                f"| {level} | {r['threshold']:.2f} | {r['false_reject']:.4f} | {r['false_accept']:.4f} |"
            )
    lines += ["", "| target | value | bound | met |", "|---|---|---|---|"]
    for name, target in report["targets"].items():
        lines.append(
            f"| {name} | {target['value']:.4f} | {target['target']} | "
            f"{'met' if target['met'] else 'MISSED'} |"
        )
    return "\n".join(lines)


def synthetic_lines(report: dict) -> list[str]:
    """The synthetic test: headline metrics and per-label accuracy, model and baseline."""
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
    return lines


def held_out_lines(report: dict) -> list[str]:
    """The style shift and look-alikes, with counts, intervals and what the cap left out."""
    held_out = [
        (f"style shift: {source} (false reject per stroke)", figures, "false_reject")
        for source, figures in report.get("style_shift", {}).items()
    ]
    if "lookalike" in report:
        wrong, right = report["lookalike"]["lookalike"], report["lookalike"]["correct"]
        held_out += [
            ("look-alike written instead: accepted whole", wrong, "accepted_whole"),
            ("the same characters written right: accepted whole", right, "accepted_whole"),
        ]
    if not held_out:
        return []
    lines = [
        "",
        "Held-out sets (test characters; count and 95% Wilson interval; accepted whole "
        "at lenient / strict after them):",
        "",
        "| set | attempts | model | baseline |",
        "|---|---|---|---|",
    ]
    for name, figures, key in held_out:
        m = figures["model"]
        levels = m.get("accepted_whole_at", {})
        extra = (
            f" ({levels['lenient']:.3f} / {levels['strict']:.3f})"
            if key == "accepted_whole" and levels
            else ""
        )
        lines.append(
            f"| {name} | {m['attempts']} | {m[key]:.4f} "
            f"({m[key + '_count']}/{m[key + '_of']}; {interval(m, key)}){extra}"
            f" | {figures['baseline'][key]:.4f} |"
        )
    capped = {k: v for k, v in report.get("excluded", {}).items() if k.endswith("_over_cap") and v}
    if capped:
        lines.append(
            "\nCapped (eval_held_out): "
            + ", ".join(f"{v} {k.removesuffix('_over_cap')} attempts" for k, v in capped.items())
            + " left out."
        )
    return lines


def interval(figures: dict, name: str) -> str:
    """``name``'s 95% interval as percentages."""
    return f"95% {100 * figures[name + '_ci_low']:.1f}-{100 * figures[name + '_ci_high']:.1f}%"


def provenance_lines(provenance: dict) -> list[str]:
    """What the real-writing set is, relative to the writing the model was validated on."""
    writers = ", ".join(provenance["writers"])
    calibration = provenance.get("calibration")
    if calibration is None:
        relation = "The model was validated on synthetic data only."
    elif not provenance.get("calibration_found"):
        relation = (
            f"The model was validated on real writing at {calibration}, not found here: how "
            "independent this set is of it is unknown."
        )
    elif provenance["shared_writers"] or provenance["shared_characters"]:
        shared = ", ".join(provenance["shared_writers"]) or "none"
        relation = (
            "NOT independent of validation: the model was validated (checkpoint selection, "
            f"temperature, strictness thresholds) on {calibration}, which has the same "
            f"writers ({shared}) and {provenance['shared_characters']} of these "
            f"{provenance['characters']} characters. These figures describe these writers and "
            "characters, not new ones."
        )
    else:
        relation = f"Independent of validation ({calibration}): no writer or character in common."
    return [f"Writers: {writers}; {provenance['characters']} characters.", relation]


def real_writing_lines(section: dict, title: str) -> list[str]:
    """A real-writing table: per writer, rates with counts and 95% Wilson intervals, and
    what was left out and why."""
    lines = [
        "",
        f"{title} (samples whose count and order agree with KanjiVG):",
        "",
        *provenance_lines(section["provenance"]),
        "",
        "| writer | samples | strokes | false reject (95% interval) | baseline "
        "| false accept, injected (95% interval) | baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for writer, w in section["writers"].items():
        lines.append(
            f"| {writer} | {w['samples']} | {w['samples_strokes']} | {w['false_reject']:.4f} "
            f"({w['false_reject_count']}/{w['false_reject_of']}; {interval(w, 'false_reject')}) "
            f"| {w['baseline_false_reject']:.4f} | {w['false_accept']:.4f} "
            f"({w['false_accept_count']}/{w['false_accept_of']}; {interval(w, 'false_accept')}) "
            f"| {w['baseline_false_accept']:.4f} |"
        )
    left = section["excluded"]
    lines.append(
        f"\nOf {left['samples']} samples, {left['scored']} scored; left out: "
        f"{left['not_in_pack']} of characters not in the reference pack, "
        f"{left['count_or_order_disagrees']} whose stroke count or order disagrees with "
        "KanjiVG's (listed in metrics.json: a stroke-by-stroke grade against KanjiVG's order "
        "says nothing about them)."
    )
    return lines
