"""The scoring service: FastAPI on ONNX Runtime (no torch here).

Thin routes; the ONNX session and the reference pack are opened once in the lifespan and
shared (ONNX Runtime sessions are safe to call from several threads). Every request is
graded with one inference call (one item per accepted order: ``models.decoding``).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from kanjiwrite.datasets.kanjivg import ATTRIBUTION, load_pack
from kanjiwrite.models.decoding import grade
from kanjiwrite.serving.messages import stroke_message
from kanjiwrite.serving.practice import Practice
from kanjiwrite.serving.practice_routes import router as practice_router
from kanjiwrite.serving.schemas import (
    Canvas,
    KanjiReference,
    Problem,
    ScoreRequest,
    ScoreResponse,
    StrokeVerdict,
)
from kanjiwrite.serving.settings import Settings

log = logging.getLogger("kanjiwrite.serving")
STATIC = Path(__file__).parent / "static"


class Metrics:
    """Prometheus metrics of one worker process."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kanjiwrite_requests_total",
            "HTTP requests",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kanjiwrite_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=self.registry,
        )
        self.inference = Histogram(
            "kanjiwrite_inference_seconds",
            "ONNX inference latency",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "kanjiwrite_verdicts_total", "Stroke verdicts", ["verdict"], registry=self.registry
        )


class Scorer:
    """The ONNX session and what it needs; created once per process."""

    def __init__(self, settings: Settings):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.onnx_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(settings.model_path), options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.model_version = meta.get("model_version", "unknown")
        self.pack = load_pack()
        self.ready = False

    def predict(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        verdict, match = self.session.run(["verdict_probs", "match_probs"], feed)
        return verdict, match

    def warm_up(self) -> None:
        ref = self.pack["書"]
        grade(self.predict, ref, [s * 3 for s in ref.strokes[:3]], (330, 330), prefixes=False)
        self.ready = True


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scorer = Scorer(settings)
        scorer.warm_up()
        app.state.scorer = scorer
        sets = json.loads((STATIC / "kanji-info.json").read_text())["sets"]
        app.state.practice = Practice(settings.database_url, sets, settings.daily_new_limit)
        gc.collect()
        gc.freeze()  # start-up objects (pack, schemas, libraries) leave the collector's scans
        log.info(
            json.dumps(
                {
                    "event": "ready",
                    "model": str(settings.model_path),
                    "model_version": scorer.model_version,
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

    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        """Latency and status metrics, a structured log line for each failed request."""
        started = time.perf_counter()
        route = request.url.path if not request.url.path.startswith("/v1/kanji/") else "/v1/kanji"
        response = await call_next(request)
        elapsed = time.perf_counter() - started
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
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.post("/v1/score", response_model=ScoreResponse, responses={404: {"model": Problem}})
    def score(body: ScoreRequest, request: Request) -> ScoreResponse:
        scorer: Scorer = request.app.state.scorer
        if len(body.strokes) > settings.max_strokes:
            raise HTTPException(422, f"strokes: at most {settings.max_strokes} strokes")
        if body.kanji not in scorer.pack:
            raise HTTPException(404, f"kanji: {body.kanji!r} is not a known character")
        ref = scorer.pack[body.kanji]
        started = time.perf_counter()
        result = grade(scorer.predict, ref, body.arrays(), body.canvas_size(), prefixes=False)
        metrics.inference.observe(time.perf_counter() - started)
        strokes = []
        for s in result.strokes:
            metrics.verdicts.labels(s.verdict).inc()
            strokes.append(
                StrokeVerdict(
                    index=s.index,
                    verdict=s.verdict,
                    correct=s.verdict == "correct",
                    p_correct=round(s.p_correct, 4),
                    expected_index=s.expected_index,
                    matched_index=s.matched_index,
                    message=stroke_message(s.verdict, s.index, s.matched_index, ref.stroke_count),
                )
            )
        return ScoreResponse(
            kanji=body.kanji,
            model_version=scorer.model_version,
            strokes=strokes,
            missing=result.missing,
            complete=result.complete,
        )

    @app.get(
        "/v1/kanji/{kanji}", response_model=KanjiReference, responses={404: {"model": Problem}}
    )
    def kanji_reference(kanji: str, request: Request) -> KanjiReference:
        pack = request.app.state.scorer.pack
        if len(kanji) != 1 or kanji not in pack:
            raise HTTPException(404, f"kanji: {kanji!r} is not a known character")
        ref = pack[kanji]
        return KanjiReference(
            kanji=kanji,
            stroke_count=ref.stroke_count,
            strokes=[np.round(s, 2).tolist() for s in ref.strokes],
            stroke_types=ref.types,
            alternative_orders=[list(o) for o in ref.alternative_orders],
            canvas=Canvas(width=109, height=109),
            attribution=ATTRIBUTION,
        )

    app.include_router(practice_router)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": Problem}})
    def readyz(request: Request):
        scorer = getattr(request.app.state, "scorer", None)
        if scorer is None or not scorer.ready:
            return JSONResponse({"detail": "model not loaded"}, status_code=503)
        return {"status": "ready", "model_version": scorer.model_version}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

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
            and not content_type.startswith("application/json")
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
