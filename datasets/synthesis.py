"""Synthetic labelled attempts: a learner writing one character, stroke by stroke.

An ``Attempt`` holds the strokes drawn so far (canvas pixels, human-like), the expected
reference strokes (KanjiVG box, in the accepted order the learner followed) and, per drawn
stroke k, a label against expected stroke k and the reference index it depicts.
Attempt-level facts: strokes beyond the reference are ``extra``; ``missing`` lists the
expected strokes (positions in the order followed) not (yet) drawn correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, AugmentConfig, humanize
from kanjiwrite.datasets.contract import LABEL_INDEX, LABELS, STROKE_ERRORS
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, ErrorConfig, corrupt, fit_to_box
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack


@dataclass(frozen=True)
class SynthesisConfig:
    error_rate: float = 0.35  # share of drawn strokes that are wrong
    error_weights: tuple[float, ...] = (1.0, 1.0, 1.5, 1.5)  # over STROKE_ERRORS
    complete_probability: float = 0.5  # otherwise the attempt stops after a random stroke
    extra_probability: float = 0.15  # complete attempts get one stroke too many
    alternative_order_probability: float = 0.3
    augment: AugmentConfig = DEFAULT_AUGMENT
    errors: ErrorConfig = DEFAULT_ERRORS


DEFAULT_SYNTHESIS = SynthesisConfig()


@dataclass
class Attempt:
    kanji: str
    reference: list[np.ndarray]  # expected strokes in the order followed, 109 box
    drawn: list[np.ndarray]  # canvas pixels, y down
    canvas: tuple[float, float]
    labels: np.ndarray  # int8 index into LABELS, one per drawn stroke
    matched: np.ndarray  # int16: reference index (in ``reference``) depicted, -1 if none
    order: tuple[int, ...]  # base stroke indices in the order followed
    missing: list[int] = field(default_factory=list)


def synthesize_attempt(
    ref: KanjiRef,
    rng: np.random.Generator,
    donors: list[np.ndarray],
    cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
) -> Attempt:
    """One random labelled attempt at ``ref``; ``donors`` are strokes of other characters
    used for wrong shapes and extra strokes."""
    orders = ref.orders()
    use_alt = len(orders) > 1 and rng.random() < cfg.alternative_order_probability
    order = orders[1 + rng.integers(len(orders) - 1)] if use_alt else orders[0]
    expected = [ref.strokes[i] for i in order]
    n = len(expected)
    drawn_count = n if rng.random() < cfg.complete_probability else int(rng.integers(1, n + 1))
    # strokes another accepted order allows at each position (never labelled wrong_order)
    allowed = [{o[k] for o in orders} for k in range(n)]
    position_of = {base: k for k, base in enumerate(order)}

    resampled = ref.resampled()[list(order)]
    strokes, labels, matched = [], [], []
    weights = np.asarray(cfg.error_weights)
    for k in range(drawn_count):
        made = None
        if rng.random() < cfg.error_rate:
            # all error kinds in a random order weighted by ``error_weights``
            # (Efraimidis-Spirakis keys); the first one possible for stroke k is used
            for i in np.argsort(-(rng.random(len(weights)) ** (1.0 / weights))):
                label = STROKE_ERRORS[i]
                forbidden = {position_of[b] for b in allowed[k]}
                made = corrupt(
                    expected,
                    k,
                    label,
                    rng,
                    cfg.errors,
                    donors,
                    forbidden,
                    resampled=resampled,
                )
                if made is not None:
                    break
        if made is None:
            label, made = "correct", (expected[k], k)
        strokes.append(made[0])
        labels.append(LABEL_INDEX[str(label)])
        matched.append(made[1])
    if drawn_count == n and rng.random() < cfg.extra_probability:
        j = int(rng.integers(n))
        extra = (
            fit_to_box(donors[rng.integers(len(donors))], expected[j]) if donors else expected[j]
        )
        strokes.append(extra)
        labels.append(LABEL_INDEX["extra"])
        matched.append(-1)

    drawn, canvas = humanize(strokes, rng, cfg.augment)
    return Attempt(
        kanji=ref.char,
        reference=expected,
        drawn=drawn,
        canvas=canvas,
        labels=np.array(labels, np.int8),
        matched=np.array(matched, np.int16),
        order=tuple(order),
        missing=[i for i in range(n) if i >= drawn_count or labels[i] != LABEL_INDEX["correct"]],
    )


def donor_strokes(refs: list[KanjiRef]) -> list[np.ndarray]:
    """All strokes of ``refs``: the pool wrong shapes and extra strokes are drawn from."""
    return [s for r in refs for s in r.strokes]


def fixed_attempts(
    pack: ReferencePack,
    chars: list[str],
    count: int,
    seed: int,
    cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
) -> list[Attempt]:
    """A fixed evaluation set: ``count`` attempts, the same for the same seed."""
    refs = [pack[c] for c in chars]
    donors = donor_strokes(refs)
    rng = np.random.default_rng(seed)
    return [synthesize_attempt(refs[i % len(refs)], rng, donors, cfg) for i in range(count)]


def examples_by_label(
    refs: list[KanjiRef], per_label: int, rng: np.random.Generator
) -> dict[str, list[tuple[Attempt, int]]]:
    """``per_label`` (attempt, stroke index) examples of every label, from attempts at
    random characters of ``refs`` (for galleries)."""
    donors = donor_strokes(refs)
    found: dict[str, list[tuple[Attempt, int]]] = {label: [] for label in LABELS}
    while min(len(v) for v in found.values()) < per_label:
        attempt = synthesize_attempt(refs[rng.integers(len(refs))], rng, donors)
        for k, label in enumerate(attempt.labels):
            items = found[LABELS[label]]
            if len(items) < per_label:
                items.append((attempt, k))
                break
    return found
