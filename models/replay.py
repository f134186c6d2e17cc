"""The app's protocol for writing one kanji, stated once (numpy only): after every pen lift
the app sends the strokes it has accepted so far plus the new one; the new stroke (the last
of the request) is graded in their company, kept when its verdict is ``correct``, dropped
otherwise (a miss on the stroke expected there). Writing ends when every stroke of the
character has been accepted.

``replay`` runs that protocol over strokes already drawn: the service rates a practice
attempt by it (``serving.rating``), the golden vectors record it (``export.golden``), the
benchmark times it (``serving.benchmark``), and the demo page mirrors it in JavaScript
(``export/APP_SPEC.md`` §3).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from kanjiwrite.datasets.contract import ACCEPT, is_correct
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import (
    Canvas,
    GradeResult,
    Partner,
    Predict,
    Stroke,
    consistent_orders,
    divergence,
    grade_requests,
)


@dataclass(frozen=True)
class Step:
    """One pen lift: the request sent for stroke ``stroke`` and what became of it."""

    stroke: int  # index of the new stroke among those replayed
    request: tuple[int, ...]  # the strokes sent: those accepted so far, then the new one
    result: GradeResult
    accepted: bool
    settled_as: tuple[int, ...] = ()  # the reference strokes the accepted ones were accepted as

    @property
    def position(self) -> int:
        """The stroke of the order followed that the new stroke was graded as."""
        return len(self.request) - 1


@dataclass
class Replay:
    stroke_count: int  # of the reference
    steps: list[Step] = field(default_factory=list)
    calls: int = 0  # calls of ``predict``

    @property
    def accepted(self) -> list[int]:
        """Indices of the strokes kept, in order."""
        return [s.stroke for s in self.steps if s.accepted]

    @property
    def complete(self) -> bool:
        return len(self.accepted) == self.stroke_count

    def misses(self) -> list[int]:
        """Rejected strokes per position of the order followed."""
        counts = [0] * self.stroke_count
        for step in self.steps:
            counts[step.position] += not step.accepted
        return counts


def replay(
    predict: Predict,
    ref: KanjiRef,
    strokes: Sequence[Stroke],
    canvas: Canvas,
    accept: float = ACCEPT,
    *,
    claimed: Sequence[bool] | None = None,
    overruled: Collection[int] = (),
    max_misses: int | None = None,
    partners: Sequence[Partner] = (),
) -> Replay:
    """``strokes`` replayed under the protocol (module doc), stopping when the character is
    complete or, with ``max_misses``, at that many misses.

    ``claimed`` (which strokes the client says it accepted) tells in advance what every
    request is, so one ``predict`` call grades them all; each verdict is still the grader's.
    At the first stroke where it disagrees with the claim the claims are dropped and the
    rest is graded one stroke per call, so a client that lies costs at most twice the work.
    Strokes in ``overruled`` count as accepted whatever their verdict. Every request is
    graded with its accepted strokes settled, against the accepted orders that begin with
    the reference strokes they were accepted as (``decoding.consistent_orders``), and the
    kanji's look-alike ``partners`` in the batch, as the app grades it.
    """
    run = Replay(ref.stroke_count)
    claims = list(claimed) if claimed is not None else None
    accepted: list[int] = []
    accepted_as: list[int] = []  # the reference stroke each accepted stroke was graded as
    misses = graded = 0

    def settled() -> bool:
        return len(accepted) == ref.stroke_count or (
            max_misses is not None and misses >= max_misses
        )

    while graded < len(strokes) and not settled():
        if claims:
            window = ref.stroke_count - len(accepted)
            window += (max_misses - misses) if max_misses is not None else len(strokes)
        else:
            window = 1
        orders = consistent_orders(ref, accepted_as)
        # the orders go on together up to the position where they part: a window of
        # requests ends there, and what is accepted there decides which orders go on
        parting = divergence(orders, len(accepted))
        plan, requests = list(accepted), []
        for j in range(graded, min(len(strokes), graded + window)):
            if len(plan) == ref.stroke_count:
                break
            requests.append((*plan, j))
            if len(plan) == parting:
                break
            plan += [j] if claims and claims[j] else []
        results = grade_requests(
            predict,
            ref,
            [[strokes[i] for i in r] for r in requests],
            canvas,
            accept,
            partners,
            [len(r) - 1 for r in requests],
            orders,
        )
        run.calls += 1
        for request, result in zip(requests, results, strict=True):
            j = request[-1]
            right = j in overruled or is_correct(result.strokes[-1].verdict)
            graded = j + 1
            run.steps.append(Step(j, request, result, right, orders[0][: len(request) - 1]))
            if right:
                accepted.append(j)
                accepted_as.append(result.order[len(request) - 1])
            else:
                misses += 1
            if settled():
                break
            if claims and right != claims[j]:
                claims = None  # the later requests assumed another verdict
                break
    return run
