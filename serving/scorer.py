"""The grader of the service: the ONNX model (``models.runtime``) and the reference pack,
opened once per process."""

from __future__ import annotations

import json

from kanjiwrite.datasets.contract import DEFAULT_THRESHOLDS
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.models.decoding import grade
from kanjiwrite.models.runtime import onnx_predict
from kanjiwrite.serving.settings import Settings


class Scorer:
    def __init__(self, settings: Settings):
        self.predict = onnx_predict(settings.model_path, settings.onnx_threads)
        meta = self.predict.metadata
        self.model_id = meta.get("model_id", "unknown")
        self.model_version = meta.get("model_version", "unknown")
        self.thresholds: dict[str, float] = (
            json.loads(meta["thresholds"]) if "thresholds" in meta else dict(DEFAULT_THRESHOLDS)
        )
        self.pack = load_pack()
        wanted = meta.get("pack_version")
        if wanted and wanted != self.pack.version:
            raise RuntimeError(
                f"model {self.model_id} was made for reference pack {wanted}, "
                f"but the pack here is {self.pack.version}"
            )
        self.ready = False

    def warm_up(self) -> None:
        """One grading call, so the first request does not pay for lazy initialisation."""
        ref = self.pack["書"]
        grade(self.predict, ref, [s * 3 for s in ref.strokes[:3]], (330, 330), prefixes=False)
        self.ready = True
