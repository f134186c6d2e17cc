"""Rate limits per client address, with the ``limits`` library: counters in memory by
default (per worker), in a shared store by URL (``redis://``: one count for every worker
and host). ``cost`` weighs a request by the work it asks for (``/v1/score``)."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, Request
from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from kanjiwrite.serving.settings import Settings


class MemoryCounters(MemoryStorage):
    """``limits``' in-memory counters without a timer thread per hit: that storage starts a
    new thread to sweep expired counters whenever its last one has ended (about once a
    request, ~1 ms each); here the sweep runs on use, at most once a second (a counter
    past its window is reset when read in any case)."""

    SWEEP_S = 1.0
    next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the private timer start
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_S
            self._MemoryStorage__expire_events()


class RateLimits:
    def __init__(self, settings: Settings):
        """Parses every rule (``ValueError`` naming the bad one) and opens the store."""
        self.rules = {}
        for rule in ("score", "stats", "learners", "cards", "reviews", "overrides"):
            text = getattr(settings, f"rate_limit_{rule}")
            try:
                self.rules[rule] = parse(text)
            except ValueError:
                raise ValueError(
                    f"KANJIWRITE_RATE_LIMIT_{rule.upper()}: {text!r} is not a rate limit "
                    "such as '60/minute'"
                ) from None
        where = settings.rate_limit_storage
        self.storage = MemoryCounters() if where == "memory://" else storage_from_string(where)
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.where = settings.rate_limit_storage.split("://")[0]

    def check_storage(self) -> None:
        """``ConnectionError`` when the counters' store cannot be reached."""
        if not self.storage.check():
            raise ConnectionError(f"the rate-limit store ({self.where}) cannot be reached")

    def check(self, rule: str, client: str, cost: int = 1) -> None:
        """Count one request of ``client`` under ``rule`` (``cost`` units); 429 with
        Retry-After beyond it."""
        limit = self.rules[rule]
        if not self.limiter.hit(limit, rule, client, cost=cost):
            reset = self.limiter.get_window_stats(limit, rule, client).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            raise HTTPException(
                429, f"too many requests: {limit} per client", headers={"Retry-After": str(wait)}
            )


def client_address(request: Request) -> str:
    """The client's address (from X-Forwarded-For only behind a proxy trusted by
    ``forwarded_allow_ips``)."""
    return request.client.host if request.client else "unknown"


def limited(rule: str):
    """A dependency counting the request under ``rule``."""

    def dependency(request: Request) -> None:
        request.app.state.rate_limits.check(rule, client_address(request))

    return dependency
