"""Backtests that train again at every cutoff: each checkpoint's recorded config, fit on the rows
up to the cutoff, forecasts that window.

The recorded config (with the user's overrides merged over it: ``checkpoint_config``) is trained
as ``python -m tsssm.fit`` trains it (``tsssm.run.training``), its data replaced by the series up
to the cutoff in a file of its own, split 70/10/20 by rows as any file is, so the refit model never
sees a row after the cutoff. Its checkpoints go to a temporary folder (the original run's folder
is never written); the runs are tracked in MLflow where the recorded config says, under the
experiment ``backtest`` unless the config names one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from tsssm.data.series_tables import Series
from tsssm.forecasting.checkpoints import ForecastCheckpoint, load_forecaster
from tsssm.forecasting.model import ForecastModel
from tsssm.run.checkpoint import checkpoint_config, read_checkpoint
from tsssm.run.device import resolve_device
from tsssm.run.training import train_and_test

EXPERIMENT = "backtest"


def history_file(series: Series, channels: list[str], folder: Path) -> Path:
    """The series as a wide Parquet file: ``date`` and its channels, the model's order."""
    path = folder / "history.parquet"
    frame = pd.DataFrame(series.values, columns=channels)
    frame.insert(0, "date", series.dates)
    frame.to_parquet(path, index=False)
    return path


def refit_config(config: DictConfig, checkpoint: ForecastCheckpoint, data_file: Path,
                 out_dir: Path) -> DictConfig:
    """``config`` training on ``data_file`` (every channel, the target last, as the checkpoint's
    record lists them), its checkpoints written under ``out_dir``."""
    config = config.copy()
    with open_dict(config):
        config.data = OmegaConf.create({
            "_target_": "tsssm.data.ltsf.LTSFDataModule", "_convert_": "all", "name": None,
            "path": str(data_file), "root": None, "lookback": config.data.lookback,
            "horizon": config.data.horizon, "features": "M", "target": checkpoint.channels[-1],
            "batch_size": config.data.batch_size, "split": "ratio", "date_column": "date",
            "seasonal_period": checkpoint.seasonal_period})
        config.callbacks.checkpoint.dirpath = str(out_dir / "checkpoints")
        config.resume = None
    return config


class Refit:
    """``model_for_window`` of ``forecasting.backtest.backtest``: the checkpoints of ``model``
    trained again on the series up to each cutoff (module docstring)."""

    def __init__(self, model: ForecastModel, overrides: Mapping[str, Any],
                 device: str = "cpu") -> None:
        self.model = model
        self.device = resolve_device(str(device))
        self.configs = [checkpoint_config(read_checkpoint(c.path), overrides, c.path)
                        for c in model.checkpoints]

    def __call__(self, window: int, history: list[Series]) -> ForecastModel:
        if len(history) != 1:
            raise ValueError(f"refit=true trains on one series, but the input holds "
                             f"{len(history)} ({', '.join(s.unique_id for s in history[:5])}"
                             f"{', ...' if len(history) > 5 else ''}); backtest one series per "
                             "file, or use refit=false")
        refitted = []
        with tempfile.TemporaryDirectory(prefix="tsssm-refit-") as folder:
            data_file = history_file(history[0], self.model.channels, Path(folder))
            for index, (checkpoint, config) in enumerate(zip(self.model.checkpoints, self.configs)):
                out_dir = Path(folder) / f"window{window}-model{index}"
                trained = refit_config(config, checkpoint, data_file, out_dir)
                train_and_test(trained, out_dir, config.logger.get("experiment_name") or EXPERIMENT)
                best = out_dir / "checkpoints" / "best.ckpt"
                if not best.exists():
                    raise ValueError(f"refit of checkpoint {checkpoint.path} at window {window} "
                                     "wrote no best checkpoint: its model has nothing to train")
                refitted.append(replace(load_forecaster(best, self.device), name=checkpoint.name,
                                        path=checkpoint.path))
        return ForecastModel(refitted)
