"""Training loop for the per-stroke grader, readable top to bottom: ``train`` starts a
``Session`` (model, optimizer, data, ``TrainState``), runs ``step`` on every batch and
``end_of_pool`` after every pool of batches (validation, checkpoints at epoch ends and at the
stop), and ``finish`` calibrates the best checkpoint.

Single process: ``kanjiwrite train --config training/configs/cpu.toml``.
Several processes or machines: ``torchrun --nproc-per-node N -m kanjiwrite.cli train ...``;
DDP switches on from torchrun's environment (gloo on CPU, NCCL on GPU), each rank draws
its own data (seeded by rank), rank 0 validates, saves and tracks.

Budget and schedule: the run stops at ``max_steps`` (or ``optim.epochs`` without it) or at
its time budget (``max_minutes``, or less when a ``deadline`` comes first), whichever comes
first, and the learning rate (warm-up, then a cosine to zero) follows the larger of steps
done / planned steps and minutes spent / the time budget, so a run ends annealed whichever
stops it (a step budget that fits its time gives the same run on any machine). SIGTERM and
Ctrl-C stop it after the current step, saved and calibrated (``interrupts``). The data stream
is the same for any DataLoader worker count (``AttemptStream``). A run writes into its own
folder; ``resume`` continues a checkpoint in its folder and returns ``None`` when it has
nothing left to do.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import pack_splits
from kanjiwrite.datasets.synthesis import split_extras
from kanjiwrite.datasets.torch_data import POOL_BATCHES, AttemptStream
from kanjiwrite.models.grader import Grader, load_checkpoint, loss_fn, parameter_count
from kanjiwrite.training.calibration import calibrate
from kanjiwrite.training.config import TrainConfig, data_version
from kanjiwrite.training.interrupts import StopRequests, ignore_interrupts
from kanjiwrite.training.validation import (
    validation_batches,
    validation_metrics,
    validation_outputs,
)


@dataclass
class TrainState:
    """A run's progress, saved in every checkpoint and restored by ``resume``."""

    epoch: float = 0.0
    step: int = 0
    pools: int = 0  # data pools done (the stream resumes after them)
    best_score: float = math.inf  # 1 - validation verdict accuracy of best.pt
    metrics: dict = field(default_factory=dict)  # the last validation
    minutes: float = 0.0  # training time so far (all sessions)
    stopped_by: str | None = None  # max_steps, epochs, max_minutes, deadline, SIGTERM, SIGINT
    mlflow_run_id: str | None = None

    @classmethod
    def of(cls, checkpoint: dict) -> TrainState:
        return cls(**{f.name: checkpoint[f.name] for f in dataclasses.fields(cls)})


@dataclass
class Session:
    """Everything one training process holds while it trains."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    model: Grader
    ddp: torch.nn.Module  # the model, wrapped in DDP with several processes
    optimizer: torch.optim.Optimizer
    state: TrainState
    out_dir: Path
    loader: DataLoader
    planned: int  # steps the run plans
    pools_per_epoch: int
    budget_minutes: float  # max_minutes, or less when the deadline comes first
    val: list[dict] = field(default_factory=list)  # validation batches (rank 0)
    tracker: object | None = None
    compile: bool = False  # still trying torch.compile (it falls back to eager for good)
    compiled: torch.nn.Module | None = None
    started: float = 0.0  # perf_counter at minutes == 0
    running: float = 0.0  # training loss summed since the last validation
    count: int = 0

    @property
    def minutes(self) -> float:
        return (time.perf_counter() - self.started) / 60


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun (each
    rank on its own GPU, chosen before NCCL starts)."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size(), local_rank


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.optim.warmup_steps:
        return cfg.optim.lr * (step + 1) / cfg.optim.warmup_steps
    return cfg.optim.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def save_checkpoint(path: Path, session: Session) -> None:
    """Weights, optimizer, config, data version and the ``TrainState`` (plain types only:
    checkpoints load with ``weights_only=True``)."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": session.model.state_dict(),
            "optimizer": session.optimizer.state_dict(),
            "config": session.cfg.to_dict(),
            "data": data_version(),
            "torch_version": str(torch.__version__),
            **dataclasses.asdict(session.state),
        },
        tmp,
    )
    tmp.replace(path)


def planned_steps(cfg: TrainConfig, world: int, bucket: int) -> tuple[int, int]:
    """(steps the run plans, data pools per epoch on each rank)."""
    pool = cfg.data.batch_size * bucket
    pools_per_epoch = max(1, math.ceil(cfg.data.samples_per_epoch / world / pool))
    return cfg.max_steps or cfg.optim.epochs * pools_per_epoch * bucket, pools_per_epoch


def nothing_left(cfg: TrainConfig, state: TrainState, planned: int) -> str | None:
    """Why a resumed run has nothing left to do (``None``: it has)."""
    if state.step >= planned:
        return f"it has done its {planned} steps"
    if state.epoch >= cfg.optim.epochs:
        return f"it has done its {cfg.optim.epochs} epochs"
    if state.minutes >= cfg.max_minutes:
        return f"it has used its {cfg.max_minutes:g} minutes"
    return None


def resumable(cfg: TrainConfig, resume: Path) -> str | None:
    """``nothing_left`` for a checkpoint, without starting anything (``None``: it has work)."""
    checkpoint = load_checkpoint(resume)
    planned, _ = planned_steps(cfg, int(os.environ.get("WORLD_SIZE", 1)), POOL_BATCHES)
    return nothing_left(cfg, TrainState.of(checkpoint), planned)


def start(
    cfg: TrainConfig, out_dir: Path | None, resume: Path | None, tracker, deadline: float | None
) -> Session:
    """Model, optimizer, state (a checkpoint's with ``resume``), data and validation."""
    rank, world, local_rank = distributed()
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.seed + rank)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = Grader(cfg.model).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    state = TrainState()
    if resume is not None:
        checkpoint = load_checkpoint(resume, map_location=str(device))
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state, out_dir = TrainState.of(checkpoint), Path(resume).parent
    state.stopped_by = None
    if tracker is not None:
        state.mlflow_run_id = tracker.run_id
    pack = load_pack()
    splits = pack_splits(pack)
    stream = AttemptStream(
        pack,
        splits["train"],
        seed=cfg.seed,
        rank=rank,
        batch_size=cfg.data.batch_size,
        start=state.pools,
        extras=split_extras(pack, splits["train"]),
    )
    planned, pools_per_epoch = planned_steps(cfg, world, stream.bucket)
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.data.workers,
        prefetch_factor=2 if cfg.data.workers else None,
        pin_memory=device.type == "cuda",
        worker_init_fn=ignore_interrupts if cfg.data.workers else None,
    )
    budget = cfg.max_minutes
    if deadline is not None:
        budget = min(budget, state.minutes + (deadline - time.time()) / 60)
    return Session(
        cfg=cfg,
        rank=rank,
        world=world,
        device=device,
        model=model,
        ddp=DistributedDataParallel(model) if world > 1 else model,
        optimizer=optimizer,
        state=state,
        out_dir=Path(out_dir or cfg.run.out_dir),
        loader=loader,
        planned=planned,
        pools_per_epoch=pools_per_epoch,
        budget_minutes=budget,
        val=validation_batches(cfg, splits["val"]) if rank == 0 else [],
        tracker=tracker if rank == 0 else None,
        compile=cfg.run.compile and device.type == "cuda",
    )


def log_facts(session: Session, resumed: bool) -> None:
    """Parameter count, world size, device and plan: parameters of a new run, tags of a
    resumed one (parameters are written once)."""
    facts = {
        "parameters": parameter_count(session.model),
        "world_size": session.world,
        "device": str(session.device),
        "planned_steps": session.planned,
        "budget_minutes": round(session.budget_minutes, 3),
    }
    if resumed:
        session.tracker.set_tags({f"resumed_{k}": str(v) for k, v in facts.items()})
    else:
        session.tracker.log_params(facts)


def stop_reason(session: Session, requests: StopRequests) -> str | None:
    """Why the run stops before the next step (``None``: it goes on); every rank agrees."""
    reason = requests.signal
    if reason is None and session.minutes >= session.budget_minutes:
        reason = "max_minutes" if session.budget_minutes >= session.cfg.max_minutes else "deadline"
    if session.world > 1:
        flag = torch.tensor([float(reason is not None)], device=session.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        reason = reason or ("stopped by another rank" if flag.item() else None)
    return reason


def forward(session: Session, b: dict):
    """The model's outputs, compiled while ``torch.compile`` works (any backend failure, on
    any batch shape, falls back to eager for the rest of the run: eager is always right)."""
    inputs = (b["drawn"], b["drawn_mask"], b["reference"], b["reference_mask"])
    autocast = session.cfg.run.amp and session.device.type == "cuda"
    with torch.autocast(session.device.type, dtype=torch.bfloat16, enabled=autocast):
        if session.compile:
            try:
                session.compiled = session.compiled or torch.compile(session.ddp)
                return session.compiled(*inputs)
            except Exception as error:
                print(f"torch.compile failed ({type(error).__name__}: {error}); going eager")
                session.compile = False
        return session.ddp(*inputs)


def step(session: Session, cpu_batch: dict) -> None:
    """One optimizer step at the scheduled learning rate."""
    state, cfg = session.state, session.cfg
    progress = max(
        state.step / session.planned, session.minutes / max(session.budget_minutes, 1e-6)
    )
    for group in session.optimizer.param_groups:
        group["lr"] = learning_rate(cfg, state.step, progress)
    b = {k: v.to(session.device, non_blocking=True) for k, v in cpu_batch.items()}
    verdict, match = forward(session, b)
    loss, _ = loss_fn(verdict, match, b["labels"], b["matched"])
    session.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(session.model.parameters(), cfg.optim.grad_clip)
    session.optimizer.step()
    state.step += 1
    session.running, session.count = session.running + loss.item(), session.count + 1


def end_of_pool(session: Session) -> bool:
    """After a pool (or a stop): at an epoch's end or the stop, rank 0 validates and saves
    ``last.pt`` (and ``best.pt`` when it is the best yet). Returns whether the run stops."""
    state, cfg = session.state, session.cfg
    if not state.stopped_by and state.step >= session.planned:
        state.stopped_by = "max_steps" if cfg.max_steps else "epochs"
    if state.pools % session.pools_per_epoch and not state.stopped_by:
        return False
    state.epoch = state.pools / session.pools_per_epoch
    if not state.stopped_by and state.epoch >= cfg.optim.epochs:
        state.stopped_by = "epochs"
    state.minutes = session.minutes
    if session.rank == 0:
        metrics = {
            "train_loss": session.running / max(session.count, 1),
            "epoch": state.epoch,
            "minutes": state.minutes,
            "step": state.step,
            **validation_metrics(*validation_outputs(session.model, session.val, session.device)),
        }
        state.metrics, session.running, session.count = metrics, 0.0, 0
        print(
            f"epoch {state.epoch:.2f}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
            flush=True,
        )
        if session.tracker is not None:
            session.tracker.log_metrics(metrics, step=state.step)
        session.out_dir.mkdir(parents=True, exist_ok=True)
        score = 1.0 - metrics["val_verdict_accuracy"]
        if score < state.best_score:
            state.best_score = score
            save_checkpoint(session.out_dir / "best.pt", session)
        save_checkpoint(session.out_dir / "last.pt", session)
    return state.stopped_by is not None


def finish(session: Session) -> Path:
    """Rank 0 calibrates ``best.pt``; every rank leaves the process group."""
    best = session.out_dir / "best.pt"
    if session.rank == 0:
        checkpoint = calibrate(best, session.val)
        print(
            f"stopped by {session.state.stopped_by} at step {session.state.step}; best "
            f"checkpoint {best} (temperature {checkpoint['temperature']:.3f}, model "
            f"{checkpoint['model_id']})",
            flush=True,
        )
    if session.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best


def train(
    cfg: TrainConfig,
    out_dir: Path | None = None,
    resume: Path | None = None,
    tracker=None,
    deadline: float | None = None,
    requests: StopRequests | None = None,
) -> Path | None:
    """Train into ``out_dir`` (rank 0 writes ``best.pt``, ``last.pt``; a resumed run stays in
    its checkpoint's folder), stopping training by the Unix time ``deadline`` at the latest.
    Returns the best checkpoint, or ``None`` when ``resume`` has nothing left to do."""
    if resume is not None and (reason := resumable(cfg, resume)):
        print(f"nothing left to do: {resume} is finished ({reason})", flush=True)
        return None
    session = start(cfg, out_dir, resume, tracker, deadline)
    if session.tracker is not None:
        log_facts(session, resumed=resume is not None)
    requests = requests or StopRequests()
    session.started = time.perf_counter() - session.state.minutes * 60
    with requests.installed(), requests.deferred():
        for pool in session.loader:
            for batch in pool:
                session.state.stopped_by = stop_reason(session, requests)
                if session.state.stopped_by:
                    break
                step(session, batch)
            else:
                session.state.pools += 1
            if end_of_pool(session):
                break
    return finish(session)
