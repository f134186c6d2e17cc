"""Synthetic labelled attempts: a learner writing one character, stroke by stroke.

An ``Attempt`` holds the strokes drawn so far (canvas pixels, human-like), the expected
reference strokes (KanjiVG box, in the accepted order the learner followed) and, per drawn
stroke k, a label against expected stroke k and the reference index it depicts.
Attempt-level facts: strokes beyond the reference are ``extra``; ``missing`` lists the
expected strokes (positions in the order followed) not (yet) drawn correctly.

The correct strokes come from KanjiVG's glyph or, for ``style_probability`` of attempts,
from another hand (``styles``: Kaisho, tomoe) when the character has one; errors are made
on the strokes of that hand. For ``lookalike_probability`` of attempts at a character with
look-alikes (``lookalikes``), the learner writes the look-alike instead, labelled stroke by
stroke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, AugmentConfig, Writing, humanize_many
from kanjiwrite.datasets.contract import (
    CORRECT,
    EXTRA,
    KANJIVG_SIZE,
    LABEL_INDEX,
    LABELS,
    STROKE_ERRORS,
    one_per_label,
)
from kanjiwrite.datasets.errors import (
    DEFAULT_ERRORS,
    Donors,
    ErrorConfig,
    corrupt,
    fit_to_box,
    pick,
)
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.strokes import resample_many

# how often each stroke error is chosen for a wrong stroke, relative to the others
ERROR_WEIGHTS = {"wrong_direction": 1.0, "wrong_order": 1.0, "wrong_shape": 1.5, "misplaced": 1.5}


@dataclass(frozen=True)
class SynthesisConfig:
    error_rate: float = 0.35  # share of drawn strokes that are wrong
    error_weights: dict[str, float] = field(default_factory=lambda: dict(ERROR_WEIGHTS))
    complete_probability: float = 0.5  # otherwise the attempt stops after a random stroke
    extra_probability: float = 0.15  # complete attempts get one stroke too many
    alternative_order_probability: float = 0.3
    style_probability: float = 0.4  # attempts written in another hand, when there is one
    lookalike_probability: float = 0.08  # attempts writing a look-alike, when there is one
    augment: AugmentConfig = DEFAULT_AUGMENT
    errors: ErrorConfig = DEFAULT_ERRORS

    def __post_init__(self) -> None:
        one_per_label(self.error_weights, "SynthesisConfig.error_weights", STROKE_ERRORS)


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

    @classmethod
    def in_order(
        cls,
        kanji: str,
        reference: list[np.ndarray],
        drawn: list[np.ndarray],
        canvas: tuple[float, float],
        order: tuple[int, ...] | None = None,
        labels: np.ndarray | None = None,
    ) -> Attempt:
        """Drawn stroke k against expected stroke k (``reference`` in the ``order``
        followed, standard by default), every stroke ``correct`` unless ``labels`` say
        otherwise."""
        n = len(drawn)
        return cls(
            kanji=kanji,
            reference=reference,
            drawn=drawn,
            canvas=canvas,
            labels=np.full(n, CORRECT, np.int8) if labels is None else labels,
            matched=np.arange(n, dtype=np.int16),
            order=order if order is not None else tuple(range(len(reference))),
        )


Hand = list[np.ndarray]  # a rendering's strokes in the reference's numbering, KanjiVG box
LookAlikeWriting = tuple[tuple[int, ...], list[np.ndarray]]  # labels, the look-alike's strokes


def components(ref: KanjiRef, order: tuple[int, ...], count: int) -> list[list[int]]:
    """The largest KanjiVG element groups that do not overlap (2 strokes or more, not the
    whole character), as positions among the first ``count`` strokes written in ``order``."""
    position = {base: k for k, base in enumerate(order) if k < count}
    drawn = [
        sorted(position[i] for i in c if i in position)
        for c in ref.memo("parts", lambda: parts(ref))
    ]
    return [members for members in drawn if members]


def parts(ref: KanjiRef) -> list[set[int]]:
    """The largest KanjiVG element groups of ``ref`` that do not overlap (2 strokes or
    more, not the whole character), in base stroke numbers."""
    chosen: list[set[int]] = []
    for group in sorted(ref.groups, key=lambda g: -len(g.strokes)):
        members = set(group.strokes)
        if 2 <= len(members) < ref.stroke_count and not any(members & c for c in chosen):
            chosen.append(members)
    return chosen


@dataclass
class Plan:
    """An attempt before the human augmentation: its labels and the strokes to draw in the
    reference box (``writing``); ``attempt`` completes it with the drawn strokes."""

    kanji: str
    reference: list[np.ndarray]
    labels: np.ndarray
    matched: np.ndarray
    order: tuple[int, ...]
    missing: list[int]
    writing: Writing

    def attempt(self, drawn: list[np.ndarray], canvas: tuple[float, float]) -> Attempt:
        return Attempt(
            kanji=self.kanji,
            reference=self.reference,
            drawn=drawn,
            canvas=canvas,
            labels=self.labels,
            matched=self.matched,
            order=self.order,
            missing=self.missing,
        )


def rendering_key(ref: KanjiRef, strokes: list[np.ndarray]) -> tuple:
    """What identifies ``strokes``, a rendering of ``ref`` (its own, another hand's) or of
    a look-alike, among what is cached for ``ref``."""
    if strokes is ref.strokes:
        return ()
    return (hash(b"".join(s.tobytes() for s in strokes)),)


def relations_of(ref: KanjiRef, strokes: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``geometry.relations`` of ``strokes`` (a rendering of ``ref`` or of a look-alike) as
    pair arrays (``geometry.relation_pairs``), computed once per ``ref`` and rendering."""
    return ref.memo(
        ("relations", *rendering_key(ref, strokes)),
        lambda: geometry.relation_pairs(geometry.relations(strokes, KANJIVG_SIZE)),
    )


def resampled_of(ref: KanjiRef, strokes: list[np.ndarray]) -> np.ndarray:
    """``strokes`` (a rendering of ``ref``) resampled, ``(S, P, 2)``, computed once."""
    if strokes is ref.strokes:
        return ref.resampled()
    return ref.memo(("resampled", *rendering_key(ref, strokes)), lambda: resample_many(strokes))


def warm_caches(ref: KanjiRef, extras: Extras | None = None) -> None:
    """Fill ``ref``'s per-character caches that synthesis reads (as a long run has), for
    its other hands and look-alikes in ``extras`` too."""
    hands, lookalikes = extras.of(ref.char) if extras is not None else ([], [])
    for hand in [ref.strokes, *hands]:
        resampled_of(ref, hand)
        relations_of(ref, hand)
    for _, strokes in lookalikes:
        relations_of(ref, strokes)
    components(ref, tuple(range(ref.stroke_count)), ref.stroke_count)
    for order in ref.orders():
        ref.interchangeable(order, 0)


def renumbered(relations: dict[str, np.ndarray], positions: np.ndarray) -> dict[str, np.ndarray]:
    """``relations`` (pair arrays) between the strokes that have a position (``positions[i]``:
    where stroke i is drawn, -1: not drawn, or drawn wrong), in those positions."""
    out = {}
    for kind, pairs in relations.items():
        mapped = positions[pairs]
        out[kind] = mapped[(mapped >= 0).all(axis=1)]
    return out


def plan_lookalike(
    ref: KanjiRef,
    rng: np.random.Generator,
    writing: LookAlikeWriting,
    cfg: SynthesisConfig,
) -> Plan:
    """An attempt at ``ref`` that writes a look-alike (``writing``) instead, in its
    standard order."""
    labels, strokes = writing
    n = ref.stroke_count
    count = n if rng.random() < cfg.complete_probability else 1 + pick(rng, n)
    right = np.array([i if i < count and labels[i] == CORRECT else -1 for i in range(len(strokes))])
    return Plan(
        kanji=ref.char,
        reference=list(ref.strokes),
        labels=np.array(labels[:count], np.int8),
        matched=np.arange(count, dtype=np.int16),
        order=tuple(range(n)),
        missing=[i for i in range(n) if i >= count or labels[i] != CORRECT],
        writing=Writing(strokes[:count], [], renumbered(relations_of(ref, strokes), right)),
    )


def plan_attempt(
    ref: KanjiRef,
    rng: np.random.Generator,
    donors: Donors,
    cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
    hands: Sequence[Hand] = (),
    lookalikes: Sequence[LookAlikeWriting] = (),
) -> Plan:
    """One random labelled attempt at ``ref``, before the human augmentation; ``donors``
    are strokes of other characters used for wrong shapes and extra strokes; ``hands``
    other correct renderings of ``ref``; ``lookalikes`` look-alikes to write instead (see
    module doc)."""
    if lookalikes and rng.random() < cfg.lookalike_probability:
        return plan_lookalike(ref, rng, lookalikes[pick(rng, len(lookalikes))], cfg)
    orders = ref.orders()
    use_alt = len(orders) > 1 and rng.random() < cfg.alternative_order_probability
    order = orders[1 + pick(rng, len(orders) - 1)] if use_alt else orders[0]
    expected = [ref.strokes[i] for i in order]
    styled = bool(hands) and rng.random() < cfg.style_probability
    hand = hands[pick(rng, len(hands))] if styled else ref.strokes
    written = [hand[i] for i in order]  # the correct strokes, as this hand writes them
    relations = relations_of(ref, hand)
    position = np.argsort(order)  # of each base stroke in the order followed
    longer = set(map(tuple, position[relations["longer"]].tolist()))
    n = len(expected)
    drawn_count = n if rng.random() < cfg.complete_probability else 1 + pick(rng, n)

    resampled = resampled_of(ref, hand)[list(order)]
    strokes, labels, matched = [], [], []
    weights = np.array([cfg.error_weights[label] for label in STROKE_ERRORS])
    wrong = rng.random(drawn_count) < cfg.error_rate
    # per wrong stroke, all error kinds in a random order weighted by ``error_weights``
    # (Efraimidis-Spirakis keys); the first one possible for the stroke is used
    kinds = np.argsort(-(rng.random((drawn_count, len(weights))) ** (1.0 / weights)), axis=1)
    for k in range(drawn_count):
        made = None
        if wrong[k]:
            forbidden_order = ref.interchangeable(order, k)
            for i in kinds[k]:
                label = STROKE_ERRORS[i]
                made = corrupt(
                    written,
                    k,
                    label,
                    rng,
                    cfg.errors,
                    donors,
                    forbidden_order,
                    resampled=resampled,
                    longer=longer,
                )
                if made is not None:
                    break
        if made is None:
            label, made = LABELS[CORRECT], (written[k], k)
        strokes.append(made[0])
        labels.append(LABEL_INDEX[str(label)])
        matched.append(made[1])
    if drawn_count == n and rng.random() < cfg.extra_probability:
        j = pick(rng, n)
        extra = fit_to_box(donors[pick(rng, len(donors))], expected[j]) if donors else expected[j]
        strokes.append(extra)
        labels.append(EXTRA)
        matched.append(-1)

    right = np.full(n, -1)  # where each base stroke is drawn right
    drawn_right = [k for k in range(drawn_count) if labels[k] == CORRECT]
    right[np.asarray(order, int)[drawn_right]] = drawn_right
    return Plan(
        kanji=ref.char,
        reference=expected,
        labels=np.array(labels, np.int8),
        matched=np.array(matched, np.int16),
        order=tuple(order),
        missing=[i for i in range(n) if i >= drawn_count or labels[i] != CORRECT],
        writing=Writing(
            strokes,
            components(ref, order, drawn_count),
            renumbered(relations, right),
        ),
    )


def realise(plans: Sequence[Plan], rng: np.random.Generator, cfg: SynthesisConfig) -> list[Attempt]:
    """The attempts of ``plans``, humanized together (``augment.humanize_many``)."""
    drawn = humanize_many([plan.writing for plan in plans], rng, cfg.augment)
    return [plan.attempt(*made) for plan, made in zip(plans, drawn, strict=True)]


def synthesize_attempt(
    ref: KanjiRef,
    rng: np.random.Generator,
    donors: Donors,
    cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
    hands: Sequence[Hand] = (),
    lookalikes: Sequence[LookAlikeWriting] = (),
) -> Attempt:
    """One random labelled attempt at ``ref`` (``plan_attempt``), humanized."""
    return realise([plan_attempt(ref, rng, donors, cfg, hands, lookalikes)], rng, cfg)[0]


def donor_strokes(refs: list[KanjiRef]) -> Donors:
    """All strokes of ``refs``: the pool wrong shapes and extra strokes are drawn from."""
    return Donors([s for r in refs for s in r.strokes])


@dataclass
class Extras:
    """Per character of a split: other correct hands and look-alikes to write instead
    (both from the same split only)."""

    hands: dict[str, list[Hand]] = field(default_factory=dict)
    lookalikes: dict[str, list[LookAlikeWriting]] = field(default_factory=dict)

    def of(self, char: str) -> tuple[list[Hand], list[LookAlikeWriting]]:
        return self.hands.get(char, []), self.lookalikes.get(char, [])


def split_extras(pack: ReferencePack, chars: list[str]) -> Extras:
    """The renderings (``styles``) and look-alikes (``lookalikes``) of ``chars``."""
    from kanjiwrite.datasets.lookalikes import lookalikes_of
    from kanjiwrite.datasets.styles import load_styles

    styles = load_styles(pack)
    extras = Extras()
    for char in chars:
        if styles[char]:
            extras.hands[char] = [r.strokes for r in styles[char]]
    for char, pairs in lookalikes_of(pack, tuple(sorted(chars))).items():
        extras.lookalikes[char] = [(p.labels, pack[p.written].strokes) for p in pairs]
    return extras


def fixed_attempts(
    pack: ReferencePack,
    chars: list[str],
    count: int,
    seed: int,
    cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
    extras: Extras | None = None,
) -> list[Attempt]:
    """A fixed evaluation set: ``count`` attempts, the same for the same seed (with
    ``extras``, written in other hands and with look-alikes as in training)."""
    refs = [pack[c] for c in chars]
    donors = donor_strokes(refs)
    rng = np.random.default_rng(seed)
    extras = extras or Extras()
    plans = [
        plan_attempt(refs[i % len(refs)], rng, donors, cfg, *extras.of(refs[i % len(refs)].char))
        for i in range(count)
    ]
    return realise(plans, rng, cfg)


def examples_by_label(
    refs: list[KanjiRef], per_label: int, rng: np.random.Generator, max_attempts: int = 0
) -> dict[str, list[tuple[Attempt, int]]]:
    """``per_label`` (attempt, stroke index) examples of every label, from attempts at
    random characters of ``refs`` (for galleries); a ``RuntimeError`` naming the labels
    still short after ``max_attempts`` attempts (default: 100 per example wanted)."""
    donors = donor_strokes(refs)
    found: dict[str, list[tuple[Attempt, int]]] = {label: [] for label in LABELS}
    for _ in range(max_attempts or 100 * per_label * len(LABELS)):
        if min(len(v) for v in found.values()) >= per_label:
            return found
        attempt = synthesize_attempt(refs[rng.integers(len(refs))], rng, donors)
        for k, label in enumerate(attempt.labels):
            items = found[LABELS[label]]
            if len(items) < per_label:
                items.append((attempt, k))
                break
    short = [label for label, items in found.items() if len(items) < per_label]
    if short:
        raise RuntimeError(f"no {per_label} examples of {short}: is every label synthesised?")
    return found
