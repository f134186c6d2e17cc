"""CoreML numerical parity against the golden vectors (needs macOS: CoreML predicts only there).

    python -m kanjiwrite.export.coreml_parity models/grader.mlpackage models/golden_vectors.json

Runs every golden case's inputs through the ML Program and checks the outputs against the
PyTorch outputs recorded in the golden vectors (fp16 compute: tolerance ``TOLERANCE``) and
that the decoded verdict of the newest stroke is identical. Exit code 1 on any mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 2e-2  # fp16 compute, fp32 outputs


def check(mlpackage: Path, golden_path: Path) -> list[str]:
    import coremltools as ct

    from kanjiwrite.models.decoding import decode

    model = ct.models.MLModel(str(mlpackage))
    golden = json.loads(Path(golden_path).read_text())
    problems = []
    for case in golden["cases"]:
        inputs = {k: np.array(v, np.float32) for k, v in case["inputs"].items()}
        out = model.predict(inputs)
        verdict, match = np.asarray(out["verdict_probs"]), np.asarray(out["match_probs"])
        expected = np.array(case["outputs"]["verdict_probs"])
        diff = float(np.abs(verdict - expected).max())
        count = inputs["drawn"].shape[1]
        orders = [tuple(o) for o in case["orders"]]
        result = decode(verdict, match, orders, count)
        if diff > TOLERANCE:
            problems.append(f"{case['kanji']}: max abs diff {diff:.4f}")
        if result.strokes[-1].verdict != case["result"]["last_stroke"]["verdict"]:
            problems.append(
                f"{case['kanji']}: verdict {result.strokes[-1].verdict} != "
                f"{case['result']['last_stroke']['verdict']}"
            )
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) or "CoreML parity: all golden cases match")
    sys.exit(1 if found else 0)
