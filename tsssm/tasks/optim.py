"""AdamW with per-parameter weight-decay flags and a warm-up + cosine learning-rate schedule.

Parameters flagged ``_no_weight_decay`` by their module (SSM dynamics such as ``A_log``, ``dt``,
``D``), biases and norm weights are not decayed: decaying an SSM's state matrix towards zero
would change what it can remember, not regularise it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


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


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_ratio`` of the peak."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup_steps = min(warmup_steps, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
