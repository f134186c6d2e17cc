"""The per-stroke grader: a small sequence model over drawn and reference strokes.

Inputs (from ``datasets.strokes.model_inputs``, padded to a batch):

* ``drawn``      float32 (B, D, P, F): the learner's strokes so far, in writing order
* ``drawn_mask`` bool    (B, D): real strokes
* ``reference``  float32 (B, R, P, F): the expected strokes, in the accepted order graded
* ``reference_mask`` bool (B, R)

(F = ``len(FEATURES)``: each point in the frame of the strokes so far and in the writing
box.) Architecture: a 1-D convolutional encoder turns each stroke's P points into one token
(shared by drawn and reference strokes). Each drawn token also gets the token of the
reference stroke expected at its position. A transformer then mixes all tokens: reference
tokens see the reference; drawn stroke k sees the reference and drawn strokes 0..k (so a
verdict never depends on later strokes). Heads per drawn stroke:

* ``verdict``: logits over ``LABELS`` (correct, wrong_direction, wrong_order,
  wrong_shape, misplaced, extra);
* ``match``: logits over the R reference strokes plus one for "none": which reference
  stroke it depicts.

``predict`` returns probabilities after temperature scaling (fitted on validation data),
which is what the exported models output.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kanjiwrite import __version__
from kanjiwrite.datasets.contract import LABELS, MAX_STROKES, POINTS_PER_STROKE
from kanjiwrite.datasets.strokes import BOX_XY, FEATURES, FRAME_XY

NEG = -1e4  # additive mask value (finite, so fp16 and exporters stay happy)


@dataclass
class GraderConfig:
    points: int = POINTS_PER_STROKE
    features: int = len(FEATURES)
    conv_channels: int = 64
    d_model: int = 96
    heads: int = 4
    layers: int = 4
    ff_mult: int = 2
    dropout: float = 0.0  # the data are endless and never repeat
    max_strokes: int = MAX_STROKES
    classes: int = len(LABELS)

    def to_dict(self) -> dict:
        return asdict(self)


class StrokeEncoder(nn.Module):
    """(N, P, F) points -> (N, d) one token per stroke."""

    def __init__(self, cfg: GraderConfig):
        super().__init__()
        c = cfg.conv_channels
        self.conv = nn.Sequential(  # 32 points -> 16 -> 8
            nn.Conv1d(cfg.features, c // 2, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(c // 2, c, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(c, c, 3, padding=1),
            nn.GELU(),
        )
        self.out = nn.Sequential(
            nn.Linear(2 * c + 14, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model)
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = self.conv(points.transpose(1, 2))  # (N, C, P)
        xy, box = points[..., FRAME_XY], points[..., BOX_XY]
        geometry = torch.cat(
            [
                xy[:, 0],
                xy[:, -1],
                xy.mean(1),
                xy.amax(1) - xy.amin(1),
                box[:, 0],
                box[:, -1],
                box.mean(1),
            ],
            dim=-1,
        )  # start, end, centre, extent in the frame; start, end, centre in the box
        return self.out(torch.cat([h.mean(-1), h.amax(-1), geometry], dim=-1))


class Block(nn.Module):
    """Pre-norm transformer block with an explicit additive attention mask."""

    def __init__(self, cfg: GraderConfig):
        super().__init__()
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ff_mult * cfg.d_model),
            nn.GELU(),
            nn.Linear(cfg.ff_mult * cfg.d_model, cfg.d_model),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + bias[:, None]
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(attended))
        return x + self.drop(self.ff(self.norm2(x)))


class Grader(nn.Module):
    def __init__(self, cfg: GraderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = StrokeEncoder(cfg)
        self.position = nn.Embedding(cfg.max_strokes + 1, d)
        self.kind = nn.Embedding(2, d)  # 0 reference, 1 drawn
        self.expected = nn.Linear(d, d)
        self.beyond = nn.Parameter(torch.zeros(d))  # "no stroke expected here"
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.verdict = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, cfg.classes))
        self.match_query = nn.Linear(d, d)
        self.match_key = nn.Linear(d, d)
        self.match_none = nn.Linear(d, 1)
        self.register_buffer("temperature", torch.ones(()))

    @classmethod
    def from_checkpoint(cls, checkpoint: Path | dict) -> Grader:
        """The grader of a checkpoint (a path or ``load_checkpoint``'s dict), temperature
        included, in eval mode on the CPU."""
        if not isinstance(checkpoint, dict):
            checkpoint = load_checkpoint(checkpoint)
        model = cls(GraderConfig(**checkpoint["config"]["model"]))
        model.load_state_dict(checkpoint["model"])
        return model.eval()

    def forward(
        self,
        drawn: torch.Tensor,
        drawn_mask: torch.Tensor,
        reference: torch.Tensor,
        reference_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Verdict logits (B, D, classes) and match logits (B, D, R + 1). Masks may be bool
        or float (1 = real stroke), as exported models take them."""
        drawn_mask, reference_mask = drawn_mask.to(torch.bool), reference_mask.to(torch.bool)
        b, nd, p, f = drawn.shape
        nr = reference.shape[1]
        ref = self.encoder(reference.reshape(b * nr, p, f)).reshape(b, nr, -1)
        ink = self.encoder(drawn.reshape(b * nd, p, f)).reshape(b, nd, -1)
        # the reference token expected at each drawn position (or "beyond")
        padded = torch.cat([ref, self.beyond.expand(b, nd, -1)], dim=1)[:, :nd]
        valid = torch.cat([reference_mask, torch.zeros_like(drawn_mask)], dim=1)[:, :nd]
        expected = torch.where(valid[..., None], padded, self.beyond.expand(b, nd, -1))
        ref_pos = torch.arange(nr, device=drawn.device).clamp(max=self.cfg.max_strokes)
        ink_pos = torch.arange(nd, device=drawn.device).clamp(max=self.cfg.max_strokes)
        x = torch.cat(
            [
                ref + self.position(ref_pos) + self.kind.weight[0],
                ink + self.position(ink_pos) + self.kind.weight[1] + self.expected(expected),
            ],
            dim=1,
        )
        bias = self._attention_bias(drawn_mask, reference_mask)
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x)
        ref_out, ink_out = x[:, :nr], x[:, nr:]
        verdict = self.verdict(ink_out)
        scores = self.match_query(ink_out) @ self.match_key(ref_out).transpose(1, 2)
        scores = (
            scores / math.sqrt(self.cfg.d_model)
            + torch.logical_not(reference_mask[:, None, :]).float() * NEG
        )
        match = torch.cat([scores, self.match_none(ink_out)], dim=-1)
        return verdict, match

    @staticmethod
    def _attention_bias(drawn_mask: torch.Tensor, reference_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, T) additive bias: every token sees the valid reference tokens; drawn token
        k also sees valid drawn tokens 0..k."""
        nd, nr = drawn_mask.shape[1], reference_mask.shape[1]
        ink_index = torch.arange(nd, device=drawn_mask.device)
        causal = ink_index[None, :] <= ink_index[:, None]  # (nd, nd)
        top = torch.cat(
            [
                torch.ones(nr, nr, dtype=torch.bool, device=causal.device),
                torch.zeros(nr, nd, dtype=torch.bool, device=causal.device),
            ],
            dim=1,
        )
        bottom = torch.cat(
            [torch.ones(nd, nr, dtype=torch.bool, device=causal.device), causal], dim=1
        )
        allowed = torch.cat([top, bottom], dim=0)[None]  # (1, T, T)
        keys = torch.cat([reference_mask, drawn_mask], dim=1)[:, None, :]  # (B, 1, T)
        return torch.logical_not(torch.logical_and(allowed, keys)).float() * NEG

    def predict(
        self,
        drawn: torch.Tensor,
        drawn_mask: torch.Tensor,
        reference: torch.Tensor,
        reference_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated verdict probabilities (B, D, classes) and match probabilities
        (B, D, R + 1; the last column is "none")."""
        verdict, match = self.forward(drawn, drawn_mask, reference, reference_mask)
        return (verdict / self.temperature).softmax(-1), match.softmax(-1)


class PredictWrapper(nn.Module):
    """The grader with ``predict`` as its forward: what is exported and logged."""

    def __init__(self, grader: Grader):
        super().__init__()
        self.grader = grader

    def forward(self, drawn, drawn_mask, reference, reference_mask):
        return self.grader.predict(drawn, drawn_mask, reference, reference_mask)


def loss_fn(
    verdict: torch.Tensor,
    match: torch.Tensor,
    labels: torch.Tensor,
    matched: torch.Tensor,
    match_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy on verdicts plus ``match_weight`` x cross-entropy on the matched
    reference stroke ("none", the last column, for strokes that depict none)."""
    verdict_loss = F.cross_entropy(
        verdict.flatten(0, 1).float(), labels.flatten(), ignore_index=-100
    )
    none = match.shape[-1] - 1
    target = torch.where(matched < 0, torch.full_like(matched, none), matched)
    target = torch.where(labels == -100, torch.full_like(matched, -100), target)
    match_loss = F.cross_entropy(match.flatten(0, 1).float(), target.flatten(), ignore_index=-100)
    total = verdict_loss + match_weight * match_loss
    return total, {"verdict_loss": verdict_loss.item(), "match_loss": match_loss.item()}


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict:
    """A checkpoint: weights, config, data version, metrics, temperature (see
    ``training.train.save_checkpoint``), loaded with ``weights_only=True`` (tensors and
    plain types only, no code runs). Checkpoints from before versions were stored as
    strings hold a ``TorchVersion`` (a ``str``), allowed here."""
    from torch.torch_version import TorchVersion

    with torch.serialization.safe_globals([TorchVersion]):
        return torch.load(path, map_location=map_location, weights_only=True)


def strip_checkpoint(checkpoint: Path, out: Path, run_id: str | None = None) -> Path:
    """The shippable checkpoint: weights, config, data version, metrics, the training run
    and the model id; no optimizer state."""
    data = load_checkpoint(checkpoint)
    data["optimizer"] = None
    data["mlflow_run_id"] = run_id or data.get("mlflow_run_id")
    data["model_id"] = model_id(Grader.from_checkpoint(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, out)
    return out


def model_id(model: nn.Module, version: str = __version__) -> str:
    """The identity of a model's weights: ``version+<8 hex digits>``, a semantic version
    with the SHA-256 of every tensor of the state dict (temperature included: a
    recalibrated model is another model) as build metadata."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.numpy().tobytes())
    return f"{version}+{digest.hexdigest()[:8]}"


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
