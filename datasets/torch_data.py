"""On-the-fly training data: labelled attempts generated inside DataLoader workers.

Each worker draws from its own generator seeded by (seed, epoch, rank, worker id), so a
run is reproducible for a given seed and world size, and no two workers repeat each
other. Validation and test sets are fixed lists (``synthesis.fixed_attempts``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.strokes import model_inputs
from kanjiwrite.datasets.synthesis import (
    DEFAULT_SYNTHESIS,
    Attempt,
    SynthesisConfig,
    donor_strokes,
    synthesize_attempt,
)


def encode_attempt(attempt: Attempt) -> dict[str, np.ndarray]:
    """Model inputs and targets of one attempt, through the one normalisation."""
    drawn, reference = model_inputs(attempt.drawn, attempt.canvas, attempt.reference)
    return {
        "drawn": drawn,
        "reference": reference,
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
    """Encoded attempts at the characters of one split, ``samples_per_epoch`` per epoch
    (over all workers of this rank).

    With ``batch_size`` it yields collated batches instead (use ``batch_size=None`` in the
    DataLoader): each worker generates ``bucket`` batches' worth of attempts, sorts them by
    stroke count so that little padding is needed, and yields the batches in random order.
    """

    def __init__(
        self,
        pack: ReferencePack,
        chars: list[str],
        seed: int,
        cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
        rank: int = 0,
        samples_per_epoch: int = 10_000,
        batch_size: int | None = None,
        bucket: int = 8,
    ):
        self.refs: list[KanjiRef] = [pack[c] for c in chars]
        self.donors = donor_strokes(self.refs)
        self.seed, self.cfg, self.rank = seed, cfg, rank
        self.samples_per_epoch = samples_per_epoch
        self.batch_size, self.bucket = batch_size, bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
        samples = (
            encode_attempt(
                synthesize_attempt(
                    self.refs[rng.integers(len(self.refs))], rng, self.donors, self.cfg
                )
            )
            for _ in range(worker, self.samples_per_epoch, workers)
        )
        if self.batch_size is None:
            yield from samples
            return
        while pool := list(itertools.islice(samples, self.batch_size * self.bucket)):
            pool.sort(key=lambda item: (len(item["drawn"]), len(item["reference"])))
            batches = [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
            for i in rng.permutation(len(batches)):
                yield collate(batches[i])


def stream_throughput(
    pack: ReferencePack, chars: list[str], seconds: float, seed: int = 0
) -> dict[str, float]:
    """Attempts and labelled strokes generated and encoded per second by one stream in this
    process (after a warm-up of the per-character caches, as in a long training run)."""
    stream = AttemptStream(pack, chars, seed=seed, samples_per_epoch=10**9)
    for ref in stream.refs:
        ref.resampled()
    samples = iter(stream)
    for _ in range(200):
        next(samples)
    attempts = strokes = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        strokes += len(next(samples)["labels"])
        attempts += 1
    return {
        "attempts_per_s": attempts / elapsed,
        "samples_per_s": strokes / elapsed,
        "strokes_per_attempt": strokes / max(attempts, 1),
    }
