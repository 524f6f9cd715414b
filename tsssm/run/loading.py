"""Reading a checkpoint back for evaluate, forecast and generate: one path for all three.

A checkpoint is read (``checkpoint.read_checkpoint``), its recorded training config rebuilt with the
caller's overrides merged over it (``checkpoint.checkpoint_config``), the kind of task it holds
checked against the one the caller needs, and, once the caller has built the network from that
config, its weights loaded with an error that names the checkpoint when they do not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from tsssm.run.checkpoint import CheckpointError, checkpoint_config, read_checkpoint

FORECAST_TASK = "tsssm.tasks.forecast.ForecastTask"
SEQUENCE_TASK = "tsssm.tasks.language_model.LanguageModelTask"
TASK_USES = {FORECAST_TASK: "a forecaster trained with task=forecast on series data",
             SEQUENCE_TASK: "a language model trained with task=lm on audio, bytes, BPE or "
                            "recall data"}


def open_checkpoint(path: str | Path, overrides: Mapping[str, Any] | None = None,
                    expect: str | None = None, purpose: str = ""
                    ) -> tuple[dict[str, Any], DictConfig]:
    """The checkpoint at ``path`` and its training config with ``overrides`` merged over it; with
    ``expect`` (a task's ``_target_``), an error unless the checkpoint holds that kind of task,
    saying what ``purpose`` needs."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = checkpoint_config(checkpoint, overrides, path)
    held = OmegaConf.select(config, "task._target_")
    if expect is not None and held != expect:
        raise CheckpointError(f"checkpoint {path} holds {held}; {purpose} needs "
                              f"{TASK_USES.get(expect, expect)} ({expect})")
    return checkpoint, config


def load_weights(task: L.LightningModule, checkpoint: Mapping[str, Any], path: str | Path,
                 overrides: Mapping[str, Any] | None = None) -> L.LightningModule:
    """``task`` with the checkpoint's weights; weights that do not fit the network the config
    (and ``overrides``) built are an error naming the checkpoint."""
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"the weights in checkpoint {path} do not fit the network its config "
                              f"builds with overrides {dict(overrides or {})}: {error}") from error
    return task
