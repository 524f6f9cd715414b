"""Figures a finished training run logs next to its metrics (entry-point layer: uses data and tasks)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from tsssm.run.plots import plot_forecasts
from tsssm.tasks.forecast import ForecastTask


def forecast_plot(n_windows: int, datamodule: L.LightningDataModule, task: ForecastTask,
                  out_dir: Path, title: str) -> Path:
    """Plot ``n_windows`` evenly spaced test windows of the target (or last) channel."""
    dataset = datamodule.test_dataloader().dataset
    picks = torch.linspace(0, len(dataset) - 1, max(1, n_windows)).long().tolist()
    x = torch.stack([dataset[i][0] for i in picks])
    y = torch.stack([dataset[i][1] for i in picks])
    names = list(datamodule.channel_names)
    channel = names.index(datamodule.target) if datamodule.target in names else len(names) - 1
    task.eval()
    with torch.no_grad():
        forecast = task.predict_step((x.to(task.device),), 0).cpu()
    history, truth = task.to_original(x.to(task.device)).cpu(), task.to_original(y.to(task.device)).cpu()
    return plot_forecasts(history[..., channel].numpy(), truth[..., channel].numpy(),
                          forecast[..., channel].numpy(), names[channel],
                          out_dir / "plots" / "forecast.png", title)


def log_run_figures(cfg: DictConfig, datamodule: L.LightningDataModule, task: L.LightningModule,
                    out_dir: Path, title: str) -> list[Path]:
    """The run's figures: forecasts for forecasting runs; sequence runs draw theirs in generate."""
    if isinstance(task, ForecastTask):
        return [forecast_plot(cfg.plot_windows, datamodule, task, out_dir, title)]
    return []
