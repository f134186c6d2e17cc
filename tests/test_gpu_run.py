"""training/gpu_run.sh, the prepared device run: its budget, its CPU path end to end, and
the offline wheel set it installs from."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_training import REPO, smoke_config

SCRIPT = REPO / "training" / "gpu_run.sh"


def run_script(out: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        **env,
    )
    return subprocess.run(
        ["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_cpu_path_two_gloo_processes_finishes_inside_its_timeout(tmp_path, pack, tegaki_fixture):
    """torchrun, 2 processes (gloo), the smoke profile, TIMEOUT=150: training stops by its
    plan, rank 0 calibrates on the calibration writing, evaluates, and the MLflow run in
    the output folder ends FINISHED with its artifacts beside the store."""
    limit = 150
    out = tmp_path / "out"
    result = run_script(
        out,
        {
            "CONFIG": str(smoke_config(tmp_path)),
            "NPROC": "2",
            "TIMEOUT": str(limit),
            "CALIBRATE_S": "10",
            "EVALUATE_S": "45",
            "REGISTER_S": "15",
            "MARGIN_S": "15",
            "TEGAKI": str(tegaki_fixture(tmp_path / "eval")),
            "CALIBRATION": str(tegaki_fixture(tmp_path / "train")),
        },
        timeout=limit + 60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    budget = json.loads((out / "budget.json").read_text())
    parts = ("startup_s", "training_s", "calibration_s", "evaluation_s", "registration_s")
    assert sum(budget[k] for k in parts) + budget["margin_s"] == budget["timeout_s"] == limit
    elapsed = int(result.stdout.split("finished with status 0 after ")[1].split()[0])
    assert elapsed <= limit
    (run,) = [p for p in out.iterdir() if p.is_dir() and p.name.startswith("smoke-")]
    report = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert "japanese-fixture1" in report["real"]["writers"]
    assert "2 process(es)" in result.stdout and "epoch 2.00:" in result.stdout
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    (tracked,) = client.search_runs(
        [client.get_experiment_by_name("kanjiwrite-grader").experiment_id]
    )
    assert tracked.info.status == "FINISHED"
    assert tracked.info.artifact_uri.startswith((out / "mlruns").as_uri())
    assert "test_false_reject" in tracked.data.metrics
    assert tracked.data.params["data.calibration"] == str((tmp_path / "train").resolve())


def test_a_budget_that_does_not_add_up_is_refused_before_training(tmp_path):
    result = run_script(
        tmp_path / "out",
        {"CONFIG": str(smoke_config(tmp_path)), "TIMEOUT": "100", "EVALUATE_S": "90"},
        timeout=60,
    )
    assert result.returncode == 2 and "the budget does not add up" in result.stderr
    assert not (tmp_path / "out" / "train.log").exists()
