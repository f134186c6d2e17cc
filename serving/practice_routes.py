"""Daily practice endpoints (FSRS): learners, decks, today's queue, graded reviews, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from kanjiwrite.serving.deps import KnownKanji, ScorerDep, StoreDep
from kanjiwrite.serving.practice_store import utc_now
from kanjiwrite.serving.rating import grade_attempt, rate_attempt
from kanjiwrite.serving.schemas import (
    AddCards,
    CardsAdded,
    LearnerCreated,
    Problem,
    Queue,
    ReviewAttempt,
    ReviewResult,
    Stats,
)

router = APIRouter(prefix="/v1/learners", tags=["practice"], responses={404: {"model": Problem}})


def clock() -> datetime:
    """The current time (tests override this dependency to simulate days)."""
    return utc_now()


Now = Annotated[datetime, Depends(clock)]


def learner(learner_id: str, store: StoreDep) -> str:
    """The learner of the path; 404 for an unknown id (ids are random, not guessable)."""
    with store.sessions() as session:
        if len(learner_id) != 32 or not store.exists(session, learner_id):
            raise HTTPException(404, "learner_id: unknown learner")
    return learner_id


LearnerId = Annotated[str, Depends(learner)]


@router.post("", response_model=LearnerCreated, status_code=201)
def create_learner(store: StoreDep, now: Now) -> LearnerCreated:
    return LearnerCreated(learner_id=store.create_learner(now))


@router.post("/{learner_id}/cards", response_model=CardsAdded, responses={422: {"model": Problem}})
def add_cards(
    body: AddCards, learner_id: LearnerId, store: StoreDep, scorer: ScorerDep, now: Now
) -> CardsAdded:
    unknown = [k for k in body.kanji if k not in scorer.pack]
    if unknown:
        raise HTTPException(422, f"kanji: not known characters: {''.join(unknown[:20])}")
    chosen = [*(store.sets.get(body.set, []) if body.set else []), *body.kanji]
    added, total = store.add_cards(learner_id, chosen, now)
    return CardsAdded(added=added, total=total)


@router.get("/{learner_id}/queue", response_model=Queue)
def queue(learner_id: LearnerId, store: StoreDep, now: Now) -> Queue:
    today = store.queue(learner_id, now)
    return Queue(
        due=today.due,
        new=today.new,
        next_due=today.next_due.isoformat() if today.next_due else None,
    )


@router.post("/{learner_id}/cards/{kanji}/reviews", response_model=ReviewResult)
def review(
    ref: KnownKanji,
    body: ReviewAttempt,
    learner_id: LearnerId,
    store: StoreDep,
    scorer: ScorerDep,
    now: Now,
) -> ReviewResult:
    accept = scorer.thresholds[body.strictness]
    attempt = grade_attempt(scorer.predict, ref, body.arrays(), body.canvas_size(), accept)
    rating = rate_attempt(attempt.misses, body.hints, attempt.complete, body.duration_ms)
    outcome = store.review(
        learner_id,
        ref.char,
        attempt,
        rating,
        body.hints,
        body.duration_ms,
        scorer.model_id,
        now,
    )
    if outcome is None:
        raise HTTPException(404, f"kanji: {ref.char!r} is not in this learner's deck")
    return ReviewResult(
        rating=outcome.rating.name,
        misses=attempt.misses,
        complete=attempt.complete,
        due=outcome.due.isoformat(),
        interval_days=outcome.interval_days,
    )


@router.get("/{learner_id}/stats", response_model=Stats)
def stats(learner_id: LearnerId, store: StoreDep, now: Now) -> Stats:
    return Stats(**vars(store.stats(learner_id, now)))
