"""A second implementation of the app's side of the grading contract, written from
``export/APP_SPEC.md`` alone: plain Python (no numpy, no ``kanjiwrite``), with the model
behind a ``predict`` function (ONNX Runtime in the tests, CoreML on macOS).

    python tests/app_reference.py models/app [--runtime coreml|onnx] [--onnx models/grader.onnx]

checks every golden case of ``models/app/golden_vectors.json`` and exits 1 on a mismatch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import struct
import sys
from pathlib import Path

POINTS = 32
LABELS = ["correct", "wrong_direction", "wrong_order", "wrong_shape", "misplaced", "extra"]
ERRORS = ["wrong_direction", "wrong_order", "wrong_shape", "misplaced"]
DEFAULT_THRESHOLDS = {"lenient": 0.3, "standard": 0.5, "strict": 0.7}
BATCH_BUCKETS = (1, 2, 4, 8, 16)
FEATURES = 8
STROKE_BUCKETS = (8, 16, 32, 64)
KANJIVG_CANVAS = (109.0, 109.0)


# §9 reference pack


class Pack:
    def __init__(self, raw: bytes):
        if raw[:4] != b"KWRP":
            raise ValueError("not a KWRP pack")
        fmt, length = struct.unpack_from("<II", raw, 4)
        if fmt != 1:
            raise ValueError(f"pack format {fmt}")
        self.header = json.loads(raw[12 : 12 + length].decode("utf-8"))
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.size = len(raw)
        codes = {"<i4": "i", "<i2": "h"}
        self.arrays = {
            name: list(
                struct.unpack_from(f"<{info['count']}{codes[info['dtype']]}", raw, info["offset"])
            )
            for name, info in self.header["arrays"].items()
        }
        self.index = {chr(c): i for i, c in enumerate(self.arrays["codepoints"])}

    def strokes(self, char: str) -> list[list[tuple[float, float]]]:
        a, scale = self.arrays, self.header["point_scale"]
        i = self.index[char]
        out = []
        for j in range(a["char_stroke_start"][i], a["char_stroke_start"][i + 1]):
            lo, hi = a["stroke_point_start"][j], a["stroke_point_start"][j + 1]
            xy = a["points"][2 * lo : 2 * hi]
            out.append([(xy[2 * p] / scale, xy[2 * p + 1] / scale) for p in range(hi - lo)])
        return out

    def types(self, char: str) -> list[str]:
        a = self.arrays
        i = self.index[char]
        start, end = a["char_stroke_start"][i], a["char_stroke_start"][i + 1]
        return [self.header["type_names"][t] for t in a["stroke_type"][start:end]]

    def orders(self, char: str) -> list[list[int]]:
        a = self.arrays
        i = self.index[char]
        count = a["char_stroke_start"][i + 1] - a["char_stroke_start"][i]
        found = [list(range(count))]
        for alt, owner in enumerate(a["alt_char"]):
            if owner == i:
                found.append(
                    a["alt_orders"][a["alt_order_start"][alt] : a["alt_order_start"][alt + 1]]
                )
        return found

    def partners(self, char: str) -> list:
        return self.header["partners"].get(char, [])


# §4 model inputs


def resample(stroke: list[tuple[float, float]]) -> list[tuple[float, float]]:
    lengths = [0.0]
    for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
        lengths.append(lengths[-1] + math.hypot(x1 - x0, y1 - y0))
    total = lengths[-1]
    if total == 0.0:
        return [stroke[0]] * POINTS
    out, i = [], 0
    for j in range(POINTS):
        target = j * total / (POINTS - 1)
        while i < len(stroke) - 2 and lengths[i + 1] < target:
            i += 1
        span = lengths[i + 1] - lengths[i]
        f = 0.0 if span == 0.0 else min(max((target - lengths[i]) / span, 0.0), 1.0)
        (x0, y0), (x1, y1) = stroke[i], stroke[i + 1]
        out.append((x0 + f * (x1 - x0), y0 + f * (y1 - y0)))
    return out


def frame(strokes, canvas) -> tuple[float, float, float]:
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    unit = max(max(xs) - min(xs), max(ys) - min(ys), 0.25 * min(canvas))
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, unit


def features(strokes, canvas, frame_count: int) -> list:
    cx, cy, unit = frame(strokes[:frame_count], canvas)
    bx, by, side = canvas[0] / 2, canvas[1] / 2, min(canvas)
    out = []
    for stroke in strokes:
        points = resample(stroke)
        xy = [((x - cx) / unit, (y - cy) / unit) for x, y in points]
        rows = []
        for j in range(POINTS):
            a, b = (j, j + 1) if j < POINTS - 1 else (j - 1, j)
            dx, dy = xy[b][0] - xy[a][0], xy[b][1] - xy[a][1]
            norm = math.hypot(dx, dy)
            dx, dy = (dx / norm, dy / norm) if norm > 1e-9 else (0.0, 0.0)
            box = ((points[j][0] - bx) / side, (points[j][1] - by) / side)
            rows.append([xy[j][0], xy[j][1], dx, dy, float(j == 0), float(j == POINTS - 1), *box])
        out.append(rows)
    return out


def request_inputs(
    pack: Pack, char: str, drawn, canvas, settled_as=None
) -> tuple[dict, list[list[int]]]:
    """Unpadded inputs: one batch item per accepted order (§3: those that begin with
    ``settled_as`` when it is known), then one per partner."""
    reference = pack.strokes(char)
    prefix = None if settled_as is None else list(settled_as)
    orders = [o for o in pack.orders(char) if prefix is None or list(o[: len(prefix)]) == prefix]
    ink = features(drawn, canvas, len(drawn))
    items = {"drawn": [], "drawn_mask": [], "reference": [], "reference_mask": []}
    references = [[reference[i] for i in order] for order in orders]
    references += [pack.strokes(p) for p, _ in pack.partners(char)]
    for strokes in references:
        count = max(1, min(len(drawn), len(strokes)))
        items["drawn"].append(ink)
        items["drawn_mask"].append([1.0] * len(drawn))
        items["reference"].append(features(strokes, KANJIVG_CANVAS, count))
        items["reference_mask"].append([1.0] * len(strokes))
    return items, orders


# §5 buckets


def bucket(items: int, strokes: int) -> tuple[int, int]:
    return (
        next(b for b in BATCH_BUCKETS if b >= items),
        next(n for n in STROKE_BUCKETS if n >= strokes),
    )


def pad(inputs: list[dict]) -> tuple[dict, tuple[int, int]]:
    """Several requests' unpadded inputs in one bucket (zeros after the real strokes and
    after the real items)."""
    items = sum(len(i["drawn"]) for i in inputs)
    longest = max(max(len(i["drawn"][0]), len(i["reference"][0])) for i in inputs)
    size, n = bucket(items, longest)
    zero_point = [0.0] * FEATURES
    out = {"drawn": [], "drawn_mask": [], "reference": [], "reference_mask": []}
    for request in inputs:
        for name in ("drawn", "reference"):
            for item in request[name]:
                out[name].append(item + [[zero_point] * POINTS] * (n - len(item)))
            for item in request[name + "_mask"]:
                out[name + "_mask"].append(item + [0.0] * (n - len(item)))
    for name in out:
        blank = [[zero_point] * POINTS] * n if name in ("drawn", "reference") else [0.0] * n
        out[name] += [blank] * (size - len(out[name]))
    return out, (size, n)


# §7 decoding, §8 messages


def name_of(char: str, prompts: dict) -> str:
    info = prompts["kanji"].get(char)
    return f"{char} ({info['meanings'][0]})" if info and info["meanings"] else char


def message(stroke: dict, j: int, position, count: int, asked: str, partners, prompts) -> str:
    n = j + 1
    if stroke["story"] == "later":
        return f"That is stroke {position + 1}; stroke {n} comes first."
    if stroke["story"] == "again":
        return f"That is stroke {position + 1} again; stroke {n} comes next."
    if stroke["story"] == "lookalike":
        differences = dict(partners)[stroke["lookalike"]]
        here = [d for d in differences if max(d[1], d[2]) == j]
        kind, i, i2 = (here or differences or [("stroke", j, j)])[0]
        what = {
            "longer": f"stroke {i + 1} is longer than stroke {i2 + 1}.",
            "crosses": f"strokes {i + 1} and {i2 + 1} cross.",
            "apart": f"strokes {i + 1} and {i2 + 1} do not cross.",
            "stroke": f"stroke {i + 1} has another shape or place.",
        }[kind]
        partner, mine = name_of(stroke["lookalike"], prompts), name_of(asked, prompts)
        return f"This is turning into {partner}: in {mine} {what}"
    return {
        "correct": f"Stroke {n} is right.",
        "wrong_direction": f"Stroke {n} was drawn from the wrong end.",
        "wrong_shape": f"Stroke {n} has the wrong shape.",
        "misplaced": f"Stroke {n} has the right shape but the wrong place or size.",
        "extra": f"This kanji has only {count} strokes.",
    }[stroke["verdict"]]


def most_probable(probs, errors) -> str:
    return max(errors, key=lambda e: (probs[LABELS.index(e)], -errors.index(e)))


def box_points(stroke_features) -> list:
    return [(p[6], p[7]) for p in stroke_features]


def box_distance(d, reference) -> float:
    """§7: the smaller of the mean point distance from ``d`` to ``reference`` and from ``d``
    reversed to it."""
    forward = sum(math.dist(p, q) for p, q in zip(d, reference, strict=True)) / POINTS
    backward = sum(math.dist(p, q) for p, q in zip(d[::-1], reference, strict=True)) / POINTS
    return min(forward, backward)


def first_far(boxes, o) -> bool:
    """§7 step 2.4: the first stroke lies more than 0.24 of the box from its own place."""
    drawn, reference = boxes["drawn"][o][0], boxes["reference"][o][0]
    return box_distance(box_points(drawn), box_points(reference)) > 0.24


def near_positions(boxes, o, j, r, accepted) -> list[int]:
    """§7 step 3.3: the positions stroke j was drawn in the place of, nearest first."""
    drawn = [box_points(s) for s in boxes["drawn"][o]]
    reference = [box_points(s) for s in boxes["reference"][o][:r]]
    d = drawn[j]
    done = sorted(a for a in accepted if a < min(j, r))
    if done:
        src = [p for a in done for p in drawn[a]]
        dst = [p for a in done for p in reference[a]]
        msx, msy = sum(p[0] for p in src) / len(src), sum(p[1] for p in src) / len(src)
        mtx, mty = sum(p[0] for p in dst) / len(dst), sum(p[1] for p in dst) / len(dst)
        spread = sum((p[0] - msx) ** 2 + (p[1] - msy) ** 2 for p in src)
        cov = sum(
            (p[0] - msx) * (q[0] - mtx) + (p[1] - msy) * (q[1] - mty)
            for p, q in zip(src, dst, strict=True)
        )
        scale = min(max(cov / spread if spread > 1e-9 else 1.0, 0.5), 2.0)
        d = [(scale * (x - msx) + mtx, scale * (y - msy) + mty) for x, y in d]

    def dist(i):
        return box_distance(d, reference[i])

    due = dist(j) if j < r else math.inf
    bound = min(0.07 if done else 0.12, 0.35 * due)
    near = [
        (dist(i), i) for i in range(r) if i != j and (i > j or i in accepted) and dist(i) <= bound
    ]
    return [i for _, i in sorted(near)]


def lookalike(verdict_probs, best, orders, strokes, settled, r, partners) -> None:
    """§7 step 4: the first unsettled right stroke at which a partner pulls ahead."""
    count = len(strokes)
    own = [math.log(max(verdict_probs[best][j][0], 1e-9)) for j in range(count)]
    leads = []
    for q, (_, differences) in enumerate(partners):
        item = verdict_probs[orders + q]
        total, lead = 0.0, []
        for j in range(count):
            total += math.log(max(item[j][0], 1e-9)) - own[j]
            lead.append(total)
        leads.append((lead, {max(d[1], d[2]) for d in differences}))
    done = False
    for j in range(settled, count):
        if done or strokes[j]["verdict"] != "correct":
            continue
        for q, (lead, differ) in enumerate(leads):
            gain = lead[j] - (lead[j - 1] if j else 0.0)
            at = j in differ or (j >= min(differ, default=0) and gain > 0.02)
            if j < r and at and lead[j] > 0.02:
                probs = verdict_probs[best][j]
                strokes[j]["verdict"] = "misplaced" if probs[4] >= probs[3] else "wrong_shape"
                strokes[j]["story"], strokes[j]["lookalike"] = "lookalike", partners[q][0]
                done = True
                break


def decode(verdict_probs, match_probs, orders, count, t, taps, settled, partners, boxes):
    """``verdict_probs``/``match_probs``: per item (orders, then partners), per stroke
    (padding already dropped from the batch and stroke axes; ``match_probs`` rows may still
    hold padded columns)."""
    k = count - 1
    best, best_key = 0, None
    for o in range(len(orders)):
        p = [verdict_probs[o][j][0] for j in range(count)]
        key = (
            sum(1 for j in range(k) if p[j] >= t),
            sum(math.log(max(x, 1e-9)) for x in p) / count,
        )
        if best_key is None or key > best_key:
            best, best_key = o, key
    order = orders[best]
    r = len(order)
    strokes, accepted = [], set()
    for j in range(count):
        probs = verdict_probs[best][j]
        row = match_probs[best][j]
        columns = [*range(min(r, len(row) - 1)), len(row) - 1]  # real columns, then "none"
        b = max(columns, key=lambda c: (row[c], -c))
        position = b if b < r else None
        sure = row[b] >= 0.5
        if j >= r:
            verdict = "extra"
        elif probs[0] >= t:
            verdict = "correct"
        else:
            scores = {e: probs[LABELS.index(e)] for e in ERRORS}
            if sure:
                if position is not None and position != j:
                    scores["wrong_order"] = max(scores["wrong_order"], scores["wrong_shape"])
                else:
                    scores["wrong_order"] = -1.0
            verdict = max(ERRORS, key=lambda e: (scores[e], -ERRORS.index(e)))
        if j == 0 and settled == 0 and verdict == "correct" and not taps[0]:
            verdict = "misplaced" if first_far(boxes, best) else verdict
        if j < settled and j < r:
            verdict = "correct"
        elif verdict == "correct" and taps[j]:
            verdict = "wrong_shape"
        near = []
        if verdict not in ("correct", "extra") and not taps[j]:
            near = near_positions(boxes, best, j, r, accepted)
        if near:
            verdict = "wrong_order"
            position = b if sure and b in near else near[0]
        elif verdict == "wrong_order":
            named = position is not None and sure and position != j and not taps[j]
            if not named or (position < j and position not in accepted):
                verdict = most_probable(probs, ["wrong_direction", "wrong_shape", "misplaced"])
        if taps[j] and verdict not in ("correct", "extra"):
            verdict = "wrong_shape"
        if verdict == "correct":
            accepted.add(j)
        story = None
        if verdict == "wrong_order":
            story = "later" if position > j else "again"
        if verdict == "correct":
            matched = order[j]
        else:
            matched = order[position] if position is not None else None
        strokes.append(
            {
                "verdict": verdict,
                "p_correct": probs[0],
                "expected_index": order[j] if j < r else None,
                "matched_index": matched,
                "story": story,
                "lookalike": None,
                "position": position,
            }
        )
    lookalike(verdict_probs, best, len(orders), strokes, settled, r, partners)
    done_strokes = {s["expected_index"] for s in strokes if s["verdict"] == "correct"}
    missing = [i for i in order if i not in done_strokes]
    return {"order": order, "strokes": strokes, "missing": missing, "complete": not missing}


# the app


class App:
    """The app around the model: handshake, one graded request per pen lift."""

    def __init__(self, pack: Pack, predict, metadata: dict[str, str], prompts: dict):
        if pack.header["model_id"] != metadata["model_id"]:
            raise ValueError(
                f"pack is for model {pack.header['model_id']}, the model is {metadata['model_id']}"
            )
        if pack.header["pack_version"] != metadata["pack_version"]:
            raise ValueError("pack version differs from the model's")
        if json.loads(metadata["labels"]) != LABELS:
            raise ValueError("the model's labels are not the contract's")
        self.pack, self.predict, self.prompts = pack, predict, prompts
        self.thresholds = json.loads(metadata.get("thresholds", "null")) or DEFAULT_THRESHOLDS

    def grade(
        self, char: str, strokes, canvas, strictness="standard", settled=0, settled_as=None
    ) -> dict:
        inputs, orders = request_inputs(self.pack, char, strokes, canvas, settled_as)
        padded, _ = pad([inputs])
        verdict, match = self.predict(padded)
        taps = [all(p == s[0] for p in s) for s in strokes]
        partners = self.pack.partners(char)
        t = self.thresholds[strictness]
        result = decode(verdict, match, orders, len(strokes), t, taps, settled, partners, inputs)
        count = len(result["order"])
        for j, stroke in enumerate(result["strokes"]):
            position = stroke.pop("position")
            stroke["message"] = message(stroke, j, position, count, char, partners, self.prompts)
        result["inputs"], result["orders"] = inputs, orders
        return result


class Session:
    """§3: accepted strokes plus the new one, the new one kept only when correct."""

    def __init__(self, app: App, char: str, canvas, strictness: str = "standard"):
        self.app, self.char, self.canvas, self.strictness = app, char, canvas, strictness
        self.accepted: list = []
        self.accepted_as: list[int] = []  # the reference stroke each was accepted as
        self.complete = False

    def lift(self, stroke) -> tuple[dict, bool]:
        result = self.app.grade(
            self.char,
            [*self.accepted, stroke],
            self.canvas,
            self.strictness,
            len(self.accepted),
            self.accepted_as,
        )
        keep = result["strokes"][-1]["verdict"] == "correct"
        if keep:
            self.accepted.append(stroke)
            self.accepted_as.append(result["strokes"][-1]["expected_index"])
        self.complete = keep and result["complete"]
        return result, keep


# checking against the golden vectors


def as_strokes(raw) -> list[list[tuple[float, float]]]:
    return [[(float(x), float(y)) for x, y in s] for s in raw]


def max_diff(a, b) -> float:
    if isinstance(a, dict):
        return max(max_diff(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return max((max_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    return abs(a - b)


def check_request(app: App, case: dict, tolerance: float, inputs_tolerance: float = 1e-5):
    """Problems with one golden request (an empty list when it matches)."""
    name = case["name"]
    strokes = as_strokes(case["strokes"])
    got = app.grade(
        case["kanji"],
        strokes,
        case["canvas"],
        case["strictness"],
        case["settled"],
        case.get("settled_as"),
    )
    problems = []
    if got["orders"] != case["orders"]:
        problems.append(f"{name}: orders {got['orders']} != {case['orders']}")
        return problems
    for key, value in case["inputs"].items():
        if max_diff(got["inputs"][key], value) > inputs_tolerance:
            problems.append(f"{name}: input {key} differs")
    expected = case["result"]
    if got["order"] != expected["order"]:
        problems.append(f"{name}: order {got['order']} != {expected['order']}")
    for j, (mine, theirs) in enumerate(zip(got["strokes"], expected["strokes"], strict=True)):
        if abs(mine["p_correct"] - theirs["p_correct"]) > tolerance:
            problems.append(f"{name}: stroke {j} p_correct {mine['p_correct']:.5f}")
        for key in ("verdict", "expected_index", "matched_index", "story", "lookalike", "message"):
            if mine[key] != theirs[key]:
                problems.append(f"{name}: stroke {j} {key} {mine[key]!r} != {theirs[key]!r}")
    for key in ("missing", "complete"):
        if got[key] != expected[key]:
            problems.append(f"{name}: {key} {got[key]} != {expected[key]}")
    return problems


def check_outputs(predict, case: dict, tolerance: float) -> list[str]:
    """Both outputs of a golden request, run padded into its bucket."""
    padded, _ = pad([case["inputs"]])
    verdict, match = predict(padded)
    items = len(case["orders"]) + len(case["partners"])
    count, r = len(case["strokes"]), len(case["orders"][0])
    problems = []
    for name, got, want, cols in (
        ("verdict_probs", verdict, case["outputs"]["verdict_probs"], None),
        ("match_probs", match, case["outputs"]["match_probs"], r),
    ):
        rows = [item[:count] for item in got[:items]]
        if cols is not None:  # real columns and "none" (the last)
            rows = [[line[:cols] + line[-1:] for line in item] for item in rows]
        if max_diff(rows, want) > tolerance:
            problems.append(f"{case['name']}: {name} differs by {max_diff(rows, want):.2e}")
    return problems


def check_all(folder: Path, predict, metadata: dict[str, str], tolerance: float) -> list[str]:
    golden = json.loads((folder / "golden_vectors.json").read_text())
    pack = Pack((folder / "reference-pack.kwrp").read_bytes())
    app = App(pack, predict, metadata, json.loads((folder / "prompts.json").read_text()))
    problems = []
    facts = golden["pack"]
    if (pack.sha256, pack.size, pack.header["model_id"]) != (
        facts["sha256"],
        facts["bytes"],
        facts["model_id"],
    ):
        problems.append("pack: checksum, size or model id differs")
    for check in facts["checks"]:
        char = check["kanji"]
        strokes = [[list(p) for p in s] for s in pack.strokes(char)]
        if max_diff(strokes, check["strokes"]) > 0.006:  # the checks are rounded to 0.01
            problems.append(f"pack: strokes of {char} differ")
        if pack.types(char) != check["types"] or pack.orders(char) != check["orders"]:
            problems.append(f"pack: types or orders of {char} differ")
    for case in golden["requests"]:
        problems += check_request(app, case, tolerance)
        problems += check_outputs(predict, case, tolerance)
    for run in golden["sessions"]:
        session = Session(app, run["kanji"], run["canvas"])
        for step in run["lifts"]:
            problems += check_request(app, step["request"], tolerance)
            _, keep = session.lift(as_strokes([step["stroke"]])[0])
            if keep != step["accepted"]:
                problems.append(f"{run['name']}: accepted {keep} != {step['accepted']}")
        if (len(session.accepted), session.complete) != (run["accepted"], run["complete"]):
            problems.append(f"{run['name']}: session ends differently")
    batch = golden["padded_batch"]
    by_name = {c["name"]: c for c in golden["requests"]}
    padded, size = pad([by_name[n]["inputs"] for n in batch["requests"]])
    if list(size) != batch["bucket"] or max_diff(padded, batch["inputs"]) > 1e-5:
        problems.append("padded batch: inputs differ")
    got = predict(padded)
    for name, output in zip(("verdict_probs", "match_probs"), got, strict=True):
        if max_diff(output, batch["outputs"][name]) > tolerance:
            problems.append(f"padded batch: {name} differs")
    return problems


def onnx_runtime(path: Path):
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(inputs: dict) -> tuple[list, list]:
        feed = {k: np.asarray(v, np.float32) for k, v in inputs.items()}
        verdict, match = session.run(["verdict_probs", "match_probs"], feed)
        return verdict.tolist(), match.tolist()

    return predict, dict(session.get_modelmeta().custom_metadata_map)


def coreml_runtime(path: Path):
    import coremltools as ct
    import numpy as np

    model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_AND_NE)

    def predict(inputs: dict) -> tuple[list, list]:
        out = model.predict({k: np.asarray(v, np.float32) for k, v in inputs.items()})
        return np.asarray(out["verdict_probs"]).tolist(), np.asarray(out["match_probs"]).tolist()

    return predict, dict(model.user_defined_metadata)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    runtime = sys.argv[sys.argv.index("--runtime") + 1] if "--runtime" in sys.argv else "coreml"
    if runtime == "coreml":
        run, meta = coreml_runtime(folder / "grader.mlpackage")
        limit = 2e-2  # fp16 compute
    else:
        onnx = (
            sys.argv[sys.argv.index("--onnx") + 1] if "--onnx" in sys.argv else "models/grader.onnx"
        )
        run, meta = onnx_runtime(Path(onnx))
        limit = 1e-4
    found = check_all(folder, run, meta, limit)
    print("\n".join(found) or f"{runtime}: every golden case matches")
    sys.exit(1 if found else 0)
