"""The ``kanjiwrite`` command line."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from kanjiwrite.models import shipped


def packaged(package: str, *parts: str) -> Path:
    """A file inside an installed ``kanjiwrite`` package (works outside the repository)."""
    return Path(str(resources.files(package).joinpath(*parts)))


CHECKPOINT = shipped("grader.pt")
ONNX_MODEL = shipped("grader.onnx")
COREML_MODEL = shipped("app/grader.mlpackage")
DATASET_CARD = packaged("kanjiwrite.datasets", "dataset_card.md")
CPU_CONFIG = packaged("kanjiwrite.training", "configs", "cpu.toml")

app = typer.Typer(
    help="Kanji Write: per-stroke grading of handwritten kanji.", no_args_is_help=True
)
data_app = typer.Typer(
    help="The stroke data: reference pack, statistics, galleries, speed.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("overrides")
def data_overrides(
    out: Annotated[Path, typer.Option(help="Folder for overrides.jsonl and its README")],
    database_url: Annotated[
        str | None, typer.Option(help="Practice database (default: KANJIWRITE_DATABASE_URL)")
    ] = None,
) -> None:
    """Export learners' plausible "I was right" claims as a labelled real-writing set
    (``datasets/overrides.py``: strokes, labels, what the grader said, per-claimant counts;
    no learner ids)."""
    from dataclasses import asdict

    from kanjiwrite.datasets.overrides import write_overrides
    from kanjiwrite.serving.practice_store import PracticeStore
    from kanjiwrite.serving.settings import Settings

    store = PracticeStore(database_url or Settings().database_url, {})
    records = store.overrides()
    path = write_overrides((asdict(record) for record in records), out)
    store.dispose()
    typer.echo(f"{len(records)} overrides -> {path}")


@data_app.command("build-pack")
def build_pack(
    out: Annotated[Path | None, typer.Option(help="Pack file (default: the cache)")] = None,
) -> None:
    """Parse every KanjiVG file into the reference pack."""
    from kanjiwrite.datasets.kanjivg import build_pack as build

    started = time.perf_counter()
    path = build(out)
    typer.echo(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s"
    )


@data_app.command()
def stats(
    card: Annotated[Path, typer.Option(help="Where to write the dataset card")] = DATASET_CARD,
    attempts: Annotated[int, typer.Option(help="Synthetic attempts sampled per split")] = 1000,
) -> None:
    """Print what the reference pack holds and write the dataset card."""
    from tqdm import tqdm

    from kanjiwrite.datasets.card import build_card, pack_load_seconds, write_card

    with tqdm(total=3 * attempts, desc="sampling attempts", unit="attempt") as bar:
        data = build_card(attempts, progress=bar.update)
    kinds = data["kinds"]
    typer.echo(
        f"{data['characters']} kanji (KanjiVG base characters: {kinds.get('kanji', 0)} "
        f"CJK ideographs, {kinds.get('kana', 0)} kana, {kinds.get('other', 0)} other)"
    )
    typer.echo(
        f"{data['strokes']} strokes, {data['stroke_count_range'][0]}-"
        f"{data['stroke_count_range'][1]} per character"
    )
    typer.echo(
        f"{data['alternative_orders']} alternative stroke orders over "
        f"{data['characters_with_alternative_orders']} characters"
    )
    typer.echo(f"reference pack {data['pack_version']} loaded in {pack_load_seconds():.3f} s")
    for name, split in data["splits"].items():
        labels = ", ".join(f"{k} {v}" for k, v in split["labels"].items())
        typer.echo(f"{name}: {split['characters']} characters; labels: {labels}")
    for name, m in data["margins"].items():
        typer.echo(
            f"margin {name}: correct max {m['correct_max']:.3f} < error min {m['error_min']:.3f}"
        )
    write_card(data, card)
    typer.echo(f"dataset card: {card}")


@data_app.command()
def show(
    kanji: Annotated[str, typer.Argument(help="One character")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/show.png"),
    seed: Annotated[int, typer.Option()] = 0,
    variants: Annotated[int, typer.Option(help="Attempts to draw")] = 11,
) -> None:
    """Render the reference and a few augmented and wrong attempts at one character."""
    import numpy as np

    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.datasets.render import save_overview
    from kanjiwrite.datasets.synthesis import donor_strokes, synthesize_attempt

    pack = load_pack()
    if kanji not in pack:
        raise typer.BadParameter(f"{kanji!r} is not in the reference pack", param_hint="KANJI")
    ref = pack[kanji]
    rng = np.random.default_rng(seed)
    donors = donor_strokes([pack[c] for c in pack.chars[::50]])
    attempts = [synthesize_attempt(ref, rng, donors) for _ in range(variants)]
    typer.echo(f"wrote {save_overview(ref, attempts, out)}")


@data_app.command()
def gallery(
    out: Annotated[Path, typer.Option(help="Folder for one PNG per label")] = Path("out/gallery"),
    per_label: Annotated[int, typer.Option()] = 24,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Render a gallery of each label over random characters."""
    import numpy as np

    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.datasets.render import save_label_gallery
    from kanjiwrite.datasets.synthesis import examples_by_label

    pack = load_pack()
    rng = np.random.default_rng(seed)
    refs = [pack[c] for c in rng.choice(pack.chars, 400, replace=False)]
    for label, items in examples_by_label(refs, per_label, rng).items():
        typer.echo(f"wrote {save_label_gallery(items, label, out / f'{label}.png')}")


@data_app.command()
def realism(
    tegaki: Annotated[Path, typer.Argument(help="Folder of Tegaki XML (real handwriting)")],
    repeats: Annotated[int, typer.Option(help="Synthetic attempts per character")] = 8,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Compare how far real and synthetic correct strokes stray from KanjiVG."""
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.datasets.realism import PERCENTILES, percentiles, synthetic_samples
    from kanjiwrite.datasets.tegaki import read_tegaki_folder

    pack = load_pack()
    real = [(pack[s.char], s.strokes) for s in read_tegaki_folder(tegaki) if s.char in pack]
    refs = [pack[c] for c in sorted({ref.char for ref, _ in real})]
    tables = {
        "real": percentiles(real),
        "synthetic": percentiles(synthetic_samples(refs, repeats, seed)),
    }
    typer.echo(f"{len(real)} real samples of {len(refs)} characters; percentiles {PERCENTILES}")
    for name in tables["real"]:
        for source, table in tables.items():
            typer.echo(f"{name:15s} {source:9s} " + "  ".join(f"{v:6.3f}" for v in table[name]))


@data_app.command()
def lookalikes(
    out: Annotated[Path | None, typer.Option(help="Where to write the table")] = None,
) -> None:
    """Mine the look-alike partner table the grader compares drawings with (shipped as
    datasets/data/lookalikes.json and in the app's reference pack)."""
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.datasets.lookalikes import PARTNER_TABLE, write_partner_table

    path = write_partner_table(load_pack(), out or PARTNER_TABLE)
    table = json.loads(path.read_text())["partners"]
    typer.echo(
        f"{len(table)} kanji with look-alikes, {sum(map(len, table.values()))} partners: {path}"
    )


@data_app.command()
def bench(
    seconds: Annotated[float, typer.Option(help="Measuring time, after a warm-up")] = 10.0,
    seed: Annotated[int, typer.Option()] = 0,
    all_sources: Annotated[
        bool, typer.Option(help="Other hands and look-alikes too, as training makes them")
    ] = False,
) -> None:
    """Labelled stroke samples per second on one core (generation and encoding)."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.datasets.splits import pack_splits
    from kanjiwrite.datasets.synthesis import split_extras
    from kanjiwrite.datasets.torch_data import stream_throughput

    pack = load_pack()
    chars = pack_splits(pack)["train"]
    extras = split_extras(pack, chars) if all_sources else None
    rate = stream_throughput(pack, chars, seconds, seed, extras=extras)
    typer.echo(
        f"{rate['attempts_per_s']:.0f} attempts/s "
        f"({rate['strokes_per_attempt']:.1f} labelled strokes each)"
    )
    typer.echo(f"{rate['samples_per_s']:.0f} samples/s (labelled strokes, one core)")


def training_config(config: Path | None, resume: Path | None):
    """The profile a run trains with: ``config`` (default cpu.toml) for a new run; the
    checkpoint's own for a resume (``config`` may change its budget only)."""
    from kanjiwrite.training.config import TrainConfig, resumed_config

    given = TrainConfig.load(config) if config is not None else None
    if resume is None:
        return given or TrainConfig.load(CPU_CONFIG)
    from kanjiwrite.models.grader import load_checkpoint

    try:
        return resumed_config(load_checkpoint(resume)["config"], given)
    except ValueError as error:
        typer.echo(f"kanjiwrite train --resume: {error}", err=True)
        raise typer.Exit(2) from None


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option(help="Training config (TOML; default cpu.toml, or the checkpoint's own)"),
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Checkpoint to resume from")] = None,
    tegaki: Annotated[Path | None, typer.Option(help="Real handwriting for the evaluation")] = None,
    track: Annotated[bool, typer.Option(help="Track the run in MLflow")] = True,
    register: Annotated[
        bool, typer.Option(help="Release the best checkpoint into the run folder as @candidate")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="With --register: release a model below the behaviour gate")
    ] = False,
    out_dir: Annotated[
        Path | None, typer.Option(help="Folder for run folders (default: the profile's)")
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(help="Stop training by this Unix time (a prepared run's budget)"),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Real writing for validation and calibration (a Tegaki train/ folder; "
            "overrides the profile's data.calibration)"
        ),
    ] = None,
) -> None:
    """Train the grader (DDP under torchrun), then evaluate it on rank 0, tracked in MLflow
    unless --no-track (the evaluation runs either way). SIGTERM or Ctrl-C stops training
    after the current step: saved, calibrated, logged, the MLflow run KILLED."""
    from kanjiwrite.training.interrupts import EXIT_CODES, Interrupted
    from kanjiwrite.training.run import train_and_evaluate

    if register and not track:
        raise typer.BadParameter("--register needs tracking", param_hint="--register")
    cfg = training_config(config, resume)
    if out_dir is not None:
        cfg.run.out_dir = str(out_dir)
    if calibration is not None:
        if not calibration.is_dir():
            raise typer.BadParameter(f"{calibration} is not a folder", param_hint="--calibration")
        cfg.data.calibration = str(calibration.resolve())
    try:
        result = train_and_evaluate(cfg, resume, tegaki, track, deadline)
    except Interrupted as error:  # a second signal, or one after the training loop
        typer.echo(f"stopped at once by {error} (the MLflow run is KILLED)", err=True)
        raise typer.Exit(EXIT_CODES[str(error)]) from None
    if result.checkpoint is None:
        typer.echo("nothing trained, nothing evaluated")
        return
    if result.stopped_by is not None:
        typer.echo(f"stopped by {result.stopped_by}: {result.checkpoint} saved and calibrated")
        raise typer.Exit(EXIT_CODES[result.stopped_by])
    if result.report is None:  # a torchrun rank other than 0
        return
    typer.echo(result.report["summary"])
    typer.echo(f"best checkpoint {result.checkpoint}")
    if result.run_id is not None:
        typer.echo(f"MLflow run {result.run_id}")
    if register:
        _release(result.checkpoint, result.checkpoint.parent / "release", True, force)


def _release(
    checkpoint: Path,
    out: Path | None,
    register: bool,
    force: bool = False,
    budget: float | None = None,
    cases: int = 200,
) -> None:
    from kanjiwrite.export.release import GOLDEN_BUDGET_S, ParityError
    from kanjiwrite.release import ReleaseError, release
    from kanjiwrite.training.scenarios import markdown

    try:
        report = release(checkpoint, out, register, force, budget or GOLDEN_BUDGET_S, cases)
    except ReleaseError as error:
        typer.echo(f"kanjiwrite release: {error}", err=True)
        raise typer.Exit(1) from None
    except ParityError as error:
        typer.echo(f"kanjiwrite release: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(markdown(report["scenarios"]))
    parity = report["onnx"]["parity"]
    typer.echo(f"released {report['model_id']} into {report['out']}")
    typer.echo(
        f"ONNX {report['onnx']['bytes'] / 1e6:.2f} MB; parity over {parity['items']} "
        f"items: max abs diff {parity['max_abs_diff']:.2e}, identical verdicts "
        f"{parity['identical_verdicts']}; CoreML {report['coreml']['bytes'] / 1e6:.2f} MB, "
        f"unexpected ops {report['coreml']['unexpected_ops'] or 'none'}"
    )
    if "registered" in report:
        r = report["registered"]
        typer.echo(
            f"registered models:/{r['name']}/{r['version']} as @{r['alias']} (run {r['run_id']})"
        )


@app.command("release")
def release_command(
    checkpoint: Annotated[Path, typer.Option(help="Training checkpoint (runs/.../best.pt)")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder (default: a new releases/<model id>/; 'models' ships it)"),
    ] = None,
    register: Annotated[bool, typer.Option(help="Log to the run and register in MLflow")] = True,
    force: Annotated[
        bool,
        typer.Option(
            help="Release a model below the behaviour gate or with uncovered golden cases"
        ),
    ] = False,
    golden_budget: Annotated[
        float | None,
        typer.Option(help="Seconds the golden-vector search may take (default 30)"),
    ] = None,
    scenario_cases: Annotated[int, typer.Option(help="Cases per behaviour scenario")] = 200,
) -> None:
    """Check the behaviour gate, strip, export (ONNX, CoreML, reference pack, golden
    vectors), check, log, register. A model below the gate or that cannot show every golden
    case is refused unless --force."""
    _release(checkpoint, out, register, force, golden_budget, scenario_cases)


@app.command()
def calibrate(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to calibrate in place")],
    config: Annotated[
        Path | None, typer.Option(help="Profile whose validation set to use (default: its own)")
    ] = None,
    track: Annotated[bool, typer.Option(help="Log the calibration as an MLflow run")] = True,
) -> None:
    """Refit a checkpoint's temperature and strictness thresholds on its profile's
    validation set (synthetic, other hands, look-alikes, real calibration writing). The
    result is another model: its ``model_id`` is updated and, tracked, a new MLflow run
    (linked to the training run) records it and becomes the checkpoint's run."""
    from kanjiwrite.datasets.splits import pack_splits
    from kanjiwrite.models.grader import load_checkpoint
    from kanjiwrite.training.calibration import calibrate as fit
    from kanjiwrite.training.config import TrainConfig
    from kanjiwrite.training.validation import validation_batches

    before = load_checkpoint(checkpoint)
    cfg = TrainConfig.load(config) if config else TrainConfig.from_dict(before["config"])
    after = fit(checkpoint, validation_batches(cfg, pack_splits()["val"]))
    strictness = after["strictness"]
    typer.echo(f"temperature {after['temperature']:.3f}; thresholds {strictness['thresholds']}")
    typer.echo(f"validation rates {strictness['validation_rates']}")
    typer.echo(f"model {after['calibrated_from']} -> {after['model_id']}")
    if track:
        from kanjiwrite.training.tracking import log_calibration

        run_id = log_calibration(checkpoint, before.get("mlflow_run_id"), config)
        typer.echo(f"MLflow run {run_id} (calibrated from run {before.get('mlflow_run_id')})")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="Model checkpoint")] = CHECKPOINT,
    tegaki: Annotated[Path | None, typer.Option(help="Folder of Tegaki XML")] = None,
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("out/evaluation"),
    attempts: Annotated[int, typer.Option(help="Synthetic test attempts")] = 3000,
    run_id: Annotated[str | None, typer.Option(help="Log into this MLflow run")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for PyTorch")] = 1,
    kana: Annotated[
        Path | None, typer.Option(help="Folder of Tegaki kana collections (*.charcol.gz)")
    ] = None,
    scenarios: Annotated[
        int, typer.Option(help="Only the behaviour suite, with this many cases per scenario")
    ] = 0,
) -> None:
    """Evaluate a checkpoint against the geometric baseline: the synthetic test, real
    writing (Tegaki, kana), the held-out style shift and look-alikes (report, plots, JSON).
    With --scenarios N: the learner behaviour suite only (exit 1 below the release gate)."""
    from kanjiwrite.training.evaluate import evaluate_checkpoint

    if scenarios:
        _scenarios(checkpoint, out, scenarios, run_id)
        return

    report = evaluate_checkpoint(
        checkpoint, out, tegaki=tegaki, attempts=attempts, threads=threads, kana=kana
    )
    if run_id is not None:
        from kanjiwrite.training.tracking import tracked_run

        with tracked_run(None, {}, run_id=run_id) as tracker:
            tracker.log_evaluation(report, out)
    typer.echo(report["summary"])


def _scenarios(checkpoint: Path, out: Path, cases: int, run_id: str | None) -> None:
    """The behaviour suite on a checkpoint or an ONNX file, its table, JSON and metrics."""
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.training.scenarios import gate_failures, markdown, run_scenarios

    predict, thresholds = _predictor(checkpoint)
    table = run_scenarios(predict, load_pack(), thresholds["standard"], cases=cases)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenarios.json").write_text(json.dumps(table, indent=1))
    if run_id is not None:
        from kanjiwrite.training.tracking import tracked_run

        with tracked_run(None, {}, run_id=run_id) as tracker:
            tracker.log_metrics(
                {f"scenario_{s}_{k}": v for s, row in table.items() for k, v in row.items()}
            )
    typer.echo(markdown(table))
    failures = gate_failures(table)
    typer.echo("\n".join(failures) or "passes the release gate")
    if failures:
        raise typer.Exit(1)


def _predictor(model: Path):
    """``predict`` and strictness thresholds of a checkpoint (``.pt``) or ``.onnx`` file."""
    from kanjiwrite.datasets.contract import DEFAULT_THRESHOLDS

    if model.suffix == ".onnx":
        from kanjiwrite.models.runtime import onnx_predict

        predict = onnx_predict(model)
        return predict, json.loads(predict.metadata.get("thresholds", "null")) or DEFAULT_THRESHOLDS
    from kanjiwrite.models.grader import Grader, load_checkpoint
    from kanjiwrite.models.runtime import torch_predict

    info = load_checkpoint(model)
    thresholds = (info.get("strictness") or {}).get("thresholds") or DEFAULT_THRESHOLDS
    return torch_predict(Grader.from_checkpoint(info)), thresholds


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1)")] = None,
) -> None:
    """Run the scoring service and the writing demo (settings: KANJIWRITE_* variables)."""
    import os

    import uvicorn
    from pydantic import ValidationError

    from kanjiwrite.serving.server import check_start_up, uvicorn_options
    from kanjiwrite.serving.settings import Settings

    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"KANJIWRITE_{name}"] = str(value)  # workers read their settings here
    # once, before the workers start: settings, port, rate limits, model and pack, the
    # practice store migrated; any failure is one line and exit 1 (whatever the worker count)
    try:
        settings = Settings()
        check_start_up(settings)
    except Exception as error:
        if isinstance(error, ValidationError):
            first = "; ".join(
                f"KANJIWRITE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in error.errors()
            )
        else:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        typer.echo(f"kanjiwrite serve: cannot start: {type(error).__name__}: {first}", err=True)
        raise typer.Exit(1) from None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        # every worker writes its metrics here; a scrape of any worker sums them
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kanjiwrite-metrics-")
    typer.echo(
        f"Kanji Write: demo and API on http://{settings.host}:{settings.port}/ "
        f"(API docs at /docs), model {settings.model_path}"
    )
    uvicorn.run("kanjiwrite.serving.app:create_app", factory=True, **uvicorn_options(settings))


export_app = typer.Typer(
    help="ONNX and CoreML export, app assets, parity checks.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@export_app.command("all")
def export_everything(
    checkpoint: Annotated[Path, typer.Option(help="Model checkpoint")] = CHECKPOINT,
    out: Annotated[Path, typer.Option(help="Folder for the exported files")] = Path("out/export"),
    run_id: Annotated[
        str | None, typer.Option(help="MLflow run to log into (default: the checkpoint's)")
    ] = None,
) -> None:
    """ONNX + CoreML + parity and structural checks + reference pack + golden vectors, no
    registration (``kanjiwrite release`` does all of it and registers)."""
    from kanjiwrite.export.release import ParityError, export_all

    try:
        report = export_all(checkpoint, out, run_id)
    except ParityError as error:
        typer.echo(f"export failed: {error}", err=True)
        raise typer.Exit(1) from error
    if report["training_run_id"]:
        from kanjiwrite.training import tracking

        if tracking.run_exists(report["training_run_id"]):
            with tracking.tracked_run(None, {}, run_id=report["training_run_id"]) as tracker:
                tracker.log_export(out, report)
        else:
            typer.echo(f"run {report['training_run_id']} is not in this tracking store: not logged")
    parity = report["onnx"]["parity"]
    typer.echo(
        f"ONNX {report['onnx']['bytes'] / 1e6:.2f} MB; parity over {parity['items']} "
        f"items: max abs diff {parity['max_abs_diff']:.2e}, identical verdicts "
        f"{parity['identical_verdicts']}"
    )
    typer.echo(
        f"CoreML {report['coreml']['bytes'] / 1e6:.2f} MB, spec "
        f"{report['coreml']['specification_version']}, unexpected ops "
        f"{report['coreml']['unexpected_ops'] or 'none'}"
    )


def _export_checkpoint(kind: str, checkpoint: Path, out: Path) -> None:
    """Export one format from a checkpoint, with the model metadata."""
    from kanjiwrite.export.to_coreml import export_coreml
    from kanjiwrite.export.to_onnx import export_onnx, model_metadata
    from kanjiwrite.models.grader import Grader, load_checkpoint, model_id

    info = load_checkpoint(checkpoint)
    model = Grader.from_checkpoint(info)
    exporter = {"onnx": export_onnx, "coreml": export_coreml}[kind]
    exporter(model, out, model_metadata(info, model_id(model), info.get("mlflow_run_id")))
    typer.echo(f"wrote {out}")


@export_app.command("onnx")
def export_onnx_command(
    checkpoint: Annotated[Path, typer.Option()] = CHECKPOINT,
    out: Annotated[Path, typer.Option()] = Path("out/grader.onnx"),
) -> None:
    """Export the ONNX model only."""
    _export_checkpoint("onnx", checkpoint, out)


@export_app.command("coreml")
def export_coreml_command(
    checkpoint: Annotated[Path, typer.Option()] = CHECKPOINT,
    out: Annotated[Path, typer.Option()] = Path("out/grader.mlpackage"),
) -> None:
    """Export the CoreML model only."""
    _export_checkpoint("coreml", checkpoint, out)


@export_app.command("quantize-check")
def export_quantize_check(
    onnx: Annotated[Path, typer.Option()] = ONNX_MODEL,
    out: Annotated[Path, typer.Option()] = Path("out/grader.int8.onnx"),
    attempts: Annotated[int, typer.Option()] = 600,
) -> None:
    """Measure int8 dynamic quantisation against fp32 (size, speed, accuracy)."""

    from kanjiwrite.export.quantize import quantization_report

    out.parent.mkdir(parents=True, exist_ok=True)
    typer.echo(json.dumps(quantization_report(onnx, out, attempts), indent=1))


bench_app = typer.Typer(help="Benchmarks that print figures (not tests).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("model")
def bench_model(
    onnx: Annotated[Path, typer.Option()] = ONNX_MODEL,
    checkpoint: Annotated[Path, typer.Option()] = CHECKPOINT,
    coreml: Annotated[Path, typer.Option()] = COREML_MODEL,
    repeats: Annotated[int, typer.Option()] = 500,
) -> None:
    """Model sizes; ONNX Runtime vs PyTorch latency on one core (20-stroke kanji)."""

    from kanjiwrite.export.benchmark import benchmark

    typer.echo(json.dumps(benchmark(onnx, checkpoint, coreml, repeats), indent=1))


@bench_app.command("service")
def bench_service(
    workers: Annotated[int, typer.Option()] = 2,
    seconds: Annotated[float, typer.Option(help="Duration of the concurrent phase")] = 30.0,
    clients: Annotated[int, typer.Option()] = 16,
    baseline: Annotated[
        Path | None, typer.Option(help="Another checkout (with its .venv): its service too")
    ] = None,
) -> None:
    """Latency and throughput of the service on 127.0.0.1 (bounded load, wrk) for the
    realistic mix, with its in-process stage profile."""

    from kanjiwrite.serving.benchmark import run

    typer.echo(json.dumps(run(workers, seconds, clients, baseline), indent=1))


@bench_app.command("profile")
def bench_profile(
    record: Annotated[
        bool, typer.Option(help="Record each stage's highest ratio of 3 runs (CI's figures)")
    ] = False,
) -> None:
    """The in-process stage profile of the fixed mix (what CI checks against the recorded
    ratios: a stage over twice its recorded ratio fails)."""
    import json

    from kanjiwrite.serving.profile import RECORDED, STAGES, realistic_mix, stage_profile

    mix = realistic_mix(count=60)
    runs = [stage_profile(mix) for _ in range(3 if record else 1)]
    if record:
        highest = {s: max(run["ratios"][s] for run in runs) for s in STAGES}
        RECORDED.write_text(json.dumps(highest, indent=1) + "\n")
    typer.echo(json.dumps(runs[-1], indent=1))


@bench_app.command("costs")
def bench_costs(
    repeats: Annotated[int, typer.Option()] = 5,
    kanji: Annotated[
        str | None, typer.Option(help="Another kanji (default: the costliest)")
    ] = None,
) -> None:
    """Per-request cost of the largest valid /v1/score and review on the kanji costliest to
    grade (most strokes x stroke orders), on one core (budgets: 50 ms and 100 ms)."""

    from kanjiwrite.serving.benchmark import request_costs

    typer.echo(json.dumps(request_costs(repeats, kanji), indent=1, ensure_ascii=False))


@bench_app.command("stats")
def bench_stats(repeats: Annotated[int, typer.Option()] = 5) -> None:
    """The stats view's cost at 0 / 10k / 100k / 300k review logs on SQLite (budget 50 ms),
    beside reading every log."""
    import json

    from kanjiwrite.serving.benchmark import stats_costs

    typer.echo(json.dumps(stats_costs(repeats=repeats), indent=1))


if __name__ == "__main__":
    app()
