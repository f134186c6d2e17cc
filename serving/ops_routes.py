"""Operations endpoints: liveness, readiness (model loaded and warmed up), metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kanjiwrite.serving.schemas import Problem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": Problem}})
def readyz(request: Request):
    scorer = getattr(request.app.state, "scorer", None)
    if scorer is None or not scorer.ready:
        return JSONResponse({"detail": "model not loaded"}, status_code=503)
    return {
        "status": "ready",
        "model_id": scorer.model_id,
        "model_version": scorer.model_version,
        "pack_version": scorer.pack.version,
    }


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request) -> PlainTextResponse:
    registry = request.app.state.metrics.registry
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
