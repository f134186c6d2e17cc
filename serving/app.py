"""The scoring service: FastAPI on ONNX Runtime (no torch here). App assembly only:
settings, the resources opened in the lifespan, middleware, error shape, routers, the demo.

The ONNX session and the reference pack are opened once per process in the lifespan and
shared (ONNX Runtime sessions are safe to call from several threads). The practice
database is migrated before the service starts (``kanjiwrite serve``).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from kanjiwrite.datasets.kanjidic import OUT as PROMPTS
from kanjiwrite.datasets.kanjidic import load_prompts
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.serving import ops_routes, practice_routes, scoring_routes
from kanjiwrite.serving.metrics import Metrics
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.schemas import Problem
from kanjiwrite.serving.scorer import Scorer
from kanjiwrite.serving.settings import Settings

log = logging.getLogger("kanjiwrite.serving")
STATIC = Path(__file__).parent / "static"
# the demo page and its files: scripts and styles from this origin only, no inline script,
# never framed, no referrer sent along
DEMO_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scorer = Scorer(settings)
        scorer.warm_up()
        app.state.scorer = scorer
        sets = load_prompts()["sets"]
        app.state.practice = PracticeStore(settings.database_url, sets, settings.daily_new_limit)
        gc.collect()
        gc.freeze()  # start-up objects (pack, schemas, libraries) leave the collector's scans
        log.info(
            json.dumps(
                {
                    "event": "ready",
                    "model": str(settings.model_path),
                    "model_id": scorer.model_id,
                }
            )
        )
        yield
        app.state.practice.engine.dispose()
        log.info(json.dumps({"event": "shutdown"}))

    app = FastAPI(
        title="Kanji Write scoring API",
        version="1",
        description="Per-stroke grading of handwritten kanji. " + ATTRIBUTION,
        lifespan=lifespan,
        responses={
            400: {"model": Problem, "description": "Malformed body"},
            413: {"model": Problem},
            415: {"model": Problem},
            422: {"model": Problem},
        },
    )
    app.state.metrics = metrics = Metrics()
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        """Latency and status metrics, a structured log line for each failed request."""
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        # the route's template (never the raw path: it may hold a learner's token, and
        # unknown paths would add a series each); one label for every unmatched path
        matched = request.scope.get("route")
        route = getattr(matched, "path", "unmatched")
        response.headers["X-Content-Type-Options"] = "nosniff"
        if route == "/" or request.url.path.startswith("/static/"):
            response.headers.update(DEMO_HEADERS)
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        if response.status_code >= 400:
            log.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": request.method,
                        "path": route,
                        "status": response.status_code,
                        "ms": round(elapsed * 1000, 2),
                    }
                )
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        """422 naming the field; 400 for a body that is not JSON at all."""
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        malformed = any(e["type"] == "json_invalid" for e in detail)
        return JSONResponse({"detail": detail}, status_code=400 if malformed else 422)

    app.include_router(scoring_routes.router)
    app.include_router(practice_routes.router)
    app.include_router(ops_routes.router)

    @app.get("/static/kanji-info.json", include_in_schema=False)
    def prompts() -> FileResponse:
        """The prompt table (KANJIDIC2-derived meanings and readings, ``datasets.kanjidic``)."""
        return FileResponse(PROMPTS, media_type="application/json")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def demo() -> FileResponse:
        """The writing demo."""
        return FileResponse(STATIC / "index.html")

    return app


class BodyGuard:
    """ASGI middleware: 413 for a body over the limit (declared or streamed), 415 for a
    non-empty POST body to the API that is not JSON, before anything parses it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _problem(send, 413, f"body larger than {self.max_bytes} bytes")
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await _problem(send, 413, f"body larger than {self.max_bytes} bytes")
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if (
            body
            and scope["path"].startswith("/v1/")
            and not content_type.lower().startswith("application/json")
        ):
            return await _problem(send, 415, "content-type must be application/json")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _problem(send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
