import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def pack():
    """The full reference pack (built into the cache on first use)."""
    from kanjiwrite.datasets.kanjivg import load_pack

    return load_pack()


@pytest.fixture(scope="session")
def tegaki_fixture(pack):
    """A function writing a small Tegaki folder (see ``write_tegaki_fixture``)."""
    return lambda folder: write_tegaki_fixture(folder, pack)


def write_tegaki_fixture(folder, pack, chars="十口日", writer="japanese-fixture1"):
    """Tegaki XML files of ``chars`` written from their KanjiVG strokes on Tegaki's
    1000 x 1000 canvas (a stand-in for real writing: the shared GPL set is never copied)."""
    from pathlib import Path

    target = Path(folder) / writer
    target.mkdir(parents=True, exist_ok=True)
    for char in chars:
        strokes = "".join(
            "<stroke>"
            + "".join(f'<point x="{x * 8 + 60:.0f}" y="{y * 8 + 60:.0f}"/>' for x, y in stroke)
            + "</stroke>"
            for stroke in pack[char].strokes
        )
        xml = f"<character><utf8>{char}</utf8><strokes>{strokes}</strokes></character>"
        (target / f"{ord(char):05x}.xml").write_text(xml, encoding="utf-8")
    return Path(folder)


@pytest.fixture(scope="session")
def bucket_sets():
    """A function giving the (batch, strokes) buckets a CoreML structural report declares,
    checking that every input lists them in the same order (the i-th shapes go together)
    with the right trailing dimensions."""

    from kanjiwrite.datasets.contract import POINTS_PER_STROKE
    from kanjiwrite.datasets.strokes import FEATURES

    def bucket_sets(report: dict) -> set[tuple[int, int]]:
        """The (batch, strokes) buckets a CoreML package declares, checking that every input
        lists them in the same order (the i-th shapes go together) with the right tails."""
        sequences = []
        for name, info in report["inputs"].items():
            assert info["flexibility"] == "enumeratedShapes"
            tail = [POINTS_PER_STROKE, len(FEATURES)] if name in ("drawn", "reference") else []
            assert all(shape[2:] == tail for shape in info["shapes"])
            sequences.append([tuple(shape[:2]) for shape in info["shapes"]])
        assert all(seq == sequences[0] for seq in sequences)
        return set(sequences[0])

    return bucket_sets


@pytest.fixture
def serve():
    """A function running ``kanjiwrite serve`` once in a subprocess (port 0, a database in
    ``tmp_path``, ``env`` on top), as a start-up check sees it."""
    import subprocess
    import sys

    def run(tmp_path, **env) -> subprocess.CompletedProcess:
        environment = {
            "KANJIWRITE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
            "KANJIWRITE_PORT": "0",
            "PATH": "/usr/bin:/bin",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "kanjiwrite.cli", "serve"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def service_log():
    """The service's log records (its logger does not propagate to pytest's capture)."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("kanjiwrite.serving")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def wait_ready():
    """A function waiting up to ``seconds`` for a started ``kanjiwrite serve`` process at
    ``url`` to answer /readyz 200; it stops the process and fails the test otherwise."""
    import time

    import httpx

    def wait(process, url: str, seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        process.terminate()
        pytest.fail("the service did not start")

    return wait
