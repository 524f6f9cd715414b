"""One line per epoch where there is no progress bar: a log file or a batch job's output gets the
epoch, the step, the training loss, the validation metrics and the time taken, not the bar's
carriage returns (``trainer.enable_progress_bar``: on a terminal only, by default). A run that
validates within its epochs (``val_check_interval``, as the sequence experiments do) also gets a
line after each of those validations."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger(__name__)


class EpochLines(L.Callback):
    """Logs ``epoch 2/10  step 120  train/loss 0.4120  val/mse 0.3981 ...  3.2 s`` on rank zero
    after each training epoch (its validation included) and after each validation within an
    epoch, unless a progress bar shows them."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def shown(self, trainer: L.Trainer) -> bool:
        return trainer.progress_bar_callback is None and trainer.is_global_zero

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.monotonic()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        within_epoch = not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        if self.shown(trainer) and not trainer.sanity_checking and within_epoch:
            self.log_line(trainer, "_step")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.shown(trainer):
            self.log_line(trainer, "_epoch")

    def log_line(self, trainer: L.Trainer, train_values: str) -> None:
        now = time.monotonic()
        log.info(progress_line(trainer, train_values, now - self.started))
        self.started = now


def progress_line(trainer: L.Trainer, train_values: str, seconds: float) -> str:
    """The line: ``train/*`` values (``train_values``: ``_epoch``, the epoch's mean, or ``_step``,
    the last step's), then ``val/*``, then the seconds since the last line."""
    metrics = trainer.callback_metrics
    shown = {key.removesuffix(train_values): value for key, value in metrics.items()
             if key.startswith("train/") and key.endswith(train_values)}
    shown |= {key: value for key, value in metrics.items() if key.startswith("val/")}
    epochs = "" if trainer.max_epochs in (None, -1) else f"/{trainer.max_epochs}"
    values = "  ".join(f"{key} {float(value):.4f}" for key, value in sorted(shown.items()))
    return (f"epoch {trainer.current_epoch + 1}{epochs}  step {trainer.global_step}  {values}  "
            f"{seconds:.1f} s")
