"""Golden vectors for the iOS app (``golden_vectors.json``): every behaviour of the app's side
of the contract (``export/APP_SPEC.md``), pinned by exact inputs, outputs and verdicts.

Three kinds of case:

* ``requests``: what the app sends after one pen lift (raw strokes, canvas, strictness) and
  everything that follows from it: the model inputs (one item per accepted order), both
  outputs, and the decoded result (per-stroke verdict, ``p_correct``, expected and matched
  stroke, the message the app shows, the order rule the server would add), ``missing`` and
  ``complete``. Chosen so that every verdict label, a tap, an extra stroke, missing strokes,
  each strictness level, alternative orders of three characters, kana and the longest
  character occur.
* ``sessions``: a character written pen lift by pen lift under the protocol of the spec
  (accepted strokes plus the new one; a stroke is kept only when it is correct), incl. a
  switch from the standard to an alternative order mid-character and a retried stroke.
* ``padded_batch``: two requests padded into one shape bucket (``to_coreml``) and run in one
  call: the padded inputs and both outputs.

Cases are searched for with the model itself (``predict``): a case meant to show a verdict is
kept only if the model gives it with a margin (``MARGIN``) from the threshold, so that the
fp16 CoreML model must agree too.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.contract import (
    CORRECT,
    KANJIVG_SIZE,
    LABELS,
    STRICTNESS,
    STROKE_ERRORS,
    is_correct,
)
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, THIRD_OF_THE_BOX, Donors, corrupt, misplace
from kanjiwrite.datasets.kanjivg import ReferencePack
from kanjiwrite.datasets.strokes import as_stroke
from kanjiwrite.export.to_coreml import bucket_for
from kanjiwrite.models.decoding import (
    Predict,
    build_batch,
    consistent_orders,
    decode,
    partners_of,
    taps_of,
)
from kanjiwrite.models.messages import explain
from kanjiwrite.models.replay import replay

MARGIN = 0.05  # |p_correct - threshold| of every stroke of a chosen case
SEED = 11
VERDICT_KANJI = "口日木水永書漢国右左"
ALTERNATIVE_ORDER_KANJI = "必王国"
SESSION_KANJI = "主"  # (0, 1, 3, 4, 2) besides the standard order
LOOKALIKE_PAIR = ("土", "士")  # asked, written instead
LATE_LOOKALIKE_PAIR = ("冑", "胄")  # told apart after the stroke KanjiVG's difference names
FAR_FIRST_KANJI = "前学校名書"  # first strokes the shape alone lets pass far from their place


def _rounded(array: np.ndarray) -> list:
    return np.round(array.astype(np.float64), 6).tolist()


class CaseMaker:
    """Builds and records cases with one model and one set of thresholds."""

    def __init__(self, predict: Predict, pack: ReferencePack, thresholds: dict[str, float]):
        self.predict, self.pack, self.thresholds = predict, pack, thresholds
        self.rng = np.random.default_rng(SEED)

    def draw(self, strokes: list[np.ndarray]) -> tuple[list[np.ndarray], tuple[float, float]]:
        """Reference-box strokes as a learner draws them: integer pixels on a canvas."""
        drawn, canvas = humanize(strokes, self.rng)
        return [np.round(as_stroke(s)) for s in drawn], (round(canvas[0]), round(canvas[1]))

    def request(
        self,
        name: str,
        about: str,
        kanji: str,
        drawn: list[np.ndarray],
        canvas: tuple[float, float],
        strictness: str = "standard",
        settled: int | None = None,
        settled_as: tuple[int, ...] | None = None,
    ) -> dict:
        """One request; ``settled`` (default: all but the newest, the app's protocol),
        accepted as ``settled_as`` when known (then only the orders that begin so)."""
        ref = self.pack[kanji]
        threshold = self.thresholds[strictness]
        settled = len(drawn) - 1 if settled is None else settled
        partners = partners_of(self.pack, kanji)
        graded = consistent_orders(ref, settled_as)
        inputs, orders = build_batch(ref, drawn, canvas, False, partners, graded)
        inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
        verdict_probs, match_probs = self.predict(inputs)
        result = decode(
            verdict_probs,
            match_probs,
            orders,
            len(drawn),
            threshold,
            partners,
            settled,
            taps_of(drawn),
            inputs,
        )
        return {
            "name": name,
            "about": about,
            "kanji": kanji,
            "strictness": strictness,
            "threshold": threshold,
            "settled": settled,
            "settled_as": None if settled_as is None else list(settled_as),
            "canvas": list(canvas),
            "strokes": [s.astype(int).tolist() for s in drawn],
            "orders": [list(o) for o in orders],
            "partners": [p.ref.char for p in partners],
            "inputs": {k: _rounded(v) for k, v in inputs.items()},
            "outputs": {
                "verdict_probs": _rounded(verdict_probs),
                "match_probs": _rounded(match_probs),
            },
            "result": {
                "order": list(result.order),
                "strokes": [
                    {
                        "verdict": s.verdict,
                        "p_correct": round(s.p_correct, 6),
                        "expected_index": s.expected_index,
                        "matched_index": s.matched_index,
                        "story": s.story,
                        "lookalike": s.lookalike,
                        "message": message,
                        "rule": rule,
                    }
                    for s, (_, message), (rule, _) in zip(
                        result.strokes,
                        explain(ref, result, partners, rules=False),
                        explain(ref, result, partners),
                        strict=True,
                    )
                ],
                "missing": result.missing,
                "complete": result.complete,
            },
        }


def clear(case: dict | list) -> bool:
    """Every stroke's ``p_correct`` is ``MARGIN`` away from the threshold, in a request, a
    list of requests or a session."""
    if isinstance(case, list):
        return all(clear(c) for c in case)
    if "lifts" in case:
        return all(clear(step["request"]) for step in case["lifts"])
    strokes = case["result"]["strokes"]
    return all(abs(s["p_correct"] - case["threshold"]) >= MARGIN for s in strokes)


def last_verdict(case: dict) -> str:
    return case["result"]["strokes"][-1]["verdict"]


_search_deadline: list[float] = []  # perf_counter time after which ``first`` stops searching


def first(cases: Iterator, wanted: Callable, what: str, tries: int = 200):
    """The first of ``tries`` cases that is ``wanted`` and ``clear``; else the first wanted
    one, else the first one, marked ``uncovered`` (a model too weak to show ``what``: the
    release refuses it, the shipped model's vectors must have none). Past the search
    deadline (``golden_vectors``'s ``budget_s``) it settles for what it has."""
    fallback = None
    for case in itertools.islice(cases, tries):
        if wanted(case) and clear(case):
            return case
        if fallback is None or (wanted(case) and not wanted(fallback)):
            fallback = case
        if _search_deadline and time.perf_counter() > _search_deadline[0]:
            break
    if fallback is None:
        raise RuntimeError(f"no golden case could be made for {what}")
    if not wanted(fallback) or not clear(fallback):
        for case in fallback if isinstance(fallback, list) else [fallback]:
            case["uncovered"] = what
    return fallback


def verdict_cases(maker: CaseMaker) -> list[dict]:
    """The newest stroke correct, and wrong in each way; an extra stroke."""
    pack = maker.pack
    donors = Donors([s for c in "書永" for s in pack[c].strokes])

    def attempts(label: str) -> Iterator[dict]:
        for _ in range(40):
            for kanji in VERDICT_KANJI:
                ref = pack[kanji]
                k = int(maker.rng.integers(1, ref.stroke_count))
                made = corrupt(ref.strokes, k, label, maker.rng, DEFAULT_ERRORS, donors, set())
                if made is None:
                    continue
                drawn, canvas = maker.draw([*ref.strokes[:k], made[0]])
                yield maker.request(
                    f"verdict-{label}",
                    f"stroke {k + 1} of {kanji}: {label}",
                    kanji,
                    drawn,
                    canvas,
                )

    def shows(label: str, rule: bool | None = None) -> Callable[[dict], bool]:
        """The newest stroke gets ``label`` (with or without an order rule, if given)."""

        def wanted(case: dict) -> bool:
            named = case["result"]["strokes"][-1]["rule"] is not None
            return last_verdict(case) == label and rule in (None, named)

        return wanted

    # wrong_order both ways: a later stroke (the server names the rule), an earlier one again
    wanted = {label: shows(label) for label in [LABELS[CORRECT], *STROKE_ERRORS]}
    wanted["wrong_order"] = shows("wrong_order", True)
    cases = [first(attempts(label), check, label) for label, check in wanted.items()]
    again = first(attempts("wrong_order"), shows("wrong_order", False), "a stroke again")
    cases.append({**again, "name": "verdict-wrong_order-again"})
    three = pack["三"]

    def extra() -> Iterator[dict]:
        while True:
            drawn, canvas = maker.draw([*three.strokes, pack["十"].strokes[1]])
            yield maker.request("verdict-extra", "a fourth stroke on 三", "三", drawn, canvas)

    cases.append(first(extra(), lambda c: last_verdict(c) == "extra", "extra"))
    return cases


def written(maker: CaseMaker, name: str, about: str, kanji: str, order=None, count=None):
    """Requests of ``kanji`` written cleanly in ``order`` (standard by default), the first
    ``count`` strokes, whose every stroke is correct."""
    ref = maker.pack[kanji]
    order = order or tuple(range(ref.stroke_count))
    strokes = [ref.strokes[i] for i in order[:count]]
    while True:
        drawn, canvas = maker.draw(strokes)
        yield maker.request(name, about, kanji, drawn, canvas, settled=0)


def all_correct(case: dict) -> bool:
    return all(is_correct(s["verdict"]) for s in case["result"]["strokes"])


def shape_cases(maker: CaseMaker) -> list[dict]:
    """A tap, missing strokes, a complete character, kana, the longest character."""
    pack = maker.pack
    ten = pack["十"]

    def tap() -> Iterator[dict]:
        while True:
            drawn, canvas = maker.draw([ten.strokes[0], ten.strokes[1][:1]])
            drawn[1] = drawn[1][:1]  # one touch point
            yield maker.request("tap", "a tap where stroke 2 of 十 belongs", "十", drawn, canvas)

    longest = pack.longest()
    return [
        first(tap(), lambda c: not is_correct(last_verdict(c)), "tap"),
        first(
            written(maker, "missing", "3 of 8 strokes of 国", "国", count=3),
            lambda c: all_correct(c) and not c["result"]["complete"],
            "missing",
        ),
        first(
            written(maker, "complete", "木 written in full", "木"),
            lambda c: all_correct(c) and c["result"]["complete"],
            "complete",
        ),
        first(
            written(maker, "kana-hiragana", "あ written in full", "あ"),
            all_correct,
            "kana",
        ),
        first(
            written(maker, "kana-katakana", "ア written in full", "ア"),
            all_correct,
            "kana",
        ),
        first(
            written(maker, "longest", f"{longest}, the longest character, in full", longest),
            lambda c: c["result"]["complete"],
            "longest",
        ),
    ]


def box_cases(maker: CaseMaker) -> list[dict]:
    """What only the writing box shows: the first stroke a third of the box away from its
    place, and a later stroke drawn first (named, with its rule)."""
    pack = maker.pack

    def moved_first() -> Iterator[dict]:
        while True:
            kanji = VERDICT_KANJI[int(maker.rng.integers(len(VERDICT_KANJI)))]
            stroke = misplace(pack[kanji].strokes[0], maker.rng, THIRD_OF_THE_BOX, KANJIVG_SIZE)
            drawn, canvas = maker.draw([stroke])
            yield maker.request("stroke1-moved", f"stroke 1 of {kanji} moved", kanji, drawn, canvas)

    def later_first() -> Iterator[dict]:
        while True:
            kanji = VERDICT_KANJI[int(maker.rng.integers(len(VERDICT_KANJI)))]
            ref = pack[kanji]
            made = corrupt(ref.strokes, 0, "wrong_order", maker.rng, DEFAULT_ERRORS, [], set())
            if made is None:
                continue
            drawn, canvas = maker.draw([made[0]])
            about = f"stroke {made[1] + 1} of {kanji} drawn first"
            yield maker.request("later-first", about, kanji, drawn, canvas)

    def names_later(case: dict) -> bool:
        newest = case["result"]["strokes"][-1]
        return newest["story"] == "later"

    def far_first() -> Iterator[dict]:
        while True:
            kanji = FAR_FIRST_KANJI[int(maker.rng.integers(len(FAR_FIRST_KANJI)))]
            angle = maker.rng.uniform(0, 2 * np.pi)
            shift = 0.3 * KANJIVG_SIZE * np.array([np.cos(angle), np.sin(angle)])
            drawn, canvas = maker.draw([pack[kanji].strokes[0] + shift])
            yield maker.request("stroke1-far", f"stroke 1 of {kanji} far off", kanji, drawn, canvas)

    def placed_not_shaped(case: dict) -> bool:
        newest = case["result"]["strokes"][-1]
        return newest["verdict"] == "misplaced" and newest["p_correct"] >= case["threshold"]

    return [
        first(moved_first(), lambda c: last_verdict(c) == "misplaced", "a misplaced first stroke"),
        first(later_first(), names_later, "a later stroke drawn first"),
        first(far_first(), placed_not_shaped, "a first stroke far off, its shape passing"),
    ]


def strictness_cases(maker: CaseMaker) -> list[dict]:
    """One request at each strictness level whose newest stroke is correct at some levels
    and wrong at others."""
    pack = maker.pack
    lenient, strict = maker.thresholds["lenient"], maker.thresholds["strict"]

    def attempts() -> Iterator[list[dict]]:
        while True:
            kanji = VERDICT_KANJI[int(maker.rng.integers(len(VERDICT_KANJI)))]
            ref = pack[kanji]
            k = int(maker.rng.integers(1, ref.stroke_count))
            label = ("misplaced", "wrong_shape")[int(maker.rng.integers(2))]
            made = corrupt(ref.strokes, k, label, maker.rng, DEFAULT_ERRORS, [], set())
            if made is None:
                continue
            drawn, canvas = maker.draw([*ref.strokes[:k], made[0]])
            about = f"stroke {k + 1} of {kanji}"
            yield [
                maker.request(
                    f"strictness-{level}", f"{about} at {level}", kanji, drawn, canvas, level
                )
                for level in STRICTNESS
            ]

    def differs(cases: list[dict]) -> bool:
        p = cases[0]["result"]["strokes"][-1]["p_correct"]
        verdicts = {is_correct(last_verdict(c)) for c in cases}
        return lenient + MARGIN <= p <= strict - MARGIN and verdicts == {True, False}

    return first(attempts(), differs, "strictness", tries=400)


def alternative_order_cases(maker: CaseMaker) -> list[dict]:
    """Three characters written in full in one of their alternative orders."""
    cases = []
    for kanji in ALTERNATIVE_ORDER_KANJI[:3]:
        order = tuple(maker.pack[kanji].alternative_orders[0])
        attempts = written(
            maker,
            f"alternative-order-{kanji}",
            f"{kanji} in its alternative order {list(order)}",
            kanji,
            order,
        )

        def followed(case: dict, order=order) -> bool:
            return all_correct(case) and tuple(case["result"]["order"]) == order

        cases.append(first(attempts, followed, f"alternative order of {kanji}", tries=10))
    return cases


def session(maker: CaseMaker, name: str, kanji: str, lifts: list[np.ndarray]) -> dict:
    """Pen lifts of reference-box strokes ``lifts`` under the app's protocol
    (``models.replay``), each request recorded as a case."""
    drawn, canvas = maker.draw(lifts)
    run = replay(
        maker.predict,
        maker.pack[kanji],
        drawn,
        canvas,
        maker.thresholds["standard"],
        partners=partners_of(maker.pack, kanji),
    )
    steps = []
    for step in run.steps:
        number = step.stroke + 1
        request = [drawn[i] for i in step.request]
        case = maker.request(
            f"{name}-{number}",
            f"pen lift {number}",
            kanji,
            request,
            canvas,
            settled_as=step.settled_as,
        )
        stroke = drawn[step.stroke].astype(int).tolist()
        steps.append({"stroke": stroke, "request": case, "accepted": step.accepted})
    return {
        "name": name,
        "kanji": kanji,
        "canvas": list(canvas),
        "lifts": steps,
        "accepted": len(run.accepted),
        "complete": steps[-1]["request"]["result"]["complete"],
    }


def session_cases(maker: CaseMaker) -> list[dict]:
    """An order switch mid-character (an alternative order that shares its first stroke
    with the standard one); a wrong stroke retried."""
    switching = maker.pack[SESSION_KANJI]
    alternative = next(o for o in switching.alternative_orders if o[0] == 0)
    standard = tuple(range(switching.stroke_count))

    def switch_runs() -> Iterator[dict]:
        while True:
            strokes = [switching.strokes[i] for i in alternative]
            yield session(maker, f"order-switch-{SESSION_KANJI}", SESSION_KANJI, strokes)

    def switches(run: dict) -> bool:
        orders = [tuple(s["request"]["result"]["order"]) for s in run["lifts"]]
        accepted = all(s["accepted"] for s in run["lifts"])
        return accepted and orders[0] == standard and orders[-1] == tuple(alternative)

    mouth = maker.pack["口"]
    lifts = [mouth.strokes[0], mouth.strokes[1][::-1], *mouth.strokes[1:]]

    def retry_runs() -> Iterator[dict]:
        while True:
            yield session(maker, "retry-口", "口", lifts)

    def retried(run: dict) -> bool:
        verdicts = [last_verdict(s["request"]) for s in run["lifts"]]
        return verdicts == ["correct", "wrong_direction", "correct", "correct"]

    earth, scholar = LOOKALIKE_PAIR

    def lookalike_runs() -> Iterator[dict]:
        while True:
            yield session(maker, f"lookalike-{earth}", earth, list(maker.pack[scholar].strokes))

    def turned(run: dict) -> bool:
        stories = [s["request"]["result"]["strokes"][-1]["story"] for s in run["lifts"]]
        return "lookalike" in stories

    asked, parted = LATE_LOOKALIKE_PAIR

    def late_lookalike_runs() -> Iterator[dict]:
        while True:
            yield session(maker, f"lookalike-{asked}", asked, list(maker.pack[parted].strokes))

    def turned_late(run: dict) -> bool:
        partner = next(p for p in partners_of(maker.pack, asked) if p.ref.char == parted)
        return any(
            step["request"]["result"]["strokes"][-1]["story"] == "lookalike"
            and len(step["request"]["strokes"]) - 1 not in partner.strokes
            for step in run["lifts"]
        )

    return [
        first(switch_runs(), switches, "an order switch", tries=20),
        first(retry_runs(), retried, "a retried stroke", tries=20),
        first(lookalike_runs(), turned, "a look-alike written instead", tries=20),
        first(late_lookalike_runs(), turned_late, "a look-alike parting late", tries=20),
    ]


def padded_batch(maker: CaseMaker, a: dict, b: dict) -> dict:
    """Requests ``a`` and ``b`` padded into their shape bucket and run in one call."""
    items = sum(len(c["orders"]) + len(c["partners"]) for c in (a, b))
    longest = max(max(len(c["strokes"]), len(c["orders"][0])) for c in (a, b))
    size, strokes = bucket = bucket_for(items, longest)
    inputs = {}
    for name in ("drawn", "drawn_mask", "reference", "reference_mask"):
        parts = [np.array(c["inputs"][name], np.float32) for c in (a, b)]
        shape = (size, strokes, *parts[0].shape[2:])
        out = np.zeros(shape, np.float32)
        row = 0
        for part in parts:
            out[row : row + len(part), : part.shape[1]] = part
            row += len(part)
        inputs[name] = out
    verdict_probs, match_probs = maker.predict(inputs)
    return {
        "requests": [a["name"], b["name"]],
        "bucket": list(bucket),
        "inputs": {k: _rounded(v) for k, v in inputs.items()},
        "outputs": {"verdict_probs": _rounded(verdict_probs), "match_probs": _rounded(match_probs)},
    }


def golden_vectors(
    predict: Predict,
    pack: ReferencePack,
    thresholds: dict[str, float],
    model_id: str,
    budget_s: float | None = None,
) -> dict:
    """Every golden case (see module doc) for the model ``predict`` with ``thresholds``;
    the search for clear cases stops after ``budget_s`` seconds (``None``: it does not),
    leaving the cases not found yet ``uncovered``."""
    maker = CaseMaker(predict, pack, thresholds)
    _search_deadline[:] = [] if budget_s is None else [time.perf_counter() + budget_s]
    try:
        requests = [
            *verdict_cases(maker),
            *shape_cases(maker),
            *box_cases(maker),
            *strictness_cases(maker),
            *alternative_order_cases(maker),
        ]
        sessions = session_cases(maker)
    finally:
        _search_deadline.clear()
    by_name = {c["name"]: c for c in requests}
    uncovered = [c["uncovered"] for c in [*requests, *sessions] if "uncovered" in c]
    return {
        "model_id": model_id,
        "uncovered": sorted(set(uncovered)),
        "pack_version": pack.version,
        "labels": list(LABELS),
        "thresholds": thresholds,
        "requests": requests,
        "sessions": sessions,
        "padded_batch": padded_batch(maker, by_name["missing"], by_name["verdict-extra"]),
    }
