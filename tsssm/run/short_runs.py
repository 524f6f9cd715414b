"""What a fit tests and reports when it trained too briefly to have a best checkpoint.

``trainer.fast_dev_run`` runs one batch and saves no checkpoint; ``trainer.max_steps`` shorter than
an epoch stops before the epoch's validation; ``trainer.limit_val_batches=0`` never validates. Then
there is no best checkpoint to test, and maybe no validation value at all: the fit tests the weights
it ends with and reports the last validation value it has, if any. (Early stopping checks its metric
only after a validation, where the metric exists: ``conf/callbacks/default.yaml``.)
"""

from __future__ import annotations

from pathlib import Path

import lightning as L


def best_score(trainer: L.Trainer, monitor: str) -> float | None:
    """``monitor`` at the best checkpoint; without one, its last validated value; None if the fit
    never validated."""
    callback = trainer.checkpoint_callback
    if callback is not None and callback.best_model_score is not None:
        return float(callback.best_model_score)
    value = trainer.callback_metrics.get(monitor)
    return None if value is None else float(value)


def tested_weights(trainer: L.Trainer) -> str | None:
    """``"best"`` (Lightning's name for the best checkpoint) when that file exists; None otherwise:
    the weights in memory, the last ones trained."""
    callback = trainer.checkpoint_callback
    has_best = callback is not None and Path(callback.best_model_path or "").is_file()
    return "best" if has_best else None
