"""On-the-fly training data: labelled attempts generated inside DataLoader workers.

Each worker draws from its own generator seeded by (seed, epoch, rank, worker id), so a
run is reproducible for a given seed and world size, and no two workers repeat each
other. Validation and test sets are fixed lists generated from their own seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.strokes import KANJIVG_CANVAS, stroke_features
from kanjiwrite.datasets.synthesis import (
    DEFAULT_SYNTHESIS,
    Attempt,
    SynthesisConfig,
    donor_strokes,
    synthesize_attempt,
)


def encode_attempt(
    attempt: Attempt, reference_features: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Model inputs and targets of one attempt, through the one normalisation
    (``reference_features``: the reference's, when already computed)."""
    if reference_features is None:
        reference_features = stroke_features(attempt.reference, KANJIVG_CANVAS)
    return {
        "drawn": stroke_features(attempt.drawn, attempt.canvas),
        "reference": reference_features,
        "labels": attempt.labels.astype(np.int64),
        "matched": attempt.matched.astype(np.int64),
    }


def collate(batch: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad strokes to the longest in the batch; masks mark real strokes."""
    out: dict[str, torch.Tensor] = {}
    for key in ("drawn", "reference"):
        longest = max(len(item[key]) for item in batch)
        shape = (len(batch), longest, *batch[0][key].shape[1:])
        values, mask = np.zeros(shape, np.float32), np.zeros(shape[:2], bool)
        for i, item in enumerate(batch):
            values[i, : len(item[key])] = item[key]
            mask[i, : len(item[key])] = True
        out[key], out[f"{key}_mask"] = torch.from_numpy(values), torch.from_numpy(mask)
    longest = out["drawn"].shape[1]
    for key in ("labels", "matched"):
        padded = np.full((len(batch), longest), -100, np.int64)
        for i, item in enumerate(batch):
            padded[i, : len(item[key])] = item[key]
        out[key] = torch.from_numpy(padded)
    return out


class AttemptStream(IterableDataset):
    """An endless stream of encoded attempts at the characters of one split."""

    def __init__(
        self,
        pack: ReferencePack,
        chars: list[str],
        seed: int,
        cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
        rank: int = 0,
        samples_per_epoch: int = 10_000,
    ):
        self.refs: list[KanjiRef] = [pack[c] for c in chars]
        self.donors = donor_strokes(self.refs)
        self.seed, self.cfg, self.rank = seed, cfg, rank
        self.samples_per_epoch = samples_per_epoch
        self.epoch = 0
        self._reference_features: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
        for _ in range(worker, self.samples_per_epoch, workers):
            ref = self.refs[rng.integers(len(self.refs))]
            attempt = synthesize_attempt(ref, rng, self.donors, self.cfg)
            key = (attempt.kanji, attempt.order)
            if key not in self._reference_features:
                self._reference_features[key] = stroke_features(attempt.reference, KANJIVG_CANVAS)
            yield encode_attempt(attempt, self._reference_features[key])


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
