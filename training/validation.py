"""The fixed validation set (checkpoint selection, temperature, strictness thresholds) and
what a model makes of it."""

from __future__ import annotations

from pathlib import Path

import torch

from kanjiwrite.datasets.contract import decide, depicts_other
from kanjiwrite.datasets.kanjivg import load_pack
from kanjiwrite.datasets.synthesis import fixed_attempts, split_extras
from kanjiwrite.datasets.tegaki import correct_attempts, read_tegaki_folder
from kanjiwrite.datasets.torch_data import collate, encode_attempts
from kanjiwrite.models.grader import Grader
from kanjiwrite.training.config import TrainConfig
from kanjiwrite.training.metrics import binary_rates


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
    items = sorted(encode_attempts(attempts), key=lambda i: len(i["drawn"]))
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
