"""Training loop for the per-stroke grader, readable top to bottom.

Single process: ``kanjiwrite train --config training/configs/cpu.toml``.
Several processes or machines: ``torchrun --nproc-per-node N -m kanjiwrite.cli train ...``;
DDP switches on from torchrun's environment (gloo on CPU, NCCL on GPU), each rank draws
its own data (seeded by rank), rank 0 validates, saves and tracks.

Budget and schedule: with ``max_steps`` (the shipped profiles) the run is that many
optimizer steps and the learning rate (warm-up, then a cosine to zero) follows steps done /
``max_steps``, so the result does not depend on the machine's speed; ``max_minutes`` is then
only a safety stop. Without it, the schedule follows the larger of steps done / planned
steps (``epochs``) and minutes spent / ``max_minutes``, so a run cut by time still ends
annealed. The data stream is the same for any DataLoader worker count (``AttemptStream``).
A run writes into its own folder; ``resume`` continues a checkpoint in its folder and
returns ``None`` when it has nothing left to do.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from kanjiwrite.datasets.contract import ACCEPT, decide, depicts_other
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.splits import SPLIT_SEED, pack_splits
from kanjiwrite.datasets.styles import load_styles
from kanjiwrite.datasets.synthesis import DEFAULT_SYNTHESIS, fixed_attempts, split_extras
from kanjiwrite.datasets.tegaki import correct_attempts, read_tegaki_folder
from kanjiwrite.datasets.torch_data import AttemptStream, collate, encode_attempt
from kanjiwrite.models.grader import Grader, GraderConfig, load_checkpoint, loss_fn, parameter_count
from kanjiwrite.training.metrics import binary_rates


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
    max_steps: int = 3860  # the step budget that fixes the schedule (0: none)
    max_minutes: float = 19.0  # a safety stop with max_steps; the budget without it
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


def validation_batches(cfg: TrainConfig, chars: list[str], batch_size: int = 128) -> list[dict]:
    """The fixed validation set, encoded once and batched by stroke count: synthetic
    attempts at the validation characters (other hands and look-alikes included) and, with
    ``data.calibration``, real writing labelled correct."""
    pack = load_pack()
    attempts = fixed_attempts(
        pack, chars, cfg.data.val_attempts, cfg.data.val_seed, extras=split_extras(pack, chars)
    )
    if cfg.data.calibration:
        folder = Path(cfg.data.calibration)
        if folder.is_dir():
            attempts += correct_attempts(pack, read_tegaki_folder(folder))
        else:
            print(f"no calibration writing at {folder}: validating on synthetic data only")
    items = sorted((encode_attempt(a) for a in attempts), key=lambda i: len(i["drawn"]))
    return [collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


@torch.no_grad()
def validation_outputs(model: Grader, batches: list[dict], device: torch.device):
    """Verdict logits, labels, past-the-reference flags and ``contract.depicts_other`` of
    all real strokes."""
    model.eval()
    logits, labels, past_end, other = [], [], [], []
    for batch in batches:
        b = {k: v.to(device) for k, v in batch.items()}
        verdict, match = model(b["drawn"], b["drawn_mask"], b["reference"], b["reference_mask"])
        keep = (b["labels"] != -100).cpu()
        position = torch.arange(verdict.shape[1])[None]
        beyond = position >= b["reference_mask"].sum(1, keepdim=True).cpu()
        elsewhere = depicts_other(match.float().softmax(-1).cpu().numpy(), position.numpy())
        logits.append(verdict.float().cpu()[keep])
        labels.append(b["labels"].cpu()[keep])
        past_end.append(beyond[keep])
        other.append(torch.from_numpy(elsewhere)[keep])
    model.train()
    return torch.cat(logits), torch.cat(labels), torch.cat(past_end), torch.cat(other)


def validation_metrics(
    logits: torch.Tensor, labels: torch.Tensor, past_end: torch.Tensor, other: torch.Tensor
) -> dict[str, float]:
    """Loss, and verdicts by the shipped rule (``contract.decide``): accuracy, FRR, FAR."""
    truth = labels.numpy()
    verdict = decide(logits.softmax(-1).numpy(), past_end.numpy(), other.numpy())
    rates = binary_rates(truth, verdict)
    return {
        "val_loss": float(torch.nn.functional.cross_entropy(logits, labels)),
        "val_verdict_accuracy": float((verdict == truth).mean()),
        "val_false_reject": rates["false_reject"],
        "val_false_accept": rates["false_accept"],
    }


TEMPERATURE_BOUNDS = (0.25, 4.0)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling: the T minimising validation NLL of ``softmax(logits / T)``
    within ``TEMPERATURE_BOUNDS`` (a bounded 1-D search over log T; a T at a bound means a
    model too untrained to calibrate)."""
    from scipy.optimize import minimize_scalar

    logits = logits.detach().double()

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / math.exp(log_t), labels))

    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    best = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    # the bounds themselves are candidates too (the search stays strictly inside)
    log_t = min((best.x, low, high), key=nll)
    return float(math.exp(log_t))


STRICTNESS_TARGETS = {"lenient": ("false_reject", 0.002), "strict": ("false_accept", 0.01)}


def strictness_thresholds(p_correct: np.ndarray, correct: np.ndarray) -> dict:
    """Accept thresholds per strictness level, chosen on validation strokes (calibrated
    ``p_correct`` and whether each is correct): ``standard`` is ``contract.ACCEPT``;
    ``lenient`` the highest threshold (at most that) whose false-reject rate is within its
    target; ``strict`` the lowest (at least ``ACCEPT``) whose false-accept rate is. Returns
    the thresholds and the validation rates at each."""
    grid = np.linspace(0.02, 0.98, 97)
    frr = np.array([(p_correct[correct] < t).mean() for t in grid])
    far = np.array([(p_correct[~correct] >= t).mean() for t in grid])
    lenient = grid[(frr <= STRICTNESS_TARGETS["lenient"][1]) & (grid <= ACCEPT)]
    strict = grid[(far <= STRICTNESS_TARGETS["strict"][1]) & (grid >= ACCEPT)]
    thresholds = {
        "lenient": float(lenient.max()) if len(lenient) else float(grid[0]),
        "standard": ACCEPT,
        "strict": float(strict.min()) if len(strict) else float(grid[-1]),
    }
    rates = {
        level: {
            "false_reject": float((p_correct[correct] < t).mean()),
            "false_accept": float((p_correct[~correct] >= t).mean()),
        }
        for level, t in thresholds.items()
    }
    return {"thresholds": thresholds, "validation_rates": rates}


def calibrate(path: Path, val: list[dict]) -> float:
    """Fit the checkpoint's temperature and strictness thresholds on the validation batches
    ``val`` (``validation_batches``) and save it; returns the temperature."""
    checkpoint = load_checkpoint(path)
    model = Grader.from_checkpoint(checkpoint)
    model.temperature.fill_(1.0)
    logits, labels, _, _ = validation_outputs(model, val, torch.device("cpu"))
    temperature = fit_temperature(logits, labels)
    model.temperature.fill_(temperature)
    p_correct = (logits / temperature).softmax(-1)[:, 0].numpy()
    checkpoint["temperature"] = temperature
    checkpoint["strictness"] = strictness_thresholds(p_correct, labels.numpy() == 0)
    checkpoint["model"] = model.state_dict()
    torch.save(checkpoint, path)
    return temperature


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


def planned_steps(cfg: TrainConfig, world: int, bucket: int) -> tuple[int, int]:
    """(steps the run plans, data pools per epoch on each rank)."""
    pool = cfg.data.batch_size * bucket
    pools_per_epoch = max(1, math.ceil(cfg.data.samples_per_epoch / world / pool))
    return cfg.max_steps or cfg.optim.epochs * pools_per_epoch * bucket, pools_per_epoch


def nothing_left(cfg: TrainConfig, state: dict, planned: int) -> str | None:
    """Why a resumed run has nothing left to do (``None``: it has)."""
    if state["step"] >= planned:
        return f"it has done its {planned} steps"
    if state["minutes"] >= cfg.max_minutes:
        return f"it has used its {cfg.max_minutes:g} minutes"
    return None


def compiled(model: torch.nn.Module, cfg: TrainConfig, device: torch.device, batch: dict):
    """``torch.compile(model)`` when asked for on a GPU and it runs a first batch; else the
    model as it is (compilation fails on some set-ups: say so and go on eager)."""
    if not cfg.run.compile or device.type != "cuda":
        return model
    try:
        candidate = torch.compile(model)
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=cfg.run.amp):
            candidate(
                batch["drawn"], batch["drawn_mask"], batch["reference"], batch["reference_mask"]
            )
        return candidate
    except Exception as error:  # any backend failure: eager is always right
        print(f"torch.compile failed ({type(error).__name__}: {error}); training eager", flush=True)
        return model


def train(
    cfg: TrainConfig,
    out_dir: Path | None = None,
    resume: Path | None = None,
    tracker=None,
) -> Path | None:
    """Train into ``out_dir`` (rank 0 writes ``best.pt``, ``last.pt``; a resumed run stays in
    its checkpoint's folder). Returns the best checkpoint, or ``None`` when ``resume`` has
    nothing left to do."""
    rank, world, local_rank = distributed()
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.seed + rank)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    pack = load_pack()
    splits = pack_splits(pack)
    model = Grader(cfg.model).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    state = {
        "epoch": 0,
        "step": 0,
        "pools": 0,
        "best_score": float("inf"),
        "metrics": {},
        "minutes": 0.0,
        "stopped_by": None,
        "mlflow_run_id": tracker.run_id if tracker is not None else None,
    }
    if resume is not None:
        checkpoint = load_checkpoint(resume, map_location=str(device))
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state.update({k: checkpoint[k] for k in state if k in checkpoint})
        state["mlflow_run_id"] = tracker.run_id if tracker is not None else state["mlflow_run_id"]
        out_dir = Path(resume).parent
    out_dir = Path(out_dir or cfg.run.out_dir)
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"

    stream = AttemptStream(
        pack,
        splits["train"],
        seed=cfg.seed,
        rank=rank,
        batch_size=cfg.data.batch_size,
        start=state["pools"],
        extras=split_extras(pack, splits["train"]),
    )
    planned, pools_per_epoch = planned_steps(cfg, world, stream.bucket)
    reason = nothing_left(cfg, state, planned) if resume is not None else None
    if reason is not None:
        if rank == 0:
            print(f"nothing left to do: {resume} is finished ({reason})", flush=True)
        if world > 1:
            dist.destroy_process_group()
        return None
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.data.workers,
        prefetch_factor=2 if cfg.data.workers else None,
        pin_memory=device.type == "cuda",
    )
    val = validation_batches(cfg, splits["val"]) if rank == 0 else []
    autocast = cfg.run.amp and device.type == "cuda"
    if rank == 0 and tracker is not None:
        facts = {
            "parameters": parameter_count(model),
            "world_size": world,
            "device": str(device),
            "planned_steps": planned,
        }
        if resume is None:
            tracker.log_params(facts)
        else:  # parameters are written once; a resume says what it ran with in tags
            tracker.set_tags({f"resumed_{k}": str(v) for k, v in facts.items()})

    ddp = DistributedDataParallel(model) if world > 1 else model
    forward = None  # compiled or not, decided on the first batch
    started = time.perf_counter() - state["minutes"] * 60
    running, count = 0.0, 0
    for pool in loader:
        for cpu_batch in pool:
            minutes = (time.perf_counter() - started) / 60
            stop = "max_minutes" if minutes >= cfg.max_minutes else None
            if world > 1:  # every rank stops at the same step
                flag = torch.tensor([float(stop is not None)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop = stop or ("max_minutes" if flag.item() else None)
            if stop:
                state["stopped_by"] = stop
                break
            progress = (
                state["step"] / planned
                if cfg.max_steps
                else max(state["step"] / planned, minutes / cfg.max_minutes)
            )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, state["step"], progress)
            b = {k: v.to(device, non_blocking=True) for k, v in cpu_batch.items()}
            forward = forward or compiled(ddp, cfg, device, b)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                verdict, match = forward(
                    b["drawn"], b["drawn_mask"], b["reference"], b["reference_mask"]
                )
            loss, _ = loss_fn(verdict, match, b["labels"], b["matched"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            state["step"] += 1
            running, count = running + loss.item(), count + 1
        else:
            state["pools"] += 1
        if not state["stopped_by"] and state["step"] >= planned:
            state["stopped_by"] = "max_steps"
        epoch_done = state["pools"] % pools_per_epoch == 0 and not state["stopped_by"]
        if not (epoch_done or state["stopped_by"]):
            continue
        state["epoch"] = state["pools"] / pools_per_epoch
        if state["epoch"] >= cfg.optim.epochs:
            state["stopped_by"] = "epochs"
        state["minutes"] = (time.perf_counter() - started) / 60
        if rank == 0:
            metrics = {
                "train_loss": running / max(count, 1),
                "epoch": state["epoch"],
                "minutes": state["minutes"],
                "step": state["step"],
                **validation_metrics(*validation_outputs(model, val, device)),
            }
            state["metrics"] = metrics
            running, count = 0.0, 0
            print(
                f"epoch {state['epoch']:.2f}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
                flush=True,
            )
            if tracker is not None:
                tracker.log_metrics(metrics, step=state["step"])
            score = 1.0 - metrics["val_verdict_accuracy"]
            if score < state["best_score"]:
                state["best_score"] = score
                save_checkpoint(best_path, model, optimizer, cfg, state)
            save_checkpoint(last_path, model, optimizer, cfg, state)
        if state["stopped_by"]:
            break

    if rank == 0:
        temperature = calibrate(best_path, val)
        print(
            f"stopped by {state['stopped_by']} at step {state['step']}; best checkpoint "
            f"{best_path} (temperature {temperature:.3f})",
            flush=True,
        )
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best_path
