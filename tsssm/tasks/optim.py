"""AdamW with per-parameter weight-decay flags, and learning-rate schedules with linear warm-up.

Parameters flagged ``_no_weight_decay`` by their module (SSM dynamics such as ``A_log``, ``dt``,
``D``), biases and norm weights are not decayed: decaying an SSM's state matrix towards zero
would change what it can remember, not regularise it.

Two schedules, both stepped per optimizer step:
- ``cosine``: warm-up, then cosine decay to ``min_ratio`` of the peak by the last step;
- ``exponential``: warm-up, then the rate times ``gamma`` every epoch (the LTSF-Linear "type1"
  recipe that DLinear's published numbers were trained with, with ``gamma=0.5``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("cosine", "exponential")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weight matrices, and everything else."""
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if getattr(param, "_no_weight_decay", False) or param.ndim < 2:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def lr_schedule(optimizer: torch.optim.Optimizer, kind: str, total_steps: int, steps_per_epoch: int,
                warmup_steps: int = 0, min_ratio: float = 0.0,
                gamma: float = 0.5) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR: linear warm-up over ``warmup_steps``, then ``kind`` (see module doc)."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
    if total_steps <= 0 or steps_per_epoch <= 0:
        raise ValueError(f"total_steps and steps_per_epoch must be positive, got {total_steps} "
                         f"and {steps_per_epoch}")
    warmup_steps = min(warmup_steps, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "exponential":
            return gamma ** ((step - warmup_steps) // steps_per_epoch)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
