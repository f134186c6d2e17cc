"""Daily practice storage: FSRS cards, one per (learner, kanji), append-only review logs,
and per-day counters, on the tables of ``db`` (SQLite file by default, PostgreSQL by URL;
migrated once before the service starts: ``db.migrate``).

Logs are append-only so schedules can be recomputed and FSRS re-optimised later. Every
method takes ``now`` so that time can be injected (tests simulate weeks).

A learner is known by a random id (internal) and authenticates with a bearer token of which
only the SHA-256 is stored. Changes to a learner's deck or overrides lock the learner's row
first (on PostgreSQL; SQLite's write lock already serialises writers), so caps hold under
concurrent requests; cards are inserted with ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import fsrs
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kanjiwrite.datasets.contract import DEFAULT_STRICTNESS
from kanjiwrite.serving.db import (
    CardRow,
    Learner,
    OverrideRow,
    ReviewDayRow,
    ReviewLogRow,
    is_sqlite,
    make_engine,
)
from kanjiwrite.serving.practice_stats import CardCounts, DayCounts, LearnerStats, learner_stats
from kanjiwrite.serving.rating import GradedAttempt

SCHEDULER = fsrs.Scheduler(enable_fuzzing=False)  # deterministic intervals


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
    kanji: str
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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PracticeStore:
    """The review store and scheduler behind the practice endpoints (on a migrated
    database: see ``db.migrate``)."""

    def __init__(
        self, url: str, sets: dict[str, list[str]], daily_new: int = 10, max_cards: int = 3000
    ):
        self.engine = make_engine(url)
        self.read_engine = make_engine(url, immediate=False) if is_sqlite(url) else None
        self.writes = sessionmaker(self.engine, expire_on_commit=False)
        self.sessions = sessionmaker(self.read_engine or self.engine, expire_on_commit=False)
        self.insert = sqlite.insert if is_sqlite(url) else postgresql.insert
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
            _lock_learner(session, learner_id).token_hash = token_hash(token)
        return token

    def add_cards(self, learner_id: str, kanji: list[str], now: datetime) -> tuple[int, int]:
        """Add cards (ignoring ones the learner has); returns (added, total). ``DeckFull``
        when the deck would hold more than ``max_cards``."""
        with self.writes.begin() as session:
            _lock_learner(session, learner_id)
            have = set(
                session.scalars(select(CardRow.kanji).where(CardRow.learner_id == learner_id))
            )
            fresh = [k for k in dict.fromkeys(kanji) if k not in have]
            if len(have) + len(fresh) > self.max_cards:
                raise DeckFull(f"a deck holds at most {self.max_cards} kanji ({len(have)} now)")
            if fresh:
                rows = [  # created_at keeps the given order among new cards
                    {
                        "learner_id": learner_id,
                        "kanji": k,
                        "state": int(fsrs.State.Learning),
                        "step": 0,
                        "due": now,
                        "reps": 0,
                        "lapses": 0,
                        "agains": 0,
                        "created_at": now + timedelta(microseconds=offset),
                    }
                    for offset, k in enumerate(fresh)
                ]
                session.execute(
                    self.insert(CardRow)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["learner_id", "kanji"])
                )
            return len(fresh), len(have) + len(fresh)

    def settings(self, learner_id: str) -> LearnerSettings:
        with self.sessions() as session:
            learner = session.get(Learner, learner_id)
            return LearnerSettings(
                learner.daily_new if learner.daily_new is not None else self.daily_new,
                learner.strictness or DEFAULT_STRICTNESS,
            )

    def update_settings(self, learner_id: str, daily_new: int, strictness: str) -> None:
        with self.writes.begin() as session:
            learner = _lock_learner(session, learner_id)
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
                    ReviewLogRow.reviewed_at >= day_start,
                    ReviewLogRow.first_review == 1,
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
            log.kanji,
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
            again = rating == fsrs.Rating.Again
            row.state, row.step = int(card.state), card.step
            row.stability, row.difficulty = card.stability, card.difficulty
            row.due, row.last_review = card.due, card.last_review
            row.reps += 1
            row.lapses += int(again and not first)
            row.agains += int(again)
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
                    model_id=model_id,
                    scheduled_days=scheduled,
                    attempt_id=attempt_id,
                    complete=int(attempt.complete),
                )
            )
            self._count_day(session, learner_id, now, repeat=not first, recalled=not again)
        return ReviewOutcome(
            kanji, rating, card.due, round(scheduled, 4), attempt.misses, attempt.complete
        )

    def _count_day(
        self, session: Session, learner_id: str, now: datetime, repeat: bool, recalled: bool
    ) -> None:
        """Add one review to the learner's row for today (an upsert: safe when two reviews
        of the same day race)."""
        counts = {"reviews": 1, "repeats": int(repeat), "recalled": int(repeat and recalled)}
        insert = self.insert(ReviewDayRow).values(
            learner_id=learner_id, day=now.astimezone(UTC).date(), **counts
        )
        table = ReviewDayRow.__table__.c
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["learner_id", "day"],
                set_={name: table[name] + insert.excluded[name] for name in counts},
            )
        )

    def add_override(self, row: OverrideRow, cap: int) -> int:
        """Store an override (``TooManyOverrides`` past ``cap`` for the learner); its id."""
        with self.writes.begin() as session:
            _lock_learner(session, row.learner_id)
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
        """The learner's stats from the cards and the per-day counters (never the logs)."""
        with self.sessions() as session:
            cards = session.execute(
                select(CardRow.kanji, CardRow.reps, CardRow.agains, CardRow.due).where(
                    CardRow.learner_id == learner_id
                )
            ).all()
            days = session.execute(
                select(
                    ReviewDayRow.day,
                    ReviewDayRow.reviews,
                    ReviewDayRow.repeats,
                    ReviewDayRow.recalled,
                ).where(ReviewDayRow.learner_id == learner_id)
            ).all()
        return learner_stats(
            [CardCounts(k, reps, agains, _aware(due)) for k, reps, agains, due in cards],
            [DayCounts(*day) for day in days],
            now,
        )


def _lock_learner(session: Session, learner_id: str) -> Learner:
    """The learner's row, locked until the transaction ends (``SELECT ... FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction holds the database lock already)."""
    return session.scalars(select(Learner).where(Learner.id == learner_id).with_for_update()).one()


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
