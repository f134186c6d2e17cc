"""CoreML export of the grader (ML Program, iOS 16+, fp16 compute, fp32 outputs), its
structural check (runs on Linux) and parity check (needs macOS to predict).

Same inputs and outputs as the ONNX model (``to_onnx.INPUTS``/``OUTPUTS``); batch and
stroke counts are flexible (1..MAX_BATCH, 1..MAX_STROKES).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kanjiwrite.datasets.contract import MAX_STROKES, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.export.to_onnx import INPUTS, OUTPUTS
from kanjiwrite.models.grader import Grader, PredictWrapper
from kanjiwrite.models.runtime import example_tensors

MAX_BATCH = 256
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


def _tensor_types(ct):
    def dim():
        return ct.RangeDim(1, MAX_STROKES)

    batch = ct.RangeDim(1, MAX_BATCH)
    stroke_d, stroke_r = dim(), dim()
    point = (POINTS_PER_STROKE, len(FEATURES))
    return [
        ct.TensorType(name="drawn", shape=(batch, stroke_d, *point), dtype=np.float32),
        ct.TensorType(name="drawn_mask", shape=(batch, stroke_d), dtype=np.float32),
        ct.TensorType(name="reference", shape=(batch, stroke_r, *point), dtype=np.float32),
        ct.TensorType(name="reference_mask", shape=(batch, stroke_r), dtype=np.float32),
    ]


def export_coreml(model: Grader, path: Path, metadata: dict[str, str]) -> Path:
    """Convert ``model.predict`` through torch.export to an ``.mlpackage``."""
    import coremltools as ct

    wrapper = PredictWrapper(model.eval())
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
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
        minimum_deployment_target=ct.target.iOS16,
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
    mlmodel.save(str(path))
    return path


def structural_report(path: Path) -> dict:
    """What can be checked without predicting: names, shapes, dtypes, deployment target,
    size, metadata and the MIL ops used."""
    import coremltools as ct

    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
    spec = mlmodel.get_spec()
    inputs = {}
    for feature in spec.description.input:
        array = feature.type.multiArrayType
        ranges = [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
        inputs[feature.name] = {
            "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType),
            "ranges": ranges,
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
