"""Faults injected into a training run through its config (``+callbacks.fault._target_=...``): a
process killed without warning, a write that fails. Lightning callbacks, so the run meets them where
real faults strike: between epochs, after checkpoints were written."""

from __future__ import annotations

import os
import signal

import lightning as L


class KillAtEpoch(L.Callback):
    """SIGKILL to the training process when epoch ``epoch`` starts (no handler, no clean-up: as a
    machine lost or an out-of-memory kill); ``last.ckpt`` then holds the epochs before it."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class FailAtEpoch(L.Callback):
    """An ``OSError`` (a full disk) when epoch ``epoch`` starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise OSError(28, f"No space left on device (injected at epoch {self.epoch})")
