"""Training (single process and torchrun DDP), checkpoints, resume, MLflow tracking."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from kanjiwrite.datasets.contract import LABELS, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.models.grader import Grader, GraderConfig, load_checkpoint, loss_fn
from kanjiwrite.training.calibration import TEMPERATURE_BOUNDS, fit_temperature
from kanjiwrite.training.config import TrainConfig
from kanjiwrite.training.train import train

STROKE = (POINTS_PER_STROKE, len(FEATURES))  # points x features of one model-input stroke

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
    drawn, reference = torch.randn(1, 5, *STROKE), torch.randn(1, 7, *STROKE)
    masks = torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 7, dtype=torch.bool)
    before, _ = model(drawn, masks[0], reference, masks[1])
    changed = drawn.clone()
    changed[:, 3:] += 1.0  # later strokes change
    after, _ = model(changed, masks[0], reference, masks[1])
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])
    # padding strokes do not change the real ones
    padded, _ = model(
        torch.cat([drawn, torch.zeros(1, 2, *STROKE)], 1),
        torch.tensor([[True] * 5 + [False] * 2]),
        reference,
        masks[1],
    )
    torch.testing.assert_close(before, padded[:, :5], atol=1e-5, rtol=1e-5)


def test_loss_ignores_padding_and_learns():
    torch.manual_seed(0)
    model = Grader(GraderConfig(d_model=32, heads=2, layers=1, conv_channels=16))
    drawn, reference = torch.randn(4, 3, *STROKE), torch.randn(4, 3, *STROKE)
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
    labels = torch.randint(0, len(LABELS), (4000,))
    logits = torch.randn(4000, len(LABELS))
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
    steps = load_checkpoint(last)["step"]
    cfg.optim.epochs = 3
    train(cfg, resume=last)
    resumed = load_checkpoint(last)
    assert resumed["epoch"] == 3 and resumed["step"] > steps


def test_resuming_a_finished_run_does_nothing_and_says_so(tmp_path, pack, capsys):
    cfg = TrainConfig.load(smoke_config(tmp_path))
    train(cfg)
    last = Path(cfg.run.out_dir) / "last.pt"
    before = last.stat().st_mtime_ns
    assert train(cfg, resume=last) is None
    assert "nothing left to do" in capsys.readouterr().out
    assert last.stat().st_mtime_ns == before


def test_temperature_fit_is_bounded():
    torch.manual_seed(0)
    labels = torch.randint(0, len(LABELS), (2000,))
    tiny = torch.randn(2000, len(LABELS)) * 0.001  # an untrained model's logits
    right, wrong = tiny.clone(), tiny.clone()
    right[torch.arange(2000), labels] += 0.01  # always right: T would go to 0
    wrong[torch.arange(2000), (labels + 1) % 6] += 0.01  # always wrong: T would go to infinity
    assert (fit_temperature(right, labels), fit_temperature(wrong, labels)) == TEMPERATURE_BOUNDS


def test_train_command_tracks_in_mlflow_and_resume_reattaches(
    tmp_path, monkeypatch, pack, tegaki_fixture
):
    from typer.testing import CliRunner

    from kanjiwrite.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tegaki = tegaki_fixture(tmp_path / "tegaki")
    config = smoke_config(tmp_path)
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--tegaki", str(tegaki)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlflow.db").exists()
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("kanjiwrite-grader").experiment_id
    (run,) = client.search_runs([experiment])
    name = run.info.run_name
    assert name.startswith("smoke-") and len(name) == len("smoke-20261127-101010-abcd")
    tags = run.data.tags
    assert len(tags["git_commit"]) == 40 and tags["git_dirty"] in ("True", "False")
    assert tags["pack_version"] == pack.version and tags["kanjivg_version"]
    assert tags["tegaki"] == str(tegaki.resolve()) and tags["stopped_by"] == "epochs"
    assert run.data.params["model.d_model"] == "32"
    metrics = run.data.metrics
    for key in (
        "val_verdict_accuracy",
        "test_false_reject",
        "test_ece",
        "temperature",
        "real_japanese_fixture1_false_reject",
        "real_japanese_fixture1_false_accept",
        "target_false_accept_met",
    ):
        assert key in metrics, key
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2  # per epoch
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/metrics.json", "evaluation/roc.png", "evaluation/reliability.png"} <= (
        artifacts
    )
    assert client.search_model_versions("name='kanjiwrite-grader'") == []  # only on request
    folder = tmp_path / "run" / name
    assert load_checkpoint(folder / "best.pt")["mlflow_run_id"] == run.info.run_id

    # resuming the finished run: nothing to do, said clearly, no new run
    again = CliRunner().invoke(
        app, ["train", "--config", str(config), "--resume", str(folder / "last.pt")]
    )
    assert again.exit_code == 0 and "nothing left to do" in again.output
    assert len(client.search_runs([experiment])) == 1
    # resuming with more epochs continues in the same folder and the same MLflow run
    longer = tmp_path / "longer.toml"
    longer.write_text(config.read_text().replace("epochs = 2", "epochs = 3"))
    more = CliRunner().invoke(
        app, ["train", "--config", str(longer), "--resume", str(folder / "last.pt")]
    )
    assert more.exit_code == 0, more.output
    assert len(client.search_runs([experiment])) == 1
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    assert load_checkpoint(folder / "last.pt")["epoch"] == 3


def test_strictness_thresholds_meet_their_stated_rates():
    from kanjiwrite.training.calibration import STRICTNESS_TARGETS, strictness_thresholds

    rng = np.random.default_rng(0)
    correct = rng.random(20000) < 0.7
    p = np.where(correct, rng.beta(8, 1.2, 20000), rng.beta(1.2, 6, 20000))
    fitted = strictness_thresholds(p, correct)
    low, standard, high = (fitted["thresholds"][k] for k in ("lenient", "standard", "strict"))
    assert low <= standard == 0.5 <= high
    rates = fitted["validation_rates"]
    assert rates["lenient"]["false_reject"] <= STRICTNESS_TARGETS["lenient"][1]
    assert rates["strict"]["false_accept"] <= STRICTNESS_TARGETS["strict"][1]
    assert rates["lenient"]["false_accept"] >= rates["standard"]["false_accept"]


def test_checkpoints_load_weights_only_and_old_ones_still_load(tmp_path, pack):
    import pickle

    from kanjiwrite.models.grader import model_id

    shipped = load_checkpoint(REPO / "models" / "grader.pt")  # stored a TorchVersion object
    assert model_id(Grader.from_checkpoint(shipped)) == shipped["model_id"]
    cfg = TrainConfig.load(smoke_config(tmp_path))
    best = train(cfg)
    saved = load_checkpoint(best)
    assert type(saved["torch_version"]) is str
    unsafe = dict(saved, extra=Path("anything"))  # a pickled object: code would run
    torch.save(unsafe, tmp_path / "unsafe.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(tmp_path / "unsafe.pt")


def test_a_time_budget_ends_the_schedule_annealed(tmp_path, pack):
    """Cut by its deadline, long before its epochs, a run still ends at the cosine's end."""
    import time

    cfg = TrainConfig.load(smoke_config(tmp_path))
    cfg.optim.epochs = 1000
    cfg.max_minutes = 60.0
    train(cfg, deadline=time.time() + 20)
    last = load_checkpoint(Path(cfg.run.out_dir) / "last.pt")
    assert last["stopped_by"] == "deadline" and last["epoch"] < 1000
    assert last["optimizer"]["param_groups"][0]["lr"] < 0.05 * cfg.optim.lr


def test_compile_falls_back_to_eager_on_any_batch(monkeypatch):
    """torch.compile that fails on a later batch shape (a recompilation) is dropped there:
    that batch and all after it run eager."""
    from types import SimpleNamespace

    from kanjiwrite.training import train as training

    model = Grader(GraderConfig(d_model=16, heads=2, layers=1, conv_channels=8)).eval()
    calls = []

    def flaky(module):
        def run(*inputs):
            calls.append(len(calls))
            if len(calls) > 1:
                raise RuntimeError("recompilation failed")
            return module(*inputs)

        return run

    monkeypatch.setattr(torch, "compile", flaky)
    session = SimpleNamespace(
        cfg=TrainConfig(),
        device=torch.device("cpu"),
        compile=True,
        compiled=None,
        ddp=model,
    )
    from kanjiwrite.models.runtime import example_tensors

    names = ("drawn", "drawn_mask", "reference", "reference_mask")
    for size in (3, 4, 5):
        batch = dict(zip(names, example_tensors(drawn=size), strict=True))
        verdict, _ = training.forward(session, batch)
        assert verdict.shape[1] == size
    assert calls == [0, 1] and session.compile is False  # tried twice, eager after that


def test_stop_requests_defer_the_first_signal_and_raise_on_the_second():
    import signal

    from kanjiwrite.training.interrupts import Interrupted, StopRequests

    requests = StopRequests()
    with requests.installed(), requests.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        assert requests.signal == "SIGINT"
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
    ended = []
    requests.on_interrupt.append(lambda: ended.append("KILLED"))  # e.g. the MLflow run
    with requests.installed(), pytest.raises(Interrupted):  # outside the loop: at once
        os.kill(os.getpid(), signal.SIGTERM)
    assert ended == ["KILLED"]


def test_sigterm_saves_calibrates_and_marks_the_run_killed(tmp_path, pack):
    """SIGTERM mid-training (Ctrl-C is handled alike): the loop stops after its step, saves
    and calibrates best.pt, skips the evaluation, the MLflow run ends KILLED, exit 143."""
    import signal
    import time

    import mlflow

    config = tmp_path / "long.toml"
    config.write_text(smoke_config(tmp_path).read_text().replace("epochs = 2", "epochs = 500"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    process = subprocess.Popen(
        [sys.executable, "-m", "kanjiwrite.cli", "train", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:  # wait for the first epoch's validation
        lines.append(line)
        if line.startswith("epoch 1.00"):
            break
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    output = "".join(lines) + output
    assert process.returncode == 143, output[-2000:]
    assert "SIGTERM: stopping after this step" in output and "stopped by SIGTERM" in output
    (run_dir,) = (tmp_path / "run").iterdir()
    last, best = load_checkpoint(run_dir / "last.pt"), load_checkpoint(run_dir / "best.pt")
    assert last["stopped_by"] == "SIGTERM" and last["epoch"] < 500
    assert best["model_id"] and "strictness" in best  # calibrated
    assert not (run_dir / "evaluation").exists()
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    (run,) = client.search_runs([client.get_experiment_by_name("kanjiwrite-grader").experiment_id])
    assert run.info.status == "KILLED" and run.data.tags["stopped_by"] == "SIGTERM"
    assert time.time() - run.info.end_time / 1000 < 300


def test_resume_takes_the_checkpoints_config_and_refuses_another(tmp_path, pack):
    from typer.testing import CliRunner

    from kanjiwrite.cli import app

    cfg = TrainConfig.load(smoke_config(tmp_path))
    train(cfg)
    last = Path(cfg.run.out_dir) / "last.pt"
    before = last.stat().st_mtime_ns
    # no --config: the checkpoint's own (not cpu.toml), and a finished run stays as it is
    same = CliRunner().invoke(app, ["train", "--resume", str(last), "--no-track"])
    assert same.exit_code == 0 and "nothing left to do" in same.output, same.output
    other = CliRunner().invoke(
        app,
        ["train", "--resume", str(last), "--config", str(REPO / "training/configs/cpu.toml")],
    )
    assert other.exit_code == 2
    (line,) = other.output.strip().splitlines()
    assert "model.d_model 32 -> 96" in line and "resume without --config" in line
    assert last.stat().st_mtime_ns == before


def test_calibrate_updates_the_model_id_and_logs_a_linked_run(tmp_path, monkeypatch, pack):
    import mlflow
    from typer.testing import CliRunner

    from kanjiwrite.cli import app
    from kanjiwrite.models.grader import model_id

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cfg = TrainConfig.load(smoke_config(tmp_path))
    best = train(cfg)
    stale = load_checkpoint(best)
    stale["model"]["temperature"].fill_(3.0)  # as if calibrated on other data
    stale["mlflow_run_id"] = "a0" * 16
    torch.save(stale, best)
    before = model_id(Grader.from_checkpoint(load_checkpoint(best)))
    result = CliRunner().invoke(app, ["calibrate", "--checkpoint", str(best)])
    assert result.exit_code == 0, result.output
    after = load_checkpoint(best)
    assert after["model_id"] == model_id(Grader.from_checkpoint(after)) != before
    assert (
        after["calibrated_from"] == before and f"{before} -> {after['model_id']}" in result.output
    )
    run = mlflow.MlflowClient().get_run(after["mlflow_run_id"])
    assert run.data.tags["training_run_id"] == "a0" * 16
    assert run.data.tags["model_id"] == after["model_id"] and "temperature" in run.data.metrics
