"""What a checkpoint must carry to be used again: the run's config and its MLflow run.

Lightning checkpoints hold weights and loop state. ``RunRecord`` adds the Hydra config, as written
(``recorded_config``), and the MLflow tracking URI and run id under ``checkpoint["tsssm"]``, so
``evaluate`` and ``generate`` can rebuild the data module and the network from the checkpoint alone
(and log back to the run that trained it), without the user repeating the training command's
overrides; an override given then reaches every node that interpolates it. A task's checkpoints
also carry what it keeps of its training data (``data``: its ``checkpoint_record``; a
forecaster's channel names in order, target, features mode, frequency and seasonal period), so
``forecast`` reads new series without that data. Reading a checkpoint back: ``tsssm.run.checkpoint``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import lightning as L
from omegaconf import DictConfig, OmegaConf

RECORD_KEY = "tsssm"
DATA_LOCATIONS = ("root", "path")  # data fields naming folders or files, stored absolute
CONFIG_AS_WRITTEN = 2  # record "format": 1 (absent) held the config resolved, 2 keeps interpolations
RESOLVER_CALL = re.compile(r"(?<!\\)\$\{\s*[A-Za-z_][\w.]*\s*:")  # ${hydra:...}, ${oc.env:...}


class TrackedRun(Protocol):
    """Where a run is tracked: its MLflow run id, None for a run not in MLflow."""

    run_id: str | None


class RunRecord(L.Callback):
    """Stores the config (``recorded_config``), the MLflow run and the task's record of its data
    (``data``: ``Task.checkpoint_record``, None for a task that keeps none) in every checkpoint this
    trainer writes."""

    def __init__(self, config: Mapping[str, Any], logger: TrackedRun, tracking_uri: str | None,
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
    absolute: ``portable``) instead, because only the training process can resolve them:
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


def portable(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved config with its data root and user file (``DATA_LOCATIONS``) made absolute, so
    that the logged config (and the checkpoint's: ``recorded_config``) finds the data from any
    working directory."""
    data = resolved.get("data", {})
    for field in DATA_LOCATIONS:
        if data.get(field):
            data[field] = str(Path(data[field]).absolute())
    return resolved
