"""From strokes to verdicts with any runtime (torch, ONNX Runtime, CoreML): numpy only.

``grade`` builds one batch for a request and scores it with one call of ``predict``:

* ``prefixes=True`` (evaluation): for every accepted order and every drawn stroke k, the
  inputs of the prefix 0..k (``prefix_inputs``), so each stroke is judged exactly as it was
  when the pen lifted;
* ``prefixes=False`` (serving, the app): one item per accepted order with all the strokes
  sent; the newest stroke is judged exactly as above, earlier ones in the context of the
  whole request (the model never looks ahead, but the frame covers every stroke sent).

Decoding:

* the order graded against is the one under which the most strokes *before the newest*
  are correct, then the highest mean log ``p_correct`` over all strokes (ties: the
  standard order): the client sends the strokes it has accepted plus the new one, so the
  order stays consistent with every stroke already accepted, even when another accepted
  order would score the newest stroke higher;
* each stroke's verdict is ``contract.decide`` (the one rule training selects by):
  ``extra`` beyond the reference, else ``correct`` when ``p_correct >= ACCEPT``, else
  the most probable stroke error, ``wrong_order`` only for a stroke the match head says
  depicts another stroke of the character (and preferred to ``wrong_shape`` then);
* ``matched_index``: the most probable reference stroke (``None`` for "none");
* ``missing``: reference strokes not (yet) drawn correctly, in writing order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kanjiwrite.datasets.contract import ACCEPT, LABELS, decide, depicts_other
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.datasets.strokes import Canvas, Stroke, model_inputs, prefix_inputs

Predict = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass
class StrokeResult:
    index: int
    verdict: str
    p_correct: float
    expected_index: int | None  # base stroke index expected here (None past the end)
    matched_index: int | None  # base stroke index it depicts best (None: no stroke)


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
        done = {s.expected_index for s in strokes if s.verdict == "correct"}
        return cls(strokes, [i for i in order if i not in done], order)


def build_batch(
    ref: KanjiRef, drawn: Sequence[Stroke], canvas: Canvas, prefixes: bool = True
) -> tuple[dict[str, np.ndarray], list[tuple[int, ...]]]:
    """Inputs per accepted order: with ``prefixes``, item ``o * S + k`` is order o with
    strokes 0..k; without, item ``o`` is order o with all strokes."""
    orders = ref.orders()
    count = len(drawn)
    if prefixes:
        parts = [prefix_inputs(drawn, canvas, [ref.strokes[i] for i in o]) for o in orders]
        mask = np.tril(np.ones((count, count), bool))
    else:
        parts = [
            tuple(a[None] for a in model_inputs(drawn, canvas, [ref.strokes[i] for i in o]))
            for o in orders
        ]
        mask = np.ones((1, count), bool)
    ink = np.concatenate([p[0] for p in parts])
    reference = np.concatenate([p[1] for p in parts])
    drawn_mask = np.tile(mask, (len(orders), 1))
    reference_mask = np.ones(reference.shape[:2], bool)
    inputs = {  # float32 masks, as every runtime (and MLflow's signature) takes them
        "drawn": ink,
        "drawn_mask": drawn_mask.astype(np.float32),
        "reference": reference,
        "reference_mask": reference_mask.astype(np.float32),
    }
    return inputs, orders


def decode(
    verdict_probs: np.ndarray,
    match_probs: np.ndarray,
    orders: list[tuple[int, ...]],
    count: int,
    accept: float = ACCEPT,
) -> GradeResult:
    """Verdicts from the outputs of a ``build_batch`` batch (see module doc), a stroke being
    correct from ``p_correct >= accept`` (the strictness level's threshold)."""
    rows = np.arange(count)
    items = len(verdict_probs) // len(orders)  # count (prefixes) or 1 (whole request)
    per_order = verdict_probs.reshape(len(orders), items, *verdict_probs.shape[1:])
    matches = match_probs.reshape(len(orders), items, *match_probs.shape[1:])
    last = per_order[:, -1, :, 0]  # p_correct of every stroke, full request, per order
    consistent = (last[:, : count - 1] >= accept).sum(axis=1)
    mean_log = np.log(np.clip(last, 1e-9, 1.0)).mean(axis=1)
    best = max(range(len(orders)), key=lambda o: (consistent[o], mean_log[o], -o))
    order = orders[best]
    item = rows if items == count else np.full(count, items - 1)  # prefix 0..k, or the request
    probs = per_order[best, item, rows]
    match = matches[best, item, rows]
    n = len(order)
    verdicts = decide(probs, rows >= n, depicts_other(match, rows), accept)
    matched = np.argmax(match, axis=-1)
    results = [
        StrokeResult(
            index=k,
            verdict=LABELS[verdicts[k]],
            p_correct=float(probs[k, 0]),
            expected_index=order[k] if k < n else None,
            matched_index=order[matched[k]] if matched[k] < n else None,
        )
        for k in range(count)
    ]
    return GradeResult.of(results, order)


def grade(
    predict: Predict,
    ref: KanjiRef,
    drawn: Sequence[Stroke],
    canvas: Canvas,
    prefixes: bool = True,
    accept: float = ACCEPT,
) -> GradeResult:
    """Grade every drawn stroke of one request with one call of ``predict``."""
    inputs, orders = build_batch(ref, drawn, canvas, prefixes)
    verdict_probs, match_probs = predict(inputs)
    return decode(verdict_probs, match_probs, orders, len(drawn), accept)


def grade_requests(
    predict: Predict,
    ref: KanjiRef,
    requests: Sequence[Sequence[Stroke]],
    canvas: Canvas,
    accept: float = ACCEPT,
) -> list[GradeResult]:
    """Grade several whole requests for one kanji (``prefixes=False`` each) with one call
    of ``predict``: their items are stacked, the drawn axis padded after the real strokes
    (masked, and the model never looks ahead, so padding changes nothing)."""
    built = [build_batch(ref, drawn, canvas, prefixes=False) for drawn in requests]
    longest = max(len(drawn) for drawn in requests)

    def padded(inputs: dict[str, np.ndarray], name: str) -> np.ndarray:
        array = inputs[name]
        if name.startswith("drawn") and array.shape[1] < longest:
            pad = [(0, 0), (0, longest - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
            array = np.pad(array, pad)
        return array

    names = ("drawn", "drawn_mask", "reference", "reference_mask")
    stacked = {n: np.concatenate([padded(inputs, n) for inputs, _ in built]) for n in names}
    verdict_probs, match_probs = predict(stacked)
    results, row = [], 0
    for (_, orders), drawn in zip(built, requests, strict=True):
        count, items = len(drawn), len(orders)
        part = slice(row, row + items)
        results.append(
            decode(verdict_probs[part, :count], match_probs[part, :count], orders, count, accept)
        )
        row += items
    return results
