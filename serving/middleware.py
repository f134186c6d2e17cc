"""The service's ASGI middleware (pure ASGI: no ``BaseHTTPMiddleware``), outermost first:

* ``AccessLog``: one JSON line per request and the request metrics, by route template
  (never the raw path or query), for every response including 503s from the concurrency
  limit and 500s; security headers on every response;
* ``BodyGuard``: for every request with a body, whatever the method: 413 for a body over
  the limit (declared or streamed), 408 for one not received within the deadline, 415 for
  a body to the API that is not JSON; the body is read before the request takes a slot;
* ``ConcurrencyLimit``: 503 with Retry-After beyond ``limit`` requests in progress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

log = logging.getLogger("kanjiwrite.serving")

# the demo page, its files and the API docs: scripts and styles from this origin only, no
# inline script, never framed, no referrer sent along
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
NOSNIFF = (b"x-content-type-options", b"nosniff")


def is_page(path: str) -> bool:
    """The demo, its static files: served with ``PAGE_HEADERS``."""
    return path == "/" or path.startswith("/static/")


class AccessLog:
    """Access log line, request counter and latency histogram per route template, and the
    security headers, for every HTTP response (an exception counts as a 500)."""

    def __init__(self, app, metrics, model_id, route_of):
        """``model_id()``: the model serving; ``route_of(scope)``: the route template of a
        request answered before routing (the concurrency limit's 503)."""
        self.app, self.metrics, self.model_id, self.route_of = app, metrics, model_id, route_of

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500
        extra = [NOSNIFF, *(PAGE_HEADERS if is_page(scope["path"]) else [])]

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def record(self, scope, status: int, elapsed: float) -> None:
        route = getattr(scope["route"], "path", None) if "route" in scope else None
        route = route or self.route_of(scope) or "unmatched"
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            line = {
                "event": "request",
                "method": scope["method"],
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "model_id": self.model_id(),
            }
            log.info(json.dumps(line))


class ConcurrencyLimit:
    """At most ``limit`` HTTP requests in progress in this worker; more get 503 with
    Retry-After at once instead of queueing without end. Health checks are exempt."""

    EXEMPT = ("/healthz", "/readyz")

    def __init__(self, app, limit: int):
        self.app, self.limit, self.active = app, limit, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            return await problem(
                send, 503, "the service is busy: try again shortly", [(b"retry-after", b"1")]
            )
        self.active += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BodyGuard:
    """Reads the whole body of every request (any method; none is an empty body, at once)
    before anything parses it: 413 over ``max_bytes`` (declared or streamed), 408 past ``timeout`` seconds,
    415 for a non-empty body to the API (``/v1/``) that is not JSON. An aborted upload is
    answered 499 (nginx's "client closed request"; nobody reads it), so it is one
    access-log line, no traceback."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared and not declared.isdigit():
            return await problem(send, 400, "content-length must be a number", close=True)
        if declared and int(declared) > self.max_bytes:
            return await problem(send, 413, f"body larger than {self.max_bytes} bytes", close=True)
        chunks, size, more = [], 0, True
        deadline = time.monotonic() + self.timeout
        while more:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                return await problem(
                    send, 408, f"body not received within {self.timeout:g} s", close=True
                )
            if message["type"] == "http.disconnect":  # the client went away mid-body
                return await problem(send, 499, "client closed the request")
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await problem(
                    send, 413, f"body larger than {self.max_bytes} bytes", close=True
                )
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if (
            size
            and scope["path"].startswith("/v1/")
            and not content_type.startswith("application/json")
        ):
            return await problem(send, 415, "content-type must be application/json")
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def problem(
    send, status: int, detail: str, headers: list | None = None, close: bool = False
) -> None:
    """A JSON error response sent straight from middleware (``close``: and the connection
    closed, for a body left unread)."""
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
