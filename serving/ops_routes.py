"""Operations endpoints: liveness, readiness (model loaded and warmed up, the database
takes a write), metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kanjiwrite.serving.schemas import Problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=dict)
async def healthz() -> Response:
    """Liveness: answered on the event loop, from a constant (no thread, no encoding)."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz", responses={503: {"model": Problem}})
def readyz(request: Request):
    scorer = getattr(request.app.state, "scorer", None)
    if scorer is None or not scorer.ready:
        return JSONResponse({"detail": "model not loaded"}, status_code=503)
    if not request.app.state.practice.can_write():
        return JSONResponse({"detail": "the practice database takes no writes"}, status_code=503)
    return {
        "status": "ready",
        "model_id": scorer.model_id,
        "model_version": scorer.model_version,
        "pack_version": scorer.pack.version,
    }


@router.get("/metrics", response_class=PlainTextResponse, responses={401: {"model": Problem}})
def prometheus(request: Request) -> PlainTextResponse:
    """Prometheus metrics of the whole service (every worker, in multi-process mode);
    behind ``Authorization: Bearer <KANJIWRITE_METRICS_TOKEN>`` when that is set."""
    wanted = request.app.state.settings.metrics_token
    given = request.headers.get("authorization", "")
    if wanted and not hmac.compare_digest(given.encode(), f"Bearer {wanted}".encode()):
        return JSONResponse(
            {"detail": "send Authorization: Bearer <metrics token>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return PlainTextResponse(
        generate_latest(request.app.state.metrics.scrape_registry()),
        media_type=CONTENT_TYPE_LATEST,
    )
