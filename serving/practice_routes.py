"""Daily practice endpoints (FSRS): learners, decks, settings, today's queue, graded
reviews, stats, and overrides ("I was right").

A learner authenticates with ``Authorization: Bearer <token>`` (the token ``POST
/v1/learners`` returns once); tokens never appear in a URL. Everything that creates state
is rate-limited per client address (``ratelimit``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kanjiwrite.serving.db import OverrideRow
from kanjiwrite.serving.deps import KnownKanji, ScorerDep, StoreDep
from kanjiwrite.serving.practice_store import DeckFull, TooManyOverrides, utc_now
from kanjiwrite.serving.ratelimit import limited
from kanjiwrite.serving.rating import rate_attempt
from kanjiwrite.serving.schemas import (
    AddCards,
    CardsAdded,
    LearnerSettings,
    LearnerToken,
    OverrideRequest,
    OverrideStored,
    Problem,
    Queue,
    ReviewAttempt,
    ReviewResult,
    Stats,
)

UNAUTHORIZED = {401: {"model": Problem, "description": "Missing or unknown learner token"}}
LIMITED = {429: {"model": Problem, "description": "Rate limit (see Retry-After)"}}
router = APIRouter(prefix="/v1", tags=["practice"], responses={404: {"model": Problem}})
bearer = HTTPBearer(auto_error=False, description="The learner token from POST /v1/learners")


def clock() -> datetime:
    """The current time (tests override this dependency to simulate days)."""
    return utc_now()


Now = Annotated[datetime, Depends(clock)]


def learner(
    store: StoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The learner whose token the request carries; 401 without one or for an unknown one."""
    learner_id = store.learner_of(credentials.credentials) if credentials else None
    if learner_id is None:
        detail = "unknown learner token" if credentials else "send Authorization: Bearer <token>"
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
    return learner_id


LearnerId = Annotated[str, Depends(learner)]


@router.post(
    "/learners",
    response_model=LearnerToken,
    status_code=201,
    responses=LIMITED,
    dependencies=[Depends(limited("learners"))],
)
def create_learner(store: StoreDep, now: Now) -> LearnerToken:
    return LearnerToken(learner_token=store.create_learner(now))


@router.post("/me/token", response_model=LearnerToken, responses=UNAUTHORIZED)
def rotate_token(learner_id: LearnerId, store: StoreDep) -> LearnerToken:
    """A new token for this learner; the one used for this request stops working."""
    return LearnerToken(learner_token=store.rotate_token(learner_id))


@router.post(
    "/me/cards",
    response_model=CardsAdded,
    responses={422: {"model": Problem}, **UNAUTHORIZED, **LIMITED},
    dependencies=[Depends(limited("cards"))],
)
def add_cards(
    body: AddCards, learner_id: LearnerId, store: StoreDep, scorer: ScorerDep, now: Now
) -> CardsAdded:
    unknown = [k for k in body.kanji if k not in scorer.pack]
    if unknown:
        raise HTTPException(422, f"kanji: not known characters: {''.join(unknown[:20])}")
    chosen = [*(store.sets.get(body.set, []) if body.set else []), *body.kanji]
    try:
        added, total = store.add_cards(learner_id, chosen, now)
    except DeckFull as full:
        raise HTTPException(422, f"kanji: {full}") from None
    return CardsAdded(added=added, total=total)


@router.get("/me/queue", response_model=Queue, responses=UNAUTHORIZED)
def queue(
    learner_id: LearnerId,
    store: StoreDep,
    now: Now,
    more: Annotated[int, Query(ge=0, le=100, description="Study more: extra new kanji")] = 0,
) -> Queue:
    today = store.queue(learner_id, now, more)
    return Queue(
        due=today.due,
        new=today.new,
        next_due=today.next_due.isoformat() if today.next_due else None,
        reps=today.reps,
    )


@router.get("/me/settings", response_model=LearnerSettings, responses=UNAUTHORIZED)
def get_settings(learner_id: LearnerId, store: StoreDep) -> LearnerSettings:
    return LearnerSettings(**vars(store.settings(learner_id)))


@router.put("/me/settings", response_model=LearnerSettings, responses=UNAUTHORIZED)
def put_settings(body: LearnerSettings, learner_id: LearnerId, store: StoreDep) -> LearnerSettings:
    store.update_settings(learner_id, body.daily_new, body.strictness)
    return body


@router.post(
    "/me/cards/{kanji}/reviews",
    response_model=ReviewResult,
    responses={**UNAUTHORIZED, **LIMITED},
    dependencies=[Depends(limited("reviews"))],
)
def review(
    ref: KnownKanji,
    body: ReviewAttempt,
    learner_id: LearnerId,
    store: StoreDep,
    scorer: ScorerDep,
    now: Now,
) -> ReviewResult:
    """Grade and rate one attempt. Send an ``attempt_id``: a retried request with the same id
    returns the first result and stores nothing."""
    overruled = set(body.overridden)
    if overruled and not (
        body.attempt_id and overruled <= store.overridden(learner_id, body.attempt_id)
    ):
        raise HTTPException(422, "overridden: no stored override for these strokes")
    if body.attempt_id is not None and (seen := store.replay(learner_id, body.attempt_id)):
        outcome = seen
    else:
        attempt = scorer.grade_attempt(
            ref.char, body.strokes, body.canvas_size(), body.strictness, body.accepted, overruled
        )
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
            body.attempt_id,
        )
    if outcome is None:
        raise HTTPException(404, f"kanji: {ref.char!r} is not in this learner's deck")
    return ReviewResult(
        rating=outcome.rating.name,
        misses=outcome.misses,
        complete=outcome.complete,
        due=outcome.due.isoformat(),
        interval_days=outcome.interval_days,
        replayed=outcome.replayed,
    )


@router.get("/me/stats", response_model=Stats, responses=UNAUTHORIZED)
def stats(learner_id: LearnerId, store: StoreDep, now: Now) -> Stats:
    return Stats(**vars(store.stats(learner_id, now)))


@router.post(
    "/me/overrides",
    response_model=OverrideStored,
    status_code=201,
    responses={422: {"model": Problem}, **UNAUTHORIZED, **LIMITED},
    dependencies=[Depends(limited("overrides"))],
)
def override(
    body: OverrideRequest,
    learner_id: LearnerId,
    store: StoreDep,
    scorer: ScorerDep,
    request: Request,
    now: Now,
) -> OverrideStored:
    """'I was right': store the learner's claim that the newest stroke of a request the
    grader rejected is right (the request is graded again here, so what is stored is what
    the grader says, not what the client reports). ML engineers export these as labelled
    real writing (``kanjiwrite data overrides``)."""
    ref = scorer.reference(body.kanji)
    result = scorer.grade(ref.char, body.strokes, body.canvas_size(), body.strictness)
    newest = result.strokes[-1]
    if newest.verdict == "correct":
        raise HTTPException(422, "strokes: the grader already accepts the last stroke")
    row = OverrideRow(
        learner_id=learner_id,
        kanji=ref.char,
        strokes=json.dumps([s.tolist() for s in body.strokes]),
        canvas_width=body.canvas.width,
        canvas_height=body.canvas.height,
        strictness=body.strictness,
        verdicts=json.dumps([s.verdict for s in result.strokes]),
        order=json.dumps(list(result.order)),
        p_correct=newest.p_correct,
        model_id=scorer.model_id,
        claim="correct",
        attempt_id=body.attempt_id,
        log_index=body.log_index,
        created_at=now,
    )
    try:
        stored = store.add_override(row, request.app.state.settings.max_overrides_per_learner)
    except TooManyOverrides as full:
        raise HTTPException(422, f"overrides: {full}") from None
    request.app.state.metrics.overrides.labels(ref.char).inc()
    return OverrideStored(
        override_id=stored,
        kanji=ref.char,
        verdict_overruled=newest.verdict,
        p_correct=round(newest.p_correct, 4),
    )
