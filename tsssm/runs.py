"""What a checkpoint must carry to be used again: the run's resolved config and its MLflow run.

Lightning checkpoints hold weights and loop state. ``RunRecord`` adds the resolved Hydra config and
the MLflow tracking URI and run id under ``checkpoint["tsssm"]``, so ``evaluate`` and ``generate``
can rebuild the data module and the network from the checkpoint alone (and log back to the run
that trained it), without the user repeating the training command's overrides. Forecasting
checkpoints also carry what their training data decided (``data``: channel names in order, target,
features mode, frequency, seasonal period), so ``forecast`` reads new series without that data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from tsssm.tracking import flatten_config

RECORD_KEY = "tsssm"
BACKBONE_LINK = "${model.backbone}"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, unreadable, or not written by tsssm.fit."""


class RunRecord(L.Callback):
    """Stores the resolved config, the MLflow run and what the data decided (``data``, None for
    sequence data) in every checkpoint this trainer writes."""

    def __init__(self, config: Mapping[str, Any], logger: MLFlowLogger, tracking_uri: str,
                 data: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config)
        self.logger = logger
        self.tracking_uri = tracking_uri
        self.data = None if data is None else dict(data)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[RECORD_KEY] = {"config": self.config, "tracking_uri": self.tracking_uri,
                                  "run_id": self.logger.run_id, "data": self.data}


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


def check_overrides(config: DictConfig, overrides: Mapping[str, Any], source: str | Path) -> None:
    """Every override must land in a section the checkpoint's config has (its leaf may be new: a
    constructor argument left at its default, such as an S4 mixer's ``rate``, is not in the config)."""
    for key in flatten_config(overrides):
        section = key.rpartition(".")[0]
        if section and not OmegaConf.is_dict(OmegaConf.select(config, section)):
            raise ValueError(f"override {key}: the config of checkpoint {source} has no section "
                             f"{section!r}; override keys follow the training config's layout "
                             "(e.g. model.backbone.mixers.s.rate, data.sample_rate)")


def link_backbone(config: DictConfig) -> DictConfig:
    """``config`` with the network's backbone pointing at ``model.backbone`` again.

    The task configs build the network from ``${model.backbone}``, but a checkpoint records the
    resolved config, where that link became a copy: an override of ``model.backbone`` (an S4
    mixer's ``rate``) would not reach the network without the link. Networks without a backbone
    (DLinear) are left as they are.
    """
    backbone = OmegaConf.select(config, "model.backbone")
    if backbone is not None and OmegaConf.select(config, "task.net.backbone") == backbone:
        config.task.net.backbone = BACKBONE_LINK
    return config


def checkpoint_config(checkpoint: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                      source: str | Path = "checkpoint") -> DictConfig:
    """The training run's config, with ``overrides`` (a nested mapping) merged over it."""
    config = link_backbone(OmegaConf.create(checkpoint[RECORD_KEY]["config"]))
    if overrides:
        check_overrides(config, overrides, source)
        config = OmegaConf.merge(config, OmegaConf.create(dict(overrides)))
    return config
