"""``kanjiwrite release``: from a training checkpoint to the files that ship.

Strips the checkpoint, exports ONNX, CoreML, the app's reference pack and golden vectors,
checks parity and structure (``export.release.export_all``), logs it all to the checkpoint's
training run and registers the ONNX model in MLflow: ``@candidate`` for a new release,
``@champion`` for the one written into the package's ``models/`` (only with an explicit
``--out models``). Without ``--out`` it writes a new folder ``releases/<model id>/``.
"""

from __future__ import annotations

from pathlib import Path

from kanjiwrite.export.release import GOLDEN_BUDGET_S, UncoveredGoldenCases, export_all
from kanjiwrite.models import shipped
from kanjiwrite.models.grader import Grader, load_checkpoint, model_id, strip_checkpoint


class ReleaseError(Exception):
    pass


def shipped_folder() -> Path:
    """The package's ``models/`` folder (what ``kanjiwrite serve`` serves by default)."""
    return shipped("grader.onnx").parent


def behaviour_gate(info: dict, cases: int, force: bool) -> dict:
    """The behaviour suite (``training.scenarios``) on the checkpoint at its standard
    threshold; raises ``ReleaseError`` when the model is below ``GATE`` (unless ``force``)."""
    from kanjiwrite.datasets.kanjivg import load_pack
    from kanjiwrite.models.runtime import torch_predict
    from kanjiwrite.training.scenarios import gate_failures, run_scenarios

    accept = info["strictness"]["thresholds"]["standard"] if info.get("strictness") else 0.5
    predict = torch_predict(Grader.from_checkpoint(info))
    table = run_scenarios(predict, load_pack(), accept, cases=cases)
    failures = gate_failures(table)
    if failures and not force:
        raise ReleaseError(
            "below the behaviour gate (--force releases it anyway): " + "; ".join(failures)
        )
    return table


def release(
    checkpoint: Path,
    out: Path | None = None,
    register: bool = True,
    force: bool = False,
    golden_budget_s: float = GOLDEN_BUDGET_S,
    scenario_cases: int = 200,
) -> dict:
    """Release ``checkpoint`` into ``out`` (see module doc); returns the export report with
    the model id, the behaviour table, the run it was logged to and the registered version.
    A model below the behaviour gate (``training.scenarios.GATE``), or whose golden vectors
    leave cases of the app's contract uncovered after a bounded search (``golden_budget_s``),
    is refused (``ReleaseError``: nothing written or registered) unless ``force``, which
    releases it with the gaps recorded."""
    info = load_checkpoint(checkpoint)
    identity = model_id(Grader.from_checkpoint(info))
    out = Path(out) if out is not None else Path("releases") / identity
    champion = out.resolve() == shipped_folder().resolve()
    if not champion and out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty: a release goes into a new folder")
    scenarios = behaviour_gate(info, scenario_cases, force)
    run_id = info.get("mlflow_run_id")
    try:  # the golden search comes first: a refused model writes nothing
        report = export_all(checkpoint, out, run_id, golden_budget_s, allow_uncovered=force)
    except UncoveredGoldenCases as error:
        raise ReleaseError(
            f"{error} after a {golden_budget_s:g} s search: the model cannot show them "
            "clearly; not released (--force releases it anyway)"
        ) from None
    report["scenarios"] = scenarios
    strip_checkpoint(checkpoint, out / "grader.pt", run_id)
    if register:
        from kanjiwrite.training import tracking

        known = bool(run_id) and tracking.run_exists(run_id)
        with tracking.tracked_run(
            None if known else f"release-{identity}",
            {},
            run_id=run_id if known else None,
            tags=None if known else {"training_run_id": run_id or "", **tracking.git_tags()},
        ) as tracker:
            tracker.log_export(out, report)
            alias = tracking.CHAMPION if champion else tracking.CANDIDATE
            version = tracker.register(out / "grader.onnx", identity, alias)
            report["registered"] = {
                "name": tracking.REGISTERED_MODEL,
                "version": version,
                "alias": alias,
                "run_id": tracker.run_id,
            }
    report["out"] = str(out)
    return report
