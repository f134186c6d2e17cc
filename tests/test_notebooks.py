"""The notebooks run end to end (on a small subset)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


FIGURE_CALLS = ("plt.show()", "display(Image")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_its_figures(path, monkeypatch, pack):
    """No errors, and every cell that shows a figure has an image among its outputs."""
    monkeypatch.setenv("KANJIWRITE_NOTEBOOK_SUBSET", "small")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    showing = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and any(f in c.source for f in FIGURE_CALLS)
    ]
    assert showing
    for cell in showing:
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert images, f"no figure shown by: {cell.source[:80]!r}"


def test_there_is_a_data_notebook():
    assert any(p.name == "01_data.ipynb" for p in NOTEBOOKS)
    assert os.path.getsize(NOTEBOOKS[0]) > 0
