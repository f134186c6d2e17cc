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
    max_body_bytes: int = 1_000_000
    log_level: str = "info"
    database_url: str = Field(
        "sqlite:///practice.db",
        description="Practice store: a SQLite file "
        "(default) or a PostgreSQL URL (postgresql+psycopg://...)",
    )
    daily_new_limit: int = 10
