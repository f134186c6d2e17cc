"""A realistic request mix for the scoring service and the per-stage profile of its path.

The mix is what the demo sends: attempts at kanji of 1 to 30 strokes written by hand
(``augment.humanize``), each request the strokes accepted so far (and what they were
accepted as: ``settled_as``) plus the new one, about one
new stroke in ten wrong (every kind of stroke error, order errors included: ``errors
.corrupt``), plus the kanji costliest to grade (most strokes x stroke orders).

The stage profile grades the mix in process through the public path (``ScoreRequest``,
``Scorer.grade``, ``explain``, the response) and splits each request's time: ``parse``
(JSON and validation), ``batch`` (model inputs: up to the inference call), ``inference``
(the ONNX call), ``decode`` (after it, to the verdicts), ``messages`` (rules and
sentences), ``response`` (the response model, JSON), ``middleware`` (the app around them:
routing, dependencies, middleware, the ASGI exchange; the whole request in process less
the stages). Stage times are also given as ratios to a fixed CPU workload timed just
before each request (``calibration``: the same machine state), so figures from machines of
different speed or load compare: the CI check fails when a stage's ratio exceeds twice its
recorded one (``RECORDED``).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.contract import STROKE_ERRORS
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, Donors, corrupt
from kanjiwrite.datasets.kanjivg import ReferencePack, load_pack
from kanjiwrite.datasets.strokes import resample

STAGES = ("parse", "batch", "inference", "decode", "messages", "response", "middleware")
RECORDED = Path(__file__).parent / "stage_profile.json"  # ratios to the calibration
WRONG_SHARE = 0.1  # of new strokes


def realistic_mix(count: int = 120, seed: int = 0, pack: ReferencePack | None = None) -> list[dict]:
    """``/v1/score`` bodies as the demo sends them (see the module doc); the kanji cycle
    through stroke counts 1 to 30, and every tenth body is at the costliest kanji."""
    pack = pack or load_pack()
    rng = np.random.default_rng(seed)
    counts = pack.stroke_counts()
    by_count = {
        n: [c for c, k in zip(pack.chars, counts, strict=True) if k == n] for n in range(1, 31)
    }
    donors = Donors([s for c in pack.chars[:200] for s in pack[c].strokes])
    bodies = []
    for i in range(count):
        if i % 10 == 9:
            kanji = pack.costliest()
        else:
            choices = by_count[1 + i % 30] or by_count[10]
            kanji = choices[int(rng.integers(len(choices)))]
        bodies.append(demo_request(pack[kanji], rng, donors))
    return bodies


def demo_request(ref, rng: np.random.Generator, donors: Donors) -> dict:
    """One request of an attempt at ``ref``: the strokes accepted so far (right) and the new
    one, wrong with probability ``WRONG_SHARE`` (a random kind of stroke error)."""
    k = int(rng.integers(ref.stroke_count))
    strokes = list(ref.strokes[: k + 1])
    if rng.random() < WRONG_SHARE:
        forbidden = {o[k] for o in ref.orders()[1:]}
        for label in rng.permutation(STROKE_ERRORS):
            made = corrupt(ref.strokes, k, str(label), rng, DEFAULT_ERRORS, donors, forbidden)
            if made is not None:
                strokes[k] = made[0]
                break
    drawn, canvas = humanize(strokes, rng)
    points = [np.round(resample(s, int(rng.integers(20, 40))), 1).tolist() for s in drawn]
    return {
        "kanji": ref.char,
        "strokes": points,
        "canvas": {"width": round(canvas[0], 1), "height": round(canvas[1], 1)},
        "settled": k,
        "settled_as": list(range(k)),  # accepted in the standard order, as the demo says
    }


CALIBRATION_BODY = json.dumps({"strokes": [[[i, i * 2.5] for i in range(30)] for _ in range(10)]})
CALIBRATION_MATRIX = np.linspace(0, 1, 48 * 48).reshape(48, 48)


def calibration() -> float:
    """Seconds of a fixed CPU workload (JSON, a Python loop, small numpy), timed before
    every profiled request so that it shares the machine's state with it: the unit of the
    stage ratios."""
    started = time.perf_counter()
    for _ in range(4):
        parsed = json.loads(CALIBRATION_BODY)
        np.array(parsed["strokes"]) @ np.ones((2, 8))
        sum(i * i for i in range(1000))
        CALIBRATION_MATRIX @ CALIBRATION_MATRIX
    return time.perf_counter() - started


class TimedPredict:
    """A ``predict`` that notes when its last call started and ended."""

    def __init__(self, predict):
        self.predict, self.started, self.ended = predict, 0.0, 0.0
        self.metadata = getattr(predict, "metadata", {})

    def __call__(self, inputs):
        self.started = time.perf_counter()
        try:
            return self.predict(inputs)
        finally:
            self.ended = time.perf_counter()


def stage_profile(bodies: list[dict], repeats: int = 3) -> dict:
    """Median and p99 ms per stage over ``bodies`` (``repeats`` passes after a warm-up),
    their ratios to ``calibration``, and the whole request in process."""
    from fastapi.testclient import TestClient

    from kanjiwrite.models.messages import explain
    from kanjiwrite.serving.app import create_app
    from kanjiwrite.serving.schemas import ScoreRequest
    from kanjiwrite.serving.scoring_routes import score_response
    from kanjiwrite.serving.settings import Settings

    encoded = [json.dumps(b).encode() for b in bodies]
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    ratios: dict[str, list[float]] = {stage: [] for stage in STAGES}
    wholes, units = [], []
    settings = Settings(
        database_url="sqlite:///unused.db",
        rate_limit_score="1000000000/minute",
        log_level="warning",
        onnx_threads=1,
    )
    app = create_app(settings)

    async def one_pass(keep: bool) -> None:
        for body in encoded:
            unit = calibration()
            t0 = time.perf_counter()
            request = ScoreRequest.model_validate_json(body)
            t1 = time.perf_counter()
            result = scorer.grade(
                request.kanji,
                request.strokes,
                request.canvas_size(),
                request.strictness,
                request.settled,
                request.settled_as,
            )
            t2 = time.perf_counter()
            called, returned = timed.started, timed.ended
            explained = explain(
                scorer.reference(request.kanji), result, scorer.partners(request.kanji)
            )
            t3 = time.perf_counter()
            score_response(scorer, request.kanji, result, explained)
            t4 = time.perf_counter()
            whole = await in_process(app, body)
            if not keep:
                continue
            stages = {
                "parse": t1 - t0,
                "batch": called - t1,
                "inference": returned - called,
                "decode": t2 - returned,
                "messages": t3 - t2,
                "response": t4 - t3,
            }
            stages["middleware"] = max(0.0, whole - sum(stages.values()))
            for stage, seconds in stages.items():
                times[stage].append(seconds * 1000)
                ratios[stage].append(seconds / unit)
            wholes.append(whole * 1000)
            units.append(unit * 1000)

    with TestClient(app):  # the lifespan: model, pack, metrics
        scorer = app.state.scorer
        scorer.predict = timed = TimedPredict(scorer.predict)
        for repeat in range(repeats + 1):  # the first pass warms up
            asyncio.run(one_pass(keep=repeat > 0))
    return {
        "requests": len(bodies),
        "calibration_ms": round(float(np.median(units)), 3),
        "stages_ms": {s: round(float(np.median(v)), 3) for s, v in times.items()},
        "stages_p99_ms": {s: round(float(np.percentile(v, 99)), 3) for s, v in times.items()},
        "ratios": {s: round(float(np.median(v)), 4) for s, v in ratios.items()},
        "in_process_ms": {
            "p50": round(float(np.median(wholes)), 3),
            "p99": round(float(np.percentile(wholes, 99)), 3),
        },
    }


async def in_process(app, body: bytes) -> float:
    """Seconds the app takes for one ``POST /v1/score`` over ASGI (no HTTP server)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/v1/score",
        "raw_path": b"/v1/score",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    status = sent[0]["status"]
    if status != 200:
        raise RuntimeError(f"/v1/score answered {status}: {sent[-1].get('body', b'')[:200]!r}")
    return elapsed


def regressions(profile: dict, recorded: dict, factor: float = 2.0) -> dict[str, float]:
    """Stages whose ratio is more than ``factor`` times the recorded one: how many times."""
    return {
        stage: round(profile["ratios"][stage] / recorded[stage], 2)
        for stage in STAGES
        if profile["ratios"][stage] > factor * recorded[stage]
    }
