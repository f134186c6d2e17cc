"""Dependencies shared by the routers: the scorer, a known kanji (404 for an unknown
character: ``errors``), the practice store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.scorer import Scorer


async def scorer(request: Request) -> Scorer:  # async: a lookup needs no thread
    return request.app.state.scorer


async def practice_store(request: Request) -> PracticeStore:
    return request.app.state.practice


ScorerDep = Annotated[Scorer, Depends(scorer)]
StoreDep = Annotated[PracticeStore, Depends(practice_store)]


async def known_kanji(kanji: str, scorer: ScorerDep) -> KanjiRef:
    """The reference of the ``kanji`` path parameter (404 when unknown)."""
    return scorer.reference(kanji)


KnownKanji = Annotated[KanjiRef, Depends(known_kanji)]
