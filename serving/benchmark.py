"""Load test of the scoring service on 127.0.0.1 only, bounded in requests and time.

Starts ``kanjiwrite serve`` on a free loopback port, then drives it with ``wrk`` (Debian
package ``wrk``): one connection sending requests back to back; N concurrent connections
for a fixed time. Requests are realistic: a 10-stroke
kanji, human-like strokes of about 30 points. In the same run it times the bare ONNX
inference of the same requests, so the HTTP overhead is visible.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.kanjivg import load_pack

HOST = "127.0.0.1"


def requests(count: int = 64, strokes: int = 10, seed: int = 0) -> list[dict]:
    """Realistic bodies: attempts at 10-stroke kanji, strokes resampled to about 30 points."""
    from kanjiwrite.datasets.strokes import resample

    pack = load_pack()
    chars = [c for c in pack.chars if pack[c].stroke_count == strokes][:count]
    rng = np.random.default_rng(seed)
    bodies = []
    for char in chars:
        drawn, canvas = humanize(pack[char].strokes, rng)
        points = [np.round(resample(s, int(rng.integers(25, 36))), 1).tolist() for s in drawn]
        bodies.append(
            {"kanji": char, "strokes": points, "canvas": {"width": canvas[0], "height": canvas[1]}}
        )
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, KANJIWRITE_LOG_LEVEL="info")  # the access log on, as served
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kanjiwrite.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("the service did not become ready")


WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("KANJIWRITE_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def load(url: str, bodies: list[dict], clients: int, seconds: float) -> dict:
    """Drive the service with wrk (Debian's ``wrk``): ``clients`` connections, each sending
    requests back to back for ``seconds``; latency percentiles from wrk's own histogram."""
    import json
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        lines = Path(folder) / "bodies.jsonl"
        lines.write_text("\n".join(json.dumps(b, ensure_ascii=False) for b in bodies) + "\n")
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT)
        result = subprocess.run(
            [
                "wrk",
                "-t",
                str(min(clients, 2)),
                "-c",
                str(clients),
                "-d",
                f"{seconds:g}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            env=dict(os.environ, KANJIWRITE_BODIES=str(lines)),
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    out = result.stdout

    def milliseconds(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": requests,
        "errors": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": milliseconds("50"),
        "p99_ms": milliseconds("99"),
    }


def bare_inference(bodies: list[dict], repeats: int = 3) -> dict:
    """The same requests graded in-process with ONNX Runtime (one thread), no HTTP."""
    from kanjiwrite.models.decoding import grade
    from kanjiwrite.serving.scorer import Scorer
    from kanjiwrite.serving.settings import Settings

    scorer = Scorer(Settings())
    pack = scorer.pack
    samples = []
    for repeat in range(repeats + 1):  # the first pass warms up ONNX Runtime
        for body in bodies:
            strokes = [np.array(s) for s in body["strokes"]]
            started = time.perf_counter()
            grade(
                scorer.predict,
                pack[body["kanji"]],
                strokes,
                (body["canvas"]["width"], body["canvas"]["height"]),
                prefixes=False,  # as the service grades a request
            )
            if repeat:
                samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.median(samples)), "p99_ms": float(np.percentile(samples, 99))}


def run(workers: int = 2, seconds: float = 60.0, clients: int = 16) -> dict:
    bodies = requests()
    port = free_port()
    url = f"http://{HOST}:{port}/v1/score"
    server = start_server(port, workers)
    try:
        load(url, bodies, 1, 3.0)  # warm-up
        sequential = load(url, bodies, 1, min(seconds, 20.0))
        concurrent = load(url, bodies, clients, seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "workers": workers,
        "sequential": sequential,
        "concurrent": concurrent,
        "bare_inference": bare_inference(bodies),
    }


def largest_bodies(max_bytes: int) -> tuple[dict, dict, str]:
    """The largest valid ``/v1/score`` body (64 strokes) and the largest review (256
    strokes, the costliest to grade: see below) on the longest kanji, as many points per
    stroke as fit in ``max_bytes``."""
    import json

    from kanjiwrite.datasets.contract import MAX_STROKES
    from kanjiwrite.datasets.strokes import resample

    pack = load_pack()
    kanji = pack.longest()
    strokes = [s * 3 + 40 for s in pack[kanji].strokes]
    canvas = {"width": 400, "height": 400}

    def body(drawn: list[np.ndarray], points: int) -> dict:
        return {
            "kanji": kanji,
            "strokes": [np.round(resample(s, points), 1).tolist() for s in drawn],
            "canvas": canvas,
        }

    def fill(drawn: list[np.ndarray]) -> dict:
        points = 2
        while len(json.dumps(body(drawn, points * 2))) < max_bytes - 2000:
            points *= 2
        step = points // 2
        while step:
            if len(json.dumps(body(drawn, points + step))) < max_bytes - 2000:
                points += step
            step //= 2
        return body(drawn, points)

    score = fill([strokes[i % len(strokes)] for i in range(MAX_STROKES)])
    # the most grading work: two misses (a third would settle the rating), then every
    # stroke right; the strokes after the last one fill the body but are never graded
    attempt = [strokes[0][::-1], strokes[-1], *strokes]
    review = fill([attempt[i % len(attempt)] for i in range(4 * MAX_STROKES)])
    del review["kanji"]  # in the path
    return score, review, kanji


def request_costs(repeats: int = 5) -> dict:
    """Per-request cost of the largest valid ``/v1/score`` and review, in process through the
    whole app (JSON, validation, grading, storage) on one core (ONNX Runtime with one thread);
    the review with the client's ``accepted`` claims (what the demo sends), without them, and
    as the plain replay costs (one inference per stroke, every stroke graded), same run."""
    import json
    import tempfile

    from fastapi.testclient import TestClient

    from kanjiwrite.models.decoding import grade
    from kanjiwrite.serving.app import create_app
    from kanjiwrite.serving.db import migrate
    from kanjiwrite.serving.settings import Settings

    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/bench.db"
    migrate(url)
    settings = Settings(database_url=url, onnx_threads=1, rate_limit_reviews="100000/minute")
    score, review, kanji = largest_bodies(settings.max_body_bytes)

    def timed(send) -> list[float]:
        samples = []
        for _ in range(repeats + 1):  # the first one warms up
            started = time.perf_counter()
            response = send()
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text[:300]
        return samples[1:]

    with TestClient(create_app(settings)) as client:
        token = client.post("/v1/learners").json()["learner_token"]
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/v1/me/cards", json={"kanji": [kanji]}, headers=auth)
        never = {"daily_new": 10, "strictness": "standard", "exam": "never", "reveal_after": 3}
        client.put("/v1/me/settings", json=never, headers=auth)  # every review is replayed
        scorer = client.app.state.scorer
        ref = scorer.pack[kanji]
        drawn = [np.array(s) for s in review["strokes"]]
        started = time.perf_counter()
        accepted, claims = [], []
        for stroke in drawn:  # the replay as it was: one inference call per stroke
            if len(accepted) == ref.stroke_count:
                claims.append(False)
                continue
            result = grade(scorer.predict, ref, [*accepted, stroke], (400, 400), prefixes=False)
            claims.append(result.strokes[-1].verdict == "correct")
            accepted += [stroke] if claims[-1] else []
        per_stroke_ms = (time.perf_counter() - started) * 1000
        encoded = {
            "score": json.dumps(score).encode(),
            "review": json.dumps({**review, "accepted": claims}).encode(),
            "review without claims": json.dumps(review).encode(),
        }
        headers = {"content-type": "application/json", **auth}
        path = f"/v1/me/cards/{kanji}/reviews"
        score_ms = timed(
            lambda: client.post("/v1/score", content=encoded["score"], headers=headers)
        )
        review_ms = timed(lambda: client.post(path, content=encoded["review"], headers=headers))
        unclaimed_ms = timed(
            lambda: client.post(path, content=encoded["review without claims"], headers=headers)
        )

    def figures(samples: list[float], body: dict) -> dict:
        return {
            "bytes": len(json.dumps(body)),
            "strokes": len(body["strokes"]),
            "points_per_stroke": len(body["strokes"][0]),
            "median_ms": round(float(np.median(samples)), 1),
            "max_ms": round(float(np.max(samples)), 1),
        }

    return {
        "kanji": kanji,
        "score": {**figures(score_ms, score), "budget_ms": 50},
        "review": {
            **figures(review_ms, review),
            "budget_ms": 100,
            "without_claims_median_ms": round(float(np.median(unclaimed_ms)), 1),
            "one_call_per_stroke_ms": round(per_stroke_ms, 1),
        },
    }
