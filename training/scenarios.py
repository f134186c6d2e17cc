"""The behaviour suite: what a learner does, through the real model and decoder.

Each scenario writes seeded attempts at the held-out test characters in a steady hand
(KanjiVG's strokes with little variation, placed in the writing box as writers do) and
grades them as the app does (``decoding.grade`` with the strokes accepted so far settled,
the look-alike partners in the batch):

* ``written_well``: every stroke in order, pen lift by pen lift (``replay``); accepted when
  every stroke is right first time and the kanji completes;
* ``alternative_order``: the same in an accepted alternative order;
* ``stroke1_moved``: the first stroke a third of the box away from its place (named:
  ``misplaced``);
* ``later_first``: a later stroke, far from the first, drawn first (named: ``wrong_order``
  naming that stroke);
* ``later_in_middle``: the same at a random stroke in the middle;
* ``previous_again``: the stroke just accepted drawn again (named: ``wrong_order``, again);
* ``tap``: one touch where stroke k belongs (named: ``wrong_shape``);
* ``reversed``: stroke k drawn from its end (named: ``wrong_direction``);
* ``lookalike``: a look-alike written whole instead (caught: not accepted whole).

For every graded stroke the decoded story is checked for contradictions (a stroke named
as itself, "again" for a stroke never accepted, a tap called another stroke, "comes first"
for an earlier stroke). ``GATE`` is what ``kanjiwrite release`` requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from kanjiwrite.datasets import geometry
from kanjiwrite.datasets.augment import DEFAULT_AUGMENT, humanize
from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, THIRD_OF_THE_BOX, misplace, reverse
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.splits import pack_splits
from kanjiwrite.models.decoding import GradeResult, Predict, grade, partners_of
from kanjiwrite.models.messages import explain
from kanjiwrite.models.replay import replay

STEADY = replace(
    DEFAULT_AUGMENT,
    stroke_offset=0.02,
    stroke_scale=0.05,
    stroke_rotation_deg=3.0,
    component_offset=0.01,
    component_scale=0.04,
    endpoint_probability=0.2,
    endpoint_change=0.08,
    wobble=0.01,
    hook_probability=0.1,
    rotation_deg=2.0,
    shear=0.03,
    aspect=0.03,
)
ORDER_SCENARIOS = ("later_first", "later_in_middle", "previous_again")
NAMED = {
    "stroke1_moved": "misplaced",
    "tap": "wrong_shape",
    "reversed": "wrong_direction",
    **{s: "wrong_order" for s in ORDER_SCENARIOS},
}
ACCEPTED_SCENARIOS = ("written_well", "alternative_order")
SCENARIOS = (*ACCEPTED_SCENARIOS, "stroke1_moved", *ORDER_SCENARIOS, "tap", "reversed", "lookalike")
GATE = {"caught": 0.98, "named": 0.90, "accepted": 0.995, "contradictions": 0}


@dataclass
class Case:
    """One scenario case: the kanji, the strokes (reference box) drawn before the one
    judged, the judged stroke, and what a right answer names (``named_index``)."""

    ref: KanjiRef
    before: list[np.ndarray]
    stroke: np.ndarray
    named_index: int | None = None


def far_apart(ref: KanjiRef, k: int, j: int) -> bool:
    points = ref.resampled()
    distance = np.linalg.norm(points[k] - points[j], axis=-1).mean() / KANJIVG_SIZE
    return distance >= DEFAULT_ERRORS.min_order_distance and all(o[k] != j for o in ref.orders())


def error_case(scenario: str, ref: KanjiRef, rng: np.random.Generator) -> Case | None:
    """A case of an error scenario at ``ref`` (None when the kanji cannot show it)."""
    s, n = ref.strokes, ref.stroke_count
    if scenario == "stroke1_moved":
        return Case(ref, [], misplace(s[0], rng, THIRD_OF_THE_BOX, KANJIVG_SIZE))
    if scenario in ("later_first", "later_in_middle"):
        ks = [0] if scenario == "later_first" else list(range(1, n - 1))
        pairs = [(k, j) for k in ks for j in range(k + 1, n) if far_apart(ref, k, j)]
        if not pairs:
            return None
        k, j = pairs[rng.integers(len(pairs))]
        return Case(ref, list(s[:k]), s[j], j)
    if scenario == "previous_again":
        ks = [k for k in range(1, n) if far_apart(ref, k, k - 1)]
        if not ks:
            return None
        k = int(rng.choice(ks))
        return Case(ref, list(s[:k]), s[k - 1], k - 1)
    k = int(rng.integers(n))
    if scenario == "tap":
        return Case(ref, list(s[:k]), s[k][rng.integers(len(s[k]))][None])
    if scenario == "reversed":
        long = [k for k in range(n) if geometry.length(s[k]) >= 0.25 * KANJIVG_SIZE]
        if not long:
            return None
        k = int(rng.choice(long))
        return Case(ref, list(s[:k]), reverse(s[k]))
    raise ValueError(f"unknown scenario {scenario!r}")


def contradictions(ref: KanjiRef, result: GradeResult, taps: set[int], partners) -> int:
    """Strokes whose decoded story contradicts itself (see module doc)."""
    bad = 0
    accepted: set[int] = set()
    explained = explain(ref, result, partners)
    for s, (_, message) in zip(result.strokes, explained, strict=True):
        position = result.order.index(s.matched_index) if s.matched_index is not None else None
        if s.verdict == "wrong_order":
            bad += (
                position is None
                or position == s.index
                or s.index in taps
                or (s.story == "again") != (position < s.index)
                or (s.story == "again" and position not in accepted)
            )
        bad += s.verdict != "wrong_order" and ("again" in message or "comes first" in message)
        bad += s.correct and s.matched_index != s.expected_index
        if s.correct:
            accepted.add(s.index)
    return int(bad)


def run_scenarios(
    predict: Predict,
    pack: ReferencePack,
    accept: float,
    cases: int = 200,
    seed: int = 2027,
    chars: list[str] | None = None,
    progress: Callable[[Iterator], Iterator] = iter,
) -> dict[str, dict[str, float]]:
    """Every scenario over ``cases`` seeded cases at ``chars`` (default: the test split):
    cases, caught (or accepted) rate, named rate, contradictions."""
    chars = chars or pack_splits(pack)["test"]
    rng = np.random.default_rng(seed)
    table: dict[str, dict[str, float]] = {}
    for scenario in progress(SCENARIOS):
        counts = {"cases": 0, "hits": 0, "named": 0, "contradictions": 0}
        tries = 0
        while counts["cases"] < cases and tries < 20 * cases:
            tries += 1
            ref = pack[chars[rng.integers(len(chars))]]
            partners = partners_of(pack, ref.char)
            if scenario in ACCEPTED_SCENARIOS or scenario == "lookalike":
                outcome = whole_case(predict, pack, ref, scenario, partners, accept, rng)
                if outcome is None:
                    continue
                hit, bad = outcome
                counts["hits"] += hit
                counts["contradictions"] += bad
            else:
                case = error_case(scenario, ref, rng)
                if case is None:
                    continue
                drawn, canvas = humanize([*case.before, case.stroke], rng, STEADY)
                result = grade(
                    predict, ref, drawn, canvas, False, accept, partners, len(case.before)
                )
                judged = result.strokes[-1]
                counts["hits"] += not judged.correct
                counts["named"] += judged.verdict == NAMED[scenario] and (
                    case.named_index is None or judged.matched_index == case.named_index
                )
                taps = {len(drawn) - 1} if scenario == "tap" else set()
                counts["contradictions"] += contradictions(ref, result, taps, partners)
            counts["cases"] += 1
        table[scenario] = summarise(scenario, counts)
    return table


def whole_case(predict, pack, ref, scenario, partners, accept, rng) -> tuple[bool, int] | None:
    """A whole attempt written pen lift by pen lift: (the scenario's hit, contradictions).
    Hit: accepted whole (written well, alternative order), not accepted whole (look-alike)."""
    if scenario == "lookalike":
        if not partners:
            return None
        partner = partners[rng.integers(len(partners))]
        strokes, order = list(partner.ref.strokes), tuple(range(ref.stroke_count))
    else:
        orders = ref.orders()
        if scenario == "alternative_order" and len(orders) < 2:
            return None
        order = (
            orders[0] if scenario == "written_well" else orders[1 + rng.integers(len(orders) - 1)]
        )
        strokes = [ref.strokes[i] for i in order]
    drawn, canvas = humanize(strokes, rng, STEADY)
    run = replay(predict, ref, drawn, canvas, accept, partners=partners)
    whole = all(step.accepted for step in run.steps) and run.complete
    bad = sum(contradictions(ref, step.result, set(), partners) for step in run.steps)
    return (whole if scenario != "lookalike" else not whole), int(bad)


def summarise(scenario: str, counts: dict[str, int]) -> dict[str, float]:
    cases = max(counts["cases"], 1)
    row = {"cases": counts["cases"], "contradictions": counts["contradictions"]}
    if scenario in ACCEPTED_SCENARIOS:
        row["accepted"] = counts["hits"] / cases
    else:
        row["caught"] = counts["hits"] / cases
        if scenario in NAMED:
            row["named"] = counts["named"] / cases
    return row


def gate_failures(table: dict[str, dict[str, float]]) -> list[str]:
    """What keeps a model out of release (``GATE``); empty when it passes."""
    failures = []
    for scenario, row in table.items():
        if row.get("contradictions", 0) > GATE["contradictions"]:
            failures.append(f"{scenario}: {row['contradictions']} contradictions")
        if "accepted" in row and row["accepted"] < GATE["accepted"]:
            failures.append(f"{scenario}: accepted {row['accepted']:.3f} < {GATE['accepted']}")
        if "caught" in row and row["caught"] < GATE["caught"]:
            failures.append(f"{scenario}: caught {row['caught']:.3f} < {GATE['caught']}")
        if scenario in ORDER_SCENARIOS and row["named"] < GATE["named"]:
            failures.append(f"{scenario}: named {row['named']:.3f} < {GATE['named']}")
    return failures


def markdown(table: dict[str, dict[str, float]]) -> str:
    """The scenario table for the model card and the MLflow run."""
    lines = [
        "| scenario | cases | accepted / caught | named | contradictions |",
        "|---|---|---|---|---|",
    ]
    for scenario, row in table.items():
        rate = row.get("accepted", row.get("caught", 0.0))
        named = f"{row['named']:.1%}" if "named" in row else ""
        lines.append(
            f"| {scenario} | {row['cases']} | {rate:.1%} | {named} | {row['contradictions']} |"
        )
    return "\n".join(lines)
