"""The grader of the service: the ONNX model (``models.runtime``) and the reference pack,
opened once per process, and the one place that turns a strictness level into a decision
threshold and grades (``Scorer.grade``, ``Scorer.grade_attempt``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import numpy as np

from kanjiwrite.datasets.contract import DEFAULT_STRICTNESS, DEFAULT_THRESHOLDS, MAX_STROKES
from kanjiwrite.datasets.kanjivg import KanjiRef, load_pack
from kanjiwrite.models.decoding import (
    GradeResult,
    Partner,
    consistent_orders,
    grade,
    partners_of,
)
from kanjiwrite.models.runtime import onnx_predict
from kanjiwrite.serving.rating import GradedAttempt, grade_attempt
from kanjiwrite.serving.settings import Settings

MAX_WORK = 4 * MAX_STROKES  # stroke-orders one /v1/score request may ask for


class UnknownKanji(LookupError):
    """Not one character of the reference pack."""


class TooMuchWork(ValueError):
    """A request asking for more grading work than ``MAX_WORK``."""


class NoSuchOrder(ValueError):
    """Settled strokes accepted as reference strokes no accepted order begins with."""


def orders_for(ref: KanjiRef, settled_as: Sequence[int] | None) -> list[tuple[int, ...]]:
    """The accepted orders a request is graded against (``decoding.consistent_orders``);
    ``NoSuchOrder`` when none begins with ``settled_as``."""
    orders = consistent_orders(ref, settled_as)
    if not orders:
        raise NoSuchOrder(
            f"settled_as: no accepted stroke order of {ref.char} begins with "
            f"{list(settled_as or [])}"
        )
    return orders


def work(ref: KanjiRef, strokes: int, partners: int = 0, orders: int | None = None) -> int:
    """What grading ``strokes`` strokes against ``ref`` costs, in stroke-orders (the model
    reads every stroke once per order graded, by default every accepted order, and once per
    look-alike partner); ``TooMuchWork`` past ``MAX_WORK`` (far more strokes than the kanji
    has, on a kanji of many stroke orders)."""
    items = (orders or len(ref.orders())) + partners
    if strokes * items > MAX_WORK:
        raise TooMuchWork(
            f"strokes: {ref.char} has {ref.stroke_count} strokes in {items - partners} orders "
            f"and {partners} look-alikes; send at most {MAX_WORK // items} strokes"
        )
    return strokes * items


class Scorer:
    def __init__(self, settings: Settings, observe: Callable[[float], None] | None = None):
        """``observe`` receives the seconds each grading call took (batch, inference,
        decoding), e.g. a metrics histogram's ``observe``."""
        self.predict = onnx_predict(settings.model_path, settings.onnx_threads)
        meta = self.predict.metadata
        self.model_id = meta.get("model_id", "unknown")
        self.model_version = meta.get("model_version", "unknown")
        self.thresholds: dict[str, float] = (
            json.loads(meta["thresholds"]) if "thresholds" in meta else dict(DEFAULT_THRESHOLDS)
        )
        self.pack = load_pack()
        self.refs: dict[str, KanjiRef] = {}  # one reference per kanji, so what it caches stays
        wanted = meta.get("pack_version")
        if wanted and wanted != self.pack.version:
            raise RuntimeError(
                f"model {self.model_id} was made for reference pack {wanted}, "
                f"but the pack here is {self.pack.version}"
            )
        self.observe = observe or (lambda seconds: None)
        self.ready = False

    def reference(self, kanji: str) -> KanjiRef:
        """The reference of ``kanji`` (``UnknownKanji`` when it is not one known character)."""
        ref = self.refs.get(kanji)
        if ref is None:
            if len(kanji) != 1 or kanji not in self.pack:
                raise UnknownKanji(f"kanji: {kanji!r} is not a known character")
            ref = self.refs[kanji] = self.pack[kanji]
        return ref

    def partners(self, kanji: str) -> tuple[Partner, ...]:
        """The look-alikes ``kanji`` is compared with (``decoding.partners_of``)."""
        return partners_of(self.pack, kanji)

    def work(self, kanji: str, strokes: int, settled_as: Sequence[int] | None = None) -> int:
        """What grading ``strokes`` strokes of ``kanji`` costs (``work``), against the
        orders that begin with ``settled_as`` (``orders_for``)."""
        ref = self.reference(kanji)
        orders = len(orders_for(ref, settled_as))
        return work(ref, strokes, len(self.partners(kanji)), orders)

    def grade(
        self,
        kanji: str,
        strokes: Sequence[np.ndarray],
        canvas: tuple[float, float],
        strictness: str,
        settled: int = 0,
        settled_as: Sequence[int] | None = None,
    ) -> GradeResult:
        """Grade one request (the strokes accepted so far, ``settled`` of them, accepted as
        the reference strokes ``settled_as`` when known, and the new one) at a strictness
        level with the kanji's look-alike partners, in one inference call, against the
        orders that begin with ``settled_as`` (``TooMuchWork``: see ``work``;
        ``NoSuchOrder``: see ``orders_for``)."""
        ref = self.reference(kanji)
        self.work(kanji, len(strokes), settled_as)
        started = time.perf_counter()
        accept = self.thresholds[strictness]
        partners = self.partners(kanji)
        orders = orders_for(ref, settled_as)
        result = grade(self.predict, ref, strokes, canvas, False, accept, partners, settled, orders)
        self.observe(time.perf_counter() - started)
        return result

    def grade_attempt(
        self,
        kanji: str,
        strokes: Sequence[np.ndarray],
        canvas: tuple[float, float],
        strictness: str,
        claimed: list[bool] | None = None,
    ) -> GradedAttempt:
        """Replay a whole practice attempt as the demo runs it (``rating.grade_attempt``)."""
        ref = self.reference(kanji)
        started = time.perf_counter()
        attempt = grade_attempt(
            self.predict,
            ref,
            list(strokes),
            canvas,
            self.thresholds[strictness],
            claimed,
            self.partners(kanji),
        )
        self.observe(time.perf_counter() - started)
        return attempt

    def warm_up(self) -> None:
        """One grading call, so the first request does not pay for lazy initialisation."""
        ref = self.pack["書"]
        self.grade(ref.char, [s * 3 for s in ref.strokes[:3]], (330, 330), DEFAULT_STRICTNESS)
        self.ready = True
