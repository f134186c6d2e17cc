"""The scoring service: FastAPI on ONNX Runtime (no torch here). App assembly only:
settings, the resources opened in the lifespan, middleware (``middleware``), the error
shape (``errors``), routers, static files.

The ONNX session and the reference pack are opened once per process in the lifespan and
shared (ONNX Runtime sessions are safe to call from several threads). The practice
database is migrated before the service starts (``kanjiwrite serve``).
"""

from __future__ import annotations

import gc
import json
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match
from swagger_ui_bundle import swagger_ui_path

from kanjiwrite.datasets.kanjidic import load_prompts
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.serving import errors, ops_routes, page_routes, practice_routes, scoring_routes
from kanjiwrite.serving.metrics import Metrics
from kanjiwrite.serving.middleware import AccessLog, BodyGuard, ConcurrencyLimit
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.ratelimit import RateLimits
from kanjiwrite.serving.schemas import Problem
from kanjiwrite.serving.scorer import Scorer
from kanjiwrite.serving.settings import Settings

log = logging.getLogger("kanjiwrite.serving")
ROUTERS = (scoring_routes, practice_routes, ops_routes, page_routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.log_level)
        app.state.scorer = scorer = Scorer(settings, observe=metrics.grading.observe)
        scorer.warm_up()
        app.state.practice = PracticeStore(
            settings.database_url,
            load_prompts()["sets"],
            settings.daily_new_limit,
            settings.max_cards_per_learner,
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
        responses={code: {"model": Problem} for code in (400, 408, 413, 415, 422, 503)},
    )
    app.state.settings, app.state.metrics = settings, metrics
    # added innermost first: AccessLog sees every response, the body is read before a slot
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(
        BodyGuard, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_s
    )
    app.add_middleware(
        AccessLog,
        metrics=metrics,
        model_id=lambda: model_id(app),
        route_of=route_template,
    )
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page_routes.STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
    return app


def model_id(app: FastAPI) -> str | None:
    """The model serving, for the access log (``None`` before the lifespan opened it)."""
    scorer = getattr(app.state, "scorer", None)
    return scorer.model_id if scorer else None


def route_template(scope: dict) -> str | None:
    """The path template of the API route a request is for (``None``: no route)."""
    for module in ROUTERS:
        for route in module.router.routes:
            if route.matches(scope)[0] == Match.FULL:
                return route.path
    return None


def configure_logging(level: str) -> None:
    """The service's JSON lines (one per request, plus events) on stderr, at ``level``."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level.upper())
