"""Training to a compute budget instead of a step count: the runs of an equal-compute comparison
(claim C4) each train until ``3 x forward FLOPs per token x tokens trained`` reaches the budget.

The forward count is the task's ``start_metrics()["flops_per_token"]`` (``tsssm.models.flops``),
taken in ``setup`` while the network is still on the CPU; the backward pass is counted as twice
the forward. Tokens are the input positions of every training batch, over all ranks. The budget
also sets ``max_steps`` (full batches of ``batch_size x seq_len`` tokens), so a schedule over the
run's steps (``tsssm.tasks.optim``) spans the budget.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger("tsssm.fit")

BACKWARD_FACTOR = 3  # forward + backward (twice the forward's FLOPs)


class FlopsBudget(Callback):
    """Stop training once its FLOPs reach ``budget``; log ``train/flops`` (cumulative) each step."""

    def __init__(self, budget: float) -> None:
        if not budget > 0:
            raise ValueError(f"flops_budget must be a positive number of FLOPs, got {budget!r}")
        self.budget = float(budget)
        self.flops_per_token = 0.0
        self.tokens = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        datamodule = trainer.datamodule
        measured = pl_module.start_metrics(datamodule)
        if "flops_per_token" not in measured:
            raise ValueError(f"flops_budget needs a task that counts flops_per_token (task=lm), "
                             f"got {type(pl_module).__name__}")
        self.flops_per_token = float(measured["flops_per_token"])
        step_tokens = (datamodule.batch_size * datamodule.seq_len * trainer.world_size
                       * trainer.accumulate_grad_batches)
        steps = math.ceil(self.budget / (BACKWARD_FACTOR * self.flops_per_token * step_tokens))
        trainer.fit_loop.epoch_loop.max_steps = steps
        log.info("flops_budget %.3g: %.4g forward FLOPs per token, %d steps of %d tokens",
                 self.budget, self.flops_per_token, steps, step_tokens)

    @property
    def flops(self) -> float:
        """Training FLOPs so far."""
        return BACKWARD_FACTOR * self.flops_per_token * self.tokens

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict, batch_idx: int) -> None:
        self.tokens += batch["input"].shape[0] * batch["input"].shape[1] * trainer.world_size
        pl_module.log("train/flops", self.flops, on_step=True, on_epoch=False, rank_zero_only=True)
        if self.flops >= self.budget:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, float]:
        return {"tokens": self.tokens}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.tokens = int(state_dict["tokens"])
