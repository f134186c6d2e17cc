"""The dependency order: datasets -> models -> training / export / serving, never back.

Every import of a ``kanjiwrite.*`` module in every source file counts, including imports
inside functions, so a lazy import cannot hide a dependency.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# folder (= kanjiwrite.<folder>) -> the other folders it may import from
ALLOWED = {
    "datasets": set(),
    "models": {"datasets"},
    "training": {"datasets", "models"},
    "export": {"datasets", "models"},
    "serving": {"datasets", "models"},
}


def imported_parts(path: Path) -> set[str]:
    """The ``X`` of every ``kanjiwrite.X`` a file imports (``""`` for the bare package)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name == "kanjiwrite" or name.startswith("kanjiwrite."):
                parts.add(name.partition(".")[2].split(".")[0])
    return parts


def layer_violations(root: Path) -> list[str]:
    """``file imports kanjiwrite.X`` for every import that goes against ``ALLOWED``
    (importing the bare ``kanjiwrite`` package, for its version, is allowed)."""
    found = []
    for folder, allowed in ALLOWED.items():
        for path in sorted((root / folder).rglob("*.py")):
            for part in imported_parts(path) - {folder, ""} - allowed:
                found.append(f"{path.relative_to(root)} imports kanjiwrite.{part}")
    return found


def test_dependencies_run_one_way():
    assert layer_violations(REPO) == []


def test_the_check_catches_a_backward_import(tmp_path):
    for folder in ALLOWED:
        (tmp_path / folder).mkdir()
    (tmp_path / "models" / "ok.py").write_text("from kanjiwrite.datasets import contract\n")
    (tmp_path / "export" / "bad.py").write_text(
        "def f():\n    from kanjiwrite.training.train import train\n"
    )
    (tmp_path / "datasets" / "worse.py").write_text("import kanjiwrite.cli\n")
    assert layer_violations(tmp_path) == [
        "datasets/worse.py imports kanjiwrite.cli",
        "export/bad.py imports kanjiwrite.training",
    ]
