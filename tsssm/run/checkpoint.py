"""What a checkpoint must carry to be used again: the run's config and its MLflow run.

Lightning checkpoints hold weights and loop state. ``RunRecord`` adds the Hydra config, as written
(``recorded_config``), and the MLflow tracking URI and run id under ``checkpoint["tsssm"]``, so
``evaluate`` and ``generate`` can rebuild the data module and the network from the checkpoint alone
(and log back to the run that trained it), without the user repeating the training command's
overrides; an override given then reaches every node that interpolates it. Forecasting
checkpoints also carry what their training data decided (``data``: channel names in order, target,
features mode, frequency, seasonal period), so ``forecast`` reads new series without that data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tsssm.tasks.optim import recipe_as_node
from tsssm.run.safe_load import CheckpointError, load_checkpoint_file
from tsssm.run.tracking import flatten_config

RECORD_KEY = "tsssm"
DATA_LOCATIONS = ("root", "path")  # data fields naming folders or files, stored absolute
CONFIG_AS_WRITTEN = 2  # record "format": 1 (absent) held the config resolved, 2 keeps interpolations
RESOLVER_CALL = re.compile(r"(?<!\\)\$\{\s*[A-Za-z_][\w.]*\s*:")  # ${hydra:...}, ${oc.env:...}


class RunRecord(L.Callback):
    """Stores the config (``recorded_config``), the MLflow run and what the data decided
    (``data``, None for sequence data) in every checkpoint this trainer writes."""

    def __init__(self, config: Mapping[str, Any], logger: MLFlowLogger, tracking_uri: str,
                 data: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config)
        self.logger = logger
        self.tracking_uri = tracking_uri
        self.data = None if data is None else dict(data)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[RECORD_KEY] = {"format": CONFIG_AS_WRITTEN, "config": self.config,
                                  "tracking_uri": self.tracking_uri,
                                  "run_id": self.logger.run_id, "data": self.data}


def recorded_config(config: DictConfig, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The config a checkpoint keeps: ``config`` as written, so that an override given when the
    checkpoint is used (``model.backbone.mixers.s.rate``) reaches every node interpolating it.

    Two kinds of leaf are taken from ``resolved`` (``config`` resolved, its data locations
    absolute: ``tsssm.run.build.portable``) instead, because only the training process can resolve them:
    leaves calling a resolver (``${hydra:runtime.output_dir}`` fails outside Hydra; ``${oc.env:...}``
    would read another environment) and ``data.root`` / ``data.path`` (relative, they would name
    another folder or file when the checkpoint is used elsewhere).
    """
    written = OmegaConf.to_container(config, resolve=False)
    recorded = with_resolver_calls_resolved(written, resolved)
    for field in DATA_LOCATIONS:
        if field in resolved.get("data", {}):
            recorded["data"][field] = resolved["data"][field]
    return recorded


def with_resolver_calls_resolved(written: Any, resolved: Any) -> Any:
    """``written`` (a config container) with every string calling a resolver replaced by its value
    in ``resolved``, the same container resolved; node interpolations (``${model.backbone}``) kept."""
    if isinstance(written, dict):
        return {key: with_resolver_calls_resolved(value, resolved[key])
                for key, value in written.items()}
    if isinstance(written, list):
        return [with_resolver_calls_resolved(value, item) for value, item in zip(written, resolved)]
    if isinstance(written, str) and RESOLVER_CALL.search(written):
        return resolved
    return written


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, read without running code from it (``safe_load``); raises
    ``CheckpointError`` unless tsssm.fit wrote it."""
    path = Path(path)
    checkpoint = load_checkpoint_file(path)
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


def checkpoint_config(checkpoint: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                      source: str | Path = "checkpoint") -> DictConfig:
    """The training run's config, with ``overrides`` (a nested mapping) merged over it, resolved.

    Merged before resolving, so that an override of ``model.backbone`` reaches the network that
    interpolates it (``task.net.backbone: ${model.backbone}``). A task config recorded with the
    optimizer recipe as fields of its own gets it as one node (``recipe_as_node``).
    """
    record = checkpoint[RECORD_KEY]
    stored = record["config"]
    config = OmegaConf.create({**stored, "task": recipe_as_node(stored["task"])})
    if overrides and record.get("format", 1) < CONFIG_AS_WRITTEN:
        raise CheckpointError(f"checkpoint {source} was written before tsssm kept the config's "
                              "interpolations: its config holds copies where the training config "
                              f"had links, so overrides {dict(overrides)} might not reach the "
                              "network; use it without overrides, or train it again")
    if overrides:
        check_overrides(config, overrides, source)
        config = OmegaConf.merge(config, OmegaConf.create(dict(overrides)))
    try:
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        raise CheckpointError(f"the config of checkpoint {source} does not resolve with overrides "
                              f"{dict(overrides or {})}: {error}") from error
    return config
