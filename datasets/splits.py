"""Fixed, seeded splits by character, stratified by stroke count.

Held-out characters (``val`` and ``test``) never appear in training, neither as the
character being written nor as a donor of wrong shapes.
"""

from __future__ import annotations

import numpy as np

from kanjiwrite.datasets.kanjivg import ReferencePack, load_pack
from kanjiwrite.datasets.synthesis import Attempt, fixed_attempts

SPLITS = ("train", "val", "test")
SPLIT_SEED = 20260714
TEST_SEED = 2026  # the synthetic test attempts at the test characters
HELD_OUT_FRACTION = {"val": 0.1, "test": 0.1}
MAX_STRATUM = 22  # stroke counts above this share one stratum (few characters each)


def split_characters(
    chars: list[str], stroke_counts: np.ndarray, seed: int = SPLIT_SEED
) -> dict[str, list[str]]:
    """Assign every character to ``train``, ``val`` or ``test``.

    Within each stroke-count stratum the characters are shuffled with ``seed`` and the
    first 10% (rounded, at least one once the stratum has 5) go to test, the next 10% to
    val. The result depends only on the character list and the seed.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    strata = np.minimum(stroke_counts, MAX_STRATUM)
    order = np.argsort(np.array(chars))  # independent of input order
    for stratum in np.unique(strata):
        members = [chars[i] for i in order if strata[i] == stratum]
        rng.shuffle(members)
        n_test = _share(len(members), HELD_OUT_FRACTION["test"])
        n_val = _share(len(members), HELD_OUT_FRACTION["val"])
        out["test"] += members[:n_test]
        out["val"] += members[n_test : n_test + n_val]
        out["train"] += members[n_test + n_val :]
    return {name: sorted(members) for name, members in out.items()}


def pack_splits(pack: ReferencePack | None = None) -> dict[str, list[str]]:
    """The splits of the reference pack's characters."""
    pack = pack or load_pack()
    return split_characters(pack.chars, pack.stroke_counts())


def test_attempts(
    count: int, seed: int = TEST_SEED, pack: ReferencePack | None = None
) -> list[Attempt]:
    """The fixed synthetic test set: ``count`` attempts at the held-out test characters."""
    pack = pack or load_pack()
    return fixed_attempts(pack, pack_splits(pack)["test"], count, seed)


test_attempts.__test__ = False  # a helper, not a test, when imported into a test module


def _share(size: int, fraction: float) -> int:
    n = round(size * fraction)
    return max(n, 1) if size >= 5 else n
