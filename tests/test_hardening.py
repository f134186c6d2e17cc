"""The security review's findings (issue #14), each reproduced against the service: secrets
out of URLs, metrics and logs; slow bodies; a busy worker; start-up failures; offline docs."""

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.db import MIGRATIONS, migrate
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.settings import Settings

CANVAS = {"width": 400, "height": 400}


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/practice.db"
    migrate(url)
    return url


def test_tokens_never_appear_in_urls_metrics_or_logs(database, pack, service_log):
    """Finding 1: the learner token travels in a header; the access log and /metrics carry
    route templates only."""
    with TestClient(create_app(Settings(database_url=database))) as client:
        token = client.post("/v1/learners").json()["learner_token"]
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/v1/me/cards", json={"kanji": ["口"]}, headers=auth)
        strokes = [(s * 3 + 40).round(1).tolist() for s in pack["口"].strokes]
        body = {"strokes": strokes, "canvas": CANVAS}
        assert client.post("/v1/me/cards/口/reviews", json=body, headers=auth).status_code == 200
        assert client.get("/v1/me/queue", headers=auth).status_code == 200
        assert client.get(f"/v1/learners/{token}/queue").status_code == 404  # the old paths
        client.get(f"/v1/kanji/書?token={token}")
        metrics = client.get("/metrics").text
    text = "\n".join(r.getMessage() for r in service_log)
    requests = [json.loads(r.getMessage()) for r in service_log]
    requests = [line for line in requests if line["event"] == "request"]
    assert token not in metrics and token not in text
    assert {"/v1/me/queue", "/v1/me/cards/{kanji}/reviews", "unmatched"} <= {
        line["route"] for line in requests
    }
    assert all(
        set(line) == {"event", "method", "route", "status", "ms", "model_id"} for line in requests
    )
    assert all(line["model_id"] for line in requests)


def test_existing_learners_keep_their_token_after_the_migration(tmp_path):
    """Before 0002 the learner id was the token: the migration stores its hash instead."""
    url = f"sqlite:///{tmp_path}/old.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0001")
    import sqlite3

    old = "0123456789abcdef0123456789abcdef"
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("INSERT INTO learners VALUES (?, '2026-01-01 00:00:00')", (old,))
        db.execute(
            "INSERT INTO cards (learner_id, kanji, state, step, due, reps, lapses, created_at) "
            "VALUES (?, '口', 1, 0, '2026-01-01 00:00:00', 0, 0, '2026-01-01 00:00:00')",
            (old,),
        )
    migrate(url)
    store = PracticeStore(url, {})
    learner = store.learner_of(old)
    assert learner and learner != old
    assert store.stats(learner, store_now()).cards == 1
    dump = "\n".join(sqlite3.connect(tmp_path / "old.db").iterdump())
    assert old not in dump
    store.dispose()


def store_now():
    from kanjiwrite.serving.practice_store import utc_now

    return utc_now()


def trickle(chunks: int, pause: float):
    async def body():
        for _ in range(chunks):
            await asyncio.sleep(pause)
            yield b" "

    return body()


def test_a_trickled_body_gets_408(database):
    """Finding 4: a body that does not arrive within the deadline is answered 408."""
    app = create_app(Settings(database_url=database, body_timeout_s=0.3))

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                "/v1/score",
                content=trickle(20, 0.05),
                headers={"content-type": "application/json"},
            )

    with TestClient(app):  # lifespan: model loaded
        response = asyncio.run(run())
    assert response.status_code == 408 and "0.3 s" in response.json()["detail"]


def test_a_busy_worker_answers_503_with_retry_after(database):
    """Finding 3: beyond the concurrency limit a request is refused at once, not queued
    (a request holds a slot while it is handled, not while its body trickles in)."""
    app = create_app(Settings(database_url=database, max_concurrent_requests=1))

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            slow = asyncio.create_task(client.post("/v1/learners"))
            await asyncio.sleep(0.1)  # the slow request holds the only slot
            busy = await client.get("/v1/contract")
            health = await client.get("/healthz")
            await slow
            after = await client.get("/v1/contract")
            return busy, health, after

    with TestClient(app):
        create_learner = app.state.practice.create_learner

        def slow_create_learner(*args):  # a handler that holds its slot (in a thread)
            time.sleep(0.5)
            return create_learner(*args)

        app.state.practice.create_learner = slow_create_learner
        busy, health, after = asyncio.run(run())
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert health.status_code == 200 and after.status_code == 200


def test_metrics_can_require_a_token(database):
    settings = Settings(database_url=database, metrics_token="s3cret-scraper")
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper"})
        assert good.status_code == 200 and "kanjiwrite_requests_total" in good.text


def test_docs_are_served_from_local_files(database):
    """Finding 10: /docs and /redoc load nothing from a CDN."""
    with TestClient(create_app(Settings(database_url=database))) as client:
        for page, asset in (
            ("/docs", "/docs-assets/swagger-ui-bundle.js"),
            ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
        ):
            html = client.get(page).text
            assert "cdn" not in html.lower() and "https://" not in html.split("<body")[1]
            assert asset in html and client.get(asset).status_code == 200


def test_start_up_failures_exit_non_zero_with_one_line(tmp_path, serve):
    """Finding 8: a corrupt model with 2 workers, a wrong database URL, :memory:."""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx model")
    cases = [
        {"KANJIWRITE_MODEL_PATH": str(corrupt), "KANJIWRITE_WORKERS": "2"},
        {"KANJIWRITE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
        {"KANJIWRITE_DATABASE_URL": "sqlite:///:memory:"},
        {"KANJIWRITE_MODEL_PATH": str(tmp_path / "missing.onnx")},
    ]
    for env in cases:
        result = serve(tmp_path, **env)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1, (env, result.stderr[-500:])
        assert len(lines) == 1 and lines[0].startswith("kanjiwrite serve: cannot start"), lines
    assert "memory" in serve(tmp_path, KANJIWRITE_DATABASE_URL="sqlite:///:memory:").stderr


def test_an_aborted_upload_is_one_log_line(database, service_log):
    """Finding 9: a client that disconnects mid-body leaves one line, no traceback."""
    app = create_app(Settings(database_url=database))

    async def run():
        messages = iter(
            [
                {"type": "http.request", "body": b'{"kanji": "', "more_body": True},
                {"type": "http.disconnect"},
            ]
        )
        sent = []

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/score",
            "headers": [(b"content-type", b"application/json")],
            "query_string": b"",
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "scheme": "http",
            "root_path": "",
        }
        await app(scope, receive, send)
        return sent

    with TestClient(app):
        sent = asyncio.run(run())
    lines = [json.loads(r.getMessage()) for r in service_log]
    assert [line["status"] for line in lines if line["event"] == "request"] == [499]
    assert not [r for r in service_log if r.exc_info]
    assert [m["status"] for m in sent if "status" in m] == [499]


def test_serving_versions_are_pinned_for_make_run_and_the_dockerfile():
    repo = Path(__file__).resolve().parents[1]
    constraints = (repo / "serving" / "constraints.txt").read_text().splitlines()
    pins = dict(
        line.split("==") for line in constraints if "==" in line and not line.startswith("#")
    )
    assert {"fastapi", "uvicorn", "onnxruntime", "pydantic", "limits", "numpy"} <= set(pins)
    assert "serving/constraints.txt" in (repo / "Makefile").read_text()
    assert "serving/constraints.txt" in (repo / "Dockerfile").read_text()


def test_two_workers_report_their_metrics_together(tmp_path, wait_ready):
    """Multi-process metrics: every scrape, whichever worker answers it, counts the requests
    both workers served."""
    import re
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        "KANJIWRITE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "KANJIWRITE_PORT": str(port),
        "KANJIWRITE_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PATH": "/usr/bin:/bin",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "kanjiwrite.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(server, base, 90)
        time.sleep(2)  # the second worker too

        async def burst() -> int:  # 10 at once, on new connections: under the limit
            async with httpx.AsyncClient(base_url=base) as client:
                answers = await asyncio.gather(*(client.get("/v1/contract") for _ in range(10)))
            assert all(a.status_code == 200 for a in answers)
            return len(answers)

        sent, pids = 0, set()
        while len(pids) < 2 and sent < 600:  # until both workers have served some
            sent += asyncio.run(burst())
            pids = {p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}
        counts = []
        for _ in range(6):
            text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text
            found = re.search(
                r'kanjiwrite_requests_total\{route="/v1/contract",status="200"\} (\S+)', text
            )
            counts.append(float(found.group(1)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(pids) == 2  # both workers served some of them
    assert counts == [float(sent)] * 6


def test_a_405_names_every_method_of_the_path(database):
    """Starlette names only the first route's methods; a path served by two routes (GET and
    PUT /v1/me/settings) must list both."""
    with TestClient(create_app(Settings(database_url=database))) as client:
        answer = client.request("OPTIONS", "/v1/me/settings")
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, PUT"
        assert client.delete("/v1/score").headers["allow"] == "POST"


def test_the_stats_counters_are_filled_from_existing_logs(tmp_path):
    """Migration 0005: the model id column renamed, each card's Again count and the per-day
    counters computed from the logs already stored, so the stats stay what they were."""
    url = f"sqlite:///{tmp_path}/old.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0004")
    import sqlite3

    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute(
            "INSERT INTO learners (id, created_at, token_hash) VALUES ('l1', '2026-03-01', 'h')"
        )
        db.execute(
            "INSERT INTO cards (id, learner_id, kanji, state, step, due, reps, lapses, "
            "created_at) VALUES (1, 'l1', '口', 2, 0, '2026-03-09 08:00:00', 3, 1, '2026-03-01')"
        )
        for at, rating, first in [
            ("2026-03-06 08:00:00", 1, 1),
            ("2026-03-07 08:00:00", 3, 0),
            ("2026-03-07 09:00:00", 1, 0),
        ]:
            db.execute(
                "INSERT INTO review_logs (card_id, learner_id, kanji, rating, reviewed_at, "
                "first_review, misses, hints, model_version, scheduled_days) "
                "VALUES (1, 'l1', '口', ?, ?, ?, '[0]', 0, '0.1.0+abc', 1.0)",
                (rating, at, first),
            )
    migrate(url)
    store = PracticeStore(url, {})
    stats = store.stats("l1", datetime(2026, 3, 8, 12, tzinfo=UTC))
    store.dispose()
    assert stats.reviews == 3 and stats.streak_days == 2 and stats.retention_30d == 0.5
    assert stats.hardest == [{"kanji": "口", "again": 2, "reviews": 3}]
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("SELECT DISTINCT model_id FROM review_logs").fetchall() == [
            ("0.1.0+abc",)
        ]
