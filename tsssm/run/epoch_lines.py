"""One line per epoch where there is no progress bar: a log file or a batch job's output gets the
epoch, the step, the training loss, the validation metrics and the epoch's time, not the bar's
carriage returns (``trainer.enable_progress_bar``: on a terminal only, by default)."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger(__name__)


class EpochLines(L.Callback):
    """Logs ``epoch 2/10  step 120  train/loss 0.4120  val/mse 0.3981 ...  3.2 s`` after each
    training epoch (its validation included), on rank zero, unless a progress bar shows them."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.progress_bar_callback is not None or not trainer.is_global_zero:
            return
        log.info(epoch_line(trainer, time.monotonic() - self.started))


def epoch_line(trainer: L.Trainer, seconds: float) -> str:
    """The epoch's line: ``train/*`` values of the epoch (not its last step), then ``val/*``."""
    metrics = trainer.callback_metrics
    shown = {key.removesuffix("_epoch"): value for key, value in metrics.items()
             if key.startswith("train/") and key.endswith("_epoch")}
    shown |= {key: value for key, value in metrics.items() if key.startswith("val/")}
    epochs = "" if trainer.max_epochs in (None, -1) else f"/{trainer.max_epochs}"
    values = "  ".join(f"{key} {float(value):.4f}" for key, value in sorted(shown.items()))
    return f"epoch {trainer.current_epoch + 1}{epochs}  step {trainer.global_step}  {values}  {seconds:.1f} s"
