"""The ML engineer's workflow on the smoke model: a tracked run, ``kanjiwrite release``
into a new folder, the registered model through MLflow's standard pyfunc interface, and
the service serving the release with its model id."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kanjiwrite.cli import app
from kanjiwrite.datasets.contract import LABELS
from kanjiwrite.export.app_assets import read_binary_pack
from kanjiwrite.models.decoding import build_batch
from kanjiwrite.models.grader import load_checkpoint
from kanjiwrite.models.runtime import onnx_predict

REPO = Path(__file__).resolve().parents[1]
WEAK = ("--golden-budget", "5", "--scenario-cases", "3")  # bounded searches for the smoke model


@pytest.fixture(scope="module")
def released(tmp_path_factory, pack, tegaki_fixture):
    """A tracked smoke run released with ``kanjiwrite release`` (working directory: a
    temporary folder holding mlflow.db)."""
    root = tmp_path_factory.mktemp("workflow")
    config = root / "smoke.toml"
    config.write_text(
        (REPO / "training/configs/smoke.toml")
        .read_text()
        .replace('out_dir = "runs/smoke"', f'out_dir = "{root / "runs"}"')
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        tegaki = tegaki_fixture(root / "tegaki")
        trained = CliRunner().invoke(
            app, ["train", "--config", str(config), "--tegaki", str(tegaki)]
        )
        assert trained.exit_code == 0, trained.output
        (best,) = (root / "runs").glob("smoke-*/best.pt")
        refused = (
            CliRunner().invoke(  # a smoke model: below the behaviour gate, golden cases uncovered
                app, ["release", "--checkpoint", str(best), "--out", str(root / "weak"), *WEAK]
            )
        )
        out = root / "release"
        result = CliRunner().invoke(
            app, ["release", "--checkpoint", str(best), "--out", str(out), "--force", *WEAK]
        )
        assert result.exit_code == 0, result.output
    yield {"root": root, "best": best, "out": out, "output": result.output, "refused": refused}


@pytest.fixture
def tracking(released, monkeypatch):
    """MLflow pointed at the workflow's store (for this test only)."""
    import mlflow

    uri = f"sqlite:///{released['root'] / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return mlflow


def test_release_writes_checked_files_with_one_model_id(released, pack):
    out = released["out"]
    assert (out / "grader.pt").exists() and (out / "grader.onnx").exists()
    app_files = ("reference-pack.kwrp", "golden_vectors.json", "prompts.json", "manifest.json")
    assert all((out / "app" / name).exists() for name in app_files)
    assert (out / "app" / "grader.mlpackage" / "Manifest.json").exists()
    report = json.loads((out / "export_report.json").read_text())
    model_id = report["model_id"]
    version, digest = model_id.split("+")
    assert version and len(digest) == 8 and f"released {model_id}" in released["output"]
    assert report["onnx"]["parity"]["identical_verdicts"]
    stripped = load_checkpoint(out / "grader.pt")
    assert stripped["optimizer"] is None and stripped["model_id"] == model_id
    assert stripped["mlflow_run_id"] == load_checkpoint(released["best"])["mlflow_run_id"]
    props = {p.key: p.value for p in onnx.load(str(out / "grader.onnx")).metadata_props}
    assert props["model_id"] == model_id and props["pack_version"] == pack.version
    header, _ = read_binary_pack(out / "app" / "reference-pack.kwrp")
    assert header["model_id"] == model_id and header["pack_version"] == pack.version


def test_release_is_logged_to_the_training_run_and_registered_as_candidate(released, tracking):
    client = tracking.MlflowClient()
    version = client.get_model_version_by_alias("kanjiwrite-grader", "candidate")
    run = client.get_run(version.run_id)
    model_id = json.loads((released["out"] / "export_report.json").read_text())["model_id"]
    assert version.run_id == load_checkpoint(released["best"])["mlflow_run_id"]
    assert run.data.tags["model_id"] == model_id and len(run.data.tags["git_commit"]) == 40
    assert "real_japanese_fixture1_false_reject" in run.data.metrics
    assert version.tags["model_id"] == model_id and "test_false_accept" in version.tags
    assert model_id in version.description and "KanjiVG" in version.description
    exported = {a.path for a in client.list_artifacts(run.info.run_id, "export")}
    assert {"export/grader.onnx", "export/export_report.json", "export/app"} <= exported


def test_registered_model_predicts_through_pyfunc_for_any_stroke_count(released, pack, tracking):
    model = tracking.pyfunc.load_model("models:/kanjiwrite-grader@candidate")
    inputs = model.metadata.get_input_schema().input_names()
    assert inputs == ["drawn", "drawn_mask", "reference", "reference_mask"]
    assert model.metadata.saved_input_example_info is not None  # logged with the model
    runtime = onnx_predict(released["out"] / "grader.onnx")
    ref = pack["書"]
    for drawn in (2, 7):  # two stroke counts, two accepted orders or one: open axes
        batch, _ = build_batch(ref, [s * 3 + 20 for s in ref.strokes[:drawn]], (400, 400))
        outputs = model.predict(batch)  # build_batch's arrays as they are
        verdict, match = runtime(batch)
        assert outputs["verdict_probs"].shape == (len(ref.orders()) * drawn, drawn, len(LABELS))
        np.testing.assert_allclose(outputs["verdict_probs"], verdict, atol=1e-6)
        np.testing.assert_allclose(outputs["match_probs"], match, atol=1e-6)


def test_release_refuses_a_used_folder_and_defaults_to_a_new_one(released, tracking, monkeypatch):
    again = CliRunner().invoke(
        app, ["release", "--checkpoint", str(released["best"]), "--out", str(released["out"])]
    )
    assert again.exit_code != 0 and "not empty" in again.output
    monkeypatch.chdir(released["root"])
    fresh = CliRunner().invoke(
        app, ["release", "--checkpoint", str(released["best"]), "--no-register", "--force", *WEAK]
    )
    assert fresh.exit_code == 0, fresh.output
    model_id = json.loads((released["out"] / "export_report.json").read_text())["model_id"]
    again = released["root"] / "releases" / model_id
    assert (again / "grader.onnx").exists()
    # the same checkpoint exported twice: the same bytes (the golden cases of a weak model
    # depend on how far a time-bounded search got, so they are left out here)
    for name in ("grader.onnx", "app/manifest.json"):
        first, second = ((d / name).read_bytes() for d in (released["out"], again))
        if name.endswith("manifest.json"):
            first, second = (
                [f for f in json.loads(m)["files"] if f["name"] != "golden_vectors.json"]
                for m in (first, second)
            )
        assert first == second, name


def test_a_model_below_the_behaviour_gate_is_refused(released, tracking):
    refused = released["refused"]
    assert refused.exit_code != 0 and "below the behaviour gate" in refused.output
    assert "--force" in refused.output and not (released["root"] / "weak").exists()
    client = tracking.MlflowClient()
    versions = client.search_model_versions("name='kanjiwrite-grader'")
    assert len(versions) == 1  # only the forced release was registered
    report = json.loads((released["out"] / "export_report.json").read_text())
    assert report["golden_uncovered"]
    package = released["out"] / "app" / "grader.mlpackage"
    assert not (package / "executorch_debug_handle_mapping.json").exists()
    manifest = json.loads((package / "Manifest.json").read_text())
    assert all(len(key) == 36 for key in manifest["itemInfoEntries"])


def test_the_service_serves_the_release_and_says_its_model_id(released, tmp_path):
    from kanjiwrite.serving.app import create_app
    from kanjiwrite.serving.db import migrate
    from kanjiwrite.serving.settings import Settings

    url = f"sqlite:///{tmp_path}/practice.db"
    migrate(url)
    settings = Settings(model_path=released["out"] / "grader.onnx", database_url=url)
    model_id = json.loads((released["out"] / "export_report.json").read_text())["model_id"]
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["model_id"] == model_id
        body = {"kanji": "十", "strokes": [[[20, 55], [90, 54]]]}
        assert client.post("/v1/score", json=body).json()["model_id"] == model_id


def test_the_service_refuses_a_model_made_for_another_pack(released, tmp_path):
    from kanjiwrite.serving.scorer import Scorer
    from kanjiwrite.serving.settings import Settings

    proto = onnx.load(str(released["out"] / "grader.onnx"))
    for prop in proto.metadata_props:
        if prop.key == "pack_version":
            prop.value = "kvg19990101-p0"
    onnx.save(proto, str(tmp_path / "other.onnx"))
    with pytest.raises(RuntimeError, match="made for reference pack kvg19990101-p0"):
        Scorer(Settings(model_path=tmp_path / "other.onnx"))


def test_a_diverging_onnx_export_fails_the_release(released, tracking, monkeypatch):
    """An ONNX export that is not the checkpoint's model (weights perturbed on the way) is
    caught by the parity check: the release fails, no ONNX file is left, nothing is
    registered."""
    import copy

    import torch

    from kanjiwrite.export import release as export_release

    export_onnx = export_release.export_onnx

    def perturbed(model, path, metadata):
        diverged = copy.deepcopy(model)
        with torch.no_grad():
            for parameter in diverged.parameters():
                parameter.add_(0.01 * torch.randn_like(parameter))
        return export_onnx(diverged, path, metadata)

    monkeypatch.setattr(export_release, "export_onnx", perturbed)
    client = tracking.MlflowClient()
    versions = len(client.search_model_versions("name='kanjiwrite-grader'"))
    out = released["root"] / "diverged"
    result = CliRunner().invoke(  # --force: past the gates, to the parity check
        app, ["release", "--checkpoint", str(released["best"]), "--out", str(out), "--force", *WEAK]
    )
    assert result.exit_code == 1 and "differs from the PyTorch model" in result.output
    assert not list(out.glob("*.onnx")) and not (out / "app").exists()
    assert len(client.search_model_versions("name='kanjiwrite-grader'")) == versions
