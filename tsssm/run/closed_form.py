"""Fitting a network solved in closed form (it has ``fit_closed_form``, as ``LeastSquares``).

Such a network has no trainable parameters, so ``fit`` validates and tests it without training, as
it does seasonal naive; ``ClosedFormFit`` solves it first, on the training loader of the data
module alone (never its validation or test windows), and ``save_solved`` writes the solution where
the checkpoint callback writes a trained network's best checkpoint, so that ``evaluate``,
``forecast``, ``tsssm.load`` and a backtest's refit read it as they read any other.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch import nn


def solved_in_closed_form(net: nn.Module | type[nn.Module]) -> bool:
    """Whether ``net`` (or any network of the class ``net``) is fit by
    ``net.fit_closed_form(train_loader)`` instead of training."""
    return callable(getattr(net, "fit_closed_form", None))


class ClosedFormFit(L.Callback):
    """Solves the task's network on the data module's training loader before it is validated."""

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.net.fit_closed_form(trainer.datamodule.train_dataloader())


def save_solved(trainer: L.Trainer) -> str:
    """Write the trainer's model as the checkpoint callback's best checkpoint (``best.ckpt`` in its
    folder); its path, or ``""`` where the run has no checkpoint callback. Called on every process."""
    callback = trainer.checkpoint_callback
    if callback is None:
        return ""
    path = Path(callback.dirpath) / f"{callback.filename or 'best'}{callback.FILE_EXTENSION}"
    trainer.save_checkpoint(path)
    return str(path)
