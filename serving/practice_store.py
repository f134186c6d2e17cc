"""Daily practice storage: FSRS cards, one per (learner, kanji), and append-only review
logs, in SQLAlchemy tables (SQLite file by default, PostgreSQL by URL) migrated by Alembic.

Logs are append-only so schedules can be recomputed and FSRS re-optimised later. Every
method takes ``now`` so that time can be injected (tests simulate weeks). The schema is
migrated once before the service starts (``migrate``; ``kanjiwrite serve`` does it).

A learner is known by a random id (internal) and authenticates with a bearer token of which
only the SHA-256 is stored. On SQLite, writes take the database lock up front (``BEGIN
IMMEDIATE``, so concurrent writers queue instead of failing) and reads run in their own
deferred transactions, which WAL lets proceed while a writer holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsrs
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from kanjiwrite.serving.rating import GradedAttempt

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEDULER = fsrs.Scheduler(enable_fuzzing=False)  # deterministic intervals


class Base(DeclarativeBase):
    pass


class Learner(Base):
    __tablename__ = "learners"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, never shown
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token
    daily_new: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the default
    strictness: Mapped[str | None] = mapped_column(String(16), nullable=True)


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
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewLogRow(Base):
    __tablename__ = "review_logs"
    __table_args__ = (UniqueConstraint("learner_id", "attempt_id", name="uq_review_attempt"),)
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
    model_version: Mapped[str] = mapped_column(String(64), default="")  # the model id
    scheduled_days: Mapped[float] = mapped_column(Float)
    attempt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # client's id
    complete: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OverrideRow(Base):
    """A learner's claim that a stroke the grader rejected was right: the request as sent
    (strokes in canvas pixels), what the grader said, and the claim. Exported as labelled
    real writing (``kanjiwrite data overrides``)."""

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


def make_engine(url: str, immediate: bool = True) -> Engine:
    """An engine; on SQLite with WAL, each transaction opened with ``BEGIN IMMEDIATE``
    (writes: they queue for the lock) or ``BEGIN`` (reads: they never wait for a writer)."""
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://"):
            raise ValueError(
                "an in-memory SQLite database is not shared between connections or workers: "
                "give a file (sqlite:///practice.db) or a PostgreSQL URL"
            )
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(connection, _record):
            connection.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def migrate(url: str) -> None:
    """Bring the database to the latest schema (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


@dataclass
class TodayQueue:
    due: list[str]  # kanji due for review, most overdue first
    new: list[str]  # new kanji for today, within the daily limit
    next_due: datetime | None  # the next review after now
    reps: dict[str, int]  # reviews so far of each kanji listed (the demo's tracing level)


@dataclass
class LearnerSettings:
    daily_new: int
    strictness: str


@dataclass
class ReviewOutcome:
    rating: fsrs.Rating
    due: datetime
    interval_days: float
    misses: list[int]
    complete: bool
    replayed: bool = False  # the attempt id was seen before: nothing was stored


class DeckFull(Exception):
    pass


class TooManyOverrides(Exception):
    pass


@dataclass
class LearnerStats:
    cards: int
    due_today: int
    reviews: int
    streak_days: int
    retention_30d: float | None  # share of reviews (not first sightings) not rated Again
    forecast: list[int]  # reviews falling due on each of the next 7 days (today first)
    hardest: list[dict]  # the kanji most often rated Again: kanji, again, reviews


class PracticeStore:
    """The review store and scheduler behind the practice endpoints (on a migrated
    database: see ``migrate``)."""

    def __init__(
        self, url: str, sets: dict[str, list[str]], daily_new: int = 10, max_cards: int = 3000
    ):
        self.engine = make_engine(url)
        self.read_engine = make_engine(url, immediate=False) if url.startswith("sqlite") else None
        self.writes = sessionmaker(self.engine, expire_on_commit=False)
        self.sessions = sessionmaker(self.read_engine or self.engine, expire_on_commit=False)
        self.sets, self.daily_new, self.max_cards = sets, daily_new, max_cards

    def dispose(self) -> None:
        for engine in (self.engine, self.read_engine):
            if engine is not None:
                engine.dispose()

    def create_learner(self, now: datetime) -> str:
        """A new learner; returns its bearer token (shown once, only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        with self.writes.begin() as session:
            session.add(
                Learner(id=secrets.token_hex(16), created_at=now, token_hash=token_hash(token))
            )
        return token

    def learner_of(self, token: str) -> str | None:
        """The id of the learner holding ``token`` (``None``: no such token)."""
        with self.sessions() as session:
            return session.scalar(select(Learner.id).where(Learner.token_hash == token_hash(token)))

    def rotate_token(self, learner_id: str) -> str:
        """A new token for the learner; the old one stops working at once."""
        token = secrets.token_urlsafe(32)
        with self.writes.begin() as session:
            session.get(Learner, learner_id).token_hash = token_hash(token)
        return token

    def add_cards(self, learner_id: str, kanji: list[str], now: datetime) -> tuple[int, int]:
        """Add cards (ignoring ones the learner has); returns (added, total). ``DeckFull``
        when the deck would hold more than ``max_cards``."""
        with self.writes.begin() as session:
            have = set(
                session.scalars(select(CardRow.kanji).where(CardRow.learner_id == learner_id))
            )
            fresh = [k for k in dict.fromkeys(kanji) if k not in have]
            if len(have) + len(fresh) > self.max_cards:
                raise DeckFull(f"a deck holds at most {self.max_cards} kanji ({len(have)} now)")
            for offset, k in enumerate(fresh):  # keep the given order among new cards
                session.add(
                    CardRow(
                        learner_id=learner_id,
                        kanji=k,
                        due=now,
                        created_at=now + timedelta(microseconds=offset),
                        step=0,
                    )
                )
            return len(fresh), len(have) + len(fresh)

    def settings(self, learner_id: str) -> LearnerSettings:
        with self.sessions() as session:
            learner = session.get(Learner, learner_id)
            return LearnerSettings(
                learner.daily_new if learner.daily_new is not None else self.daily_new,
                learner.strictness or "standard",
            )

    def update_settings(self, learner_id: str, daily_new: int, strictness: str) -> None:
        with self.writes.begin() as session:
            learner = session.get(Learner, learner_id)
            learner.daily_new, learner.strictness = daily_new, strictness

    def queue(self, learner_id: str, now: datetime, more: int = 0) -> TodayQueue:
        """Due reviews first (most overdue first), then new kanji up to today's limit (the
        learner's setting) plus ``more`` ("study more")."""
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        limit = self.settings(learner_id).daily_new + more
        with self.sessions() as session:
            due = session.scalars(
                select(CardRow)
                .where(CardRow.learner_id == learner_id, CardRow.reps > 0, CardRow.due <= now)
                .order_by(CardRow.due)
            ).all()
            introduced = session.scalar(
                select(func.count())
                .select_from(ReviewLogRow)
                .where(
                    ReviewLogRow.learner_id == learner_id,
                    ReviewLogRow.first_review == 1,
                    ReviewLogRow.reviewed_at >= day_start,
                )
            )
            new = session.scalars(
                select(CardRow)
                .where(CardRow.learner_id == learner_id, CardRow.reps == 0)
                .order_by(CardRow.created_at)
                .limit(max(limit - introduced, 0))
            ).all()
            upcoming = session.scalar(
                select(func.min(CardRow.due)).where(
                    CardRow.learner_id == learner_id, CardRow.reps > 0, CardRow.due > now
                )
            )
        reps = {c.kanji: c.reps for c in [*due, *new]}
        return TodayQueue([c.kanji for c in due], [c.kanji for c in new], _aware(upcoming), reps)

    def review(
        self,
        learner_id: str,
        kanji: str,
        attempt: GradedAttempt,
        rating: fsrs.Rating,
        hints: int,
        duration_ms: int | None,
        model_id: str,
        now: datetime,
        attempt_id: str | None = None,
    ) -> ReviewOutcome | None:
        """Record one rated attempt (``None``: no such card); the card row is locked for the
        update, so concurrent reviews of the same card are applied one after the other and
        none is lost. An ``attempt_id`` stored before (the unique constraint says so) returns
        the first outcome and stores nothing: a retried request is not a second review
        (callers look it up first with ``replay`` to spare the grading)."""
        try:
            return self._review(
                learner_id, kanji, attempt, rating, hints, duration_ms, model_id, now, attempt_id
            )
        except IntegrityError:  # this attempt id is stored already (a retry, or a race)
            if attempt_id is None:
                raise
            return self.replay(learner_id, attempt_id)

    def replay(self, learner_id: str, attempt_id: str) -> ReviewOutcome | None:
        """The outcome stored for an attempt id, if any."""
        with self.sessions() as session:
            log = session.scalars(
                select(ReviewLogRow).where(
                    ReviewLogRow.learner_id == learner_id, ReviewLogRow.attempt_id == attempt_id
                )
            ).one_or_none()
        if log is None:
            return None
        due = _aware(log.reviewed_at) + timedelta(days=log.scheduled_days)
        return ReviewOutcome(
            fsrs.Rating(log.rating),
            due,
            round(log.scheduled_days, 4),
            json.loads(log.misses),
            bool(log.complete),
            replayed=True,
        )

    def _review(
        self, learner_id, kanji, attempt, rating, hints, duration_ms, model_id, now, attempt_id
    ) -> ReviewOutcome | None:
        with self.writes.begin() as session:
            row = session.scalars(
                select(CardRow)
                .where(CardRow.learner_id == learner_id, CardRow.kanji == kanji)
                .with_for_update()
            ).one_or_none()
            if row is None:
                return None
            card = fsrs.Card(
                card_id=row.id,
                state=fsrs.State(row.state),
                step=row.step,
                stability=row.stability,
                difficulty=row.difficulty,
                due=_aware(row.due),
                last_review=_aware(row.last_review),
            )
            card, _log = SCHEDULER.review_card(card, rating, review_datetime=now)
            first = row.reps == 0
            row.state, row.step = int(card.state), card.step
            row.stability, row.difficulty = card.stability, card.difficulty
            row.due, row.last_review = card.due, card.last_review
            row.reps += 1
            row.lapses += int(rating == fsrs.Rating.Again and not first)
            scheduled = (card.due - now).total_seconds() / 86400
            session.add(
                ReviewLogRow(
                    card_id=row.id,
                    learner_id=learner_id,
                    kanji=kanji,
                    rating=int(rating),
                    reviewed_at=now,
                    first_review=int(first),
                    duration_ms=duration_ms,
                    misses=json.dumps(attempt.misses),
                    hints=hints,
                    model_version=model_id,
                    scheduled_days=scheduled,
                    attempt_id=attempt_id,
                    complete=int(attempt.complete),
                )
            )
        return ReviewOutcome(
            rating, card.due, round(scheduled, 4), attempt.misses, attempt.complete
        )

    def add_override(self, row: OverrideRow, cap: int) -> int:
        """Store an override (``TooManyOverrides`` past ``cap`` for the learner); its id."""
        with self.writes.begin() as session:
            count = session.scalar(
                select(func.count())
                .select_from(OverrideRow)
                .where(OverrideRow.learner_id == row.learner_id)
            )
            if count >= cap:
                raise TooManyOverrides(f"at most {cap} overrides per learner")
            session.add(row)
            session.flush()
            return row.id

    def overridden(self, learner_id: str, attempt_id: str) -> set[int]:
        """Review-log indices of the strokes this learner overruled in ``attempt_id``."""
        with self.sessions() as session:
            return set(
                session.scalars(
                    select(OverrideRow.log_index).where(
                        OverrideRow.learner_id == learner_id,
                        OverrideRow.attempt_id == attempt_id,
                    )
                )
            )

    def overrides(self) -> list[OverrideRow]:
        """Every override, oldest first (for the export)."""
        with self.sessions() as session:
            return list(session.scalars(select(OverrideRow).order_by(OverrideRow.id)))

    def stats(self, learner_id: str, now: datetime) -> LearnerStats:
        with self.sessions() as session:
            cards = session.scalar(
                select(func.count()).select_from(CardRow).where(CardRow.learner_id == learner_id)
            )
            due = session.scalar(
                select(func.count())
                .select_from(CardRow)
                .where(CardRow.learner_id == learner_id, CardRow.reps > 0, CardRow.due <= now)
            )
            logs = session.execute(
                select(
                    ReviewLogRow.reviewed_at, ReviewLogRow.rating, ReviewLogRow.first_review
                ).where(ReviewLogRow.learner_id == learner_id)
            ).all()
            week = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=7)
            upcoming = session.scalars(
                select(CardRow.due).where(
                    CardRow.learner_id == learner_id, CardRow.reps > 0, CardRow.due < week
                )
            ).all()
            again = func.sum(case((ReviewLogRow.rating == int(fsrs.Rating.Again), 1), else_=0))
            hardest = session.execute(
                select(ReviewLogRow.kanji, again, func.count())
                .where(ReviewLogRow.learner_id == learner_id)
                .group_by(ReviewLogRow.kanji)
                .having(again > 0)
                .order_by(again.desc(), func.count().desc(), ReviewLogRow.kanji)
                .limit(5)
            ).all()
        days = {_aware(at).date() for at, _, _ in logs}
        streak, day = 0, now.date()
        if day not in days:
            day -= timedelta(days=1)  # today not practised yet: the streak may still go on
        while day in days:
            streak, day = streak + 1, day - timedelta(days=1)
        recent = [
            rating
            for at, rating, first in logs
            if not first and _aware(at) >= now - timedelta(days=30)
        ]
        retention = (
            (sum(r != int(fsrs.Rating.Again) for r in recent) / len(recent)) if recent else None
        )
        forecast = [0] * 7
        for moment in upcoming:  # overdue ones count today
            forecast[max(0, (_aware(moment).date() - now.date()).days)] += 1
        return LearnerStats(
            cards,
            due,
            len(logs),
            streak,
            retention,
            forecast,
            [{"kanji": k, "again": int(a), "reviews": n} for k, a, n in hardest],
        )


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
