"""Evaluation of the grader against the geometric baseline, on held-out characters and on
real handwriting. Writes ``metrics.json``, ``report.md`` and plots (``report``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kanjiwrite.datasets.contract import CORRECT, DEFAULT_THRESHOLDS, LABELS, is_correct
from kanjiwrite.datasets.errors import (
    DEFAULT_ERRORS,
    ErrorConfig,
    order_candidates,
    reverse,
    reversible,
)
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack, load_pack
from kanjiwrite.datasets.matching import assign
from kanjiwrite.datasets.splits import TEST_SEED, pack_splits, test_attempts
from kanjiwrite.datasets.strokes import as_stroke
from kanjiwrite.datasets.styles import load_styles
from kanjiwrite.datasets.synthesis import Attempt
from kanjiwrite.datasets.tegaki import (
    HandwrittenSample,
    read_tegaki_collection,
    read_tegaki_folder,
)
from kanjiwrite.models import baseline
from kanjiwrite.models.decoding import Predict, grade, partners_of
from kanjiwrite.models.grader import Grader, load_checkpoint
from kanjiwrite.models.runtime import torch_predict
from kanjiwrite.training.metrics import (
    Scored,
    accept_rates,
    check_targets,
    held_out_targets,
    metrics,
)
from kanjiwrite.training.report import plot_report, summary


def score_synthetic(predict: Predict, pack: ReferencePack, attempts: list[Attempt]):
    """Model and baseline verdicts for every stroke of ``attempts`` (and the worst misses)."""
    model, base = Scored(), Scored()
    misses = []
    for attempt in tqdm(attempts, desc="synthetic test", unit="attempt"):
        ref = pack[attempt.kanji]
        partners = partners_of(pack, ref.char)
        result = grade(predict, ref, attempt.drawn, attempt.canvas, partners=partners)
        base_result = baseline.grade(ref, attempt.drawn)
        for k, label in enumerate(attempt.labels):
            stroke, base_stroke = result.strokes[k], base_result.strokes[k]
            model.add(label, stroke.verdict, stroke.p_correct, ref.stroke_count)
            base.add(label, base_stroke.verdict, base_stroke.p_correct, ref.stroke_count)
            if (label == CORRECT) != is_correct(stroke.verdict):
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


def score_real(predict: Predict, pack: ReferencePack, samples: list[HandwrittenSample], seed: int):
    """False rejects as written, and false accepts after injecting a reversed stroke and a
    swapped pair (``inject_errors``), on samples that correspond to KanjiVG stroke by
    stroke (``matching.assign``, the rule calibration keeps real writing by: a stroke
    written backwards is not correct writing); the others reported separately."""
    rng = np.random.default_rng(seed)
    rows: dict[str, dict] = {}
    disagreeing = []
    for sample in tqdm(samples, desc="real handwriting", unit="sample"):
        if sample.char not in pack:
            continue
        ref = pack[sample.char]
        strokes = [as_stroke(s) for s in sample.strokes]
        partners = partners_of(pack, ref.char)
        result, base = (
            grade(predict, ref, strokes, sample.canvas, partners=partners),
            baseline.grade(ref, strokes),
        )
        order = assign(ref, strokes)
        if order is None:
            disagreeing.append(
                {
                    "file": sample.source.name,
                    "writer": sample.writer,
                    "char": sample.char,
                    "strokes": len(strokes),
                    "reference_strokes": ref.stroke_count,
                    "verdicts": dict(Counter(s.verdict for s in result.strokes)),
                    "baseline_verdicts": dict(Counter(s.verdict for s in base.strokes)),
                }
            )
            continue
        row = rows.setdefault(sample.writer, defaultdict(list))  # accepted flags
        row["written"] += [is_correct(s.verdict) for s in result.strokes]
        row["written_baseline"] += [is_correct(s.verdict) for s in base.strokes]
        for kind, injected in inject_errors(ref, strokes, order, rng):
            k = len(injected) - 1
            model = grade(predict, ref, injected, sample.canvas, partners=partners).strokes[k]
            row[kind].append(is_correct(model.verdict))
            row[f"{kind}_baseline"].append(
                is_correct(baseline.grade(ref, injected).strokes[k].verdict)
            )
    writers = {}
    for writer, row in rows.items():
        wrong = [*row["reversed"], *row["swapped"]]
        wrong_baseline = [*row["reversed_baseline"], *row["swapped_baseline"]]
        writers[writer] = {
            "samples_strokes": len(row["written"]),
            "false_reject": accept_rates(row["written"], True)["false_reject"],
            "baseline_false_reject": accept_rates(row["written_baseline"], True)["false_reject"],
            "false_accept": accept_rates(wrong, False)["false_accept"],
            "baseline_false_accept": accept_rates(wrong_baseline, False)["false_accept"],
            "false_accept_reversed": accept_rates(row["reversed"], False)["false_accept"],
            "false_accept_swapped": accept_rates(row["swapped"], False)["false_accept"],
            "injected": len(wrong),
        }
    return writers, disagreeing


def inject_errors(
    ref: KanjiRef,
    strokes: list[np.ndarray],
    order: tuple[int, ...],
    rng: np.random.Generator,
    cfg: ErrorConfig = DEFAULT_ERRORS,
):
    """Yield (kind, strokes up to and including one wrong stroke) for real ``strokes``
    written in the accepted ``order``: a reversed stroke, and a later stroke written in an
    earlier one's place (cut there); each only where the synthesis would make that error
    (``errors.reversible``, ``errors.order_candidates``)."""
    expected = [ref.strokes[i] for i in order]
    long_enough = [k for k, stroke in enumerate(expected) if reversible(stroke, cfg)]
    if long_enough:
        k = int(rng.choice(long_enough))
        yield "reversed", [*strokes[:k], reverse(strokes[k])]
    points = ref.resampled()[list(order)]
    pairs = [
        (k, j)
        for k in range(len(strokes))
        for j in order_candidates(points, k, ref.interchangeable(order, k), cfg)
        if j > k
    ]
    if pairs:
        k, j = pairs[rng.integers(len(pairs))]
        yield "swapped", [*strokes[:k], strokes[j]]


def whole_acceptance(
    predict: Predict, pack: ReferencePack, attempts: list[Attempt], thresholds: dict[str, float]
) -> dict:
    """Model and baseline over attempts graded stroke by stroke (each at its pen lift):
    the share of correct strokes rejected, of wrong strokes accepted, and of attempts
    accepted whole (every stroke accepted); for the model also the share accepted whole at
    each strictness level's threshold (the order graded against kept as at ``standard``)."""
    flags = {"model": ([], []), "baseline": ([], [])}  # per stroke: accepted, correct
    whole = {"model": [], "baseline": []}  # per attempt: every stroke accepted
    weakest = []  # the lowest p_correct of each attempt
    for attempt in attempts:
        ref = pack[attempt.kanji]
        results = {
            "model": grade(
                predict, ref, attempt.drawn, attempt.canvas, partners=partners_of(pack, ref.char)
            ).strokes,
            "baseline": baseline.grade(ref, attempt.drawn).strokes,
        }
        # a look-alike flag rejects the attempt at every strictness level
        flagged = any(s.story == "lookalike" for s in results["model"])
        weakest.append(0.0 if flagged else min(s.p_correct for s in results["model"]))
        for name, strokes in results.items():
            accepted = [is_correct(s.verdict) for s in strokes]
            flags[name][0].extend(accepted)
            flags[name][1].extend(attempt.labels == CORRECT)
            whole[name].append(all(accepted))
    out = {}
    for name, (accepted, correct) in flags.items():
        rates = accept_rates(accepted, correct)
        out[name] = {
            "attempts": len(whole[name]),
            "accepted_whole": float(np.mean(whole[name])) if whole[name] else 0.0,
            "false_reject": rates["false_reject"],
            "false_accept": rates["false_accept"] if not all(correct) else None,
        }
    weakest = np.array(weakest)
    out["model"]["accepted_whole_at"] = {
        level: float((weakest >= t).mean()) if len(weakest) else None
        for level, t in thresholds.items()
    }
    return out


def style_shift_attempts(pack: ReferencePack, seed: int) -> dict[str, list[Attempt]]:
    """Every held-out rendering (``styles``, test-split characters), per source, written
    as it is: placed on a random canvas and sampled like a touch screen, no more."""
    from kanjiwrite.datasets.augment import AugmentConfig, humanize

    plain = AugmentConfig(
        stroke_offset=0.0,
        stroke_scale=0.0,
        stroke_rotation_deg=0.0,
        component_offset=0.0,
        component_scale=0.0,
        endpoint_probability=0.0,
        dot_rotation_deg=0.0,
        dot_scale=0.0,
        wobble=0.0,
        hook_probability=0.0,
    )
    rng = np.random.default_rng(seed)
    styles = load_styles(pack)
    out: dict[str, list[Attempt]] = {}
    for char in pack_splits(pack)["test"]:
        for rendering in styles[char]:
            drawn, canvas = humanize(rendering.strokes, rng, plain)
            out.setdefault(rendering.source, []).append(
                Attempt.in_order(char, pack[char].strokes, drawn, canvas)
            )
    return out


def lookalike_attempts(
    pack: ReferencePack, seed: int, repeats: int = 2
) -> dict[str, list[Attempt]]:
    """For each look-alike pair whose asked character is a test character: the asked
    character written correctly, and the look-alike written in its place (labelled stroke
    by stroke), each ``repeats`` times with the human variation."""
    from kanjiwrite.datasets.augment import humanize
    from kanjiwrite.datasets.lookalikes import mine_lookalikes

    rng = np.random.default_rng(seed)
    test = set(pack_splits(pack)["test"])
    found = mine_lookalikes(pack, list(pack.chars))
    out: dict[str, list[Attempt]] = {"correct": [], "lookalike": []}
    for asked in sorted(test & set(found)):
        ref = pack[asked]
        for pair in found[asked]:
            for _ in range(repeats):
                for kind, strokes, labels in (
                    ("correct", ref.strokes, None),
                    ("lookalike", pack[pair.written].strokes, np.array(pair.labels, np.int8)),
                ):
                    drawn, canvas = humanize(strokes, rng)
                    out[kind].append(
                        Attempt.in_order(asked, ref.strokes, drawn, canvas, labels=labels)
                    )
    return out


def evaluate(
    predict: Predict,
    out: Path,
    tegaki: Path | None = None,
    attempts: int = 3000,
    seed: int = TEST_SEED,
    kana: Path | None = None,
    held_out: int = 0,
    thresholds: dict[str, float] | None = None,
) -> dict:
    """The full report for one ``predict`` (see module doc); ``held_out`` caps the attempts
    of each held-out set (style shift per source, look-alikes; 0: all); ``thresholds`` are
    the model's strictness levels (default: the contract's)."""
    limit = held_out or None
    thresholds = thresholds or dict(DEFAULT_THRESHOLDS)
    pack = load_pack()
    sample = test_attempts(attempts, seed, pack)
    scored, base_scored, misses = score_synthetic(predict, pack, sample)
    model, base = metrics(scored), metrics(base_scored)
    report: dict = {
        "test_characters": len(pack_splits(pack)["test"]),
        "test_attempts": attempts,
        "seed": seed,
        "model": model,
        "baseline": base,
    }
    targets = check_targets(model, base)
    if tegaki is not None:
        writers, disagreeing = score_real(predict, pack, read_tegaki_folder(tegaki), seed)
        report["real"] = {"writers": writers, "disagreeing_samples": disagreeing}
    if kana is not None:
        samples = [
            s
            for path in sorted(Path(kana).glob("*.charcol.gz"))
            for s in read_tegaki_collection(path)
        ]
        writers, disagreeing = score_real(predict, pack, samples, seed)
        report["kana"] = {"writers": writers, "disagreeing_samples": disagreeing}
    report["style_shift"] = {
        source: whole_acceptance(predict, pack, items[:limit], thresholds)
        for source, items in style_shift_attempts(pack, seed).items()
    }
    report["lookalike"] = {
        kind: whole_acceptance(predict, pack, items[:limit], thresholds)
        for kind, items in lookalike_attempts(pack, seed).items()
    }
    p, truth = np.array(scored.p_correct), np.array(scored.truth) == CORRECT
    report["strictness"] = {
        level: {"threshold": t, **accept_rates(p >= t, truth)} for level, t in thresholds.items()
    }
    targets |= held_out_targets(report)
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


def evaluate_checkpoint(
    checkpoint: Path,
    out: Path,
    tegaki: Path | None = None,
    attempts: int = 3000,
    threads: int = 1,
    kana: Path | None = None,
    held_out: int = 0,
) -> dict:
    """``evaluate`` the PyTorch grader of a checkpoint with ``threads`` CPU threads (one
    thread: about 3 minutes for 3,000 attempts, and steady when other work shares the CPU)."""
    import torch

    torch.set_num_threads(threads)
    info = load_checkpoint(checkpoint)
    model = Grader.from_checkpoint(info)
    return evaluate(
        torch_predict(model),
        out,
        tegaki=tegaki,
        attempts=attempts,
        kana=kana,
        held_out=held_out,
        thresholds=info.get("strictness", {}).get("thresholds"),
    )
