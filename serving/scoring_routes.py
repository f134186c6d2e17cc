"""Scoring endpoints: grade strokes, a kanji's reference, the grading contract."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from kanjiwrite.datasets import contract
from kanjiwrite.datasets.kanjivg import ATTRIBUTION, KanjiRef
from kanjiwrite.models.decoding import GradeResult
from kanjiwrite.models.messages import explain
from kanjiwrite.serving.deps import KnownKanji, ScorerDep
from kanjiwrite.serving.rating import MISSES_BEFORE_HINT
from kanjiwrite.serving.schemas import (
    Canvas,
    Contract,
    KanjiReference,
    Problem,
    ScoreRequest,
    ScoreResponse,
    StrokeVerdict,
)

router = APIRouter(prefix="/v1", tags=["scoring"])


def stroke_verdicts(ref: KanjiRef, result: GradeResult) -> list[StrokeVerdict]:
    """Each stroke of a graded request as the API says it, with its message."""
    return [
        StrokeVerdict(
            index=s.index,
            verdict=s.verdict,
            correct=s.verdict == "correct",
            p_correct=round(s.p_correct, 4),
            expected_index=s.expected_index,
            matched_index=s.matched_index,
            rule=rule,
            message=message,
        )
        for s, (rule, message) in zip(result.strokes, explain(ref, result), strict=True)
    ]


@router.post("/score", response_model=ScoreResponse, responses={404: {"model": Problem}})
def score(body: ScoreRequest, scorer: ScorerDep, request: Request) -> ScoreResponse:
    result = scorer.grade(body.kanji, body.strokes, body.canvas_size(), body.strictness)
    for stroke in result.strokes:
        request.app.state.metrics.verdicts.labels(stroke.verdict).inc()
    return ScoreResponse(
        kanji=body.kanji,
        model_id=scorer.model_id,
        model_version=scorer.model_version,
        strokes=stroke_verdicts(scorer.reference(body.kanji), result),
        missing=result.missing,
        complete=result.complete,
    )


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
        default_strictness=contract.DEFAULT_STRICTNESS,
        misses_before_hint=MISSES_BEFORE_HINT,
        thresholds=scorer.thresholds,
        model_id=scorer.model_id,
    )
