"""From strokes to verdicts with any runtime (torch, ONNX Runtime, CoreML): numpy only.

``grade`` builds one batch for a request and scores it with one call of ``predict``:

* ``prefixes=True`` (evaluation): for every accepted order and every drawn stroke k, the
  inputs of the prefix 0..k (``graded_inputs``), so each stroke is judged exactly as it was
  when the pen lifted;
* ``prefixes=False`` (serving, the app): one item per accepted order with all the strokes
  sent; the newest stroke is judged exactly as above, earlier ones in the context of the
  whole request (the model never looks ahead, but the frame covers every stroke sent);
* and, in the same batch, the same items against each *partner* of the kanji (its
  look-alikes, ``datasets.lookalikes.partner_table``), each in its standard order.

Decoding tells one story per stroke (``decode``):

* the order graded against is the one under which the most strokes *before the newest*
  are correct, then the highest mean log ``p_correct`` over all strokes (ties: the
  standard order): the client sends the strokes it has accepted plus the new one, so the
  order stays consistent with every stroke already accepted;
* the first ``settled`` strokes are the ones the client has already shown as right (the
  app's protocol, ``replay``): they stay right, whatever their context says now, so
  ``missing`` and ``complete`` follow the verdicts the learner was shown;
* each other stroke's verdict is ``contract.decide`` (the one rule training selects by),
  then made consistent: ``wrong_order`` only for a stroke the match head surely says is
  another stroke of the order than the one due, either a later one (``story="later"``:
  "That is stroke 5; stroke 2 comes first") or one already accepted (``story="again"``);
  otherwise the most probable other error. A tap (one point, no length) is never right
  for a stroke and never "another stroke": ``wrong_shape``. A first stroke (nothing
  settled) more than ``FIRST_PLACE_FAR`` of the box from its own place is ``misplaced``
  whatever its shape (then named by the place it was drawn in, if another stroke's);
* a partner that explains the writing so far better than the kanji asked (higher summed
  log ``p_correct`` by ``LOOKALIKE_MARGIN``, at a stroke where the two differ or at a
  later one it explains better by the margin itself) makes that stroke wrong
  (``story="lookalike"``, ``lookalike`` = the partner): the comparison holds where
  absolute thresholds cannot, as a writer's style moves both scores together;
* ``matched_index``: for ``wrong_order`` the stroke it is, for a right stroke the stroke
  due, otherwise the match head's most probable stroke (``None`` for "none");
* ``missing``: reference strokes not (yet) drawn correctly, in writing order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kanjiwrite.datasets.contract import (
    ACCEPT,
    CORRECT,
    EXTRA,
    LABEL_INDEX,
    LABELS,
    MATCH_SURE,
    STROKE_ERRORS,
    decide,
    depicts_other,
)
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.lookalikes import partner_table
from kanjiwrite.datasets.strokes import (
    BOX_XY,
    Canvas,
    Stroke,
    as_stroke,
    graded_inputs,
    graded_inputs_many,
)

Predict = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]

# nats of summed log p_correct a partner must lead by (a sign test with a dead zone), chosen
# on the validation characters (never the test ones): the largest margin at which their
# look-alikes accepted whole stay at the floor (steady and varied writing: 1.0% and 0.3%;
# 1.3% at 0.03), so the fewest correct attempts are rejected (varied: 99.3% accepted whole,
# 98.3% at 0.01)
LOOKALIKE_MARGIN = 0.02
PLACE_NEAR = 0.12  # box units: a first stroke drawn this close to another stroke's place
PLACE_NEAR_ALIGNED = 0.07  # a later one, aligned on the accepted strokes
PLACE_RATIO = 0.35  # and at most this share of its distance to the stroke due
# box units: a first stroke (nothing settled) this far from its own place is misplaced, even
# when its shape passes (real writers' first strokes: at most 0.20 of the box, Tegaki kanji
# and kana; a stroke moved a third of the box: 0.19-0.45, p5 0.235)
FIRST_PLACE_FAR = 0.24
_OTHER_ERRORS = np.array([LABEL_INDEX[e] for e in STROKE_ERRORS if e != "wrong_order"])
_WRONG_ORDER, _WRONG_SHAPE = LABEL_INDEX["wrong_order"], LABEL_INDEX["wrong_shape"]
_MISPLACED = LABEL_INDEX["misplaced"]


@dataclass
class Partner:
    """A look-alike compared with the drawing: its reference, and the strokes (indices of
    the kanji asked) where the two differ, with how (``lookalikes.differences``)."""

    ref: KanjiRef
    differences: list[tuple[str, int, int]]

    @property
    def strokes(self) -> set[int]:
        """Strokes at which the difference shows (the later of a relation's pair)."""
        return {max(i, j) for _, i, j in self.differences}

    @property
    def first_difference(self) -> int:
        """The first stroke at which the two can be told apart (0 when no difference is
        listed: the two are then told apart by the scores alone)."""
        return min(self.strokes, default=0)


@dataclass
class StrokeResult:
    index: int
    verdict: str
    p_correct: float
    expected_index: int | None  # base stroke index expected here (None past the end)
    matched_index: int | None  # base stroke index it depicts (see module doc)
    story: str | None = None  # "later" / "again" (wrong_order), "lookalike"
    lookalike: str | None = None  # the partner the writing turned into at this stroke

    @property
    def correct(self) -> bool:
        return self.verdict == LABELS[CORRECT]


@dataclass
class GradeResult:
    strokes: list[StrokeResult]
    missing: list[int]
    order: tuple[int, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    @classmethod
    def of(cls, strokes: list[StrokeResult], order: tuple[int, ...]) -> GradeResult:
        """The result for ``strokes`` graded against ``order``: ``missing`` is every stroke
        of the order not drawn correctly, in writing order."""
        done = {s.expected_index for s in strokes if s.correct}
        return cls(strokes, [i for i in order if i not in done], order)


def consistent_orders(ref: KanjiRef, settled_as: Sequence[int] | None) -> list[tuple[int, ...]]:
    """The accepted orders a request is graded against: those that begin with
    ``settled_as``, the reference strokes its settled strokes were accepted as (every order
    when ``None``). Empty when no accepted order begins so."""
    if settled_as is None:
        return ref.orders()
    prefix = tuple(settled_as)
    return [o for o in ref.orders() if o[: len(prefix)] == prefix]


def divergence(orders: Sequence[tuple[int, ...]], start: int) -> int:
    """The first position from ``start`` on at which ``orders`` expect different strokes
    (their length when they never do)."""
    return next(
        (p for p in range(start, len(orders[0])) if len({o[p] for o in orders}) > 1),
        len(orders[0]),
    )


def build_batch(
    ref: KanjiRef,
    drawn: Sequence[Stroke],
    canvas: Canvas,
    prefixes: bool = True,
    partners: Sequence[Partner] = (),
    orders: Sequence[tuple[int, ...]] | None = None,
) -> tuple[dict[str, np.ndarray], list[tuple[int, ...]]]:
    """Inputs per order (``orders``, default every accepted order), then per partner (its
    standard order): with ``prefixes``, item ``o * S + k`` is order o with strokes 0..k;
    without, item ``o`` is order o with all strokes. Reference strokes are padded to the
    longest reference (masked)."""
    orders = list(orders) if orders is not None else ref.orders()
    ink, parts = graded_inputs(drawn, canvas, references_of(ref, orders, partners), prefixes)
    return batch_of(ink, parts, len(drawn), prefixes), orders


def references_of(
    ref: KanjiRef, orders: Sequence[tuple[int, ...]], partners: Sequence[Partner]
) -> list[list[Stroke]]:
    """The references a request is graded against: ``ref`` in each of ``orders``, then each
    partner in its standard order."""
    return [[ref.strokes[i] for i in o] for o in orders] + [list(p.ref.strokes) for p in partners]


def batch_of(
    ink: np.ndarray, parts: Sequence[np.ndarray], count: int, prefixes: bool
) -> dict[str, np.ndarray]:
    """The model's inputs from ``graded_inputs``: the drawn part for every reference
    part, reference strokes padded to the longest reference (masked)."""
    mask = np.tril(np.ones((count, count), bool)) if prefixes else np.ones((1, count), bool)
    longest = max(part.shape[1] for part in parts)
    reference = np.zeros((len(ink) * len(parts), longest, *ink.shape[2:]), np.float32)
    reference_mask = np.zeros(reference.shape[:2], bool)
    for o, part in enumerate(parts):
        rows = slice(o * len(ink), (o + 1) * len(ink))
        reference[rows, : part.shape[1]] = part
        reference_mask[rows, : part.shape[1]] = True
    return {  # float32 masks, as every runtime (and MLflow's signature) takes them
        "drawn": np.tile(ink, (len(parts), 1, 1, 1)),
        "drawn_mask": np.tile(mask, (len(parts), 1)).astype(np.float32),
        "reference": reference,
        "reference_mask": reference_mask.astype(np.float32),
    }


def taps_of(drawn: Sequence[Stroke]) -> np.ndarray:
    """Which strokes are taps: one point, or points that never move."""
    return np.array([np.ptp(as_stroke(s), axis=0).max() < 1e-6 for s in drawn], bool)


def decode(
    verdict_probs: np.ndarray,
    match_probs: np.ndarray,
    orders: list[tuple[int, ...]],
    count: int,
    accept: float = ACCEPT,
    partners: Sequence[Partner] = (),
    settled: int = 0,
    taps: np.ndarray | None = None,
    inputs: dict[str, np.ndarray] | None = None,
) -> GradeResult:
    """Verdicts from the outputs of a ``build_batch`` batch (see module doc), a stroke being
    correct from ``p_correct >= accept`` (the strictness level's threshold). With the
    batch's ``inputs``, a stroke out of order may also be named by its place in the box."""
    rows = np.arange(count)
    items = len(verdict_probs) // (len(orders) + len(partners))  # count or 1 per reference
    own = len(orders) * items
    per_order = verdict_probs[:own].reshape(len(orders), items, *verdict_probs.shape[1:])
    matches = match_probs[:own].reshape(len(orders), items, *match_probs.shape[1:])
    last = per_order[:, -1, :, CORRECT]  # p_correct of every stroke, full request, per order
    consistent = (last[:, : count - 1] >= accept).sum(axis=1)
    mean_log = np.log(np.clip(last, 1e-9, 1.0)).mean(axis=1)
    best = max(range(len(orders)), key=lambda o: (consistent[o], mean_log[o], -o))
    order = orders[best]
    item = rows if items == count else np.full(count, items - 1)  # prefix 0..k, or the request
    probs = per_order[best, item, rows]
    match = matches[best, item, rows]
    n = len(order)
    verdicts = decide(probs, rows >= n, depicts_other(match, rows), accept)
    taps = np.zeros(count, bool) if taps is None else taps
    places = None
    if inputs is not None:
        first = best * items
        places = (
            inputs["drawn"][first + items - 1, :count][..., BOX_XY].astype(np.float64),
            inputs["reference"][first, :n][..., BOX_XY].astype(np.float64),
        )
        unsettled_first = settled == 0 and verdicts[0] == CORRECT and not taps[0]
        if unsettled_first and box_distances(places[0][0], places[1][:1])[0] > FIRST_PLACE_FAR:
            verdicts[0] = _MISPLACED
    results = tell_stories(probs, match, verdicts, order, settled, taps, places)
    if partners:
        own_log = np.log(np.clip(probs[:, CORRECT], 1e-9, 1.0))
        partner_probs = verdict_probs[own:].reshape(len(partners), items, *verdict_probs.shape[1:])
        partner_log = np.log(np.clip(partner_probs[:, item, rows, CORRECT], 1e-9, 1.0))
        compare_partners(results, probs, own_log, partner_log, partners, settled)
    return GradeResult.of(results, order)


def tell_stories(
    probs: np.ndarray,
    match: np.ndarray,
    verdicts: np.ndarray,
    order: tuple[int, ...],
    settled: int,
    taps: np.ndarray,
    places: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[StrokeResult]:
    """One consistent verdict, matched stroke and story per stroke (see module doc);
    ``places``: the drawn and reference strokes' points in the box (``placed_as``)."""
    n = len(order)
    best = np.argmax(match, axis=-1)
    sure = match[np.arange(len(best)), best] >= MATCH_SURE
    accepted: set[int] = set()  # positions in the order already drawn right
    results = []
    for k, verdict in enumerate(verdicts.tolist()):
        position = int(best[k]) if best[k] < n else None
        if k < settled and k < n:
            verdict = CORRECT
        elif verdict == CORRECT and taps[k]:
            verdict = _WRONG_SHAPE
        in_place = None
        if places is not None and verdict not in (CORRECT, EXTRA) and not taps[k]:
            in_place = placed_as(*places, k, accepted, position if sure[k] else None)
        if in_place is not None:
            verdict, position = _WRONG_ORDER, in_place  # drawn point for point as another
        elif verdict == _WRONG_ORDER:
            named = position is not None and sure[k] and position != k and not taps[k]
            if not named or (position < k and position not in accepted):
                verdict = int(_OTHER_ERRORS[np.argmax(probs[k, _OTHER_ERRORS])])
        if taps[k] and verdict not in (CORRECT, LABEL_INDEX["extra"]):
            verdict = _WRONG_SHAPE
        if verdict == CORRECT:
            accepted.add(k)
            matched = order[k]
        else:
            matched = order[position] if position is not None else None
        story = None
        if verdict == _WRONG_ORDER:
            story = "later" if position > k else "again"
        results.append(
            StrokeResult(
                index=k,
                verdict=LABELS[verdict],
                p_correct=float(probs[k, CORRECT]),
                expected_index=order[k] if k < n else None,
                matched_index=matched,
                story=story,
            )
        )
    return results


def placed_as(
    drawn: np.ndarray,
    reference: np.ndarray,
    k: int,
    accepted: set[int],
    preferred: int | None = None,
) -> int | None:
    """The position drawn stroke k (points in the box, ``(S, P, 2)``; the reference's
    ``(R, P, 2)``) was drawn in the place of, when that is clearly another stroke than the
    one due: a later one or one already accepted, within ``PLACE_NEAR`` of it (mean point
    distance, either direction; ``PLACE_NEAR_ALIGNED`` once strokes are accepted) and at
    most ``PLACE_RATIO`` of its distance to the stroke due; of several such strokes the ``preferred`` one (the match head's sure choice), else
    the nearest. The drawing is first brought onto the reference by the scale and shift
    that best map the accepted strokes onto theirs (least squares; none before any is
    accepted)."""
    n = len(reference)
    others = [j for j in range(n) if j != k and (j > k or j in accepted)]
    if not others:
        return None
    points = drawn[k]
    done = sorted(a for a in accepted if a < min(k, n))
    if done:
        source, target = drawn[done].reshape(-1, 2), reference[done].reshape(-1, 2)
        ms, mt = source.mean(0), target.mean(0)
        spread = float(((source - ms) ** 2).sum())
        scale = float(((source - ms) * (target - mt)).sum()) / spread if spread > 1e-9 else 1.0
        scale = min(max(scale, 0.5), 2.0)
        points = scale * (points - ms) + mt
    distance = box_distances(points, reference)
    due = distance[k] if k < n else np.inf
    bound = PLACE_NEAR_ALIGNED if done else PLACE_NEAR
    near = [j for j in others if distance[j] <= min(bound, PLACE_RATIO * due)]
    if not near:
        return None
    return preferred if preferred in near else min(near, key=lambda c: distance[c])


def box_distances(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean point distance of a stroke's points ``(P, 2)`` to each reference stroke's
    ``(R, P, 2)``, the smaller of the two directions it may be drawn in: ``(R,)``."""
    forward = np.linalg.norm(points[None] - reference, axis=-1).mean(-1)
    backward = np.linalg.norm(points[None, ::-1] - reference, axis=-1).mean(-1)
    return np.minimum(forward, backward)


def compare_partners(
    results: list[StrokeResult],
    probs: np.ndarray,
    own_log: np.ndarray,
    partner_log: np.ndarray,
    partners: Sequence[Partner],
    settled: int,
) -> None:
    """Mark the first unsettled right stroke at which a partner pulls ahead (summed log
    ``p_correct`` of the strokes so far higher by ``LOOKALIKE_MARGIN``) as wrong, naming
    the partner (in place): at a stroke where the two differ, or at a later one that the
    partner itself explains better by the margin (where KanjiVG's difference does not show
    the one the writing makes)."""
    gain = partner_log - own_log[None]  # (partners, strokes): how much better each explains
    lead = np.cumsum(gain, axis=1)
    for k in range(settled, len(results)):
        if not results[k].correct:
            continue
        for p, partner in enumerate(partners):
            if (
                k < partner.ref.stroke_count
                and k >= partner.first_difference
                and (k in partner.strokes or gain[p, k] > LOOKALIKE_MARGIN)
                and lead[p, k] > LOOKALIKE_MARGIN
            ):
                placed = probs[k, _MISPLACED] >= probs[k, _WRONG_SHAPE]
                verdict = _MISPLACED if placed else _WRONG_SHAPE
                results[k].verdict, results[k].story = LABELS[verdict], "lookalike"
                results[k].lookalike = partner.ref.char
                return


def grade(
    predict: Predict,
    ref: KanjiRef,
    drawn: Sequence[Stroke],
    canvas: Canvas,
    prefixes: bool = True,
    accept: float = ACCEPT,
    partners: Sequence[Partner] = (),
    settled: int = 0,
    orders: Sequence[tuple[int, ...]] | None = None,
) -> GradeResult:
    """Grade every drawn stroke of one request with one call of ``predict`` (against
    ``orders``, default every accepted order: see ``consistent_orders``)."""
    inputs, orders = build_batch(ref, drawn, canvas, prefixes, partners, orders)
    verdict_probs, match_probs = predict(inputs)
    return decode(
        verdict_probs,
        match_probs,
        orders,
        len(drawn),
        accept,
        partners,
        settled,
        taps_of(drawn),
        inputs,
    )


def grade_requests(
    predict: Predict,
    ref: KanjiRef,
    requests: Sequence[Sequence[Stroke]],
    canvas: Canvas,
    accept: float = ACCEPT,
    partners: Sequence[Partner] = (),
    settled: Sequence[int] | None = None,
    orders: Sequence[tuple[int, ...]] | None = None,
) -> list[GradeResult]:
    """Grade several whole requests for one kanji (``prefixes=False`` each, against the
    same ``orders``) with one call of ``predict``: their items are stacked, the drawn axis
    padded after the real strokes (masked, and the model never looks ahead, so padding
    changes nothing)."""
    orders = list(orders) if orders is not None else ref.orders()
    references = references_of(ref, orders, partners)
    built = [
        batch_of(ink, parts, len(drawn), False)
        for (ink, parts), drawn in zip(
            graded_inputs_many(requests, canvas, references), requests, strict=True
        )
    ]
    longest = max(len(drawn) for drawn in requests)

    def padded(inputs: dict[str, np.ndarray], name: str) -> np.ndarray:
        array = inputs[name]
        if name.startswith("drawn") and array.shape[1] < longest:
            pad = [(0, 0), (0, longest - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
            array = np.pad(array, pad)
        return array

    names = ("drawn", "drawn_mask", "reference", "reference_mask")
    stacked = {n: np.concatenate([padded(inputs, n) for inputs in built]) for n in names}
    verdict_probs, match_probs = predict(stacked)
    results, row = [], 0
    settled = settled or [0] * len(requests)
    for drawn, done in zip(requests, settled, strict=True):
        count, items = len(drawn), len(orders) + len(partners)
        part = slice(row, row + items)
        results.append(
            decode(
                verdict_probs[part, :count],
                match_probs[part, :count],
                orders,
                count,
                accept,
                partners,
                done,
                taps_of(drawn),
                {name: stacked[name][part] for name in names},
            )
        )
        row += items
    return results


@lru_cache(maxsize=8192)
def partners_of(pack: ReferencePack, char: str) -> tuple[Partner, ...]:
    """The look-alikes ``char`` is compared with (``lookalikes.partner_table``)."""
    return tuple(
        Partner(pack[written], [tuple(d) for d in diffs])
        for written, diffs in partner_table(pack).get(char, [])
    )
