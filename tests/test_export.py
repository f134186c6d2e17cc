"""ONNX and CoreML exports: structure, parity, golden vectors, the app's reference pack."""

from pathlib import Path

import numpy as np
import onnx
import pytest

from kanjiwrite.datasets.contract import POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.export.app_assets import read_binary_pack, write_binary_pack
from kanjiwrite.export.release import parity_report
from kanjiwrite.export.to_coreml import (
    canonical_package,
    coremltools,
    export_coreml,
    shape_buckets,
    structural_report,
)
from kanjiwrite.export.to_onnx import OPSET, export_onnx, model_metadata
from kanjiwrite.models.grader import Grader, GraderConfig, load_checkpoint
from kanjiwrite.models.runtime import onnx_predict, torch_predict

STROKE = (POINTS_PER_STROKE, len(FEATURES))  # points x features of one model-input stroke

MODELS = Path(__file__).resolve().parents[1] / "models"
SHIPPED = MODELS / "grader.pt"


@pytest.fixture(scope="module")
def small_model():
    import torch

    torch.manual_seed(0)
    model = Grader(GraderConfig(d_model=32, heads=2, layers=1, conv_channels=16)).eval()
    info = {
        "data": {"pack_version": "p", "kanjivg_version": "k", "split_seed": 1},
        "temperature": 1.3,
    }
    return model, model_metadata(info, "9.9.9+0badcafe", "run123")


def test_onnx_export_is_self_contained_checked_and_dynamic(small_model, tmp_path):
    model, meta = small_model
    path = export_onnx(model, tmp_path / "m.onnx", meta)
    assert not [p for p in tmp_path.iterdir() if p.name != "m.onnx"]  # no external data
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == OPSET >= 17
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["model_id"] == "9.9.9+0badcafe" and props["model_version"] == "9.9.9"
    assert props["training_run_id"] == "run123" and props["pack_version"] == "p"
    assert "CC BY-SA 3.0" in props["attribution"] and "pack_version" in props["data_version"]
    inputs = {i.name: i for i in proto.graph.input}
    assert list(inputs) == ["drawn", "drawn_mask", "reference", "reference_mask"]
    assert all(i.doc_string for i in proto.graph.input) and all(
        o.doc_string for o in proto.graph.output
    )
    dims = inputs["drawn"].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_param and dims[2].dim_value == 32
    predict = onnx_predict(path)
    for batch, drawn, reference in ((1, 1, 1), (3, 7, 12)):  # any batch and stroke counts
        inputs = {
            "drawn": np.random.rand(batch, drawn, *STROKE),
            "drawn_mask": np.ones((batch, drawn)),
            "reference": np.random.rand(batch, reference, *STROKE),
            "reference_mask": np.ones((batch, reference)),
        }
        verdict, match = predict(inputs)
        expected = torch_predict(model)({k: v.astype(np.float32) for k, v in inputs.items()})
        np.testing.assert_allclose(verdict, expected[0], atol=1e-5)
        assert match.shape == (batch, drawn, reference + 1)


def test_coreml_structure(small_model, tmp_path, bucket_sets):
    model, meta = small_model
    report = structural_report(export_coreml(model, tmp_path / "m.mlpackage", meta))
    assert report["is_ml_program"] and report["specification_version"] == 9  # iOS 18
    assert list(report["inputs"]) == ["drawn", "drawn_mask", "reference", "reference_mask"]
    assert all(i["dtype"] == "FLOAT32" and i["description"] for i in report["inputs"].values())
    # the buckets of APP_SPEC.md section 5, the i-th shape of every input together
    buckets = {(b, n) for n in (8, 16, 32, 64) for b in (1, 2, 4, 8, 16)}
    assert set(shape_buckets()) == buckets == bucket_sets(report)
    assert all(o["dtype"] == "FLOAT32" and o["description"] for o in report["outputs"].values())
    assert (
        report["author"]
        and "CC BY-SA 3.0" in report["license"]
        and report["version"] == "9.9.9+0badcafe"
    )
    assert report["metadata"]["training_run_id"] == "run123"
    assert report["unexpected_ops"] == [] and report["bytes"] < 2_000_000
    # the spec is written deterministically: metadata in any order gives the same bytes
    package = tmp_path / "m.mlpackage"
    spec_path = package / "Data" / "com.apple.CoreML" / "model.mlmodel"
    canonical = spec_path.read_bytes()
    spec = coremltools().proto.Model_pb2.Model()
    spec.ParseFromString(canonical)
    items = list(spec.description.metadata.userDefined.items())
    spec.description.metadata.userDefined.clear()
    for key, value in reversed(items):
        spec.description.metadata.userDefined[key] = value
    spec_path.write_bytes(spec.SerializeToString())
    canonical_package(package, meta["model_id"])
    assert spec_path.read_bytes() == canonical


def test_shipped_model_files_and_sizes():
    assert SHIPPED.exists() and (MODELS / "grader.onnx").exists()
    assert (MODELS / "app" / "grader.mlpackage" / "Manifest.json").exists()
    assert (MODELS / "grader.onnx").stat().st_size < 4_000_000
    report = structural_report(MODELS / "app" / "grader.mlpackage")
    assert report["unexpected_ops"] == [] and report["specification_version"] == 9
    info = load_checkpoint(SHIPPED)
    model = Grader.from_checkpoint(info)
    assert 2 * sum(p.numel() for p in model.parameters()) <= 2_000_000  # fp16 weights <= 2 MB
    assert info["optimizer"] is None and info["data"]["pack_version"]


@pytest.mark.slow
def test_shipped_onnx_matches_pytorch_on_1000_items():
    model = Grader.from_checkpoint(SHIPPED)
    report = parity_report(torch_predict(model), onnx_predict(MODELS / "grader.onnx"), attempts=150)
    assert report["items"] >= 1000
    assert report["max_abs_diff"] <= 1e-4 and report["identical_verdicts"]


def test_binary_reference_pack_round_trip(pack, tmp_path):
    header, arrays = read_binary_pack(write_binary_pack(pack, tmp_path / "p.kwrp", "1.2.3+abc"))
    assert header["pack_version"] == pack.version and header["model_id"] == "1.2.3+abc"
    with np.load(pack.path) as data:
        for name, array in arrays.items():
            np.testing.assert_array_equal(array, data[name].ravel())
        assert header["type_names"] == [str(t) for t in data["type_names"]]
    assert all(info["offset"] % 4 == 0 for info in header["arrays"].values())
