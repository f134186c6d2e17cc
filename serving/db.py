"""The practice database: tables (SQLAlchemy ORM), engines (SQLite pragmas and lock
discipline, PostgreSQL), and the Alembic migrations.

On SQLite, writes take the database lock up front (``BEGIN IMMEDIATE``, so concurrent
writers queue instead of failing) and reads run in their own deferred transactions, which
WAL lets proceed while a writer holds the lock. On PostgreSQL, migrations run under an
advisory lock, so several servers starting together migrate one after the other.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import fsrs
from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_150_512  # PostgreSQL advisory lock key held while migrating


class Base(DeclarativeBase):
    pass


class Learner(Base):
    __tablename__ = "learners"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, never shown
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token
    daily_new: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the default
    strictness: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exam: Mapped[str | None] = mapped_column(String(8), nullable=True)  # auto, always, never
    reveal_after: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CardRow(Base):
    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("learner_id", "kanji"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    kanji: Mapped[str] = mapped_column(String(1))
    state: Mapped[int] = mapped_column(Integer, default=int(fsrs.State.Learning))
    step: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)
    stability: Mapped[float | None] = mapped_column(Float, nullable=True)
    difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_review: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reps: Mapped[int] = mapped_column(Integer, default=0)  # reviews of this card
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    agains: Mapped[int] = mapped_column(Integer, default=0)  # reviews rated Again
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewLogRow(Base):
    __tablename__ = "review_logs"
    __table_args__ = (
        UniqueConstraint("learner_id", "attempt_id", name="uq_review_attempt"),
        Index("ix_review_logs_learner_time", "learner_id", "reviewed_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    learner_id: Mapped[str] = mapped_column(String(32), index=True)
    kanji: Mapped[str] = mapped_column(String(1))
    rating: Mapped[int] = mapped_column(Integer)
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_review: Mapped[int] = mapped_column(Integer, default=0)  # 1 when the card was new
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    misses: Mapped[str] = mapped_column(Text)  # JSON list: misses per reference stroke
    hints: Mapped[int] = mapped_column(Integer, default=0)
    model_id: Mapped[str] = mapped_column(String(64), default="")  # the model that graded
    scheduled_days: Mapped[float] = mapped_column(Float)
    attempt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # client's id
    complete: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reasons: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: the rating's


class ReviewDayRow(Base):
    """Per learner and UTC day: how many reviews, and of the repeat reviews (not first
    sightings) how many were recalled (not Again). Kept with every review, so the stats
    read one row a day instead of every log."""

    __tablename__ = "review_days"
    learner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    recalled: Mapped[int] = mapped_column(Integer, default=0)


class AttemptRow(Base):
    """The attempt in progress at a card (``attempts.Attempt`` as JSON, capped in size);
    removed when its review is recorded. ``version`` counts its changes, so that two tabs
    writing at once cannot overwrite each other."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), unique=True)
    learner_id: Mapped[str] = mapped_column(String(32), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[str] = mapped_column(Text)


class OverrideRow(Base):
    """A learner's claim that a stroke the grader rejected was right: the strokes graded
    (the accepted ones and the claimed one, in the attempt's units), what the grader said,
    and the claim. Written and read by the store only (``PracticeStore.add_override``,
    ``PracticeStore.overrides``); exported as labelled real writing (``kanjiwrite data
    overrides``). ``plausible``: the claim passed ``attempts.Attempt.claim_problem`` (claims
    stored before migration 0006 did not, and are never exported)."""

    __tablename__ = "overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[str] = mapped_column(String(32), index=True)
    kanji: Mapped[str] = mapped_column(String(1), index=True)
    strokes: Mapped[str] = mapped_column(Text)  # JSON: the request's strokes, last one claimed
    canvas_width: Mapped[float] = mapped_column(Float)
    canvas_height: Mapped[float] = mapped_column(Float)
    strictness: Mapped[str] = mapped_column(String(16))
    verdicts: Mapped[str] = mapped_column(Text)  # JSON: the grader's verdict of every stroke
    order: Mapped[str] = mapped_column(Text)  # JSON: the stroke order graded against
    p_correct: Mapped[float] = mapped_column(Float)  # of the claimed stroke
    model_id: Mapped[str] = mapped_column(String(64))
    claim: Mapped[str] = mapped_column(String(16))  # "correct"
    attempt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    log_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # in the review
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    plausible: Mapped[int] = mapped_column(Integer, default=0)
    expected_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matched_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, immediate: bool = True, foreign_keys: bool = True) -> Engine:
    """An engine (SQL parameters never printed in its errors); on SQLite with WAL, each
    transaction opened with ``BEGIN IMMEDIATE`` (writes: they queue for the lock) or
    ``BEGIN`` (reads: they never wait for a writer), foreign keys enforced unless told
    (migrations copy tables)."""
    if not is_sqlite(url):
        return create_engine(
            url, pool_pre_ping=True, hide_parameters=True, connect_args={"connect_timeout": 5}
        )
    if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://"):
        raise ValueError(
            "an in-memory SQLite database is not shared between connections or workers: "
            "give a file (sqlite:///practice.db) or a PostgreSQL URL"
        )
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _sqlite_connect(connection, _record):
        connection.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(url: str) -> None:
    """Bring the database to the latest schema (Alembic ``upgrade head``), under a
    database-wide lock: the SQLite write lock, or a PostgreSQL advisory lock."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as connection:
            if not is_sqlite(url):
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "head")
            finally:
                if not is_sqlite(url):
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
                    )
                    connection.commit()
    finally:
        engine.dispose()
