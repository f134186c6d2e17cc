"""The kanjiwrite CLI and the packaging."""

import subprocess
import sys
import zipfile

import pytest
from typer.testing import CliRunner

from kanjiwrite.cli import app
from kanjiwrite.datasets.contract import LABELS

runner = CliRunner()


def test_data_stats_prints_counts_and_writes_the_card(tmp_path, pack):
    card = tmp_path / "card.md"
    result = runner.invoke(app, ["data", "stats", "--attempts", "30", "--card", str(card)])
    assert result.exit_code == 0, result.output
    assert f"{len(pack)} kanji" in result.output
    assert "loaded in" in result.output and "margin shape_distance" in result.output
    text = card.read_text()
    assert "| train |" in text and "| test |" in text and "wrong_direction" in text
    assert card.with_suffix(".json").exists()


def test_data_show_renders_a_png(tmp_path, pack):
    out = tmp_path / "sho.png"
    result = runner.invoke(app, ["data", "show", "書", "--out", str(out), "--variants", "3"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_show_rejects_unknown_characters():
    result = runner.invoke(app, ["data", "show", "☃"])
    assert result.exit_code != 0 and "not in the reference pack" in result.output


def test_data_gallery_renders_each_label(tmp_path, pack):
    result = runner.invoke(app, ["data", "gallery", "--out", str(tmp_path), "--per-label", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(LABELS)


@pytest.mark.parametrize("sources", [[], ["--all-sources"]])
def test_data_bench_prints_samples_per_second(pack, sources):
    result = runner.invoke(app, ["data", "bench", "--seconds", "1", *sources])
    assert result.exit_code == 0, result.output
    rate = int(next(line for line in result.output.splitlines() if "samples/s" in line).split()[0])
    assert rate > 0


def test_non_editable_wheel_maps_folders_under_one_namespace(tmp_path):
    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("kanjiwrite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in (
        "kanjiwrite/cli.py",
        "kanjiwrite/datasets/strokes.py",
        "kanjiwrite/models/baseline.py",
        "kanjiwrite/training/__init__.py",
        "kanjiwrite/export/__init__.py",
        "kanjiwrite/serving/__init__.py",
    ):
        assert module in names
    assert not any(n.startswith(("datasets/", "models/", "training/")) for n in names)


def test_export_commands_write_each_format(tmp_path):
    for kind, name in (("onnx", "m.onnx"), ("coreml", "m.mlpackage")):
        result = runner.invoke(app, ["export", kind, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).exists()
