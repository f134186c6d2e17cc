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

from kanjiwrite.datasets.errors import pick
from kanjiwrite.datasets.kanjivg import KanjiRef, ReferencePack
from kanjiwrite.datasets.strokes import model_inputs_many
from kanjiwrite.datasets.synthesis import (
    DEFAULT_SYNTHESIS,
    Attempt,
    Extras,
    SynthesisConfig,
    donor_strokes,
    plan_attempt,
    realise,
    warm_caches,
)


def encode_attempts(attempts: list[Attempt]) -> list[dict[str, np.ndarray]]:
    """Model inputs and targets of each attempt, through the one normalisation (computed
    for all attempts together, ``strokes.model_inputs_many``)."""
    inputs = model_inputs_many([(a.drawn, a.canvas, a.reference) for a in attempts])
    return [
        {
            "drawn": drawn,
            "reference": reference,
            "labels": attempt.labels.astype(np.int64),
            "matched": attempt.matched.astype(np.int64),
        }
        for attempt, (drawn, reference) in zip(attempts, inputs, strict=True)
    ]


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


POOL_BATCHES = 8  # batches per pool (the stream's default ``bucket``)


class AttemptStream(IterableDataset):
    """Endless pools of collated batches of encoded attempts at the characters of one split.

    Pool ``i`` (from ``start`` on) is ``bucket`` batches of ``batch_size`` attempts, made by
    its own generator seeded by (seed, rank, i), sorted by stroke count so that little
    padding is needed, and yielded as one item in random order. Worker ``w`` of ``W`` makes
    pools ``w, w + W, ...`` and the DataLoader (``batch_size=None``) takes one item from each
    worker in turn, so the stream is the same for any worker count, and ``start`` resumes
    it where a run stopped.
    """

    def __init__(
        self,
        pack: ReferencePack,
        chars: list[str],
        seed: int,
        cfg: SynthesisConfig = DEFAULT_SYNTHESIS,
        rank: int = 0,
        batch_size: int = 64,
        bucket: int = POOL_BATCHES,
        start: int = 0,
        extras: Extras | None = None,
    ):
        self.refs: list[KanjiRef] = [pack[c] for c in chars]
        self.donors = donor_strokes(self.refs)
        self.extras = extras or Extras()
        self.seed, self.cfg, self.rank = seed, cfg, rank
        self.batch_size, self.bucket, self.start = batch_size, bucket, start

    def pool(self, index: int) -> list[dict[str, torch.Tensor]]:
        """Pool ``index``: its batches, collated, in random order."""
        rng = np.random.default_rng([self.seed, self.rank, index])
        plans = []
        for _ in range(self.batch_size * self.bucket):
            ref = self.refs[pick(rng, len(self.refs))]
            plans.append(plan_attempt(ref, rng, self.donors, self.cfg, *self.extras.of(ref.char)))
        items = encode_attempts(realise(plans, rng, self.cfg))
        items.sort(key=lambda item: (len(item["drawn"]), len(item["reference"])))
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        return [collate(batches[i]) for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[dict[str, torch.Tensor]]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for index in itertools.count(self.start + worker, workers):
            yield self.pool(index)


def stream_throughput(
    pack: ReferencePack,
    chars: list[str],
    seconds: float,
    seed: int = 0,
    batch_size: int = 64,
    extras: Extras | None = None,
) -> dict[str, float]:
    """Attempts and labelled strokes generated and encoded per second by one stream in this
    process, in pools of ``POOL_BATCHES`` batches as training makes them, with ``extras``
    (other hands, look-alikes) when given (after a warm-up of the per-character caches, as
    in a long training run)."""
    stream = AttemptStream(pack, chars, seed=seed, batch_size=batch_size, extras=extras)
    for ref in stream.refs:
        warm_caches(ref, stream.extras)
    pools = iter(stream)
    next(pools)
    attempts = strokes = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for batch in next(pools):
            attempts += len(batch["labels"])
            strokes += int((batch["labels"] != -100).sum())
    return {
        "attempts_per_s": attempts / elapsed,
        "samples_per_s": strokes / elapsed,
        "strokes_per_attempt": strokes / max(attempts, 1),
    }
