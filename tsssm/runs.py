"""What a checkpoint must carry to be used again: the run's resolved config and its MLflow run.

Lightning checkpoints hold weights and loop state. ``RunRecord`` adds the resolved Hydra config and
the MLflow tracking URI and run id under ``checkpoint["tsssm"]``, so ``evaluate`` and ``generate``
can rebuild the data module and the network from the checkpoint alone (and log back to the run
that trained it), without the user repeating the training command's overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

RECORD_KEY = "tsssm"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, unreadable, or not written by tsssm.fit."""


class RunRecord(L.Callback):
    """Stores the resolved config and the MLflow run in every checkpoint this trainer writes."""

    def __init__(self, config: Mapping[str, Any], logger: MLFlowLogger, tracking_uri: str) -> None:
        self.config = dict(config)
        self.logger = logger
        self.tracking_uri = tracking_uri

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[RECORD_KEY] = {"config": self.config, "tracking_uri": self.tracking_uri,
                                  "run_id": self.logger.run_id}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents; raises ``CheckpointError`` unless tsssm.fit wrote it.

    Checkpoints are unpickled in full (``weights_only=False``): load only checkpoints you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} could not be read: {error}") from error
    if not isinstance(checkpoint, dict) or RECORD_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {path} was not written by tsssm.fit: it has no "
                              f"'{RECORD_KEY}' record of its config (expected keys '{RECORD_KEY}' "
                              "and 'state_dict')")
    return checkpoint


def checkpoint_config(checkpoint: Mapping[str, Any],
                      overrides: Mapping[str, Any] | None = None) -> DictConfig:
    """The training run's config, with ``overrides`` (a nested mapping) merged over it."""
    config = OmegaConf.create(checkpoint[RECORD_KEY]["config"])
    if overrides:
        config = OmegaConf.merge(config, OmegaConf.create(dict(overrides)))
    return config
