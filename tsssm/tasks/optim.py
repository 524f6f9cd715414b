"""AdamW with per-parameter weight-decay flags, and learning-rate schedules with linear warm-up.

Parameters flagged ``_no_weight_decay`` by their module (SSM dynamics such as ``A_log``, ``dt``,
``D``), biases and norm weights are not decayed: decaying an SSM's state matrix towards zero
would change what it can remember, not regularise it.

Two schedules, both stepped per optimizer step:
- ``cosine``: warm-up, then cosine decay to ``min_ratio`` of the peak by the last step;
- ``exponential``: warm-up, then the rate times ``gamma`` every epoch (the LTSF-Linear "type1"
  recipe that DLinear's published numbers were trained with, with ``gamma=0.5``).

``OptimizerRecipe`` holds the settings every task takes as one node (``optim``: ``model.optim``, from
``conf/_optim.yaml``) and answers Lightning's ``configure_optimizers`` for any task, so tasks share
one code path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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


def check_schedule(kind: str) -> None:
    """Refuse an unknown schedule name (at construction, before any data is loaded)."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")


def lr_schedule(optimizer: torch.optim.Optimizer, kind: str, total_steps: int, steps_per_epoch: int,
                warmup_steps: int = 0, min_ratio: float = 0.0,
                gamma: float = 0.5) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR: linear warm-up over ``warmup_steps``, then ``kind`` (see module doc)."""
    check_schedule(kind)
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


@dataclass(frozen=True)
class OptimizerRecipe:
    """AdamW at peak rate ``lr``, warmed up over ``warmup_epochs`` (may be fractional), then
    ``schedule`` decaying to ``min_lr_ratio`` of the peak (cosine) or by ``gamma`` per epoch."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0
    gamma: float = 0.5

    def __post_init__(self) -> None:
        check_schedule(self.schedule)
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> OptimizerRecipe:
        """The recipe a config node (``model.optim``) describes; absent fields take the defaults."""
        node = dict(node or {})
        unknown = sorted(set(node) - set(RECIPE_FIELDS))
        if unknown:
            raise ValueError(f"optim: unknown field(s) {unknown}; a recipe has "
                             f"{', '.join(RECIPE_FIELDS)}")
        return cls(**node)

    def configure(self, model: nn.Module, trainer: Any) -> dict:
        """``configure_optimizers``'s answer for ``model``'s parameters; the step counts come from
        the Lightning ``trainer``: the run's ``estimated_stepping_batches`` and the optimizer steps
        of one pass over the training data. A run without epochs (``max_epochs=-1``, a step
        budget) counts as one epoch, so ``warmup_epochs`` is then a fraction of ``max_steps``."""
        optimizer = torch.optim.AdamW(parameter_groups(model, self.weight_decay), lr=self.lr)
        total = int(trainer.estimated_stepping_batches)
        steps_per_epoch = total
        if trainer.max_epochs not in (None, -1) and math.isfinite(trainer.num_training_batches):
            steps_per_epoch = max(1, int(trainer.num_training_batches)
                                  // trainer.accumulate_grad_batches)
        scheduler = lr_schedule(optimizer, self.schedule, total, steps_per_epoch,
                                int(self.warmup_epochs * steps_per_epoch), self.min_lr_ratio,
                                self.gamma)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


RECIPE_FIELDS = tuple(field.name for field in fields(OptimizerRecipe))


def recipe_as_node(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task config with the recipe as the one node ``optim`` that tasks take. Checkpoints written
    before recorded it as fields of the task itself (``lr: ${model.optim.lr}``, ...): those move
    under ``optim``, so the checkpoints build again; any other task config comes back as it is."""
    moved = {key: value for key, value in task.items() if key in RECIPE_FIELDS}
    if not moved:
        return dict(task)
    return {**{key: value for key, value in task.items() if key not in moved}, "optim": moved}
