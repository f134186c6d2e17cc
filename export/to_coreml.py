"""CoreML export of the grader (ML Program, iOS 18+, fp16 compute, fp32 outputs) and its
structural check (runs on Linux); the parity check needs macOS to predict.

Same inputs and outputs as the ONNX model (``to_onnx.INPUTS``/``OUTPUTS``), in enumerated
*shape buckets* rather than ranges: Core ML runs a range-flexible model on the Neural Engine
only at its default shape, while every enumerated shape is compiled for it. The app pads
both stroke axes to one bucket of ``STROKE_BUCKETS`` and the batch (one item per accepted
order, one per look-alike partner) to one of ``BATCH_BUCKETS`` (masks make the padding harmless; see
``export/APP_SPEC.md``). Several enumerated inputs need iOS 18; the i-th shape of every
input belongs together (``shape_buckets``).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from kanjiwrite.datasets.contract import MAX_STROKES, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.export.to_onnx import INPUTS, OUTPUTS
from kanjiwrite.models.grader import Grader, PredictWrapper
from kanjiwrite.models.runtime import example_tensors

STROKE_BUCKETS = (8, 16, 32, 64)  # drawn and reference strokes, padded to the same bucket
BATCH_BUCKETS = (
    1,
    2,
    4,
    8,
    16,
)  # accepted orders (at most 8 in KanjiVG) plus look-alikes (at most 4)
AUTHOR = "Kanji Write"
SHORT_DESCRIPTION = (
    "Per-stroke grader for handwritten kanji: for each stroke drawn, the probability it is "
    "right and what is wrong (direction, order, shape, place, extra)."
)
# MIL ops a flexible-shape ML Program may contain; anything else means a fallback or an op
# the Neural Engine / GPU path cannot take as converted
ALLOWED_OPS = {
    "add",
    "mul",
    "sub",
    "real_div",
    "matmul",
    "linear",
    "conv",
    "gelu",
    "softmax",
    "layer_norm",
    "reshape",
    "transpose",
    "concat",
    "slice_by_index",
    "slice_by_size",
    "expand_dims",
    "squeeze",
    "reduce_mean",
    "reduce_max",
    "cast",
    "shape",
    "gather",
    "range_1d",
    "select",
    "logical_not",
    "logical_and",
    "less_equal",
    "less",
    "greater",
    "greater_equal",
    "tile",
    "fill",
    "const",
    "clip",
    "minimum",
    "maximum",
    "split",
    "sqrt",
    "pow",
    "exp",
    "identity",
    "equal",
    "not_equal",
    "floor_div",
    "gather_nd",
    "stack",
    "expand",
    "broadcast_to",
    "reduce_sum",
    "rsqrt",
    "einsum",
    "batch_norm",
    "mod",
    "logical_xor",
    "reduce_min",
}


def shape_buckets() -> list[tuple[int, int]]:
    """(batch, strokes) of every enumerated shape, in the order the model declares them."""
    return [(b, n) for n in STROKE_BUCKETS for b in BATCH_BUCKETS]


def bucket_for(items: int, strokes: int) -> tuple[int, int]:
    """The smallest (batch, strokes) bucket holding ``items`` batch items of at most
    ``strokes`` drawn or reference strokes."""
    return (
        next(b for b in BATCH_BUCKETS if b >= items),
        next(n for n in STROKE_BUCKETS if n >= strokes),
    )


def _tensor_types(ct):
    point = (POINTS_PER_STROKE, len(FEATURES))
    strokes = [(b, n, *point) for b, n in shape_buckets()]
    masks = [(b, n) for b, n in shape_buckets()]
    default = shape_buckets().index((1, 16))

    def enumerated(shapes):
        return ct.EnumeratedShapes(shapes=shapes, default=shapes[default])

    return [
        ct.TensorType(name="drawn", shape=enumerated(strokes), dtype=np.float32),
        ct.TensorType(name="drawn_mask", shape=enumerated(masks), dtype=np.float32),
        ct.TensorType(name="reference", shape=enumerated(strokes), dtype=np.float32),
        ct.TensorType(name="reference_mask", shape=enumerated(masks), dtype=np.float32),
    ]


def coremltools():
    """``coremltools``, imported without its start-up warnings (an untested torch or
    scikit-learn version, no CoreML runtime off macOS: all expected here)."""
    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import coremltools as ct
    finally:
        logger.setLevel(level)
    return ct


DEBUG_FILES = ("executorch_debug_handle_mapping.json",)  # written by the converter, not shipped


def canonical_package(path: Path, model_id: str) -> None:
    """Make a saved ``.mlpackage`` the same bytes for the same model: drop the converter's
    debug files, serialize the model spec deterministically (protobuf maps, such as the
    metadata, in key order) and replace the random item identifiers of ``Manifest.json``
    by ones derived from the model id and each item's path."""
    for name in DEBUG_FILES:
        (path / name).unlink(missing_ok=True)
    spec_path = path / "Data" / "com.apple.CoreML" / "model.mlmodel"
    spec = coremltools().proto.Model_pb2.Model()
    spec.ParseFromString(spec_path.read_bytes())
    spec_path.write_bytes(spec.SerializeToString(deterministic=True))  # metadata map sorted
    manifest_path = path / "Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    renamed = {
        key: str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanjiwrite:{model_id}:{item['path']}"))
        for key, item in manifest["itemInfoEntries"].items()
    }
    manifest["itemInfoEntries"] = {
        renamed[key]: item for key, item in sorted(manifest["itemInfoEntries"].items())
    }
    manifest["rootModelIdentifier"] = renamed[manifest["rootModelIdentifier"]]
    manifest_path.write_text(json.dumps(manifest, indent=4, sort_keys=True) + "\n")


def export_coreml(model: Grader, path: Path, metadata: dict[str, str]) -> Path:
    """Convert ``model.predict`` through torch.export to an ``.mlpackage`` (canonical: the
    same model gives the same bytes, ``canonical_package``)."""
    ct = coremltools()

    wrapper = PredictWrapper(model.eval())
    batch = torch.export.Dim("batch", min=1, max=max(BATCH_BUCKETS))
    drawn = torch.export.Dim("drawn", min=1, max=MAX_STROKES)
    reference = torch.export.Dim("reference", min=1, max=MAX_STROKES)
    program = torch.export.export(
        wrapper,
        example_tensors(),
        dynamic_shapes={
            "drawn": {0: batch, 1: drawn},
            "drawn_mask": {0: batch, 1: drawn},
            "reference": {0: batch, 1: reference},
            "reference_mask": {0: batch, 1: reference},
        },
    ).run_decompositions({})
    mlmodel = ct.convert(
        program,
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS18,
        compute_precision=ct.precision.FLOAT16,
        inputs=_tensor_types(ct),
        outputs=[ct.TensorType(name=name, dtype=np.float32) for name in OUTPUTS],
    )
    mlmodel.author = AUTHOR
    mlmodel.license = metadata["license"] + " " + metadata["attribution"]
    mlmodel.short_description = SHORT_DESCRIPTION
    mlmodel.version = metadata["model_id"]
    for name, doc in INPUTS.items():
        mlmodel.input_description[name] = doc
    for name, doc in OUTPUTS.items():
        mlmodel.output_description[name] = doc
    mlmodel.user_defined_metadata.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        shutil.rmtree(path)
    mlmodel.save(str(path))
    canonical_package(path, metadata["model_id"])
    return path


def structural_report(path: Path) -> dict:
    """What can be checked without predicting: names, shapes, dtypes, deployment target,
    size, metadata and the MIL ops used."""
    ct = coremltools()

    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
    spec = mlmodel.get_spec()
    inputs = {}
    for feature in spec.description.input:
        array = feature.type.multiArrayType
        inputs[feature.name] = {
            "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType),
            "flexibility": array.WhichOneof("ShapeFlexibility"),
            "shapes": [list(s.shape) for s in array.enumeratedShapes.shapes],
            "default": list(array.shape),
            "description": feature.shortDescription,
        }
    outputs = {
        feature.name: {
            "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(
                feature.type.multiArrayType.dataType
            ),
            "description": feature.shortDescription,
        }
        for feature in spec.description.output
    }
    ops: set[str] = set()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            ops |= {op.type for op in block.operations}
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return {
        "specification_version": spec.specificationVersion,
        "is_ml_program": spec.WhichOneof("Type") == "mlProgram",
        "inputs": inputs,
        "outputs": outputs,
        "metadata": dict(spec.description.metadata.userDefined),
        "author": spec.description.metadata.author,
        "license": spec.description.metadata.license,
        "version": spec.description.metadata.versionString,
        "ops": sorted(ops),
        "unexpected_ops": sorted(ops - ALLOWED_OPS),
        "bytes": size,
    }
