"""The grading contract, stated once: verdict labels, the verdict rule, the fixed sizes.

Every component imports these facts from here: the data synthesis and its labels, the
model's output columns, training metrics and checkpoint selection, decoding, the
exporters and their metadata, the REST schemas and messages, the app spec and the demo
page (served as ``GET /v1/contract``). Numpy only.

``LABELS`` is the order of the model's ``verdict_probs`` columns. ``decide`` turns those
probabilities into verdicts; training selects checkpoints by it and every runtime decodes
with it, so the rule a model is chosen by is the rule it ships with.

Adding a verdict label means: append it to ``LABELS`` (and to ``STROKE_ERRORS`` when the
model should choose it for a rejected stroke), synthesise it in ``datasets/errors.py`` and
weigh it in ``SynthesisConfig.error_weights``, give it a sentence in ``models/messages.py``
and a colour in ``datasets/render.py``, and retrain and re-export (the exported metadata
and the app spec carry the list). Whatever else is kept per label is checked by
``one_per_label`` when it is built, so a label missing anywhere fails at import, loudly
(``tests/test_contract.py`` adds one in a scratch copy of the package to prove it).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

T = TypeVar("T")

LABELS = ("correct", "wrong_direction", "wrong_order", "wrong_shape", "misplaced", "extra")
LABEL_INDEX = {name: i for i, name in enumerate(LABELS)}
CORRECT = LABEL_INDEX["correct"]
EXTRA = LABEL_INDEX["extra"]
# the errors a stroke within the reference can have; ``extra`` is decided by position
STROKE_ERRORS = ("wrong_direction", "wrong_order", "wrong_shape", "misplaced")

ACCEPT = 0.5  # a stroke is correct when its calibrated p_correct is at least this
# how strict the grader is: the accept threshold per level; a trained model carries its own,
# chosen on validation data (``training.train.strictness_thresholds``), these are for one
# that does not
STRICTNESS = ("lenient", "standard", "strict")
DEFAULT_STRICTNESS = "standard"
DEFAULT_THRESHOLDS = {"lenient": 0.3, "standard": ACCEPT, "strict": 0.7}
MISSES_BEFORE_HINT = 3  # the demo shows a stroke after this many misses on it
MATCH_SURE = 0.5  # the match head "depicts stroke j" when j's probability is at least this

KANJIVG_SIZE = 109.0  # KanjiVG's viewBox: references live in a 109 x 109 box, y down
KANJIVG_CANVAS = (KANJIVG_SIZE, KANJIVG_SIZE)
POINTS_PER_STROKE = 32  # every stroke is resampled to this many points
MAX_STROKES = 64  # strokes per request and per model input (longest kanji: 30)
MAX_POINTS = 4096  # raw points per stroke a client may send

_ERROR_COLUMNS = np.array([LABEL_INDEX[label] for label in STROKE_ERRORS])


def is_correct(verdict: str) -> bool:
    """Whether a verdict accepts the stroke."""
    return verdict == LABELS[CORRECT]


def one_per_label(
    values: dict[str, T], what: str, labels: tuple[str, ...] = LABELS
) -> dict[str, T]:
    """``values`` checked to hold exactly one entry per label of ``labels``; a ``ValueError``
    naming ``what`` otherwise (a label added to the contract and forgotten there)."""
    missing, unknown = set(labels) - set(values), set(values) - set(labels)
    if missing or unknown:
        raise ValueError(
            f"{what} must have one entry per label: missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}"
        )
    return {label: values[label] for label in labels}


def depicts_other(match_probs: np.ndarray, position: np.ndarray) -> np.ndarray:
    """What the match head says a stroke depicts, as int8: 1 when it is sure (probability at
    least ``MATCH_SURE``) of another reference stroke than the one expected at
    ``position``; -1 when it is sure of that stroke itself or of none (the last column);
    0 when it is not sure."""
    probs = np.asarray(match_probs)
    best = np.argmax(probs, axis=-1)
    sure = np.take_along_axis(probs, best[..., None], axis=-1)[..., 0] >= MATCH_SURE
    other = (best != position) & (best < probs.shape[-1] - 1)
    return np.where(sure, np.where(other, 1, -1), 0).astype(np.int8)


def decide(
    verdict_probs: np.ndarray,
    past_end: np.ndarray | bool = False,
    other: np.ndarray | bool | None = None,
    accept: float = ACCEPT,
) -> np.ndarray:
    """Verdict indices into ``LABELS`` from ``verdict_probs`` (..., len(LABELS)).

    A stroke past the end of the reference (``past_end``, broadcast) is ``extra``;
    otherwise it is ``correct`` when ``p_correct >= accept``, else the most probable of
    ``STROKE_ERRORS``. With ``other`` (``depicts_other`` of the match head), a rejected
    stroke surely depicting another stroke of the character is ``wrong_order`` rather than
    ``wrong_shape``, and one surely depicting no other stroke (a scribble, a tap, the
    expected stroke itself) is never ``wrong_order``: the next most probable error instead.
    """
    probs = np.asarray(verdict_probs)
    errors = probs[..., _ERROR_COLUMNS]
    if other is not None:
        other = np.broadcast_to(other, errors.shape[:-1])
        order = STROKE_ERRORS.index("wrong_order")
        shape = STROKE_ERRORS.index("wrong_shape")
        errors = errors.copy()
        boosted = np.maximum(errors[..., order], errors[..., shape])
        errors[..., order] = np.where(
            other > 0, boosted, np.where(other < 0, -1, errors[..., order])
        )
    error = _ERROR_COLUMNS[np.argmax(errors, axis=-1)]
    verdict = np.where(probs[..., CORRECT] >= accept, CORRECT, error)
    return np.where(past_end, EXTRA, verdict)


def as_dict() -> dict:
    """The contract as JSON-ready data (for the demo page, the app and model metadata)."""
    return {
        "labels": list(LABELS),
        "stroke_errors": list(STROKE_ERRORS),
        "accept": ACCEPT,
        "strictness": list(STRICTNESS),
        "default_strictness": DEFAULT_STRICTNESS,
        "kanjivg_size": KANJIVG_SIZE,
        "points_per_stroke": POINTS_PER_STROKE,
        "max_strokes": MAX_STROKES,
        "max_points": MAX_POINTS,
        "misses_before_hint": MISSES_BEFORE_HINT,
    }
