"""Pages: the writing demo, its prompt table, the API docs (Swagger UI and ReDoc from
packaged copies: they work offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse

from kanjiwrite.datasets.kanjidic import OUT as PROMPTS

STATIC = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def demo() -> FileResponse:
    """The writing demo."""
    return FileResponse(STATIC / "index.html")


@router.get("/static/kanji-info.json")
def prompts() -> FileResponse:
    """The prompt table (KANJIDIC2-derived meanings and readings, ``datasets.kanjidic``)."""
    return FileResponse(PROMPTS, media_type="application/json")


@router.get("/docs")
def swagger_ui(request: Request):
    """Swagger UI from the packaged copy (swagger-ui-bundle)."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=request.app.title,
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon-32x32.png",
    )


@router.get("/redoc")
def redoc(request: Request):
    """ReDoc from the vendored bundle (``static/vendor/redoc``)."""
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=request.app.title,
        redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
        with_google_fonts=False,
    )
