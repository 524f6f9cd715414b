"""Reading a checkpoint back: the one way evaluate, forecast and generate get a trained task.

``load_task`` reads the checkpoint (``read_checkpoint``, the only place a checkpoint file is
opened), rebuilds its training config with the caller's overrides merged over it
(``checkpoint_config``), checks that it holds the kind of task the caller needs, builds that task,
with its data module set up for a stage or, where the task can, from the checkpoint's record of its
data alone, and loads its weights. Every refusal is a ``CheckpointError`` naming the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import lightning as L
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tsssm.run.build import build, build_task, task_class
from tsssm.run.record import CONFIG_AS_WRITTEN, RECORD_KEY
from tsssm.run.safe_load import CheckpointError, load_checkpoint_file
from tsssm.run.tracking import flatten_config
from tsssm.tasks.base import Task
from tsssm.tasks.optim import recipe_as_node

T = TypeVar("T", bound=Task)


@dataclass(frozen=True)
class LoadedTask(Generic[T]):
    """A checkpoint's task (its weights loaded, in eval mode, on the CPU), the data module it was
    built with (None when built from the record alone), its config (overrides merged, resolved)
    and its run record (``tsssm.run.record.RunRecord``)."""

    task: T
    datamodule: L.LightningDataModule | None
    config: DictConfig
    record: dict[str, Any]


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


def held_task(config: DictConfig, path: Path, expect: type[T]) -> type[T]:
    """The task class the checkpoint's config names; an error unless it is an ``expect``."""
    try:
        held = task_class(config)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path}: {error}") from error
    if not issubclass(held, expect):
        raise CheckpointError(f"checkpoint {path} holds a {held.kind} ({config.task._target_}), "
                              f"not a {expect.kind}: a {expect.kind} is trained with "
                              f"{expect.trained_with}")
    return held


def load_task(path: str | Path, overrides: Mapping[str, Any] | None = None,
              expect: type[T] = Task, stage: str | None = "test") -> LoadedTask[T]:
    """The task of the checkpoint at ``path``, rebuilt from its config with ``overrides`` merged
    over it, its weights loaded.

    ``expect``: the task class the caller needs (``Task``: any). ``stage``: the stage its data
    module is set up for (``build``); None builds the task from the checkpoint's record of its
    data alone (``Task.record_inputs``), without reading that data.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = checkpoint_config(checkpoint, overrides, path)
    held = held_task(config, path, expect)
    record = checkpoint[RECORD_KEY]
    if stage is None:
        try:
            inputs = held.record_inputs(config, record.get("data"))
        except ValueError as error:
            raise CheckpointError(f"checkpoint {path} cannot be built without its data: "
                                  f"{error}") from error
        datamodule, task = None, build_task(config, *inputs)
    else:
        datamodule, task = build(config, stage)
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"the weights in checkpoint {path} do not fit the network its config "
                              f"builds with overrides {dict(overrides or {})}: {error}") from error
    return LoadedTask(task.eval(), datamodule, config, record)
