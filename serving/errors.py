"""The error shape of the API: ``{"detail": ...}`` for every error, a whole ``Allow`` on a
405, 400 for a body that is not JSON, 404 for an unknown kanji, 422 for a request asking
for too much grading work."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kanjiwrite.serving.scorer import NoSuchOrder, TooMuchWork, UnknownKanji

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """FastAPI's JSON error, with a whole ``Allow`` for a 405: every method some route of
    that path takes (Starlette names only the first route's)."""
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(
            method
            for method in METHODS
            if any(
                route.matches({**request.scope, "method": method})[0] == Match.FULL
                for route in request.app.router.routes
            )
        )
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=headers)


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming the field; 400 for a body that is not JSON at all."""
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    malformed = any(e["type"] == "json_invalid" for e in detail)
    return JSONResponse({"detail": detail}, status_code=400 if malformed else 422)


async def unknown_kanji(request: Request, error: UnknownKanji) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


async def unprocessable(request: Request, error: TooMuchWork | NoSuchOrder) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(UnknownKanji, unknown_kanji)
    app.add_exception_handler(TooMuchWork, unprocessable)
    app.add_exception_handler(NoSuchOrder, unprocessable)
