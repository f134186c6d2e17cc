"""The iOS hand-off: a second implementation written from ``export/APP_SPEC.md`` alone
(``tests/app_reference.py``) against the golden vectors, with ONNX Runtime standing in for
CoreML; the vectors against the service; the app folder's manifest and the CoreML package."""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from kanjiwrite.datasets.contract import DEFAULT_THRESHOLDS, LABELS, STRICTNESS
from kanjiwrite.datasets.strokes import model_inputs
from kanjiwrite.export.app_assets import read_binary_pack, sha256
from kanjiwrite.export.to_coreml import shape_buckets, structural_report
from kanjiwrite.models.decoding import build_batch, decode, grade, partners_of, taps_of
from kanjiwrite.models.messages import explain
from kanjiwrite.models.runtime import onnx_predict

sys.path.insert(0, str(Path(__file__).parent))
import app_reference

MODELS = Path(__file__).resolve().parents[1] / "models"
APP = MODELS / "app"
ONNX = MODELS / "grader.onnx"


@pytest.fixture(scope="module")
def golden():
    return json.loads((APP / "golden_vectors.json").read_text())


@pytest.fixture(scope="module")
def runtime():
    return app_reference.onnx_runtime(ONNX)


def every_request(golden):
    yield from golden["requests"]
    for run in golden["sessions"]:
        for step in run["lifts"]:
            yield step["request"]


def test_second_implementation_passes_every_golden_case(runtime):
    predict, metadata = runtime
    assert app_reference.check_all(APP, predict, metadata, tolerance=1e-4) == []


def test_golden_cases_cover_every_behaviour_the_issue_lists(golden, pack):
    assert golden["uncovered"] == []  # the shipped model shows every behaviour clearly
    requests = golden["requests"]
    last = [c["result"]["strokes"][-1] for c in requests]
    assert {s["verdict"] for s in last} == set(LABELS)  # every verdict label
    assert any(s["verdict"] == "wrong_order" and s["rule"] for s in last)  # with its rule
    assert any(len(c["strokes"][-1]) == 1 for c in requests)  # a tap
    assert any(not c["result"]["complete"] and c["result"]["missing"] for c in requests)
    assert any(c["result"]["complete"] for c in requests)
    strictness = [c for c in requests if c["name"].startswith("strictness-")]
    assert [c["strictness"] for c in strictness] == list(STRICTNESS)
    assert len({c["strokes"].__repr__() for c in strictness}) == 1  # the same strokes
    assert len({c["result"]["strokes"][-1]["verdict"] for c in strictness}) == 2
    alternative = [c for c in requests if c["result"]["order"] != sorted(c["result"]["order"])]
    assert len({c["kanji"] for c in alternative}) >= 3
    switch = next(r for r in golden["sessions"] if r["name"].startswith("order-switch"))
    orders = [s["request"]["result"]["order"] for s in switch["lifts"]]
    assert orders[0] == sorted(orders[0]) and orders[-1] != sorted(orders[-1])  # mid-character
    retry = next(r for r in golden["sessions"] if r["name"].startswith("retry"))
    assert [s["accepted"] for s in retry["lifts"]].count(False) == 1 and retry["complete"]
    far = next(c for c in requests if c["name"] == "stroke1-far")["result"]["strokes"][-1]
    assert far["verdict"] == "misplaced" and far["p_correct"] >= 0.5  # by its place alone
    late = next(r for r in golden["sessions"] if r["name"] == "lookalike-冑")
    assert any(s["request"]["result"]["strokes"][-1]["lookalike"] for s in late["lifts"])
    assert any(c["kanji"] in "あア" for c in requests)  # kana
    longest = pack.longest()
    assert any(len(c["strokes"]) == pack[longest].stroke_count for c in requests)
    batch = golden["padded_batch"]
    assert batch["bucket"][0] > sum(
        len(c["orders"]) for c in requests if c["name"] in batch["requests"]
    )  # a padding item
    checks = golden["pack"]["checks"]
    assert len(checks) >= 4 and any(len(c["orders"]) > 1 for c in checks)


def test_the_service_computes_what_the_golden_vectors_say(golden, pack):
    """Preprocessing, the model, decoding and messages of the service (not the second
    implementation) against every golden request."""
    predict = onnx_predict(ONNX)
    for case in every_request(golden):
        ref = pack[case["kanji"]]
        drawn = [np.array(s, float) for s in case["strokes"]]
        for o, order in enumerate(case["orders"]):
            ink, reference = model_inputs(
                drawn, tuple(case["canvas"]), [ref.strokes[i] for i in order]
            )
            np.testing.assert_allclose(ink, case["inputs"]["drawn"][o], atol=2e-6)
            np.testing.assert_allclose(reference, case["inputs"]["reference"][o], atol=2e-6)
        partners = partners_of(pack, case["kanji"])
        assert [p.ref.char for p in partners] == case["partners"], case["name"]
        canvas, accept = tuple(case["canvas"]), case["threshold"]
        result = grade(predict, ref, drawn, canvas, False, accept, partners, case["settled"])
        expected = case["result"]
        assert list(result.order) == expected["order"], case["name"]
        assert result.missing == expected["missing"] and result.complete == expected["complete"]
        for s, (rule, _), (_, message), want in zip(
            result.strokes,
            explain(ref, result, partners),
            explain(ref, result, partners, rules=False),
            expected["strokes"],
            strict=True,
        ):
            assert (s.verdict, s.expected_index, s.matched_index) == (
                want["verdict"],
                want["expected_index"],
                want["matched_index"],
            ), case["name"]
            assert abs(s.p_correct - want["p_correct"]) < 1e-4
            assert (rule, message) == (want["rule"], want["message"]), case["name"]


def test_the_rest_api_answers_golden_requests_as_the_app_decodes_them(golden, tmp_path):
    from kanjiwrite.serving.app import create_app
    from kanjiwrite.serving.db import migrate
    from kanjiwrite.serving.settings import Settings

    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(url)
    with TestClient(create_app(Settings(database_url=url))) as client:
        for case in golden["requests"]:
            width, height = case["canvas"]
            body = {
                "kanji": case["kanji"],
                "strokes": case["strokes"],
                "canvas": {"width": width, "height": height},
                "strictness": case["strictness"],
            }
            answer = client.post("/v1/score", json=body).json()
            expected = case["result"]
            assert answer["missing"] == expected["missing"], case["name"]
            assert answer["complete"] == expected["complete"]
            for got, want in zip(answer["strokes"], expected["strokes"], strict=True):
                assert got["verdict"] == want["verdict"] and got["rule"] == want["rule"]
                suffix = f": {want['rule']}" if want["rule"] else ""
                assert got["message"].startswith(want["message"].rstrip(".")), case["name"]
                assert (suffix == "") == (got["message"] == want["message"])


def test_drift_between_spec_vectors_and_service_is_caught(golden, runtime, tmp_path):
    """Each kind of drift makes the check fail: a message, a verdict, an input, the pack."""
    predict, metadata = runtime
    for change in ("message", "verdict", "input", "order"):
        drifted = copy.deepcopy(golden)
        case = drifted["requests"][1]
        if change == "message":
            case["result"]["strokes"][-1]["message"] = "Stroke 2 is fine."
        elif change == "verdict":
            case["result"]["strokes"][-1]["verdict"] = "correct"
        elif change == "input":
            case["inputs"]["drawn"][0][0][0][0] += 1e-3
        else:
            drifted["sessions"][0]["lifts"][-1]["request"]["result"]["order"].reverse()
        folder = tmp_path / change
        folder.mkdir()
        (folder / "golden_vectors.json").write_text(json.dumps(drifted, ensure_ascii=False))
        for name in ("reference-pack.kwrp", "prompts.json"):
            (folder / name).write_bytes((APP / name).read_bytes())
        problems = app_reference.check_all(folder, predict, metadata, tolerance=1e-4)
        assert problems, change


def test_the_app_refuses_a_pack_made_for_another_model(runtime):
    predict, metadata = runtime
    pack = app_reference.Pack((APP / "reference-pack.kwrp").read_bytes())
    prompts = json.loads((APP / "prompts.json").read_text())
    app_reference.App(pack, predict, metadata, prompts)  # the shipped pair is accepted
    with pytest.raises(ValueError, match="pack is for model"):
        app_reference.App(pack, predict, {**metadata, "model_id": "0.2.0+00000000"}, prompts)


def test_the_app_folder_manifest_lists_every_file_with_its_checksum():
    manifest = json.loads((APP / "manifest.json").read_text())
    files = {f["name"]: f for f in manifest["files"]}
    on_disk = {
        p.relative_to(APP).as_posix()
        for p in APP.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(files) == on_disk
    for name, info in files.items():
        assert (APP / name).stat().st_size == info["bytes"]
        assert sha256(APP / name) == info["sha256"] and info["licence"]
    header, _ = read_binary_pack(APP / "reference-pack.kwrp")
    onnx_meta = onnx_predict(ONNX).metadata
    assert manifest["model_id"] == header["model_id"] == onnx_meta["model_id"]
    assert manifest["pack_version"] == header["pack_version"] == onnx_meta["pack_version"]
    assert any("KanjiVG" in a for a in manifest["attribution"])
    assert any("KANJIDIC2" in a for a in manifest["attribution"])
    prompts = json.loads((APP / "prompts.json").read_text())
    assert "KANJIDIC2" in prompts["attribution"] and prompts["kanji"]["書"]["meanings"]


def test_shipped_coreml_package_is_what_the_spec_says(bucket_sets):
    report = structural_report(APP / "grader.mlpackage")
    meta = report["metadata"]
    onnx_meta = onnx_predict(ONNX).metadata
    assert meta["model_id"] == onnx_meta["model_id"] == report["version"]
    assert json.loads(meta["labels"]) == list(LABELS)
    assert json.loads(meta["thresholds"]) == json.loads(onnx_meta["thresholds"])
    assert "KanjiVG" in meta["attribution"] and "CC BY-SA 3.0" in report["license"]
    assert bucket_sets(report) == set(shape_buckets())
    assert report["specification_version"] == 9 and report["unexpected_ops"] == []


@pytest.mark.macos
@pytest.mark.skipif(sys.platform != "darwin", reason="CoreML predicts only on macOS")
def test_coreml_passes_every_golden_case_on_macos():
    predict, metadata = app_reference.coreml_runtime(APP / "grader.mlpackage")
    assert app_reference.check_all(APP, predict, metadata, tolerance=2e-2) == []


@pytest.fixture(scope="module")
def app_pack():
    return app_reference.Pack((APP / "reference-pack.kwrp").read_bytes())


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_second_implementation_decodes_any_head_outputs_as_the_service_does(
    data, pack, app_pack
):
    """§7 against ``decoding.decode`` for random head outputs on real inputs: the order
    chosen, every rule (place, first stroke's place, look-alike lead, settled strokes) and
    the verdict, matched stroke, story and look-alike of every stroke agree."""
    char = data.draw(st.sampled_from(["土", "冑", "三", "十", "入", "妲", "右", "田"]))
    ref = pack[char]
    n = ref.stroke_count
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    count = data.draw(st.integers(1, n + 1))
    moved = data.draw(st.sampled_from([0.0, 0.15, 0.3]))  # of the box: the first stroke
    canvas = (400.0, 400.0)
    drawn = [np.asarray(ref.strokes[k % n]) * 3.3 + 20 + rng.normal(0, 2, 2) for k in range(count)]
    drawn[0] = drawn[0] + moved * 400 * np.array([np.cos(a := rng.uniform(0, 6.3)), np.sin(a)])
    settled = data.draw(st.integers(0, min(count, n) - 1)) if count > 1 else 0
    partners = partners_of(pack, char)
    inputs, orders = build_batch(ref, drawn, canvas, False, partners)
    items, width = len(orders) + len(partners), inputs["reference"].shape[1] + 1
    verdict = rng.dirichlet(np.full(len(LABELS), 0.3), (items, count))
    sure = rng.random((items, count)) < 0.5  # half the match rows sure of one stroke
    match = rng.dirichlet(np.full(width, 0.3), (items, count))
    match[sure] = np.eye(width)[rng.integers(0, width, int(sure.sum()))]
    t = DEFAULT_THRESHOLDS["standard"]
    ours = decode(verdict, match, orders, count, t, partners, settled, taps_of(drawn), inputs)
    boxes, app_orders = app_reference.request_inputs(
        app_pack, char, [s.tolist() for s in drawn], canvas
    )
    assert [tuple(o) for o in app_orders] == [tuple(o) for o in orders]
    taps = [False] * count
    theirs = app_reference.decode(
        verdict.tolist(), match.tolist(), app_orders, count, t, taps, settled,
        app_pack.partners(char), boxes,
    )  # fmt: skip
    assert list(theirs["order"]) == list(ours.order)
    for s, other in zip(ours.strokes, theirs["strokes"], strict=True):
        got = (other["verdict"], other["matched_index"], other["story"], other["lookalike"])
        assert (s.verdict, s.matched_index, s.story, s.lookalike) == got, (s, other)
    assert theirs["missing"] == list(ours.missing) and theirs["complete"] == ours.complete
