"""Graders: the learned per-stroke model (``grader``), the geometric baseline, decoding to
verdicts, and the runtimes that run them (``runtime``); the released model files."""

from importlib import resources
from pathlib import Path


def shipped(name: str) -> Path:
    """A released model file (``grader.onnx``, ``grader.pt``, ...) inside the installed
    package, wherever it is installed."""
    return Path(str(resources.files(__name__) / name))
