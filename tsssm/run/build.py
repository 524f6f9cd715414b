"""Configs to objects: the data module, the network and the task of a run, built from a Hydra config.

The one place where a config's ``data``, ``model`` and ``task`` nodes become objects: ``fit`` builds
a run from its config, and evaluate, forecast and generate rebuild one from a checkpoint's recorded
config. What the data decides about the network (its shape, its vocabulary) is passed in here, so
neither the network config nor the task repeats it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from tsssm.models.shape import ForecastShape
from tsssm.run.checkpoint import DATA_LOCATIONS
from tsssm.run.loading import SEQUENCE_TASK

def is_sequence_data(datamodule: L.LightningDataModule) -> bool:
    """Token data (audio samples, bytes, BPE, recall) rather than multivariate series."""
    return hasattr(datamodule, "vocab_size")


def network_inputs(cfg: DictConfig, datamodule: L.LightningDataModule) -> tuple[dict, dict]:
    """What the data decides about the network (its shape) and the task (units, scalers)."""
    if is_sequence_data(datamodule):
        if "backbone" not in cfg.model:
            raise ValueError(f"model={cfg.model.name} has no backbone; sequence modelling needs a "
                             "backbone model (s4, s4d, mamba, mamba2, transformer, hybrid, lstm)")
        return {"vocab_size": datamodule.vocab_size}, {"unit": datamodule.unit}
    shape = ForecastShape(lookback=cfg.data.lookback, horizon=cfg.data.horizon,
                          n_channels=datamodule.n_channels, period=datamodule.seasonal_period)
    return {"shape": shape}, {"scaler_mean": datamodule.scaler_mean,
                              "scaler_std": datamodule.scaler_std}


def build(cfg: DictConfig, stage: str = "fit") -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module (set up for ``stage``) and the task wrapping the configured network."""
    datamodule = instantiate(cfg.data)
    wants_sequences = cfg.task._target_ == SEQUENCE_TASK
    if wants_sequences != is_sequence_data(datamodule):
        kind = "token sequences" if wants_sequences else "multivariate series"
        raise ValueError(f"task {cfg.task._target_} needs {kind}, but data {cfg.data._target_} "
                         "gives the other kind: pick an experiment that pairs them "
                         "(ltsf/* for forecasting; waveform/*, bytes/*, recall/* for sequences)")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule, build_task(cfg, *network_inputs(cfg, datamodule))


def build_task(cfg: DictConfig, net_inputs: dict, task_inputs: dict) -> L.LightningModule:
    """The configured task around the configured network, given what the data decides of each."""
    net = instantiate(cfg.task.net)(**net_inputs)
    return instantiate(cfg.task, net=net, **task_inputs)


def series_record(datamodule: L.LightningDataModule) -> dict[str, Any] | None:
    """What a forecast of new series needs from the training data, kept in the checkpoint
    (``tsssm.run.checkpoint.RunRecord``); None for sequence data."""
    if is_sequence_data(datamodule):
        return None
    channels = list(datamodule.channel_names)
    return {"channel_names": channels, "target": channels[-1], "features": datamodule.features,
            "freq": datamodule.freq, "seasonal_period": datamodule.seasonal_period}


def portable(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved config with its data root and user file (``DATA_LOCATIONS``) made absolute, so
    that the logged config (and the checkpoint's: ``tsssm.run.checkpoint.recorded_config``) finds the data
    from any working directory."""
    data = resolved.get("data", {})
    for field in DATA_LOCATIONS:
        if data.get(field):
            data[field] = str(Path(data[field]).absolute())
    return resolved
