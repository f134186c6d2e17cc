"""Short sentences for the learner, one per verdict label (stroke numbers are 1-based)."""

from __future__ import annotations

from collections.abc import Sequence

from kanjiwrite.datasets.contract import one_per_label
from kanjiwrite.datasets.kanjidic import load_prompts
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.models.decoding import GradeResult, Partner, StrokeResult
from kanjiwrite.models.order_rules import RULES, order_rule

MESSAGES = one_per_label(
    {
        "correct": "Stroke {n} is right.",
        "wrong_direction": "Stroke {n} was drawn from the wrong end.",
        "wrong_order": "Stroke {n} is out of order.",
        "wrong_shape": "Stroke {n} has the wrong shape.",
        "misplaced": "Stroke {n} has the right shape but the wrong place or size.",
        "extra": "This kanji has only {count} strokes.",
    },
    "models.messages.MESSAGES",
)


def stroke_message(
    result: StrokeResult, position: int | None, stroke_count: int, rule: str | None = None
) -> str:
    """The sentence for one decoded stroke: ``position`` is the place in the order followed
    of the stroke it is (``wrong_order``), ``rule`` the stroke-order rule it breaks
    (``models.order_rules``). The story was decided once, in decoding."""
    n = result.index + 1
    if result.story == "later":
        why = f": {RULES[rule]}" if rule else ""
        return f"That is stroke {position + 1}; stroke {n} comes first{why}."
    if result.story == "again":
        return f"That is stroke {position + 1} again; stroke {n} comes next."
    return MESSAGES[result.verdict].format(n=n, count=stroke_count)


def name_of(char: str) -> str:
    """A kanji with its first meaning, "土 (earth)", or the character alone."""
    info = load_prompts()["kanji"].get(char)
    return f"{char} ({info['meanings'][0]})" if info and info["meanings"] else char


def difference_sentence(asked: str, difference: list | tuple) -> str:
    """What the kanji asked has that its look-alike does not, in words."""
    kind, i, j = difference
    if kind == "longer":
        return f"in {name_of(asked)} stroke {i + 1} is longer than stroke {j + 1}."
    if kind == "crosses":
        return f"in {name_of(asked)} strokes {i + 1} and {j + 1} cross."
    if kind == "apart":
        return f"in {name_of(asked)} strokes {i + 1} and {j + 1} do not cross."
    return f"in {name_of(asked)} stroke {i + 1} has another shape or place."


def lookalike_message(ref: KanjiRef, result: StrokeResult, partner: Partner) -> str:
    """ "This is turning into 士 (scholar): in 土 (earth) stroke 3 is longer than stroke 1."
    (the difference shown at this stroke, else the first; this stroke when none is listed)."""
    here = [d for d in partner.differences if max(d[1], d[2]) == result.index]
    fallback = [("stroke", result.index, result.index)]
    what = difference_sentence(ref.char, (here or partner.differences or fallback)[0])
    return f"This is turning into {name_of(partner.ref.char)}: {what}"


def explain(
    ref: KanjiRef, result: GradeResult, partners: Sequence[Partner] = (), rules: bool = True
) -> list[tuple[str | None, str]]:
    """``(rule, message)`` for every stroke of a decoded ``result``: the rule (with
    ``rules``) only for a stroke written before its time (story "later")."""
    by_char = {p.ref.char: p for p in partners}
    out = []
    for s in result.strokes:
        if s.story == "lookalike" and s.lookalike in by_char:
            out.append((None, lookalike_message(ref, s, by_char[s.lookalike])))
            continue
        position = result.order.index(s.matched_index) if s.story in ("later", "again") else None
        rule = (
            order_rule(ref, s.expected_index, s.matched_index)
            if rules and s.story == "later"
            else None
        )
        out.append((rule, stroke_message(s, position, ref.stroke_count, rule)))
    return out
