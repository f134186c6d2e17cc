"""How the service is served: uvicorn's options from the settings, the HTTP protocol with
limits on the request head, and the start-up checks that turn every configuration error
into one line and exit status 1 before any worker starts."""

from __future__ import annotations

import functools
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kanjiwrite.serving.settings import Settings

STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


@functools.cache
def head_limits() -> tuple[int, float]:
    """(bytes, seconds) allowed for a request line and headers (read once per worker)."""
    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout_s


class HeadTooLarge(Exception):
    pass


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on the request head: a request line and
    headers over ``max_header_bytes`` are answered 431 and the connection closed; a
    connection that has not sent a whole head within ``header_timeout_s`` of connecting
    (or of starting a request) is closed."""

    head_bytes = 0
    head_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # not after our 431
            super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self.head_bytes += size
        limit, _ = head_limits()
        if self.head_bytes > limit:
            detail = b'{"detail": "request headers larger than %d bytes"}' % limit
            self.transport.write(
                STATUS_431
                + b"content-type: application/json\r\nconnection: close\r\n"
                + b"content-length: %d\r\n\r\n" % len(detail)
                + detail
            )
            self.transport.close()
            raise HeadTooLarge

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(head_limits()[1], self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timeout(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict:
    """``uvicorn.run`` keyword arguments for the service."""
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": settings.log_level,
        "access_log": False,  # the service writes its own (JSON, route templates, no tokens)
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "http": LimitedHttpProtocol,
        "proxy_headers": settings.forwarded_allow_ips is not None,
        "forwarded_allow_ips": settings.forwarded_allow_ips or "",
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
    }


def check_start_up(settings: Settings) -> None:
    """Everything that would stop a worker, checked once before any starts: the port, the
    rate limits and their store (reached), the model and pack, the database (migrated)."""
    from kanjiwrite.serving.db import make_engine, migrate
    from kanjiwrite.serving.ratelimit import RateLimits
    from kanjiwrite.serving.scorer import Scorer

    with socket.socket() as probe:  # the port is free (uvicorn reuses the address too)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}: {error}") from None
    RateLimits(settings).check_storage()
    Scorer(settings).warm_up()
    make_engine(settings.database_url).dispose()
    migrate(settings.database_url)
