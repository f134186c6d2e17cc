"""Training loop for the per-stroke grader, readable top to bottom.

Single process: ``kanjiwrite train --config training/configs/cpu.toml``.
Several processes or machines: ``torchrun --nproc-per-node N -m kanjiwrite.cli train ...``;
DDP switches on from torchrun's environment (gloo on CPU, NCCL on GPU), each rank draws
its own data (seeded by rank), rank 0 validates, saves and tracks.

The learning rate follows a warm-up then a cosine to zero over the run's *progress*: the
larger of steps done / planned steps and minutes spent / ``max_minutes``, so a run cut by
its time budget still ends annealed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from kanjiwrite.datasets.contract import decide
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import SPLIT_SEED, pack_splits
from kanjiwrite.datasets.synthesis import DEFAULT_SYNTHESIS, fixed_attempts
from kanjiwrite.datasets.torch_data import AttemptStream, collate, encode_attempt
from kanjiwrite.models.grader import Grader, GraderConfig, load_checkpoint, loss_fn, parameter_count
from kanjiwrite.training.metrics import binary_rates


@dataclass
class DataConfig:
    batch_size: int = 64
    workers: int = 1
    samples_per_epoch: int = 50_000
    val_attempts: int = 1500
    val_seed: int = 99


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
    out_dir: str = "runs/cpu"


@dataclass
class TrainConfig:
    name: str = "cpu"
    seed: int = 1234
    max_minutes: float = 18.0
    eval_attempts: int = 3000  # synthetic test attempts for the evaluation after training
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
    """What the training data are made of: pack version, split seed, synthesis settings."""
    pack = load_pack()
    return {
        "pack_version": pack.version,
        "kanjivg_version": pack.meta["kanjivg_version"],
        "split_seed": SPLIT_SEED,
        "synthesis": dataclasses.asdict(DEFAULT_SYNTHESIS),
    }


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.optim.warmup_steps:
        return cfg.optim.lr * (step + 1) / cfg.optim.warmup_steps
    return cfg.optim.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def validation_batches(cfg: TrainConfig, chars: list[str], batch_size: int = 128) -> list[dict]:
    """The fixed validation set, encoded once and batched by stroke count."""
    attempts = fixed_attempts(load_pack(), chars, cfg.data.val_attempts, cfg.data.val_seed)
    items = sorted((encode_attempt(a) for a in attempts), key=lambda i: len(i["drawn"]))
    return [collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


@torch.no_grad()
def validation_outputs(model: Grader, batches: list[dict], device: torch.device):
    """Verdict logits, labels and past-the-reference flags of all real strokes."""
    model.eval()
    logits, labels, past_end = [], [], []
    for batch in batches:
        b = {k: v.to(device) for k, v in batch.items()}
        verdict, _ = model(b["drawn"], b["drawn_mask"], b["reference"], b["reference_mask"])
        keep = b["labels"] != -100
        position = torch.arange(verdict.shape[1], device=device)[None]
        beyond = position >= b["reference_mask"].sum(1, keepdim=True)
        logits.append(verdict[keep].float().cpu())
        labels.append(b["labels"][keep].cpu())
        past_end.append(beyond[keep].cpu())
    model.train()
    return torch.cat(logits), torch.cat(labels), torch.cat(past_end)


def validation_metrics(
    logits: torch.Tensor, labels: torch.Tensor, past_end: torch.Tensor
) -> dict[str, float]:
    """Loss, and verdicts by the shipped rule (``contract.decide``): accuracy, FRR, FAR."""
    truth = labels.numpy()
    verdict = decide(logits.softmax(-1).numpy(), past_end.numpy())
    rates = binary_rates(truth, verdict)
    return {
        "val_loss": float(torch.nn.functional.cross_entropy(logits, labels)),
        "val_verdict_accuracy": float((verdict == truth).mean()),
        "val_false_reject": rates["false_reject"],
        "val_false_accept": rates["false_accept"],
    }


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling: the T minimising validation NLL of ``softmax(logits / T)``."""
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def save_checkpoint(path: Path, model: Grader, optimizer, cfg: TrainConfig, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "config": cfg.to_dict(),
            "data": data_version(),
            "torch_version": torch.__version__,
            **state,
        },
        tmp,
    )
    tmp.replace(path)


def train(cfg: TrainConfig, resume: Path | None = None, tracker=None) -> Path:
    """Train; returns the best checkpoint (on rank 0; other ranks return the same path)."""
    rank, world, local_rank = distributed()
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.seed + rank)
    out_dir = Path(cfg.run.out_dir)
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"

    pack = load_pack()
    splits = pack_splits(pack)
    model = Grader(cfg.model).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    state = {"epoch": 0, "step": 0, "best_score": float("inf"), "metrics": {}, "minutes": 0.0}
    if resume is not None:
        checkpoint = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state.update({k: checkpoint[k] for k in state})
    ddp = DistributedDataParallel(model) if world > 1 else model

    stream = AttemptStream(
        pack,
        splits["train"],
        seed=cfg.seed,
        rank=rank,
        samples_per_epoch=cfg.data.samples_per_epoch // world,
        batch_size=cfg.data.batch_size,
    )
    val = validation_batches(cfg, splits["val"]) if rank == 0 else []
    steps_per_epoch = math.ceil(cfg.data.samples_per_epoch / world / cfg.data.batch_size)
    planned_steps = cfg.optim.epochs * steps_per_epoch
    autocast = cfg.run.amp and device.type == "cuda"
    if rank == 0 and tracker is not None:
        tracker.log_params(
            {"parameters": parameter_count(model), "world_size": world, "device": str(device)}
        )

    started = time.perf_counter() - state["minutes"] * 60
    out_of_time = False
    for epoch in range(state["epoch"], cfg.optim.epochs):
        stream.set_epoch(epoch)
        loader = DataLoader(
            stream,
            batch_size=None,
            num_workers=cfg.data.workers,
            prefetch_factor=4 if cfg.data.workers else None,
        )
        running, count = 0.0, 0
        for batch in loader:
            minutes = (time.perf_counter() - started) / 60
            out_of_time = minutes >= cfg.max_minutes
            if world > 1:  # every rank stops at the same step
                flag = torch.tensor([float(out_of_time)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if out_of_time:
                break
            progress = max(state["step"] / planned_steps, minutes / cfg.max_minutes)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, state["step"], progress)
            b = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                verdict, match = ddp(
                    b["drawn"], b["drawn_mask"], b["reference"], b["reference_mask"]
                )
            loss, _ = loss_fn(verdict, match, b["labels"], b["matched"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            state["step"] += 1
            running, count = running + loss.item(), count + 1
        state["epoch"] = epoch + 1
        state["minutes"] = (time.perf_counter() - started) / 60
        if rank == 0:
            metrics = {
                "train_loss": running / max(count, 1),
                "epoch": epoch + 1,
                "minutes": state["minutes"],
                "step": state["step"],
                **validation_metrics(*validation_outputs(model, val, device)),
            }
            state["metrics"] = metrics
            score = 1.0 - metrics["val_verdict_accuracy"]
            print(
                f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
                flush=True,
            )
            if tracker is not None:
                tracker.log_metrics(
                    {k: v for k, v in metrics.items() if k != "epoch"}, step=epoch + 1
                )
            if score < state["best_score"]:
                state["best_score"] = score
                save_checkpoint(best_path, model, optimizer, cfg, state)
            save_checkpoint(last_path, model, optimizer, cfg, state)
        if out_of_time:
            break

    if rank == 0:
        checkpoint = load_checkpoint(best_path)
        best = Grader.from_checkpoint(checkpoint)
        logits, labels, _ = validation_outputs(best, val, torch.device("cpu"))
        temperature = fit_temperature(logits, labels)
        best.temperature.fill_(temperature)
        checkpoint["temperature"] = temperature
        checkpoint["model"] = best.state_dict()
        torch.save(checkpoint, best_path)
        print(f"best checkpoint {best_path} (temperature {temperature:.3f})", flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best_path
