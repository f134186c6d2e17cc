"""Scoring endpoints: grade strokes, a kanji's reference, the grading contract."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request, Response

from kanjiwrite.datasets import contract
from kanjiwrite.datasets.kanjivg import ATTRIBUTION
from kanjiwrite.models.decoding import GradeResult
from kanjiwrite.models.messages import explain
from kanjiwrite.serving.deps import KnownKanji, ScorerDep
from kanjiwrite.serving.ratelimit import client_address
from kanjiwrite.serving.schemas import (
    Canvas,
    Contract,
    KanjiReference,
    Problem,
    ScoreRequest,
    ScoreResponse,
    StrokeVerdict,
)
from kanjiwrite.serving.scorer import Scorer

router = APIRouter(prefix="/v1", tags=["scoring"])


@router.post(
    "/score",
    response_model=ScoreResponse,
    responses={404: {"model": Problem}, 429: {"model": Problem}},
)
async def score(body: ScoreRequest, scorer: ScorerDep, request: Request) -> Response:
    """Grade the strokes drawn so far. Rate-limited per client address by grading work
    (strokes x the kanji's accepted orders and look-alike partners). Graded on the event loop: a few milliseconds
    of CPU, cheaper than the hop to a worker thread (~2 ms on a busy 2-core machine) and no
    slower for the worker's other requests (one core per worker either way)."""
    ref = scorer.reference(body.kanji)
    cost = scorer.work(body.kanji, len(body.strokes), body.settled_as)
    request.app.state.rate_limits.check("score", client_address(request), cost)
    result = scorer.grade(
        body.kanji,
        body.strokes,
        body.canvas_size(),
        body.strictness,
        body.settled,
        body.settled_as,
    )
    for stroke in result.strokes:
        request.app.state.metrics.verdicts.labels(stroke.verdict).inc()
    explained = explain(ref, result, scorer.partners(body.kanji))
    return score_response(scorer, body.kanji, result, explained)


def stroke_verdicts(
    result: GradeResult, explained: list[tuple[str | None, str]]
) -> list[StrokeVerdict]:
    """Each stroke of a graded request as the API says it, with its rule and message
    (``messages.explain``)."""
    return [
        StrokeVerdict(
            index=s.index,
            verdict=s.verdict,
            correct=s.correct,
            p_correct=round(s.p_correct, 4),
            expected_index=s.expected_index,
            matched_index=s.matched_index,
            rule=rule,
            lookalike=s.lookalike,
            message=message,
        )
        for s, (rule, message) in zip(result.strokes, explained, strict=True)
    ]


def score_response(
    scorer: Scorer, kanji: str, result: GradeResult, explained: list[tuple[str | None, str]]
) -> Response:
    """The ``ScoreResponse`` of a graded request, encoded once (pydantic's JSON)."""
    response = ScoreResponse(
        kanji=kanji,
        model_id=scorer.model_id,
        model_version=scorer.model_version,
        strokes=stroke_verdicts(result, explained),
        missing=result.missing,
        complete=result.complete,
    )
    return Response(response.model_dump_json(), media_type="application/json")


@router.get("/kanji/{kanji}", response_model=KanjiReference, responses={404: {"model": Problem}})
def kanji_reference(ref: KnownKanji) -> KanjiReference:
    return KanjiReference(
        kanji=ref.char,
        stroke_count=ref.stroke_count,
        strokes=[np.round(s, 2).tolist() for s in ref.strokes],
        stroke_types=ref.types,
        alternative_orders=[list(o) for o in ref.alternative_orders],
        canvas=Canvas(width=contract.KANJIVG_SIZE, height=contract.KANJIVG_SIZE),
        attribution=ATTRIBUTION,
    )


@router.get("/contract", response_model=Contract)
def grading_contract(scorer: ScorerDep) -> Contract:
    """The grading contract (labels, decision threshold, sizes) and the practice rule's
    hint threshold, for clients that must agree with the server."""
    return Contract(
        **contract.as_dict(),
        thresholds=scorer.thresholds,
        model_id=scorer.model_id,
    )
