"""Training (single process and torchrun DDP), checkpoints, resume, MLflow tracking."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from kanjiwrite.models.grader import Grader, GraderConfig, load_checkpoint, loss_fn
from kanjiwrite.training.train import TrainConfig, fit_temperature, train

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "training" / "configs" / "smoke.toml"


def smoke_config(tmp_path: Path) -> Path:
    """The smoke profile writing into ``tmp_path``."""
    text = SMOKE.read_text().replace('out_dir = "runs/smoke"', f'out_dir = "{tmp_path / "run"}"')
    path = tmp_path / "smoke.toml"
    path.write_text(text)
    return path


def test_configs_parse_and_profiles_exist():
    for name in ("cpu", "gpu", "smoke"):
        cfg = TrainConfig.load(REPO / "training" / "configs" / f"{name}.toml")
        assert cfg.name == name and cfg.model.d_model % cfg.model.heads == 0
    assert TrainConfig.load(REPO / "training/configs/cpu.toml").max_minutes <= 20
    assert tomllib.loads((REPO / "training/configs/gpu.toml").read_text())["run"]["amp"] is True


def test_profiles_hold_only_what_differs_from_the_defaults():
    defaults = TrainConfig().to_dict()
    for path in (REPO / "training" / "configs").glob("*.toml"):
        raw = tomllib.loads(path.read_text())
        for key, value in raw.items():
            if isinstance(value, dict):
                for name, setting in value.items():
                    assert setting != defaults[key][name], f"{path.name}: {key}.{name} is a default"
            elif key != "name":
                assert value != defaults[key], f"{path.name}: {key} is a default"


def test_model_is_causal_over_drawn_strokes():
    torch.manual_seed(0)
    model = Grader(GraderConfig(d_model=32, heads=2, layers=2, conv_channels=16)).eval()
    drawn, reference = torch.randn(1, 5, 32, 6), torch.randn(1, 7, 32, 6)
    masks = torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 7, dtype=torch.bool)
    before, _ = model(drawn, masks[0], reference, masks[1])
    changed = drawn.clone()
    changed[:, 3:] += 1.0  # later strokes change
    after, _ = model(changed, masks[0], reference, masks[1])
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])
    # padding strokes do not change the real ones
    padded, _ = model(
        torch.cat([drawn, torch.zeros(1, 2, 32, 6)], 1),
        torch.tensor([[True] * 5 + [False] * 2]),
        reference,
        masks[1],
    )
    torch.testing.assert_close(before, padded[:, :5], atol=1e-5, rtol=1e-5)


def test_loss_ignores_padding_and_learns():
    torch.manual_seed(0)
    model = Grader(GraderConfig(d_model=32, heads=2, layers=1, conv_channels=16))
    drawn, reference = torch.randn(4, 3, 32, 6), torch.randn(4, 3, 32, 6)
    mask = torch.ones(4, 3, dtype=torch.bool)
    labels = torch.tensor([[0, 1, -100]] * 4)
    matched = torch.tensor([[0, 1, -100]] * 4)
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(30):
        loss, _ = loss_fn(*model(drawn, mask, reference, mask), labels, matched)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_temperature_scaling_fixes_overconfidence():
    torch.manual_seed(0)
    labels = torch.randint(0, 6, (4000,))
    logits = torch.randn(4000, 6)
    logits[torch.arange(4000), labels] += 1.0
    temperature = fit_temperature(logits * 5.0, labels)  # 5x too confident
    assert 3.5 < temperature < 6.5


def test_train_saves_best_with_config_data_version_and_resumes(tmp_path, pack):
    cfg = TrainConfig.load(smoke_config(tmp_path))
    best = train(cfg)
    checkpoint = load_checkpoint(best)
    model = Grader.from_checkpoint(checkpoint)
    assert checkpoint["config"]["model"]["d_model"] == 32 and checkpoint["config"]["seed"] == 7
    assert checkpoint["data"]["pack_version"] == pack.version
    assert checkpoint["data"]["split_seed"] and "synthesis" in checkpoint["data"]
    assert "val_verdict_accuracy" in checkpoint["metrics"] and checkpoint["epoch"] >= 1
    assert float(model.temperature) == pytest.approx(checkpoint["temperature"])
    last = Path(cfg.run.out_dir) / "last.pt"
    steps = torch.load(last, weights_only=False)["step"]
    cfg.optim.epochs = 3
    train(cfg, resume=last)
    resumed = torch.load(last, weights_only=False)
    assert resumed["epoch"] == 3 and resumed["step"] > steps


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, pack):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun is installed with torch"
    config = smoke_config(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "kanjiwrite.cli",
            "train",
            "--config",
            str(config),
            "--no-track",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "run" / "best.pt").exists()
    assert "epoch 2:" in result.stdout  # rank 0 validated both epochs


def test_train_command_tracks_in_mlflow(tmp_path, monkeypatch, pack):
    from typer.testing import CliRunner

    from kanjiwrite.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(app, ["train", "--config", str(smoke_config(tmp_path))])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlflow.db").exists()
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("kanjiwrite-grader").experiment_id])
    assert run.data.params["model.d_model"] == "32"
    assert "val_verdict_accuracy" in run.data.metrics and "test_false_reject" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2  # per epoch
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {
        "evaluation/metrics.json",
        "evaluation/roc.png",
        "evaluation/confusion.png",
        "evaluation/reliability.png",
        "evaluation/accuracy_by_stroke_count.png",
    } <= artifacts
    versions = client.search_model_versions("name='kanjiwrite-grader'")
    assert versions and versions[0].run_id == run.info.run_id
