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


WHEEL_LIST = REPO / "training" / "gpu-wheels.txt"
# what the device machine's Python has (its torch brings the rest of what torch needs)
MACHINE = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn")


def listed_wheels() -> dict[str, str]:
    from packaging.requirements import Requirement

    lines = [line.split("#")[0].strip() for line in WHEEL_LIST.read_text().splitlines()]
    requirements = [Requirement(line) for line in lines if line]
    return {r.name: str(r.specifier).removeprefix("==") for r in requirements}


def requirement_closure(names, stop=frozenset()) -> set[str]:
    """Installed distributions ``names`` need (markers for Python 3.12 on Linux)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {"python_version": "3.12", "sys_platform": "linux", "extra": ""}
    seen, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen or name in stop:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(canonicalize_name(requirement.name))
    return seen


def test_the_wheel_list_covers_everything_the_run_imports_beyond_the_machine():
    """The project's base needs and all they need, minus the machine's set, are listed at
    the versions installed here (svgwrite, imported by svgpathtools, was once missing)."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    machine = requirement_closure(MACHINE)
    base = [
        Requirement(r).name
        for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    needed = requirement_closure(base, stop=machine)
    listed = listed_wheels()
    assert needed == set(listed), needed ^ set(listed)
    assert all(metadata.version(name) == version for name, version in listed.items())


@pytest.mark.slow
def test_the_wheel_set_installs_offline_into_a_clean_venv_and_imports(tmp_path):
    """Build the offline set as training/gpu_wheels.sh does (for this Python), install it
    with no index into a fresh venv that sees only the machine's packages, and import every
    module of the training run there (and what they import lazily)."""
    from importlib import metadata

    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [
            *pip,
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "-r",
            str(WHEEL_LIST),
            "-d",
            str(wheels),
        ],
        check=True,
        timeout=300,
    )
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", str(REPO), "-w", str(wheels)], check=True, timeout=300
    )
    machine = tmp_path / "machine"  # the device's own packages, and nothing else
    machine.mkdir()
    for name in requirement_closure(MACHINE):
        for file in metadata.distribution(name).files or []:
            top = file.parts[0]
            source = Path(file.locate()).parents[len(file.parts) - 1] / top
            if not (machine / top).exists() and source.exists() and not top.startswith(".."):
                (machine / top).symlink_to(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "machine.pth").write_text(str(machine) + "\n")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    install = [python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.run(
        [*install, "--no-deps", *wheels.glob("kanjiwrite-*.whl")], check=True, env=env, timeout=300
    )
    subprocess.run([*install, "-r", str(WHEEL_LIST)], check=True, env=env, timeout=300)
    imports = (
        "import importlib, pkgutil, kanjiwrite;"
        "[importlib.import_module(m.name) for p in ('datasets', 'models', 'training')"
        " for m in pkgutil.iter_modules(importlib.import_module('kanjiwrite.' + p).__path__,"
        " 'kanjiwrite.' + p + '.') if m.name != 'kanjiwrite.training.tracking'];"
        "import kanjiwrite.cli, matplotlib.pyplot, sklearn.metrics, scipy.optimize, tqdm, svgwrite"
    )
    result = subprocess.run(  # outside the checkout: its kanjiwrite/ would shadow the wheel
        [python, "-c", imports], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
