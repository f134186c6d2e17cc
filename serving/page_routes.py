"""Pages: the writing demo, its prompt table, the API docs (Swagger UI and ReDoc from
packaged copies: they work offline and fetch nothing elsewhere, under a CSP)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from kanjiwrite.datasets.kanjidic import OUT as PROMPTS

STATIC = Path(__file__).parent / "static"
FAVICON = "/docs-assets/favicon-32x32.png"  # swagger-ui-bundle's, served from here
router = APIRouter(include_in_schema=False)


@router.get("/")
def demo() -> FileResponse:
    """The writing demo."""
    return FileResponse(STATIC / "index.html")


@router.get("/static/kanji-info.json")
def prompts() -> FileResponse:
    """The prompt table (KANJIDIC2-derived meanings and readings, ``datasets.kanjidic``)."""
    return FileResponse(PROMPTS, media_type="application/json")


def locked_down(page: HTMLResponse) -> HTMLResponse:
    """The page with a Content-Security-Policy allowing this origin's files and exactly
    its own inline scripts (by hash), never framed, no referrer sent along."""
    inline = re.findall(rb"<script>(.*?)</script>", page.body, flags=re.S)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in inline
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    page.headers["X-Frame-Options"] = "DENY"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI from the packaged copy (swagger-ui-bundle)."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=request.app.title,
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    )
    return locked_down(page)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc from the vendored bundle (``static/vendor/redoc``)."""
    page = get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=request.app.title,
        redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
    return locked_down(page)
