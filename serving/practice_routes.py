"""Daily practice endpoints (FSRS): learners, decks, settings, today's queue, the attempt
in progress at a card (strokes graded one by one, help used), reviews, stats, and overrides
("I was right") as bounded claims about a stroke of the attempt in progress.

A learner authenticates with ``Authorization: Bearer <token>`` (the token ``POST
/v1/learners`` returns once); tokens never appear in a URL. Everything that creates state
is rate-limited per client address (``ratelimit``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.messages import explain
from kanjiwrite.serving import practice_store
from kanjiwrite.serving.attempts import Attempt, AttemptFull
from kanjiwrite.serving.deps import KnownKanji, ScorerDep, StoreDep
from kanjiwrite.serving.practice_store import (
    AttemptChanged,
    DeckFull,
    PracticeStore,
    ReviewOutcome,
    TooManyOverrides,
    utc_now,
)
from kanjiwrite.serving.ratelimit import client_address, limited
from kanjiwrite.serving.rating import Help, exam_outcome, rate
from kanjiwrite.serving.schemas import (
    AddCards,
    AidUsed,
    AttemptGraded,
    AttemptStrokes,
    AttemptView,
    Canvas,
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
    StrokeVerdict,
)
from kanjiwrite.serving.scorer import work
from kanjiwrite.serving.scoring_routes import stroke_verdicts

UNAUTHORIZED = {401: {"model": Problem, "description": "Missing or unknown learner token"}}
CONFLICT = {409: {"model": Problem, "description": "Not now for this attempt (see detail)"}}
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
    store.update_settings(learner_id, practice_store.LearnerSettings(**body.model_dump()))
    return body


def _attempt(store: PracticeStore, learner_id: str, ref: KanjiRef, now: datetime):
    """The attempt in progress at the learner's card and its version (404: not in the deck)."""
    opened = store.open_attempt(learner_id, ref.char, ref.stroke_count, now)
    if opened is None:
        raise HTTPException(404, f"kanji: {ref.char!r} is not in this learner's deck")
    return opened


def _save(store: PracticeStore, learner_id: str, attempt: Attempt, version: int) -> None:
    try:
        store.save_attempt(learner_id, attempt, version)
    except AttemptChanged as changed:
        raise HTTPException(409, f"attempt: {changed}") from None


def _view(attempt: Attempt, reveal_after: int) -> AttemptView:
    width, height = attempt.canvas
    return AttemptView(
        kanji=attempt.kanji,
        exam=attempt.exam,
        reveal_after=reveal_after,
        canvas=Canvas(width=width, height=height),
        strokes=[attempt.strokes[i] for i in attempt.accepted],
        drawn=len(attempt.strokes),
        misses=attempt.misses,
        hints=attempt.hints,
        order=attempt.order,
        guide=attempt.guide,
        claims=len(attempt.claimed),
        complete=attempt.complete,
    )


@router.post("/me/cards/{kanji}/attempt", response_model=AttemptView, responses={**UNAUTHORIZED})
def open_attempt(ref: KnownKanji, learner_id: LearnerId, store: StoreDep, now: Now) -> AttemptView:
    """Open the attempt at this card, or come back to the one in progress today (the first
    try of the day decides the rating: Next, reload or a new tab do not reset it)."""
    attempt, _ = _attempt(store, learner_id, ref, now)
    return _view(attempt, store.settings(learner_id).reveal_after)


@router.post(
    "/me/cards/{kanji}/attempt/strokes",
    response_model=AttemptGraded,
    responses={422: {"model": Problem}, **CONFLICT, **UNAUTHORIZED, **LIMITED},
)
def attempt_strokes(
    ref: KnownKanji,
    body: AttemptStrokes,
    learner_id: LearnerId,
    store: StoreDep,
    scorer: ScorerDep,
    request: Request,
    now: Now,
) -> AttemptGraded:
    """Grade new strokes of the attempt in progress, each after the strokes it accepted so
    far (kept by the server, so the attempt cannot be rewritten). Rate-limited with
    ``/v1/score``, by the same grading work."""
    attempt, version = _attempt(store, learner_id, ref, now)
    each = work(ref, min(len(attempt.accepted), ref.stroke_count - 1) + 1)
    request.app.state.rate_limits.check("score", client_address(request), each * len(body.strokes))
    if attempt.exam:
        raise HTTPException(409, "attempt: exam mode: send the strokes with the review")
    if attempt.complete:
        raise HTTPException(409, "attempt: complete: record its review")
    strictness = store.settings(learner_id).strictness
    try:
        graded = attempt.write(
            body.strokes,
            body.canvas_size(),
            lambda strokes, canvas, settled_as: scorer.grade(
                ref.char, strokes, canvas, strictness, len(strokes) - 1, settled_as
            ),
        )
    except AttemptFull as full:
        raise HTTPException(422, f"strokes: {full}") from None
    partners = scorer.partners(ref.char)
    verdicts = [
        stroke_verdicts(r, explain(ref, r, partners))[-1].model_copy(update={"index": i})
        for i, r in graded
    ]
    _save(store, learner_id, attempt, version)
    return AttemptGraded(
        strokes=verdicts,
        accepted=len(attempt.accepted),
        misses=attempt.misses,
        complete=attempt.complete,
        claimable=attempt.claim_problem(len(attempt.strokes) - 1) is None,
    )


@router.post(
    "/me/cards/{kanji}/attempt/restart",
    response_model=AttemptView,
    responses={**CONFLICT, **UNAUTHORIZED},
)
def attempt_restart(
    ref: KnownKanji, learner_id: LearnerId, store: StoreDep, now: Now
) -> AttemptView:
    """Start the kanji over (Retry): the accepted strokes go; the misses and help stay."""
    attempt, version = _attempt(store, learner_id, ref, now)
    attempt.restart()
    _save(store, learner_id, attempt, version)
    return _view(attempt, store.settings(learner_id).reveal_after)


@router.post(
    "/me/cards/{kanji}/attempt/aids",
    response_model=AttemptView,
    responses={**CONFLICT, **UNAUTHORIZED},
)
def attempt_aid(
    ref: KnownKanji, body: AidUsed, learner_id: LearnerId, store: StoreDep, now: Now
) -> AttemptView:
    """Record help used in the attempt in progress (it lowers the rating: ``rating``)."""
    attempt, version = _attempt(store, learner_id, ref, now)
    attempt.use(body.aid)
    _save(store, learner_id, attempt, version)
    return _view(attempt, store.settings(learner_id).reveal_after)


@router.post(
    "/me/cards/{kanji}/reviews",
    response_model=ReviewResult,
    responses={**CONFLICT, **UNAUTHORIZED, **LIMITED},
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
    """Rate the attempt in progress at this card and schedule the card (``rating`` has the
    table). Send an ``attempt_id``: a retried request with the same id returns the first
    result and stores nothing."""
    if body.attempt_id is not None and (seen := store.replay(learner_id, body.attempt_id)):
        return _result(_this_kanji(seen, ref), [])
    attempt, _ = _attempt(store, learner_id, ref, now)
    settings = store.settings(learner_id)
    strictness = body.strictness or settings.strictness
    verdicts = []
    if body.strokes and attempt.strokes:
        raise HTTPException(409, "strokes: this attempt was graded stroke by stroke: send none")
    if body.strokes and attempt.exam:
        result = scorer.grade(ref.char, body.strokes, body.canvas_size(), strictness)
        graded = exam_outcome(result, ref.stroke_count)
        verdicts = stroke_verdicts(result, explain(ref, result, scorer.partners(ref.char)))
    elif body.strokes:
        graded = scorer.grade_attempt(
            ref.char, body.strokes, body.canvas_size(), strictness, body.accepted
        )
    else:
        graded = attempt.outcome()
    aids = Help(
        hints=attempt.hints + body.hints,
        order=attempt.order,
        guide=attempt.guide,
        overruled=len(attempt.claimed),
        reveal_after=settings.reveal_after,
    )
    rated = rate(graded.misses, graded.complete, body.duration_ms, aids)
    outcome = store.review(
        learner_id,
        ref.char,
        graded,
        rated,
        aids.hints,
        body.duration_ms,
        scorer.model_id,
        now,
        body.attempt_id,
    )
    if outcome is None:
        raise HTTPException(404, f"kanji: {ref.char!r} is not in this learner's deck")
    return _result(_this_kanji(outcome, ref), verdicts)


def _this_kanji(outcome: ReviewOutcome, ref: KanjiRef) -> ReviewOutcome:
    """The outcome, when it is a review of ``ref`` (409: the attempt id was used for
    another kanji's review)."""
    if outcome.kanji != ref.char:
        raise HTTPException(409, f"attempt_id: already used for a review of {outcome.kanji}")
    return outcome


def _result(outcome: ReviewOutcome, verdicts: list[StrokeVerdict]) -> ReviewResult:
    return ReviewResult(
        rating=outcome.rated.rating.name,
        reasons=outcome.rated.reasons,
        explanation=outcome.rated.explanation,
        misses=outcome.misses,
        complete=outcome.complete,
        due=outcome.due.isoformat(),
        interval_days=outcome.interval_days,
        replayed=outcome.replayed,
        strokes=verdicts,
    )


@router.get(
    "/me/stats",
    response_model=Stats,
    responses={**UNAUTHORIZED, **LIMITED},
    dependencies=[Depends(limited("stats"))],
)
def stats(learner_id: LearnerId, store: StoreDep, now: Now) -> Stats:
    return Stats(**vars(store.stats(learner_id, now)))


@router.post(
    "/me/overrides",
    response_model=OverrideStored,
    status_code=201,
    responses={422: {"model": Problem}, **CONFLICT, **UNAUTHORIZED, **LIMITED},
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
    """'I was right': the learner claims that a stroke of the attempt in progress at
    ``kanji`` is right. Only the newest stroke, rejected, not a tap, and plausibly the
    stroke that was due (the grader matched it to that stroke, or its p_correct is at least
    ``attempts.CLAIM_FLOOR``), at most ``attempts.MAX_CLAIMS_PER_ATTEMPT`` per attempt; it
    then counts as right but caps the rating at Good. ML engineers export the claims as
    labelled real writing (``kanjiwrite data overrides``)."""
    ref = scorer.reference(body.kanji)
    attempt, version = _attempt(store, learner_id, ref, now)
    if body.log_index >= len(attempt.strokes):
        raise HTTPException(422, "log_index: no such stroke in this kanji's attempt in progress")
    problem = attempt.claim_problem(body.log_index)
    if problem:
        raise HTTPException(422, f"log_index: {problem}")
    settings = store.settings(learner_id)
    graded = [*attempt.accepted, body.log_index]
    result = scorer.grade(
        ref.char, attempt.arrays(graded), attempt.canvas, settings.strictness, len(graded) - 1
    )
    try:
        stored = store.add_override(
            learner_id,
            attempt,
            body.log_index,
            list(result.order),
            settings.strictness,
            scorer.model_id,
            now,
            request.app.state.settings.max_overrides_per_learner,
        )
    except TooManyOverrides as full:
        raise HTTPException(422, f"overrides: {full}") from None
    said = attempt.graded[body.log_index]
    attempt.claim(body.log_index)
    _save(store, learner_id, attempt, version)
    request.app.state.metrics.overrides.labels(ref.char).inc()
    return OverrideStored(
        override_id=stored,
        kanji=ref.char,
        verdict_overruled=said.verdict,
        p_correct=round(said.p_correct, 4),
        accepted=len(attempt.accepted),
        complete=attempt.complete,
    )
