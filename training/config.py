"""Training profiles: the config dataclasses (their defaults are the cpu profile) and the
TOML files in ``training/configs/`` that change them; what the data are made of."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import SPLIT_SEED
from kanjiwrite.datasets.styles import load_styles
from kanjiwrite.datasets.synthesis import DEFAULT_SYNTHESIS
from kanjiwrite.models.grader import GraderConfig


@dataclass
class DataConfig:
    batch_size: int = 64
    workers: int = 1  # DataLoader processes (the stream does not depend on their count)
    samples_per_epoch: int = 50_000  # attempts per epoch (all ranks together); validation
    val_attempts: int = 1500
    val_seed: int = 99
    # real writing added to validation (selection, temperature) as correct strokes: a
    # Tegaki folder (the train part; never the eval part), "" for none
    calibration: str = ""


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    epochs: int = 12
    grad_clip: float = 1.0


@dataclass
class RunConfig:
    threads: int = 2
    amp: bool = False  # bf16 autocast (takes effect on GPU only)
    compile: bool = False  # torch.compile (GPU; falls back to eager where it fails)
    out_dir: str = "runs/cpu"  # each run writes to a folder of its own in here


@dataclass
class TrainConfig:
    name: str = "cpu"
    seed: int = 1234
    max_steps: int = 3860  # the step budget (0: none; then epochs)
    max_minutes: float = 19.0  # the time budget: the schedule ends by whichever comes first
    eval_attempts: int = 3000  # synthetic test attempts for the evaluation after training
    eval_held_out: int = 0  # attempts per held-out set (style shift, look-alikes); 0: all
    model: GraderConfig = field(default_factory=GraderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainConfig:
        sections = {
            "model": GraderConfig,
            "data": DataConfig,
            "optim": OptimConfig,
            "run": RunConfig,
        }
        values = {k: v for k, v in raw.items() if k not in sections}
        for key, kind in sections.items():
            values[key] = kind(**raw.get(key, {}))
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(tomllib.loads(Path(path).read_text()))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def data_version() -> dict:
    """What the training data are made of: pack and style-set versions (with what the
    style set kept of each source), split seed, synthesis settings."""
    pack = load_pack()
    styles = load_styles(pack)
    return {
        "pack_version": pack.version,
        "kanjivg_version": pack.meta["kanjivg_version"],
        "style_version": styles.meta["version"],
        "styles": styles.meta["counts"],
        "split_seed": SPLIT_SEED,
        "synthesis": dataclasses.asdict(DEFAULT_SYNTHESIS),
    }


# what a resumed run may change: its name, budget, evaluation size and how it runs
RESUMABLE_CHANGES = (
    "name",
    "max_steps",
    "max_minutes",
    "eval_attempts",
    "eval_held_out",
    "optim.epochs",
    "data.workers",
    "run.",
)


def _leaves(prefix: str, value) -> dict:
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(f"{prefix}{key}.", item).items()
        }
    return {prefix[:-1]: value}


def resumed_config(saved: dict, given: TrainConfig | None) -> TrainConfig:
    """The config a resume trains with: the checkpoint's (``saved``), with ``given``'s
    budget and run settings (``RESUMABLE_CHANGES``) when a profile is given; a profile that
    changes anything else (the model, the data, the optimizer) is refused (``ValueError``
    with the differences in one line)."""
    if given is None:
        return TrainConfig.from_dict(saved)
    old, new = _leaves("", saved), _leaves("", given.to_dict())
    changed = [
        f"{key} {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key) and not key.startswith(RESUMABLE_CHANGES)
    ]
    if changed:
        raise ValueError(
            "the config differs from the checkpoint's in "
            + ", ".join(changed)
            + " (resume without --config to train with the checkpoint's)"
        )
    return given
