"""Service limits (issue #22): every finding of the probe, each with a test that failed on
the service before and passes now. In process where the finding is the app's, against a
real ``kanjiwrite serve`` (2 workers, a real Redis) where it is the server's."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.db import migrate
from kanjiwrite.serving.practice_store import DeckFull, PracticeStore
from kanjiwrite.serving.settings import Settings

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POSTGRES = os.environ.get("KANJIWRITE_TEST_POSTGRES_URL")
SHORT = {"kanji": "十", "strokes": [[[20, 55], [90, 54]]], "canvas": {"width": 109, "height": 109}}


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/practice.db"
    migrate(url)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trickle(chunks: int, pause: float):
    async def body():
        for _ in range(chunks):
            await asyncio.sleep(pause)
            yield b" "

    return body()


async def over_asgi(app, *requests):
    """Send requests to the app at once (each ``(method, path, kwargs)``)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await asyncio.gather(*(client.request(m, p, **kw) for m, p, kw in requests))


# --- the body guard ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_every_method_with_a_body_is_guarded(database, method):
    """high: the guard covered POST only (a PUT of 300 MB was read whole, then 401)."""
    settings = Settings(database_url=database, body_timeout_s=0.3)
    app = create_app(settings)
    path = "/v1/me/settings"
    with TestClient(app):
        huge, slow, text_body = asyncio.run(
            over_asgi(
                app,
                (method, path, {"headers": {"content-length": "300000002"}, "content": b"{}"}),
                (method, path, {"content": trickle(20, 0.05), "headers": JSON}),
                (
                    method,
                    path,
                    {"content": b"daily_new=3", "headers": {"content-type": "text/plain"}},
                ),
            )
        )
    assert huge.status_code == 413
    assert f"{settings.max_body_bytes} bytes" in huge.json()["detail"]
    assert slow.status_code == 408 and text_body.status_code == 415


JSON = {"content-type": "application/json"}


def test_trickled_bodies_do_not_hold_request_slots(database):
    """med: 80 clients trickling bodies took every slot (168 of 190 normal requests 503):
    a body is read before its request takes a slot."""
    app = create_app(Settings(database_url=database, max_concurrent_requests=2, body_timeout_s=2))
    slow = [
        ("PUT", "/v1/me/settings", {"content": trickle(8, 0.1), "headers": JSON}) for _ in range(6)
    ]
    normal = [("GET", "/v1/contract", {})]

    async def run():
        pending = asyncio.ensure_future(over_asgi(app, *slow))
        await asyncio.sleep(0.2)  # every trickle under way
        served = await over_asgi(app, *normal, *normal)
        await pending
        return served

    with TestClient(app):
        served = asyncio.run(run())
    assert [r.status_code for r in served] == [200, 200]


# --- failures in the log and the metrics, readiness --------------------------------------


def test_busy_503s_are_in_the_access_log_and_metrics(database, service_log):
    """med: the concurrency limit's 503s were in neither the access log nor /metrics."""
    app = create_app(Settings(database_url=database, max_concurrent_requests=1))
    with TestClient(app) as client:
        create_learner = app.state.practice.create_learner

        def slow_create_learner(*args):  # a handler that holds its slot (in a thread)
            time.sleep(0.5)
            return create_learner(*args)

        app.state.practice.create_learner = slow_create_learner

        async def run():
            pending = asyncio.ensure_future(over_asgi(app, ("POST", "/v1/learners", {})))
            await asyncio.sleep(0.2)
            busy = await over_asgi(app, ("GET", "/v1/contract", {}))
            await pending
            return busy[0]

        busy = asyncio.run(run())
        metrics = client.get("/metrics").text
    assert busy.status_code == 503
    lines = [
        line
        for line in map(json.loads, (r.getMessage() for r in service_log))
        if line["event"] == "request"
    ]
    assert {"route": "/v1/contract", "status": 503} in [
        {"route": line["route"], "status": line["status"]} for line in lines
    ]
    assert 'kanjiwrite_requests_total{route="/v1/contract",status="503"} 1.0' in metrics


def test_database_failures_are_logged_counted_and_not_ready(service_log):
    """med: 500s (PostgreSQL down) were missing from the log and /metrics; /readyz said 200
    while every write failed."""
    down = "postgresql+psycopg://nobody:x@127.0.0.1:1/none"
    app = create_app(Settings(database_url=down))
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/v1/learners")
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text
    assert failed.status_code == 500 and ready.status_code == 503
    assert "takes no writes" in ready.json()["detail"]
    lines = [
        line
        for line in map(json.loads, (r.getMessage() for r in service_log))
        if line["event"] == "request"
    ]
    assert {"route": "/v1/learners", "status": 500} in [
        {"route": line["route"], "status": line["status"]} for line in lines
    ]
    assert 'kanjiwrite_requests_total{route="/v1/learners",status="500"} 1.0' in metrics


def test_readyz_checks_the_database_takes_a_write(database):
    with TestClient(create_app(Settings(database_url=database))) as client:
        assert client.get("/readyz").status_code == 200
        engine = create_engine(database)
        with engine.begin() as connection:  # a schema the service can no longer write to
            connection.execute(text("ALTER TABLE alembic_version RENAME TO gone"))
        engine.dispose()
        assert client.get("/readyz").status_code == 503


def test_sql_parameters_stay_out_of_errors_and_logs(database):
    """low: SQLAlchemy errors printed their parameters (learner id, token hash)."""
    store = PracticeStore(database, {})
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE learners RENAME TO gone"))
    engine.dispose()
    token = "a-token-that-must-not-leak"
    with pytest.raises(OperationalError) as error:
        store.learner_of(token)
    store.dispose()
    from kanjiwrite.serving.practice_store import token_hash

    assert token_hash(token) not in str(error.value) and "hidden" in str(error.value)


# --- attempt ids, strict types ------------------------------------------------------------


def learner_with(client, kanji: list[str]) -> dict:
    token = client.post("/v1/learners").json()["learner_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/v1/me/cards", json={"kanji": kanji}, headers=auth).status_code == 200
    return auth


def test_an_attempt_id_replayed_for_another_kanji_is_409(database, pack):
    """low: 本's attempt id reused on 休 returned 本's result and stored nothing for 休."""
    with TestClient(create_app(Settings(database_url=database))) as client:
        auth = learner_with(client, ["本", "休"])
        body = {"strokes": [s.tolist() for s in pack["本"].strokes], "attempt_id": "attempt-0001"}
        canvas = {"canvas": {"width": 109, "height": 109}}
        first = client.post("/v1/me/cards/本/reviews", json={**body, **canvas}, headers=auth)
        again = client.post("/v1/me/cards/本/reviews", json={**body, **canvas}, headers=auth)
        other = client.post("/v1/me/cards/休/reviews", json={**body, **canvas}, headers=auth)
    assert first.status_code == 200 and again.json()["replayed"]
    assert other.status_code == 409 and "本" in other.json()["detail"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/me/settings", {"daily_new": False, "strictness": "lenient"}),
        ("/v1/me/settings", {"daily_new": "5", "strictness": "lenient"}),
        ("/v1/me/cards/口/reviews", {"duration_ms": "5"}),
        ("/v1/me/cards/口/reviews", {"hints": True}),
        ("/v1/me/cards/口/reviews", {"accepted": [1, 0, 1]}),
        ("/v1/me/cards/口/reviews", {"overridden": [False], "attempt_id": "attempt-0002"}),
        ("/v1/me/overrides", {"kanji": "口", "log_index": False}),
    ],
)
def test_numbers_and_booleans_are_not_coerced(database, pack, path, body):
    """low: ``daily_new: false`` was stored as 0; ``log_index: false``, ``"5"`` accepted."""
    strokes = {"strokes": [s.tolist() for s in pack["口"].strokes]}
    with TestClient(create_app(Settings(database_url=database))) as client:
        auth = learner_with(client, ["口"])
        method = client.put if path.endswith("settings") else client.post
        answer = method(
            path, json={**(strokes if "settings" not in path else {}), **body}, headers=auth
        )
    assert answer.status_code == 422, answer.text


# --- grading work -------------------------------------------------------------------------


def test_grading_work_is_bounded_by_orders_times_strokes(database, pack):
    """high: cost caps assumed one stroke order (驢, 7 orders, cost 1.7x the measured
    worst); /v1/score had no rate limit."""
    from kanjiwrite.serving.scorer import MAX_WORK, work

    worst = pack.costliest()
    ref = pack[worst]
    assert work(ref, ref.stroke_count) == max(
        work(pack[c], pack[c].stroke_count) for c in pack.chars
    )
    assert work(ref, ref.stroke_count) == ref.stroke_count * len(ref.orders())
    assert work(ref, ref.stroke_count + 1) <= MAX_WORK  # every request the demo sends
    strokes = [(s * 3 + 40).tolist() for s in ref.strokes]
    legit = {
        "kanji": worst,
        "strokes": strokes + strokes[:1],
        "canvas": {"width": 400, "height": 400},
    }
    padded = {**legit, "strokes": (strokes * 3)[:64]}
    budget = f"{2 * work(ref, len(legit['strokes']))}/minute"
    with TestClient(create_app(Settings(database_url=database, rate_limit_score=budget))) as client:
        too_much = client.post("/v1/score", json=padded)
        answers = [client.post("/v1/score", json=legit).status_code for _ in range(3)]
        light = client.post("/v1/score", json=SHORT)
    assert too_much.status_code == 422 and "at most" in too_much.json()["detail"]
    assert answers == [200, 200, 429] and light.status_code == 429


# --- stats --------------------------------------------------------------------------------


def test_stats_never_read_the_review_logs_and_are_rate_limited(database, pack):
    """med: GET /v1/me/stats read every log (6.5 s at 300k logs) with no rate limit."""
    settings = Settings(database_url=database, rate_limit_stats="3/minute")
    with TestClient(create_app(settings)) as client:
        auth = learner_with(client, ["口"])
        strokes = [s.tolist() for s in pack["口"].strokes]
        review = {"strokes": strokes, "canvas": {"width": 109, "height": 109}}
        assert client.post("/v1/me/cards/口/reviews", json=review, headers=auth).status_code == 200
        store = client.app.state.practice
        statements = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        for engine in (store.engine, store.read_engine):
            event.listen(engine, "before_cursor_execute", listen)
        answers = [client.get("/v1/me/stats", headers=auth) for _ in range(4)]
    assert answers[0].json()["reviews"] == 1 and answers[0].json()["streak_days"] == 1
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert statements and not [s for s in statements if "review_logs" in s]


# --- the databases under concurrency ------------------------------------------------------


def fresh_database(backend: str, tmp_path):
    """A new empty database on ``backend`` (a context: dropped after, on PostgreSQL)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db", lambda: None
    if POSTGRES is None:
        pytest.skip("no PostgreSQL here: set KANJIWRITE_TEST_POSTGRES_URL (.ci/run does)")
    name = f"kanjiwrite_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()

    return POSTGRES.rsplit("/", 1)[0] + "/" + name, drop


def at_once(count: int, task) -> list:
    """Run ``task(i)`` in ``count`` threads released together; their errors."""
    barrier, errors = threading.Barrier(count), []

    def run(i):
        barrier.wait()
        try:
            task(i)
        except Exception as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_card_additions_keep_the_deck_cap(tmp_path, backend):
    """med (PostgreSQL): 8 concurrent adds of one kanji gave UniqueViolation 500s; 10
    concurrent adds with the cap at 100 took a deck to 120."""
    url, drop = fresh_database(backend, tmp_path)
    try:
        migrate(url)
        store = PracticeStore(url, {}, max_cards=100)
        learner = store.learner_of(store.create_learner(START))
        assert at_once(8, lambda i: store.add_cards(learner, ["口", "日"], START)) == []
        kanji = [chr(0x4E00 + i) for i in range(200)]
        errors = at_once(10, lambda i: store.add_cards(learner, kanji[i * 20 : i * 20 + 20], START))
        assert all(isinstance(e, DeckFull) for e in errors) and len(errors) >= 5
        assert store.stats(learner, START).cards <= 100
        store.dispose()
    finally:
        drop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_servers_migrating_a_fresh_database_together_both_come_up(tmp_path, backend):
    """med (PostgreSQL): of two servers migrating a fresh database one exited 1."""
    url, drop = fresh_database(backend, tmp_path)
    try:
        code = f"from kanjiwrite.serving.db import migrate; migrate({url!r})"
        runs = [
            subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        results = [(r.wait(timeout=120), r.stderr.read()) for r in runs]
        assert [rc for rc, _ in results] == [0, 0, 0], results
    finally:
        drop()


# --- the server: start-up, proxy trust, shared limits, request heads ---------------------


def test_configuration_errors_exit_1_with_one_line_on_any_worker_count(tmp_path, serve):
    """med: a bad rate-limit string or an unreachable Redis exited 0 with 2 workers and 3
    with 1 (a traceback); a port in use exited 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            for env, says in [
                ({"KANJIWRITE_RATE_LIMIT_CARDS": "lots"}, "KANJIWRITE_RATE_LIMIT_CARDS"),
                ({"KANJIWRITE_RATE_LIMIT_STORAGE": "redis://127.0.0.1:1"}, "rate-limit store"),
                ({"KANJIWRITE_PORT": str(port)}, f"127.0.0.1:{port}"),
                ({"KANJIWRITE_DAILY_NEW_LIMIT": "many"}, "KANJIWRITE_DAILY_NEW_LIMIT"),
            ]:
                result = serve(tmp_path, KANJIWRITE_WORKERS=workers, **env)
                lines = [line for line in result.stderr.splitlines() if line.strip()]
                assert result.returncode == 1, (env, result.stderr[-500:])
                assert len(lines) == 1 and says in lines[0], lines


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real Redis server (Debian's redis-server; .ci/run installs it), on a free port."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server here (.ci/run installs the Debian package)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url, wait_ready):
    """``kanjiwrite serve`` with 2 workers, limits in Redis, small request-head limits."""
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        "KANJIWRITE_DATABASE_URL": f"sqlite:///{folder}/serve.db",
        "KANJIWRITE_PORT": str(port),
        "KANJIWRITE_WORKERS": "2",
        "KANJIWRITE_RATE_LIMIT_STORAGE": redis_url,
        "KANJIWRITE_RATE_LIMIT_LEARNERS": "4/hour",
        "KANJIWRITE_HEADER_TIMEOUT_S": "1",
        "KANJIWRITE_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kanjiwrite.cli", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(process, base, 300)  # two workers on a busy 2-core machine
    time.sleep(2)  # the second worker too
    yield base, port
    process.terminate()
    process.wait(timeout=30)


def test_limits_are_shared_by_workers_and_forwarded_addresses_are_not_trusted(server):
    """low: X-Forwarded-For from 127.0.0.1 was trusted (200 of 200 learners with spoofed
    addresses, limit 5/h); in-memory limits were per worker (2 workers, twice the limit);
    med: the redis client was not installed by [serve]."""
    base, _ = server
    answers = []
    for i in range(12):  # a new connection each: both workers answer some
        spoofed = {"X-Forwarded-For": f"203.0.113.{i}", "Connection": "close"}
        answers.append(httpx.post(f"{base}/v1/learners", headers=spoofed).status_code)
    assert answers.count(201) == 4 and answers.count(429) == 8, answers


def test_request_heads_and_idle_connections_are_limited(server):
    """low: a 50 MB header cost 5.9 CPU-s (200 MB: 144 s, then 200); 3,000 idle
    connections were never closed."""
    _, port = server
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as big:
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = big.recv(200)
    assert answer.startswith(b"HTTP/1.1 431") and time.perf_counter() - started < 5
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        started = time.perf_counter()
        assert idle.recv(10) == b""  # closed by the server
        assert time.perf_counter() - started < 5
    with socket.create_connection(("127.0.0.1", port), timeout=10) as fine:
        fine.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert fine.recv(200).startswith(b"HTTP/1.1 200")


# --- API docs -----------------------------------------------------------------------------


def test_api_docs_have_a_csp_and_fetch_nothing_elsewhere(database):
    """low: /docs and /redoc had no CSP or X-Frame-Options; ReDoc fetched its favicon from
    the internet."""
    with TestClient(create_app(Settings(database_url=database))) as client:
        for page in ("/docs", "/redoc"):
            answer = client.get(page)
            policy = answer.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
            assert answer.headers["x-frame-options"] == "DENY"
            assert "https://" not in answer.text and "http://" not in answer.text


def test_api_docs_render_under_their_csp(server):
    """The CSP of /docs and /redoc lets both pages run their scripts (no violation in the
    console): Swagger UI's inline start-up script (allowed by its hash) builds its view,
    ReDoc renders the API. (The packaged Swagger UI, 3.20, cannot read OpenAPI 3.1: it says
    so on the page, under the CSP as before it.)"""
    from playwright.sync_api import sync_playwright

    base, _ = server
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page()
        blocked = []  # CSP violations of scripts and styles (ReDoc's remote logo is blocked)
        page.on(
            "console",
            lambda m: (
                blocked.append(m.text)
                if "Content Security Policy" in m.text and "image" not in m.text
                else None
            ),
        )
        page.goto(f"{base}/docs")
        page.wait_for_selector("#swagger-ui .swagger-ui", timeout=30_000)
        page.goto(f"{base}/redoc")
        page.wait_for_selector("h1", timeout=30_000)
        redoc_title = page.locator("h1").first.inner_text()
        browser.close()
    assert "Kanji Write" in redoc_title and blocked == []
