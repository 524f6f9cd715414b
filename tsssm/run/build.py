"""Configs to objects: the data module, the network and the task of a run, built from a Hydra config.

The one place where a config's ``data``, ``model`` and ``task`` nodes become objects: ``fit`` builds
a run from its config, and evaluate, forecast and generate rebuild one from a checkpoint's recorded
config (``tsssm.run.checkpoint.load_task``). The task class the config names says which data it
trains on and what that data decides about the network (its shape, its vocabulary) and about the
task (its scaler, its unit): ``tsssm.tasks.base.Task``. So neither the network config nor the task
config repeats what the data decides.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from tsssm.tasks.base import Task


def task_class(cfg: DictConfig) -> type[Task]:
    """The task class ``cfg.task._target_`` names; a ValueError unless it is a ``Task``."""
    target = cfg.task._target_
    try:
        held = get_class(target)
    except (ImportError, ValueError) as error:
        raise ValueError(f"task {target} is not a class that can be imported: {error}") from error
    if not issubclass(held, Task):
        raise ValueError(f"task {target} is not a tsssm task (a subclass of "
                         f"{Task.__module__}.{Task.__qualname__})")
    return held


def build(cfg: DictConfig, stage: str = "fit") -> tuple[L.LightningDataModule, Task]:
    """Every random generator seeded with ``cfg.seed`` (so a rebuilt run draws as its training
    did), the data module set up for ``stage``, and the task around the configured network."""
    L.seed_everything(cfg.seed, workers=True)
    kind = task_class(cfg)
    datamodule = instantiate(cfg.data)
    if not kind.accepts(datamodule):
        raise ValueError(f"task {cfg.task._target_} needs {kind.data_kind}, but data "
                         f"{cfg.data._target_} gives another kind: pick an experiment that pairs "
                         "them (ltsf/* for forecasting; waveform/*, bytes/*, recall/* for sequences)")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule, build_task(cfg, *kind.data_inputs(cfg, datamodule))


def build_task(cfg: DictConfig, net_inputs: dict[str, Any], task_inputs: dict[str, Any]) -> Task:
    """The configured task around the configured network, given what the data decides of each."""
    net = instantiate(cfg.task.net)(**net_inputs)
    return instantiate(cfg.task, net=net, **task_inputs)
