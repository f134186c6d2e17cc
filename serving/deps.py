"""Dependencies shared by the routers: the scorer, a known kanji (the one place that
answers 404 for an unknown character), the practice store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.scorer import Scorer


def scorer(request: Request) -> Scorer:
    return request.app.state.scorer


def practice_store(request: Request) -> PracticeStore:
    return request.app.state.practice


ScorerDep = Annotated[Scorer, Depends(scorer)]
StoreDep = Annotated[PracticeStore, Depends(practice_store)]


def reference_of(scorer: Scorer, kanji: str) -> KanjiRef:
    """The reference of ``kanji``; 404 when it is not one known character."""
    if len(kanji) != 1 or kanji not in scorer.pack:
        raise HTTPException(404, f"kanji: {kanji!r} is not a known character")
    return scorer.pack[kanji]


def known_kanji(kanji: str, scorer: ScorerDep) -> KanjiRef:
    """The reference of the ``kanji`` path parameter (404 when unknown)."""
    return reference_of(scorer, kanji)


KnownKanji = Annotated[KanjiRef, Depends(known_kanji)]
