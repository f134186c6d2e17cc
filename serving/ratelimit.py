"""Rate limits per client address, with the ``limits`` library: counters in memory by
default (per worker), in a shared store by URL (``redis://``: one count for every worker
and host). ``cost`` weighs a request by the work it asks for (``/v1/score``)."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, Request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from kanjiwrite.serving.settings import Settings


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
        self.storage = storage_from_string(settings.rate_limit_storage)
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
