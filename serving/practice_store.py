"""Daily practice storage: FSRS cards, one per (learner, kanji), the attempt in progress at
each card (``attempts``), append-only review logs, per-day counters, and learners' claims
("I was right": the store alone writes and reads their format), on the tables of ``db``
(SQLite file by default, PostgreSQL by URL; migrated once before the service starts:
``db.migrate``).

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
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import fsrs
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kanjiwrite.datasets.contract import DEFAULT_STRICTNESS
from kanjiwrite.serving.attempts import Attempt
from kanjiwrite.serving.db import (
    AttemptRow,
    CardRow,
    Learner,
    OverrideRow,
    ReviewDayRow,
    ReviewLogRow,
    is_sqlite,
    make_engine,
)
from kanjiwrite.serving.practice_stats import CardCounts, DayCounts, LearnerStats, learner_stats
from kanjiwrite.serving.rating import MISSES_BEFORE_HINT, GradedAttempt, Rated

SCHEDULER = fsrs.Scheduler(enable_fuzzing=False)  # deterministic intervals


@dataclass
class TodayQueue:
    due: list[str]  # kanji due for review, most overdue first
    new: list[str]  # new kanji for today, within the daily limit
    next_due: datetime | None  # the next review after now
    reps: dict[str, int]  # reviews so far of each kanji listed (the demo's tracing level)


EXAM_MODES = ("auto", "always", "never")  # auto: exam mode for cards past their 2nd review
EXAM_AFTER_REPS = 2


@dataclass
class LearnerSettings:
    daily_new: int
    strictness: str
    exam: str = "auto"
    reveal_after: int = MISSES_BEFORE_HINT


@dataclass
class OverrideRecord:
    """One exported claim (the format of ``datasets/overrides.py``): the strokes graded
    (accepted ones, then the claimed one), labelled as the learner says; what the grader
    said; ``claimant``, a number per learner within this export (never the learner's id),
    and ``claimant_claims``, how many claims that learner made, so a retraining can weigh
    or drop a learner."""

    kanji: str
    canvas: list[float]
    strokes: list
    labels: list[str]
    grader_verdicts: list[str]
    order: list[int]
    p_correct: float
    expected_index: int | None
    matched_index: int | None
    model_id: str
    strictness: str
    created_at: str
    claimant: int
    claimant_claims: int


@dataclass
class ReviewOutcome:
    kanji: str
    rated: Rated
    due: datetime
    interval_days: float
    misses: list[int]
    complete: bool
    replayed: bool = False  # the attempt id was seen before: nothing was stored


class DeckFull(Exception):
    pass


class TooManyOverrides(Exception):
    pass


class AttemptChanged(Exception):
    """The attempt changed since it was read (another tab wrote to it)."""


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

    def can_write(self) -> bool:
        """Whether the database takes a write now (one row rewritten as it was)."""
        try:
            with self.writes.begin() as session:
                session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        except SQLAlchemyError:
            return False
        return True

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
            return self._settings(session.get(Learner, learner_id))

    def _settings(self, learner: Learner) -> LearnerSettings:
        defaults = LearnerSettings(self.daily_new, DEFAULT_STRICTNESS)
        return LearnerSettings(
            defaults.daily_new if learner.daily_new is None else learner.daily_new,
            learner.strictness or defaults.strictness,
            learner.exam or defaults.exam,
            learner.reveal_after or defaults.reveal_after,
        )

    def update_settings(self, learner_id: str, settings: LearnerSettings) -> None:
        with self.writes.begin() as session:
            learner = _lock_learner(session, learner_id)
            learner.daily_new, learner.strictness = settings.daily_new, settings.strictness
            learner.exam, learner.reveal_after = settings.exam, settings.reveal_after

    def open_attempt(
        self, learner_id: str, kanji: str, stroke_count: int, now: datetime
    ) -> tuple[Attempt, int] | None:
        """The attempt in progress at the learner's card and its version (``None``: no
        such card). One is opened when there is none, or when the one there is was opened
        on an earlier (UTC) day: the first try of each day decides. Exam mode follows the
        learner's setting (``auto``: for cards past their second review)."""
        with self.writes.begin() as session:
            card = session.scalars(
                select(CardRow).where(CardRow.learner_id == learner_id, CardRow.kanji == kanji)
            ).one_or_none()
            if card is None:
                return None
            row = session.scalars(
                select(AttemptRow).where(AttemptRow.card_id == card.id)
            ).one_or_none()
            if row is not None and _aware(row.opened_at).date() == now.date():
                return Attempt.from_json(json.loads(row.data)), row.version
            exam = self._settings(session.get(Learner, learner_id)).exam
            attempt = Attempt(
                kanji,
                stroke_count,
                exam == "always" or (exam == "auto" and card.reps >= EXAM_AFTER_REPS),
            )
            data = json.dumps(attempt.to_json())
            if row is None:
                row = AttemptRow(card_id=card.id, learner_id=learner_id, version=0)
                session.add(row)
            row.opened_at, row.data, row.version = now, data, row.version + 1
            session.flush()
            return attempt, row.version

    def save_attempt(self, learner_id: str, attempt: Attempt, version: int) -> int:
        """Store a changed attempt read at ``version``; its new version (``AttemptChanged``
        when it changed meanwhile: nothing is stored)."""
        data = json.dumps(attempt.to_json(), separators=(",", ":"))
        with self.writes.begin() as session:
            card_id = select(CardRow.id).where(
                CardRow.learner_id == learner_id, CardRow.kanji == attempt.kanji
            )
            done = session.execute(
                update(AttemptRow)
                .where(AttemptRow.card_id == card_id.scalar_subquery())
                .where(AttemptRow.version == version)
                .values(data=data, version=version + 1)
            )
            if done.rowcount != 1:
                raise AttemptChanged("this attempt changed meanwhile (another tab?): reload it")
        return version + 1

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
        rated: Rated,
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
                learner_id, kanji, attempt, rated, hints, duration_ms, model_id, now, attempt_id
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
            Rated(fsrs.Rating(log.rating), json.loads(log.reasons or "[]")),
            due,
            round(log.scheduled_days, 4),
            json.loads(log.misses),
            bool(log.complete),
            replayed=True,
        )

    def _review(
        self, learner_id, kanji, attempt, rated, hints, duration_ms, model_id, now, attempt_id
    ) -> ReviewOutcome | None:
        rating = rated.rating
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
                    reasons=json.dumps(rated.reasons),
                )
            )
            self._count_day(session, learner_id, now, repeat=not first, recalled=not again)
            session.execute(delete(AttemptRow).where(AttemptRow.card_id == row.id))
        return ReviewOutcome(
            kanji, rated, card.due, round(scheduled, 4), attempt.misses, attempt.complete
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

    def add_override(
        self,
        learner_id: str,
        attempt: Attempt,
        index: int,
        order: list[int],
        strictness: str,
        model_id: str,
        now: datetime,
        cap: int,
    ) -> int:
        """Store a plausible claim that stroke ``index`` of ``attempt`` was right (checked
        by the caller: ``Attempt.claim_problem``), with the strokes graded with it and what
        the grader said; ``TooManyOverrides`` past ``cap`` for the learner. Its id."""
        graded = [*attempt.accepted, index]
        said = attempt.graded[index]
        row = OverrideRow(
            learner_id=learner_id,
            kanji=attempt.kanji,
            strokes=json.dumps([attempt.strokes[i] for i in graded], separators=(",", ":")),
            canvas_width=attempt.canvas[0],
            canvas_height=attempt.canvas[1],
            strictness=strictness,
            verdicts=json.dumps(["correct"] * len(attempt.accepted) + [said.verdict]),
            order=json.dumps(order),
            p_correct=said.p_correct,
            model_id=model_id,
            claim="correct",
            log_index=index,
            created_at=now,
            plausible=1,
            expected_index=said.expected_index,
            matched_index=said.matched_index,
        )
        with self.writes.begin() as session:
            _lock_learner(session, learner_id)
            count = session.scalar(
                select(func.count())
                .select_from(OverrideRow)
                .where(OverrideRow.learner_id == learner_id)
            )
            if count >= cap:
                raise TooManyOverrides(f"at most {cap} overrides per learner")
            session.add(row)
            session.flush()
            return row.id

    def overrides(self) -> list[OverrideRecord]:
        """Every plausible claim, oldest first, for the export (see ``OverrideRecord``)."""
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(OverrideRow).where(OverrideRow.plausible == 1).order_by(OverrideRow.id)
                )
            )
        claims = Counter(row.learner_id for row in rows)
        claimants = {learner: n for n, learner in enumerate(dict.fromkeys(claims), start=1)}
        records = []
        for row in rows:
            verdicts = json.loads(row.verdicts)
            records.append(
                OverrideRecord(
                    kanji=row.kanji,
                    canvas=[row.canvas_width, row.canvas_height],
                    strokes=json.loads(row.strokes),
                    labels=["correct"] * len(verdicts),  # accepted before, and claimed right
                    grader_verdicts=verdicts,
                    order=json.loads(row.order),
                    p_correct=row.p_correct,
                    expected_index=row.expected_index,
                    matched_index=row.matched_index,
                    model_id=row.model_id,
                    strictness=row.strictness,
                    created_at=_aware(row.created_at).isoformat(),
                    claimant=claimants[row.learner_id],
                    claimant_claims=claims[row.learner_id],
                )
            )
        return records

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
