"""Daily practice endpoints (FSRS): learners, decks, today's queue, graded reviews, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from kanjiwrite.serving.practice import Practice, grade_attempt, utc_now
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


def practice(request: Request) -> Practice:
    return request.app.state.practice


Store = Annotated[Practice, Depends(practice)]
Now = Annotated[datetime, Depends(clock)]


def learner(learner_id: str, store: Store) -> str:
    """The learner of the path; 404 for an unknown id (ids are random, not guessable)."""
    with store.sessions() as session:
        if len(learner_id) != 32 or not store.exists(session, learner_id):
            raise HTTPException(404, "learner_id: unknown learner")
    return learner_id


LearnerId = Annotated[str, Depends(learner)]


@router.post("", response_model=LearnerCreated, status_code=201)
def create_learner(store: Store, now: Now) -> LearnerCreated:
    return LearnerCreated(learner_id=store.create_learner(now))


@router.post("/{learner_id}/cards", response_model=CardsAdded, responses={422: {"model": Problem}})
def add_cards(
    body: AddCards, learner_id: LearnerId, store: Store, now: Now, request: Request
) -> CardsAdded:
    pack = request.app.state.scorer.pack
    unknown = [k for k in body.kanji if k not in pack]
    if unknown:
        raise HTTPException(422, f"kanji: not known characters: {''.join(unknown[:20])}")
    chosen = [*(store.sets.get(body.set, []) if body.set else []), *body.kanji]
    added, total = store.add_cards(learner_id, chosen, now)
    return CardsAdded(added=added, total=total)


@router.get("/{learner_id}/queue", response_model=Queue)
def queue(learner_id: LearnerId, store: Store, now: Now) -> Queue:
    q = store.queue(learner_id, now)
    return Queue(
        due=q["due"], new=q["new"], next_due=q["next_due"].isoformat() if q["next_due"] else None
    )


@router.post("/{learner_id}/cards/{kanji}/reviews", response_model=ReviewResult)
def review(
    kanji: str, body: ReviewAttempt, request: Request, learner_id: LearnerId, store: Store, now: Now
) -> ReviewResult:
    scorer = request.app.state.scorer
    if len(kanji) != 1 or kanji not in scorer.pack:
        raise HTTPException(404, f"kanji: {kanji!r} is not a known character")
    attempt = grade_attempt(scorer.predict, scorer.pack[kanji], body.arrays(), body.canvas_size())
    result = store.review(
        learner_id, kanji, attempt, body.hints, body.duration_ms, scorer.model_version, now
    )
    if result is None:
        raise HTTPException(404, f"kanji: {kanji!r} is not in this learner's deck")
    return ReviewResult(
        rating=result["rating"],
        misses=result["misses"],
        complete=result["complete"],
        due=result["due"].isoformat(),
        interval_days=result["interval_days"],
    )


@router.get("/{learner_id}/stats", response_model=Stats)
def stats(learner_id: LearnerId, store: Store, now: Now) -> Stats:
    return Stats(**store.stats(learner_id, now))
