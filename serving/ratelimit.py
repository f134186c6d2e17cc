"""Rate limits on what creates state (learners, cards, reviews, overrides), per client
address, with the ``limits`` library: counters in memory by default, in a shared store by
URL."""

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
        self.limiter = FixedWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self.rules = {
            "learners": parse(settings.rate_limit_learners),
            "cards": parse(settings.rate_limit_cards),
            "reviews": parse(settings.rate_limit_reviews),
            "overrides": parse(settings.rate_limit_overrides),
        }

    def check(self, rule: str, client: str) -> None:
        """Count one request of ``client`` under ``rule``; 429 with Retry-After beyond it."""
        limit = self.rules[rule]
        if not self.limiter.hit(limit, rule, client):
            reset = self.limiter.get_window_stats(limit, rule, client).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            raise HTTPException(
                429, f"too many requests: {limit} per client", headers={"Retry-After": str(wait)}
            )


def client_address(request: Request) -> str:
    """The client's address (uvicorn takes it from X-Forwarded-For behind a trusted proxy)."""
    return request.client.host if request.client else "unknown"


def limited(rule: str):
    """A dependency counting the request under ``rule``."""

    def dependency(request: Request) -> None:
        request.app.state.rate_limits.check(rule, client_address(request))

    return dependency
