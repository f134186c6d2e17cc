import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def pack():
    """The full reference pack (built into the cache on first use)."""
    from kanjiwrite.datasets.kanjivg import load_pack

    return load_pack()
