"""ForecastTask: trains and evaluates any ``(B, L_in, C) -> (B, H, C)`` network the LTSF way.

Loss is MSE on the normalised scale. Metrics are reported both on the normalised scale (what the
literature's tables hold) and in original units (what a user's decisions depend on). Each metric
accumulates squared/absolute errors and counts over every window, step and channel of the split,
so the epoch value is the exact mean, not a mean of batch means.

What the data decides about the network is its ``ForecastShape``, built in ``forecast_shape``
alone: the window sizes from the data config, the channels and seasonal period from the training
data's record (``checkpoint_record``), which checkpoints keep so that new series are forecast
without that data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from tsssm.models.shape import ForecastShape
from tsssm.tasks.base import Task
from tsssm.tasks.plots import plot_forecasts


def error_metrics(prefix: str) -> MetricCollection:
    """``{prefix}mse``, ``{prefix}mae``, ``{prefix}mse_orig``, ``{prefix}mae_orig``."""
    return MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
                             "mse_orig": MeanSquaredError(), "mae_orig": MeanAbsoluteError()},
                            prefix=prefix)


class ForecastTask(Task):
    """Lightning wrapper: MSE training, AdamW + warm-up/cosine, val/test metrics, predictions.

    ``scaler_mean`` and ``scaler_std`` ``(C,)`` are the data's train-split statistics; they map
    normalised values back to original units for the ``*_orig`` metrics and for ``predict_step``.
    ``optim`` holds the ``OptimizerRecipe``'s fields (``model.optim``); absent ones take its defaults.
    """

    kind = "forecaster"
    data_kind = "multivariate series"
    data_attribute = "horizon"
    trained_with = "task=forecast on series data (experiment=ltsf/*, data=csv)"
    prediction_axes = ("step", "channel")
    prediction_value = "forecast"
    serves_frames = True

    def __init__(self, net: nn.Module, scaler_mean: Tensor, scaler_std: Tensor,
                 optim: Mapping[str, Any] | None = None) -> None:
        super().__init__(net, optim)
        self.register_buffer("scaler_mean", torch.as_tensor(scaler_mean, dtype=torch.float32))
        self.register_buffer("scaler_std", torch.as_tensor(scaler_std, dtype=torch.float32))
        self.val_metrics = error_metrics("val/")
        self.test_metrics = error_metrics("test/")

    @property
    def shape(self) -> ForecastShape:
        """The sizes the network was built for (every forecasting network keeps its shape)."""
        return self.net.shape

    def to_original(self, y: Tensor) -> Tensor:
        """Normalised ``(..., C)`` -> original units."""
        return y * self.scaler_std + self.scaler_mean

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x),
                 sync_dist=True)
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], metrics: MetricCollection) -> None:
        x, y = batch
        pred = self(x)
        pred_orig, y_orig = self.to_original(pred).flatten(), self.to_original(y).flatten()
        pred, y = pred.flatten(), y.flatten()
        metrics["mse"].update(pred, y)
        metrics["mae"].update(pred, y)
        metrics["mse_orig"].update(pred_orig, y_orig)
        metrics["mae_orig"].update(pred_orig, y_orig)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=len(x))

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics)

    def predict_step(self, batch: Tensor | tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Forecasts in original units, ``(B, H, C)``."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.to_original(self(x))

    @staticmethod
    def forecast_shape(data: DictConfig, record: Mapping[str, Any]) -> ForecastShape:
        """The network's shape: ``lookback`` and ``horizon`` of the data config, the channels and
        seasonal period of the training data's ``checkpoint_record``."""
        return ForecastShape(lookback=data.lookback, horizon=data.horizon,
                             n_channels=len(record["channel_names"]),
                             period=record["seasonal_period"])

    @classmethod
    def data_inputs(cls, cfg: DictConfig, datamodule: L.LightningDataModule
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The shape, and the scaler of the training split."""
        shape = cls.forecast_shape(cfg.data, cls.checkpoint_record(datamodule))
        return {"shape": shape}, {"scaler_mean": datamodule.scaler_mean,
                                  "scaler_std": datamodule.scaler_std}

    @classmethod
    def checkpoint_record(cls, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Channel names in order, target, features mode, frequency and seasonal period."""
        channels = list(datamodule.channel_names)
        return {"channel_names": channels, "target": channels[-1], "features": datamodule.features,
                "freq": datamodule.freq, "seasonal_period": datamodule.seasonal_period}

    @classmethod
    def record_inputs(cls, cfg: DictConfig, record: Mapping[str, Any] | None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The shape, and a placeholder scaler (identity) that the checkpoint's buffers replace."""
        if not record:
            raise ValueError("it keeps no record of its training data (channel names, frequency), "
                             "as checkpoints of an older tsssm.fit do not; train it again")
        n_channels = len(record["channel_names"])
        return {"shape": cls.forecast_shape(cfg.data, record)}, {
            "scaler_mean": torch.zeros(n_channels), "scaler_std": torch.ones(n_channels)}

    def run_horizon(self, datamodule: L.LightningDataModule) -> int:
        """The horizon."""
        return self.shape.horizon

    def figures(self, datamodule: L.LightningDataModule, folder: Path, title: str,
                n_windows: int) -> list[Path]:
        """``n_windows`` evenly spaced test windows of the target (or last) channel: input, truth
        and forecast, in original units (``folder/plots/forecast.png``)."""
        dataset = datamodule.test_dataloader().dataset
        picks = torch.linspace(0, len(dataset) - 1, max(1, n_windows)).long().tolist()
        x = torch.stack([dataset[i][0] for i in picks]).to(self.device)
        y = torch.stack([dataset[i][1] for i in picks]).to(self.device)
        names = list(datamodule.channel_names)
        channel = names.index(datamodule.target) if datamodule.target in names else len(names) - 1
        self.eval()
        with torch.no_grad():
            forecast = self.predict_step((x,), 0).cpu()
        history, truth = self.to_original(x).cpu(), self.to_original(y).cpu()
        return [plot_forecasts(history[..., channel].numpy(), truth[..., channel].numpy(),
                               forecast[..., channel].numpy(), names[channel],
                               folder / "plots" / "forecast.png", title)]
