"""Load test of the scoring service on 127.0.0.1 only, bounded in requests and time, and
the per-request costs of the largest requests and of the stats view.

``run`` starts ``kanjiwrite serve`` on a free loopback port, then drives it with ``wrk``
(Debian package ``wrk``): one connection sending requests back to back; N concurrent
connections for a fixed time; ``/healthz`` alone. Requests are the realistic mix of
``profile.realistic_mix`` (what the demo sends, errors included). Beside it, the per-stage
split of the same mix from one in-process profile (``profile.stage_profile``). Given
another checkout (``baseline``, with its ``.venv``), the same load runs against its service
too, for old and new side by side.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.kanjivg import load_pack

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, checkout: Path | None = None) -> subprocess.Popen:
    """``kanjiwrite serve`` of this checkout, or of another one (its ``.venv``, run in its
    folder so that its own code is imported)."""
    python = str(checkout / ".venv" / "bin" / "python") if checkout else sys.executable
    import tempfile

    env = dict(
        os.environ,
        KANJIWRITE_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/bench.db",
        KANJIWRITE_LOG_LEVEL="info",  # the access log on, as served
        KANJIWRITE_RATE_LIMIT_SCORE="1000000000/minute",  # the load comes from one address
    )
    process = subprocess.Popen(
        [
            python,
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
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    deadline = time.time() + 300  # a busy machine starts 2 workers slowly
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
    return wrk_figures(result.stdout, clients, seconds)


def wrk_figures(out: str, clients: int, seconds: float) -> dict:
    """Requests, errors, req/s, p50 and p99 from wrk's output (``--latency``)."""
    import re

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


def healthz(url: str, seconds: float = 5.0) -> dict:
    """``/healthz`` with one connection back to back (wrk, GET)."""
    result = subprocess.run(
        ["wrk", "-t", "1", "-c", "1", "-d", f"{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return wrk_figures(result.stdout, 1, seconds)


def service_load(
    checkout: Path | None, workers: int, bodies: list[dict], seconds: float, clients: int
) -> dict:
    """The realistic mix against one service: 1 client, ``clients`` clients, /healthz."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    server = start_server(port, workers, checkout)
    try:
        load(url + "/v1/score", bodies, 1, 3.0)  # warm-up
        return {
            "one_client": load(url + "/v1/score", bodies, 1, min(seconds, 20.0)),
            f"{clients}_clients": load(url + "/v1/score", bodies, clients, seconds),
            "healthz": healthz(url + "/healthz"),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(
    workers: int = 2, seconds: float = 30.0, clients: int = 16, baseline: Path | None = None
) -> dict:
    """Load figures of this service (and of the ``baseline`` checkout's: the same mix, the
    same run, without ``settled_as``, which services before it refuse) and the in-process
    stage profile of the mix."""
    from kanjiwrite.serving.profile import realistic_mix, stage_profile

    bodies = realistic_mix()
    figures = {"workers": workers, "requests_in_mix": len(bodies)}
    if baseline:
        plain = [{k: v for k, v in b.items() if k != "settled_as"} for b in bodies]
        figures["baseline"] = service_load(baseline, workers, plain, seconds, clients)
    figures["service"] = service_load(None, workers, bodies, seconds, clients)
    figures["stages"] = stage_profile(bodies)
    return figures


def largest_bodies(max_bytes: int, kanji: str | None = None) -> tuple[dict, dict, str]:
    """The largest valid ``/v1/score`` body (as many strokes as ``scorer.MAX_WORK`` allows)
    and the largest review (256 strokes, the costliest to grade: see below) on the kanji
    costliest to grade (most strokes x accepted orders) or on ``kanji``, as many points per
    stroke as fit in ``max_bytes``."""

    from kanjiwrite.datasets.contract import MAX_STROKES
    from kanjiwrite.datasets.strokes import resample
    from kanjiwrite.serving.scorer import MAX_WORK

    pack = load_pack()
    kanji = kanji or pack.costliest()
    most = min(MAX_STROKES, MAX_WORK // len(pack[kanji].orders()))
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

    score = fill([strokes[i % len(strokes)] for i in range(most)])
    # the most grading work: two misses (a third would settle the rating), then every
    # stroke right; the strokes after the last one fill the body but are never graded
    attempt = [strokes[0][::-1], strokes[-1], *strokes]
    review = fill([attempt[i % len(attempt)] for i in range(4 * MAX_STROKES)])
    del review["kanji"]  # in the path
    return score, review, kanji


def timed(send, repeats: int) -> list[float]:
    """Milliseconds of ``repeats`` calls of ``send`` (after one to warm up), each answered 200."""
    samples = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        response = send()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return samples[1:]


def figures(samples: list[float], body: dict) -> dict:
    """Size and timing of one benchmarked request body."""
    return {
        "bytes": len(json.dumps(body)),
        "strokes": len(body["strokes"]),
        "points_per_stroke": len(body["strokes"][0]),
        "median_ms": round(float(np.median(samples)), 1),
        "max_ms": round(float(np.max(samples)), 1),
    }


def request_costs(repeats: int = 5, kanji: str | None = None) -> dict:
    """Per-request cost of the largest valid ``/v1/score`` and review on the kanji costliest
    to grade (most strokes x accepted orders), in process through the
    whole app (JSON, validation, grading, storage) on one core (ONNX Runtime with one thread);
    the review with the client's ``accepted`` claims (what the demo sends), without them, and
    as the plain replay costs (one inference per stroke, every stroke graded), same run."""
    import tempfile

    from fastapi.testclient import TestClient

    from kanjiwrite.models.replay import replay
    from kanjiwrite.serving.app import create_app
    from kanjiwrite.serving.db import migrate
    from kanjiwrite.serving.settings import Settings

    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/bench.db"
    migrate(url)
    unlimited = "100000000/minute"
    settings = Settings(
        database_url=url,
        onnx_threads=1,
        rate_limit_reviews=unlimited,
        rate_limit_score=unlimited,
    )
    score, review, kanji = largest_bodies(settings.max_body_bytes, kanji)

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
        partners = scorer.partners(kanji)
        run = replay(scorer.predict, ref, drawn, (400, 400), partners=partners)  # a call a stroke
        claims = [j in run.accepted for j in range(len(drawn))]
        per_stroke_ms = (time.perf_counter() - started) * 1000
        encoded = {
            "score": json.dumps(score).encode(),
            "review": json.dumps({**review, "accepted": claims}).encode(),
            "review without claims": json.dumps(review).encode(),
        }
        headers = {"content-type": "application/json", **auth}
        path = f"/v1/me/cards/{kanji}/reviews"
        score_ms = timed(
            lambda: client.post("/v1/score", content=encoded["score"], headers=headers), repeats
        )
        review_ms = timed(
            lambda: client.post(path, content=encoded["review"], headers=headers), repeats
        )
        unclaimed_ms = timed(
            lambda: client.post(path, content=encoded["review without claims"], headers=headers),
            repeats,
        )

    return {
        "kanji": kanji,
        "stroke_orders": len(ref.orders()),
        "score": {**figures(score_ms, score), "budget_ms": 50},
        "review": {
            **figures(review_ms, review),
            "budget_ms": 100,
            "without_claims_median_ms": round(float(np.median(unclaimed_ms)), 1),
            "one_call_per_stroke_ms": round(per_stroke_ms, 1),
        },
    }


def practised_store(count: int, now):
    """A SQLite practice store with one learner of 3,000 cards and ``count`` review logs
    spread over the year before ``now`` (and their per-day counters)."""
    import tempfile
    from datetime import timedelta

    from sqlalchemy import insert, select

    from kanjiwrite.serving.db import CardRow, ReviewDayRow, ReviewLogRow, migrate
    from kanjiwrite.serving.practice_store import PracticeStore

    chars = load_pack().chars[:3000]
    url = f"sqlite:///{tempfile.mkdtemp()}/stats.db"
    migrate(url)
    store = PracticeStore(url, {})
    learner = store.learner_of(store.create_learner(now))
    store.add_cards(learner, chars, now)
    with store.writes.begin() as session:
        cards = dict(session.execute(select(CardRow.kanji, CardRow.id)).all())
        logs = [
            {
                "card_id": cards[chars[i % len(chars)]],
                "learner_id": learner,
                "kanji": chars[i % len(chars)],
                "rating": 1 + i % 4,
                "reviewed_at": now - timedelta(minutes=i * 365 * 1440 // max(count, 1)),
                "first_review": int(i < len(chars)),
                "misses": "[0]",
                "hints": 0,
                "model_id": "bench",
                "scheduled_days": 1.0,
            }
            for i in range(count)
        ]
        for start in range(0, count, 50_000):
            session.execute(insert(ReviewLogRow), logs[start : start + 50_000])
        days: dict = {}
        for log in logs:
            day = days.setdefault(log["reviewed_at"].date(), [0, 0, 0])
            repeat = 1 - log["first_review"]
            day[0], day[1], day[2] = (
                day[0] + 1,
                day[1] + repeat,
                day[2] + repeat * (log["rating"] != 1),
            )
        rows = [
            {"learner_id": learner, "day": d, "reviews": n, "repeats": r, "recalled": k}
            for d, (n, r, k) in days.items()
        ]
        if rows:
            session.execute(insert(ReviewDayRow), rows)
    return store, learner


def stats_costs(log_counts=(0, 10_000, 100_000, 300_000), repeats: int = 5) -> list[dict]:
    """The stats view's store call for a learner with each number of review logs (SQLite,
    3,000 cards, a year of reviews), beside reading every log (what the stats did before
    the per-day counters) on the same database."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from kanjiwrite.serving.db import ReviewLogRow

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)

    def timed(call) -> float:
        samples = []
        for _ in range(repeats + 1):  # the first one warms up
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        return round(float(np.median(samples[1:])), 1)

    figures = []
    for count in log_counts:
        store, learner = practised_store(count, now)
        every_log = select(ReviewLogRow.reviewed_at, ReviewLogRow.rating).where(
            ReviewLogRow.learner_id == learner
        )

        def read_every_log(store=store, query=every_log):
            with store.sessions() as session:
                session.execute(query).all()

        figures.append(
            {
                "logs": count,
                "stats_ms": timed(lambda store=store, learner=learner: store.stats(learner, now)),
                "reading_every_log_ms": timed(read_every_log),
                "budget_ms": 50,
            }
        )
        store.dispose()
    return figures
