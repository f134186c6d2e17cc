"""The REST scoring service: contract, every error path, fuzzing against its own OpenAPI."""

import json
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.db import migrate
from kanjiwrite.serving.settings import Settings, shipped_model

DATABASE = f"sqlite:///{tempfile.mkdtemp()}/practice.db"
APP = create_app(Settings(model_path=shipped_model(), database_url=DATABASE))


@pytest.fixture(scope="module")
def client(pack):
    migrate(DATABASE)
    with TestClient(APP) as c:  # runs the lifespan: model loaded, warm-up done
        yield c


def scaled(pack, char, count=None, scale=3.0, shift=20.0):
    return [(s * scale + shift).round(1).tolist() for s in pack[char].strokes[:count]]


def test_correct_writing_is_accepted_stroke_by_stroke(client, pack):
    strokes = scaled(pack, "書")
    for k in range(1, len(strokes) + 1):
        body = {"kanji": "書", "strokes": strokes[:k], "canvas": {"width": 400, "height": 400}}
        response = client.post("/v1/score", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        last = data["strokes"][-1]
        assert last["verdict"] == "correct" and last["correct"] and last["p_correct"] > 0.5
        assert last["expected_index"] == k - 1 and last["message"] == f"Stroke {k} is right."
        assert data["missing"] == list(range(k, 10)) and data["complete"] == (k == 10)
    assert data["model_version"] and len(data["strokes"]) == 10


def test_settled_strokes_keep_the_orders_they_were_accepted_in(client, pack):
    """主 is written 0, 1, 2, 3, 4 or 0, 1, 3, 4, 2: with the first three strokes settled
    as 0, 1, 3 only the second order is graded, whatever the standard order would say; a
    ``settled_as`` no accepted order begins with, or of another length, is refused."""
    ref = pack["主"]
    alternative = next(o for o in ref.alternative_orders if o[:3] == (0, 1, 3))
    strokes = [(np.asarray(ref.strokes[i]) * 3 + 40).tolist() for i in alternative[:4]]
    body = {"kanji": "主", "strokes": strokes, "canvas": {"width": 400, "height": 400}}
    settled = {**body, "settled": 3, "settled_as": [0, 1, 3]}
    data = client.post("/v1/score", json=settled).json()
    assert [s["expected_index"] for s in data["strokes"]] == list(alternative[:4])
    assert data["strokes"][-1]["verdict"] == "correct"
    wrong = client.post("/v1/score", json={**settled, "settled_as": [0, 1, 4]})
    assert wrong.status_code == 422 and "no accepted stroke order of 主" in wrong.text
    short = client.post("/v1/score", json={**settled, "settled_as": [0, 1]})
    assert short.status_code == 422 and "settled_as" in short.text


def test_a_backwards_stroke_is_named(client, pack):
    strokes = scaled(pack, "書", 3)
    strokes[2] = strokes[2][::-1]
    data = client.post(
        "/v1/score",
        json={"kanji": "書", "strokes": strokes, "canvas": {"width": 400, "height": 400}},
    ).json()
    assert data["strokes"][2]["verdict"] == "wrong_direction"
    assert data["strokes"][2]["message"] == "Stroke 3 was drawn from the wrong end."
    assert 2 in data["missing"]


def test_timestamps_and_taps_are_accepted(client, pack):
    first = [[*p, 16.0 * i] for i, p in enumerate(scaled(pack, "十", 1)[0])]
    body = {
        "kanji": "十",
        "strokes": [first, [[50.0, 50.0]]],
        "canvas": {"width": 400, "height": 400},
    }
    data = client.post("/v1/score", json=body).json()
    assert data["strokes"][0]["verdict"] == "correct"
    assert data["strokes"][1]["verdict"] != "correct"  # a tap is not the long vertical


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kanji": "☃", "strokes": [[[1, 2], [3, 4]]]}, 404, "kanji"),
        ({"kanji": "書書", "strokes": [[[1, 2], [3, 4]]]}, 422, "kanji"),
        ({"kanji": "", "strokes": [[[1, 2], [3, 4]]]}, 422, "kanji"),
        ({"kanji": "書", "strokes": []}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[]]}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[[1]]]}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[[1, 2, 3, 4]]]}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[["1", 2]]]}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[[True, 2]]]}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[[1e12, 2]]]}, 422, "body"),
        ({"kanji": "書", "strokes": [[[1, 2]]] * 65}, 422, "strokes"),
        ({"kanji": "書", "strokes": [[[1, 2]] * 4097]}, 422, "strokes"),
        (
            {"kanji": "書", "strokes": [[[1, 2]]], "canvas": {"width": 0, "height": 10}},
            422,
            "canvas",
        ),
        ({"kanji": "書", "strokes": [[[1, 2]]], "canvas": {"width": -5}}, 422, "canvas"),
        ({"kanji": "書", "strokes": [[[1, 2]]], "extra": 1}, 422, "extra"),
        ({"strokes": [[[1, 2]]]}, 422, "kanji"),
        ([1, 2, 3], 422, "body"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(client, body, status, field):
    response = client.post("/v1/score", json=body)
    assert response.status_code == status, response.text
    assert field in json.dumps(response.json()["detail"])


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(client, literal):
    body = '{"kanji": "書", "strokes": [[[X, 1], [2, 3]]]}'.replace("X", literal)
    response = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "finite" in response.text


def test_malformed_json_and_content_type(client):
    bad = client.post(
        "/v1/score", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400 and bad.json()["detail"][0]["type"] == "json_invalid"
    form = client.post("/v1/score", content=b"kanji=x", headers={"content-type": "text/plain"})
    assert form.status_code == 415 and "application/json" in form.json()["detail"]
    body = json.dumps({"kanji": "十", "strokes": [[[20, 55], [90, 54]]]}).encode()
    shouted = client.post("/v1/score", content=body, headers={"content-type": "APPLICATION/JSON"})
    assert shouted.status_code == 200  # media types are case-insensitive


def test_canvas_numbers_are_numbers(client):
    body = {"kanji": "十", "strokes": [[[20, 55], [90, 54]]], "canvas": {"width": "109"}}
    answer = client.post("/v1/score", json=body)
    assert answer.status_code == 422 and "width" in answer.text


def test_the_demo_page_sends_security_headers(client):
    for path in ("/", "/static/app.js"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in client.get("/healthz").headers


def test_huge_bodies_are_refused(client):
    big = b'{"kanji": "' + b"x" * 1_100_000 + b'"}'
    declared = client.post("/v1/score", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413

    def chunks():  # no content-length: streamed
        for _ in range(12):
            yield b" " * 100_000

    streamed = client.post(
        "/v1/score", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_kanji_reference_endpoint(client, pack):
    data = client.get("/v1/kanji/主").json()
    assert data["stroke_count"] == 5 and len(data["strokes"]) == 5 and data["stroke_types"]
    assert [0, 1, 3, 4, 2] in data["alternative_orders"] and "KanjiVG" in data["attribution"]
    np.testing.assert_allclose(data["strokes"][0], pack["主"].strokes[0], atol=0.01)
    assert client.get("/v1/kanji/☃").status_code == 404
    assert client.get("/v1/kanji/ab").status_code == 404


def test_health_readiness_and_metrics(client, pack):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_id"].startswith(ready["model_version"] + "+")
    client.post(
        "/v1/score", json={"kanji": "十", "strokes": scaled(pack, "十", 1), "canvas": CANVAS}
    )
    text = client.get("/metrics").text
    assert 'kanjiwrite_requests_total{route="/v1/score",status="200"}' in text
    assert "kanjiwrite_request_seconds_bucket" in text and "kanjiwrite_grading_seconds" in text
    assert 'kanjiwrite_verdicts_total{verdict="correct"}' in text


def test_openapi_documents_the_contract(client):
    schema = client.get("/openapi.json").json()
    score = schema["paths"]["/v1/score"]["post"]
    assert {"200", "404", "413", "415", "422"} <= set(score["responses"])
    verdict = schema["components"]["schemas"]["StrokeVerdict"]["properties"]["verdict"]
    assert set(verdict["enum"]) == {
        "correct",
        "wrong_direction",
        "wrong_order",
        "wrong_shape",
        "misplaced",
        "extra",
    }
    assert client.get("/docs").status_code == 200


def test_no_torch_at_serve_time():
    code = (
        "import sys; from kanjiwrite.serving.app import create_app; create_app(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


fuzzed = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The service checks more than the schema can say (points near the canvas, body size), so
# schema-valid data may get a 422 or 413: the data-acceptance checks are left out; every
# response must still be a non-5xx, documented status with a body matching the schema.
SEMANTIC = [positive_data_acceptance, negative_data_rejection]


@fuzzed.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_never_a_server_error(case, client):
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response, excluded_checks=SEMANTIC)


CANVAS = {"width": 400, "height": 400}


def test_strictness_levels_apply_the_models_thresholds(client, pack):
    contract = client.get("/v1/contract").json()
    assert contract["strictness"] == ["lenient", "standard", "strict"]
    thresholds = contract["thresholds"]
    assert thresholds["lenient"] <= thresholds["standard"] <= thresholds["strict"]
    rng = np.random.default_rng(3)
    strokes = [
        (np.array(s) + rng.normal(0, 4, np.shape(s))).round(1).tolist()
        for s in scaled(pack, "書", 6)
    ]
    answers = {}
    for level in contract["strictness"]:
        body = {"kanji": "書", "strokes": strokes, "strictness": level, "canvas": CANVAS}
        answers[level] = client.post("/v1/score", json=body).json()["strokes"]
        for stroke in answers[level][-1:]:
            assert stroke["correct"] == (stroke["p_correct"] >= thresholds[level] - 5e-5)
    assert len({a[-1]["p_correct"] for a in answers.values()}) == 1
    body = {"kanji": "書", "strokes": strokes, "strictness": "harsh", "canvas": CANVAS}
    bad = client.post("/v1/score", json=body)
    assert bad.status_code == 422 and "strictness" in bad.text


def test_a_stroke_written_too_early_names_the_rule(client, pack):
    vertical = scaled(pack, "十")[1]
    body = {"kanji": "十", "strokes": [vertical], "canvas": CANVAS}
    answer = client.post("/v1/score", json=body).json()
    (stroke,) = answer["strokes"]
    assert stroke["verdict"] == "wrong_order" and stroke["matched_index"] == 1
    assert stroke["rule"] == "horizontal_before_vertical"
    assert "before the vertical that crosses it" in stroke["message"]


def test_metrics_are_labelled_by_route_template_and_stay_bounded(client):
    """Finding 2: 1,000 random paths add one series, not 1,000."""
    client.get("/v1/kanji/書")
    client.get("/v1/me/queue")
    before = len(client.get("/metrics").text)
    for i in range(1000):
        client.get(f"/no/such/path/{i}")
    text = client.get("/metrics").text
    assert "/no/such" not in text and "書" not in text
    assert 'route="/v1/me/queue"' in text
    assert 'route="/v1/kanji/{kanji}"' in text and 'route="unmatched"' in text
    assert len(text) < before + 2000  # one more series at most
