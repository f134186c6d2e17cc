"""Service settings, from the environment (prefix ``KANJIWRITE_``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kanjiwrite.models import shipped


def shipped_model() -> Path:
    """The released ONNX model, shipped inside the package (``models/grader.onnx``)."""
    return shipped("grader.onnx")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANJIWRITE_", env_file=".env", extra="ignore")

    model_path: Path = Field(default_factory=shipped_model, description="ONNX model file")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    onnx_threads: int = Field(1, description="ONNX Runtime intra-op threads per worker")
    max_body_bytes: int = Field(
        262_144,
        description="Largest request body (413 beyond): a whole attempt at a 30-stroke kanji "
        "at 200 points a stroke with timestamps is about 120 KB",
    )
    log_level: str = "info"
    database_url: str = Field(
        "sqlite:///practice.db",
        description="Practice store: a SQLite file "
        "(default) or a PostgreSQL URL (postgresql+psycopg://...)",
    )
    daily_new_limit: int = 10
    max_cards_per_learner: int = 3000
    max_concurrent_requests: int = Field(
        32, description="Requests in progress per worker; more get 503 with Retry-After"
    )
    body_timeout_s: float = Field(10.0, description="Deadline to receive a request body (408)")
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate-limit counters live (per worker in memory by default; a "
        "shared store by URL, e.g. redis://host:6379, for several workers or hosts)",
    )
    rate_limit_score: str = Field(
        "20000/minute",
        description="Grading work on /v1/score per client address, in stroke-orders (strokes "
        "sent x accepted stroke orders of the kanji: what a request costs)",
    )
    rate_limit_stats: str = "30/minute"  # stats views per client address
    rate_limit_learners: str = "5/hour"  # new learners per client address
    rate_limit_cards: str = "60/minute"  # card additions per client address
    rate_limit_reviews: str = "120/minute"  # reviews per client address
    rate_limit_overrides: str = "30/minute"  # "I was right" claims per client address
    max_overrides_per_learner: int = 1000
    forwarded_allow_ips: str | None = Field(
        None,
        description="Proxies trusted to set X-Forwarded-For/-Proto (comma-separated "
        "addresses or networks, '*' for any); unset: the header is ignored",
    )
    max_header_bytes: int = Field(16_384, description="Request line and headers (431 beyond)")
    header_timeout_s: float = Field(
        10.0, description="Deadline for a connection's request line and headers"
    )
    keep_alive_s: int = Field(5, description="Idle keep-alive connections close after this")
    max_connections: int = Field(
        1000, description="Open connections and requests per worker (uvicorn's 503 beyond)"
    )
    metrics_token: str | None = Field(
        None, description="If set, /metrics needs 'Authorization: Bearer <metrics_token>'"
    )
