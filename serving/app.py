"""The scoring service: FastAPI on ONNX Runtime (no torch here). App assembly only:
settings, the resources opened in the lifespan, middleware, error shape, routers, the demo.

The ONNX session and the reference pack are opened once per process in the lifespan and
shared (ONNX Runtime sessions are safe to call from several threads). The practice
database is migrated before the service starts (``kanjiwrite serve``).

Middleware, outermost first: ``ConcurrencyLimit`` (503 with Retry-After beyond
``max_concurrent_requests`` in progress), the access log and metrics (``measure``: one JSON
line per request with the route template, never the path or query), ``BodyGuard`` (413 for
a large body, 408 for one that trickles in past ``body_timeout_s``, 415 for non-JSON).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from swagger_ui_bundle import swagger_ui_path

from kanjiwrite.datasets.kanjidic import OUT as PROMPTS
from kanjiwrite.datasets.kanjidic import load_prompts
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.serving import ops_routes, practice_routes, scoring_routes
from kanjiwrite.serving.metrics import Metrics
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.ratelimit import RateLimits
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
        configure_logging(settings.log_level)
        scorer = Scorer(settings)
        scorer.warm_up()
        app.state.scorer = scorer
        sets = load_prompts()["sets"]
        app.state.practice = PracticeStore(
            settings.database_url, sets, settings.daily_new_limit, settings.max_cards_per_learner
        )
        app.state.rate_limits = RateLimits(settings)
        gc.collect()
        gc.freeze()  # start-up objects (pack, schemas, libraries) leave the collector's scans
        log.info(json.dumps({"event": "ready", "model_id": scorer.model_id}))
        yield
        app.state.practice.dispose()
        log.info(json.dumps({"event": "shutdown"}))

    app = FastAPI(
        title="Kanji Write scoring API",
        version="1",
        description="Per-stroke grading of handwritten kanji. " + ATTRIBUTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"model": Problem, "description": "Malformed body"},
            413: {"model": Problem},
            415: {"model": Problem},
            422: {"model": Problem},
        },
    )
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.add_middleware(
        BodyGuard, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_s
    )

    @app.middleware("http")
    async def measure(request: Request, call_next):
        """Latency and status metrics and the access log line, by route template (never the
        raw path: unknown paths would add a series each, and no query string is logged)."""
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        matched = request.scope.get("route")
        route = getattr(matched, "path", "unmatched")
        response.headers["X-Content-Type-Options"] = "nosniff"
        if route == "/" or request.url.path.startswith("/static/"):
            response.headers.update(DEMO_HEADERS)
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        scorer = getattr(request.app.state, "scorer", None)
        log.info(
            json.dumps(
                {
                    "event": "request",
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "model_id": scorer.model_id if scorer else None,
                }
            )
        )
        return response

    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        """FastAPI's JSON error, with a whole ``Allow`` for a 405: every method some route
        of that path takes (Starlette names only the first route's)."""
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(
                method
                for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
                if any(
                    route.matches({**request.scope, "method": method})[0] == Match.FULL
                    for route in request.app.router.routes
                )
            )
        return JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=headers
        )

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
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        """Swagger UI from the packaged copy (swagger-ui-bundle): works offline."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=app.title,
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        """ReDoc from the vendored bundle (``static/vendor/redoc``): works offline."""
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=app.title,
            redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def demo() -> FileResponse:
        """The writing demo."""
        return FileResponse(STATIC / "index.html")

    return app


def configure_logging(level: str) -> None:
    """The service's JSON lines (one per request, plus events) on stderr, at ``level``."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level.upper())


class ConcurrencyLimit:
    """ASGI middleware: at most ``limit`` HTTP requests in progress in this worker; more get
    503 with Retry-After at once instead of queueing without end. Health checks are exempt."""

    EXEMPT = ("/healthz", "/readyz")

    def __init__(self, app, limit: int):
        self.app, self.limit, self.active = app, limit, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            return await _problem(
                send, 503, "the service is busy: try again shortly", [(b"retry-after", b"1")]
            )
        self.active += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BodyGuard:
    """ASGI middleware: 413 for a body over the limit (declared or streamed), 408 for a body
    not received within ``timeout`` seconds, 415 for a non-empty POST body to the API that
    is not JSON, before anything parses it. An aborted upload is answered 499 (nginx's
    "client closed request"; nobody reads it), so it is one access-log line, no traceback."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _problem(send, 413, f"body larger than {self.max_bytes} bytes")
        body, more = b"", True
        deadline = time.monotonic() + self.timeout
        while more:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                return await _problem(
                    send, 408, f"body not received within {self.timeout:g} s", close=True
                )
            if message["type"] == "http.disconnect":  # the client went away mid-body:
                return await _problem(send, 499, "client closed the request")  # logged as 499
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


async def _problem(
    send, status: int, detail: str, headers: list | None = None, close: bool = False
) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
                *([(b"connection", b"close")] if close else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
