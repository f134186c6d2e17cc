"""Labelled wrong strokes: label validity, unambiguity margins, splits, seeded streams."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from kanjiwrite.datasets.contract import CORRECT, LABEL_INDEX, LABELS, POINTS_PER_STROKE
from kanjiwrite.datasets.errors import DEFAULT_ERRORS, corrupt, margin_report
from kanjiwrite.datasets.geometry import shape_distance
from kanjiwrite.datasets.splits import split_characters
from kanjiwrite.datasets.strokes import FEATURES
from kanjiwrite.datasets.synthesis import (
    donor_strokes,
    examples_by_label,
    fixed_attempts,
    synthesize_attempt,
)
from kanjiwrite.datasets.torch_data import AttemptStream, collate, encode_attempts

STROKE = (POINTS_PER_STROKE, len(FEATURES))  # points x features of one model-input stroke


@pytest.fixture(scope="module")
def sample_refs(pack):
    rng = np.random.default_rng(0)
    return [pack[c] for c in rng.choice(pack.chars, 300, replace=False)]


def test_labels_are_valid(sample_refs, pack):
    rng = np.random.default_rng(1)
    donors = donor_strokes(sample_refs)
    seen = Counter()
    for _ in range(600):
        ref = sample_refs[rng.integers(len(sample_refs))]
        a = synthesize_attempt(ref, rng, donors)
        n = ref.stroke_count
        assert a.order in ref.orders()
        assert len(a.drawn) == len(a.labels) == len(a.matched) <= n + 1
        for k, (label, matched) in enumerate(zip(a.labels, a.matched, strict=True)):
            name = LABELS[label]
            seen[name] += 1
            if name == "extra":
                assert k == n and matched == -1
                continue
            assert k < n
            if name == "wrong_order":
                assert matched != k
                # never a stroke some accepted order puts at position k
                assert all(a.order[matched] != o[k] for o in ref.orders())
            else:
                assert matched == k
        correct_at = {k for k, lab in enumerate(a.labels) if lab == CORRECT}
        assert a.missing == [i for i in range(n) if i not in correct_at]
    assert set(seen) == set(LABELS)
    assert 0.5 < seen["correct"] / sum(seen.values()) < 0.8


def test_alternative_orders_are_written_and_labelled_correct(pack):
    main = pack["主"]
    rng = np.random.default_rng(5)
    attempts = [synthesize_attempt(main, rng, donor_strokes([main])) for _ in range(200)]
    alt = [a for a in attempts if a.order != main.orders()[0]]
    assert len(alt) >= 30  # alternative_order_probability of 200
    for a in alt:  # the expected strokes are the alternative order's
        assert a.order in main.orders()
        assert all(
            np.array_equal(r, main.strokes[i]) for r, i in zip(a.reference, a.order, strict=True)
        )

    def correct_share(chosen):
        return np.mean(np.concatenate([a.labels for a in chosen]) == CORRECT)

    # written right as often as in the standard order: following it is never an error
    assert abs(correct_share(alt) - correct_share(attempts)) < 0.1


def test_errors_keep_a_margin_from_correct_variation(sample_refs):
    report = margin_report([r.strokes for r in sample_refs], np.random.default_rng(2), samples=1500)
    for name, m in report.items():
        assert m["errors"] > 50, name
        # the 1% tails of correct variation and of errors stay apart (the extremes of the
        # structured variation reach as far as real writers do, and touch the errors')
        gap = m["error_p01"] - m["correct_p99"]
        assert gap > 0.1 * m["error_p01"], f"{name}: no margin ({m})"


def test_wrong_shape_is_really_another_shape(sample_refs):
    rng = np.random.default_rng(3)
    donors = donor_strokes(sample_refs)
    made = 0
    for ref in sample_refs[:100]:
        k = int(rng.integers(ref.stroke_count))
        out = corrupt(ref.strokes, k, "wrong_shape", rng, DEFAULT_ERRORS, donors, set())
        if out is not None:
            made += 1
            assert shape_distance(out[0], ref.strokes[k], 109.0) >= 0.3
    assert made > 60
    # without donors: the stroke's own wrong shapes only (a tap, a merge, a straightened
    # or cut curve), each still far enough from it
    alone = [
        corrupt(pack_ref.strokes, 0, "wrong_shape", rng, DEFAULT_ERRORS, [], set())
        for pack_ref in sample_refs[:40]
    ]
    for out, pack_ref in zip(alone, sample_refs[:40], strict=True):
        if out is not None:
            assert (
                shape_distance(out[0], pack_ref.strokes[0], 109.0)
                >= DEFAULT_ERRORS.min_shape_distance - 1e-9
            )
    assert any(out is not None for out in alone)


def test_splits_are_disjoint_stratified_and_seeded(pack):
    counts = pack.stroke_counts()
    splits = split_characters(pack.chars, counts)
    sets = {k: set(v) for k, v in splits.items()}
    assert sets["train"].isdisjoint(sets["val"]) and sets["train"].isdisjoint(sets["test"])
    assert sets["val"].isdisjoint(sets["test"])
    assert sum(map(len, sets.values())) == len(pack)
    assert len(sets["test"]) >= 0.1 * len(pack) - 10 and len(sets["val"]) >= 0.1 * len(pack) - 10
    count_of = dict(zip(pack.chars, counts, strict=True))
    for n in range(2, 20):  # every common stroke count is held out in proportion
        total = sum(1 for c in pack.chars if count_of[c] == n)
        held = sum(1 for c in sets["test"] if count_of[c] == n)
        assert abs(held - 0.1 * total) <= 1
    shuffled = list(reversed(pack.chars))
    assert split_characters(shuffled, counts[::-1]) == splits
    assert split_characters(pack.chars, counts, seed=1) != splits


def first_batches(stream, workers, pools=4):
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    return [batch for pool, _ in zip(loader, range(pools), strict=False) for batch in pool]


def test_stream_is_deterministic_and_the_same_for_any_worker_count(pack):
    chars = pack.chars[:200]

    def stream(seed=11, rank=0):
        return AttemptStream(pack, chars, seed=seed, rank=rank, batch_size=4, bucket=3)

    reference = first_batches(stream(), workers=0)
    assert len(reference) == 12 and all(len(b["labels"]) == 4 for b in reference)
    for workers in (1, 2, 3):
        for x, y in zip(reference, first_batches(stream(), workers), strict=True):
            assert torch.equal(x["drawn"], y["drawn"]) and torch.equal(x["labels"], y["labels"])
    for other in (stream(seed=12), stream(rank=1)):
        assert not torch.equal(reference[0]["drawn"], first_batches(other, 0)[0]["drawn"])
    # a stream started at pool 2 goes on where one stopped after two pools
    resumed = AttemptStream(pack, chars, seed=11, batch_size=4, bucket=3, start=2)
    assert torch.equal(first_batches(resumed, 0, pools=1)[0]["drawn"], reference[6]["drawn"])


def test_collate_pads_and_masks(pack):
    batch = collate(encode_attempts(fixed_attempts(pack, pack.chars[:50], 8, seed=0)))
    assert batch["drawn"].shape[0] == 8 and batch["drawn"].shape[2:] == STROKE
    lengths = batch["drawn_mask"].sum(1)
    assert torch.all((batch["labels"] != -100).sum(1) == lengths)
    assert torch.all(batch["drawn"][~batch["drawn_mask"]] == 0)


def test_fixed_sets_are_reproducible(pack):
    one = fixed_attempts(pack, pack.chars[:30], 20, seed=3)
    two = fixed_attempts(pack, pack.chars[:30], 20, seed=3)
    assert all(
        np.array_equal(x.labels, y.labels)
        and all(np.array_equal(p, q) for p, q in zip(x.drawn, y.drawn, strict=True))
        for x, y in zip(one, two, strict=True)
    )


def test_proportion_errors_break_the_length_relation(pack):
    from kanjiwrite.datasets.errors import proportion
    from kanjiwrite.datasets.geometry import length

    rng = np.random.default_rng(0)
    top, bottom = pack["土"].strokes[0], pack["土"].strokes[2]
    for _ in range(20):
        made = proportion(pack["土"].strokes, 2, rng, DEFAULT_ERRORS, 109.0)
        assert made is not None and length(made) < 0.81 * length(top)  # bottom now shorter
    made = proportion(pack["士"].strokes, 2, rng, DEFAULT_ERRORS, 109.0)
    assert length(made) > 1.2 * length(pack["士"].strokes[0])  # 士's short bottom too long
    assert proportion(pack["十"].strokes, 1, rng, DEFAULT_ERRORS, 109.0) is None
    assert length(bottom) > length(top)


def test_lookalikes_are_labelled_stroke_by_stroke(pack):
    from kanjiwrite.datasets.lookalikes import mine_lookalikes

    found = mine_lookalikes(pack, list("土士末未工甲申日曰十"))
    labels = {(p.asked, p.written): p.labels for pairs in found.values() for p in pairs}
    misplaced = LABEL_INDEX["misplaced"]
    assert labels[("土", "士")] == (0, 0, misplaced)  # the bottom stroke is the short one
    assert labels[("末", "未")] == (0, misplaced, 0, 0, 0)
    assert ("甲", "申") in labels and ("十", "土") not in labels  # not the same stroke count
    for pair_labels in labels.values():
        assert 1 <= sum(label != 0 for label in pair_labels) <= 2 * len(pair_labels) / 3
        assert set(pair_labels) <= {0, misplaced, LABEL_INDEX["wrong_shape"]}


def test_attempts_use_other_hands_and_look_alikes(pack):
    from kanjiwrite.datasets.synthesis import SynthesisConfig, split_extras

    extras = split_extras(pack, list("土士末未目方"))
    hands, lookalikes = extras.of("土")
    assert lookalikes and extras.of("目")[0]
    cfg = SynthesisConfig(lookalike_probability=1.0, complete_probability=1.0)
    attempt = synthesize_attempt(pack["土"], np.random.default_rng(0), [], cfg, hands, lookalikes)
    assert attempt.kanji == "土" and (attempt.labels != 0).any()
    cfg = SynthesisConfig(style_probability=1.0, error_rate=0.0, lookalike_probability=0.0)
    styled = synthesize_attempt(pack["目"], np.random.default_rng(0), [], cfg, *extras.of("目"))
    assert (styled.labels == 0).all()


def test_examples_by_label_gives_up_loudly(pack):
    """A label that is never synthesised cannot make the gallery loop forever."""
    with pytest.raises(RuntimeError, match="examples of"):
        examples_by_label([pack["口"]], 1, np.random.default_rng(0), max_attempts=1)
