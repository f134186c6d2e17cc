"""Evaluation of the grader against the geometric baseline, on held-out characters and on
real handwriting. Writes ``metrics.json``, ``report.md`` and plots (``report``).
"""

from __future__ import annotations

import json
from collections import Counter
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
    rate_with_interval,
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
    written backwards is not correct writing), per writer, each rate with its count and 95%
    interval; the samples left out, counted by reason (the disagreeing ones also listed).
    Graded as the service grades, with the kanji's look-alike partners in the batch."""
    rng = np.random.default_rng(seed)
    rows: dict[str, Counter] = {}
    disagreeing = []
    excluded = Counter(samples=len(samples), not_in_pack=0, count_or_order_disagrees=0)
    for sample in tqdm(samples, desc="real handwriting", unit="sample"):
        if sample.char not in pack:
            excluded["not_in_pack"] += 1
            continue
        ref = pack[sample.char]
        strokes = [as_stroke(s) for s in sample.strokes]
        partners = partners_of(pack, ref.char)
        result = grade(predict, ref, strokes, sample.canvas, partners=partners)
        order = assign(ref, strokes)
        if order is None:
            excluded["count_or_order_disagrees"] += 1
            disagreeing.append(disagreeing_sample(sample, ref, strokes, result))
            continue
        row = rows.setdefault(sample.writer, Counter())
        score_sample(predict, ref, (strokes, order, sample.canvas), result, partners, row, rng)
    excluded["scored"] = (
        excluded["samples"] - excluded["not_in_pack"] - excluded["count_or_order_disagrees"]
    )
    writers = {writer: writer_figures(row) for writer, row in rows.items()}
    return writers, disagreeing, dict(excluded)


def disagreeing_sample(sample: HandwrittenSample, ref: KanjiRef, strokes, result) -> dict:
    return {
        "file": sample.source.name,
        "writer": sample.writer,
        "char": sample.char,
        "strokes": len(strokes),
        "reference_strokes": ref.stroke_count,
        "verdicts": dict(Counter(s.verdict for s in result.strokes)),
        "baseline_verdicts": dict(Counter(s.verdict for s in baseline.grade(ref, strokes).strokes)),
    }


def score_sample(
    predict: Predict, ref: KanjiRef, sample, result, partners, row: Counter, rng
) -> None:
    """Add one real sample's counts (``sample``: strokes, their order, canvas) to its
    writer's ``row``: strokes rejected as written (the model's ``result`` and the baseline),
    and the injected errors accepted."""
    strokes, order, canvas = sample
    base = baseline.grade(ref, strokes)
    row["samples"] += 1
    row["strokes"] += len(strokes)
    row["false_reject"] += sum(not is_correct(s.verdict) for s in result.strokes)
    row["baseline_false_reject"] += sum(not is_correct(s.verdict) for s in base.strokes)
    for kind, injected in inject_errors(ref, strokes, order, rng):
        k = len(injected) - 1
        model = grade(predict, ref, injected, canvas, partners=partners).strokes[k]
        row[f"{kind}_injected"] += 1
        row[f"{kind}_accepted"] += is_correct(model.verdict)
        row[f"{kind}_baseline_accepted"] += is_correct(
            baseline.grade(ref, injected).strokes[k].verdict
        )


def writer_figures(row: Counter) -> dict:
    """A writer's rates, each with its count, total and 95% Wilson interval."""
    injected = row["reversed_injected"] + row["swapped_injected"]
    return {
        "samples": row["samples"],
        "samples_strokes": row["strokes"],
        **rate_with_interval("false_reject", row["false_reject"], row["strokes"]),
        **rate_with_interval("baseline_false_reject", row["baseline_false_reject"], row["strokes"]),
        **rate_with_interval(
            "false_accept", row["reversed_accepted"] + row["swapped_accepted"], injected
        ),
        **rate_with_interval(
            "baseline_false_accept",
            row["reversed_baseline_accepted"] + row["swapped_baseline_accepted"],
            injected,
        ),
        **rate_with_interval(
            "false_accept_reversed", row["reversed_accepted"], row["reversed_injected"]
        ),
        **rate_with_interval(
            "false_accept_swapped", row["swapped_accepted"], row["swapped_injected"]
        ),
        "injected": injected,
    }


def provenance(evaluated: list[HandwrittenSample], calibration: Path | None) -> dict:
    """How independent the real-writing evaluation is of the writing the checkpoint was
    validated on (selection, temperature, thresholds): writers and characters in both."""
    writers, chars = {s.writer for s in evaluated}, {s.char for s in evaluated}
    out: dict = {"writers": sorted(writers), "characters": len(chars), "calibration": None}
    if calibration is None:
        return out
    out["calibration"] = str(calibration)
    if not Path(calibration).is_dir():
        out["calibration_found"] = False
        return out
    seen = read_tegaki_folder(Path(calibration))
    out |= {
        "calibration_found": True,
        "shared_writers": sorted(writers & {s.writer for s in seen}),
        "shared_characters": len(chars & {s.char for s in seen}),
    }
    return out


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
    rows = {"model": Counter(), "baseline": Counter()}
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
            row = rows[name]
            accepted = np.array([is_correct(s.verdict) for s in strokes])
            correct = attempt.labels == CORRECT
            row["attempts"] += 1
            row["whole"] += bool(accepted.all())
            row["correct"] += int(correct.sum())
            row["rejected"] += int((~accepted & correct).sum())
            row["wrong"] += int((~correct).sum())
            row["accepted_wrong"] += int((accepted & ~correct).sum())
    out = {
        name: {
            "attempts": row["attempts"],
            **rate_with_interval("accepted_whole", row["whole"], row["attempts"]),
            **rate_with_interval("false_reject", row["rejected"], row["correct"]),
            "false_accept": row["accepted_wrong"] / max(row["wrong"], 1) if row["wrong"] else None,
        }
        for name, row in rows.items()
    }
    weakest = np.array(weakest)
    out["model"]["accepted_whole_at"] = {
        level: float((weakest >= t).mean()) if len(weakest) else None
        for level, t in thresholds.items()
    }
    return out


def style_shift_attempts(
    pack: ReferencePack, seed: int, limit: int | None = None
) -> dict[str, list[Attempt]]:
    """Every held-out rendering (``styles``, test-split characters), per source, written
    as it is: placed on a random canvas and sampled like a touch screen, no more (the first
    ``limit`` of each source when given: the rest are never made)."""
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
            if limit is not None and len(out.get(rendering.source, [])) >= limit:
                continue
            drawn, canvas = humanize(rendering.strokes, rng, plain)
            out.setdefault(rendering.source, []).append(
                Attempt.in_order(char, pack[char].strokes, drawn, canvas)
            )
    return out


def style_shift_sizes(pack: ReferencePack) -> Counter:
    """Held-out renderings per source (what ``style_shift_attempts`` makes uncapped)."""
    styles = load_styles(pack)
    return Counter(r.source for c in pack_splits(pack)["test"] for r in styles[c])


def lookalike_sizes(pack: ReferencePack, repeats: int = 2) -> Counter:
    """Attempts of each kind ``lookalike_attempts`` makes uncapped."""
    from kanjiwrite.datasets.lookalikes import all_lookalikes

    found = all_lookalikes(pack)
    pairs = sum(len(found[c]) for c in set(pack_splits(pack)["test"]) & set(found))
    return Counter(correct=pairs * repeats, lookalike=pairs * repeats)


def lookalike_attempts(
    pack: ReferencePack, seed: int, repeats: int = 2, limit: int | None = None
) -> dict[str, list[Attempt]]:
    """For each look-alike pair whose asked character is a test character: the asked
    character written correctly, and the look-alike written in its place (labelled stroke
    by stroke), each ``repeats`` times with the human variation (until ``limit`` of each
    kind when given: the rest are never made)."""
    from kanjiwrite.datasets.augment import humanize
    from kanjiwrite.datasets.lookalikes import all_lookalikes

    rng = np.random.default_rng(seed)
    test = set(pack_splits(pack)["test"])
    found = all_lookalikes(pack)
    out: dict[str, list[Attempt]] = {"correct": [], "lookalike": []}
    for asked in sorted(test & set(found)):
        ref = pack[asked]
        for pair in found[asked]:
            if limit is not None and len(out["lookalike"]) >= limit:
                return {kind: items[:limit] for kind, items in out.items()}
            for _ in range(repeats):
                for kind, strokes, labels in (
                    ("correct", ref.strokes, None),
                    ("lookalike", pack[pair.written].strokes, np.array(pair.labels, np.int8)),
                ):
                    drawn, canvas = humanize(strokes, rng)
                    out[kind].append(
                        Attempt.in_order(asked, ref.strokes, drawn, canvas, labels=labels)
                    )
    return {kind: items[:limit] for kind, items in out.items()}


def evaluate(
    predict: Predict,
    out: Path,
    tegaki: Path | None = None,
    attempts: int = 3000,
    seed: int = TEST_SEED,
    kana: Path | None = None,
    held_out: int = 0,
    thresholds: dict[str, float] | None = None,
    calibration: Path | None = None,
) -> dict:
    """The full report for one ``predict`` (see module doc); ``held_out`` caps the attempts
    of each held-out set (style shift per source, look-alikes; 0: all); ``thresholds`` are
    the model's strictness levels (default: the contract's); ``calibration`` the real
    writing the model was validated on (to say how independent ``tegaki`` is of it)."""
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
    excluded: dict[str, int] = {}
    for section, samples in (
        ("real", read_tegaki_folder(tegaki) if tegaki is not None else None),
        ("kana", kana_samples(kana) if kana is not None else None),
    ):
        if samples is None:
            continue
        writers, disagreeing, left_out = score_real(predict, pack, samples, seed)
        report[section] = {
            "writers": writers,
            "disagreeing_samples": disagreeing,
            "excluded": left_out,
            "provenance": provenance(samples, calibration if section == "real" else None),
        }
        excluded |= {f"{section}_{k}": v for k, v in left_out.items()}
    for section, sets, available in (
        ("style_shift", style_shift_attempts(pack, seed, limit), style_shift_sizes(pack)),
        ("lookalike", lookalike_attempts(pack, seed, limit=limit), lookalike_sizes(pack)),
    ):
        report[section] = {
            name: whole_acceptance(predict, pack, items, thresholds) for name, items in sets.items()
        }
        excluded |= {
            f"{section}_{name}_over_cap": available[name] - len(items)
            for name, items in sets.items()
        }
    report["excluded"] = excluded
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
        calibration=calibration_folder(info),
    )


def calibration_folder(checkpoint: dict) -> Path | None:
    """The real writing a checkpoint was validated on (its profile's ``data.calibration``,
    relative to the working directory as in training), if any."""
    folder = checkpoint.get("config", {}).get("data", {}).get("calibration", "")
    return Path(folder).resolve() if folder else None


def kana_samples(folder: Path) -> list[HandwrittenSample]:
    """Every sample of the Tegaki kana collections (``*.charcol.gz``) in ``folder``."""
    return [
        s
        for path in sorted(Path(folder).glob("*.charcol.gz"))
        for s in read_tegaki_collection(path)
    ]
