"""Configs to objects: the data module, the network and the task of a run, built from a Hydra config.

The one place where a config's ``data``, ``model`` and ``task`` nodes become objects: ``fit`` builds
a run from its config, and evaluate, forecast and generate rebuild one from a checkpoint's recorded
config. What the data decides about the network (its shape, its vocabulary) comes from the task
class's ``data_inputs``, so neither the network config nor the task config repeats it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from tsssm.run.checkpoint import DATA_LOCATIONS

def build(cfg: DictConfig, stage: str = "fit") -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module (set up for ``stage``) and the task wrapping the configured network."""
    datamodule = instantiate(cfg.data)
    task_class = get_class(cfg.task._target_)
    if not task_class.accepts(datamodule):
        raise ValueError(f"task {cfg.task._target_} needs {task_class.data_kind}, but data "
                         f"{cfg.data._target_} gives the other kind: pick an experiment that pairs "
                         "them (ltsf/* for forecasting; waveform/*, bytes/*, recall/* for sequences)")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule, build_task(cfg, *task_class.data_inputs(cfg, datamodule))


def build_task(cfg: DictConfig, net_inputs: dict, task_inputs: dict) -> L.LightningModule:
    """The configured task around the configured network, given what the data decides of each."""
    net = instantiate(cfg.task.net)(**net_inputs)
    return instantiate(cfg.task, net=net, **task_inputs)


def portable(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved config with its data root and user file (``DATA_LOCATIONS``) made absolute, so
    that the logged config (and the checkpoint's: ``tsssm.run.checkpoint.recorded_config``) finds the data
    from any working directory."""
    data = resolved.get("data", {})
    for field in DATA_LOCATIONS:
        if data.get(field):
            data[field] = str(Path(data[field]).absolute())
    return resolved
