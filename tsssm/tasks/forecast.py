"""ForecastTask: trains and evaluates any ``(B, L_in, C) -> (B, H, C)`` network the LTSF way.

Loss is MSE on the normalised scale. Metrics are reported both on the normalised scale (what the
literature's tables hold) and in original units (what a user's decisions depend on). Each metric
accumulates squared/absolute errors and counts over every window, step and channel of the split,
so the epoch value is the exact mean, not a mean of batch means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from tsssm.models.shape import ForecastShape
from tsssm.tasks.optim import OptimizerRecipe


def error_metrics(prefix: str) -> MetricCollection:
    """``{prefix}mse``, ``{prefix}mae``, ``{prefix}mse_orig``, ``{prefix}mae_orig``."""
    return MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
                             "mse_orig": MeanSquaredError(), "mae_orig": MeanAbsoluteError()},
                            prefix=prefix)


class ForecastTask(L.LightningModule):
    """Lightning wrapper: MSE training, AdamW + warm-up/cosine, val/test metrics, predictions.

    ``scaler_mean`` and ``scaler_std`` ``(C,)`` are the data's train-split statistics; they map
    normalised values back to original units for the ``*_orig`` metrics and for ``predict_step``.
    ``optim`` holds the ``OptimizerRecipe``'s fields (``model.optim``); absent ones take its defaults.
    """

    prediction_axes: tuple[str, ...] = ("step", "channel")
    """The axes of one window's ``predict_step`` output, and the name of its value."""
    prediction_value = "forecast"
    data_kind = "multivariate series"

    @staticmethod
    def accepts(datamodule: L.LightningDataModule) -> bool:
        """Series data: a data module with channels, not a vocabulary."""
        return not hasattr(datamodule, "vocab_size")

    @staticmethod
    def data_inputs(cfg: Any, datamodule: L.LightningDataModule) -> tuple[dict, dict]:
        """What the data decides of the network (its shape: the one place it is built from the
        config) and of the task (the train split's scaler)."""
        shape = ForecastShape(lookback=cfg.data.lookback, horizon=cfg.data.horizon,
                              n_channels=datamodule.n_channels, period=datamodule.seasonal_period)
        return {"shape": shape}, {"scaler_mean": datamodule.scaler_mean,
                                  "scaler_std": datamodule.scaler_std}

    @staticmethod
    def checkpoint_record(datamodule: L.LightningDataModule) -> dict[str, Any]:
        """What a forecast of new series needs from the training data, kept in the checkpoint:
        channel names in order, target, features mode, frequency, seasonal period."""
        channels = list(datamodule.channel_names)
        return {"channel_names": channels, "target": channels[-1], "features": datamodule.features,
                "freq": datamodule.freq, "seasonal_period": datamodule.seasonal_period}

    @staticmethod
    def run_horizon(cfg: Any, datamodule: L.LightningDataModule) -> int:
        """What a run's name and tags call its horizon: the forecast horizon."""
        return int(cfg.data.horizon)

    def start_metrics(self, datamodule: L.LightningDataModule) -> dict[str, float]:
        """Numbers logged when a run starts, beyond its size: none for forecasters."""
        return {}

    def __init__(self, net: nn.Module, scaler_mean: Tensor, scaler_std: Tensor,
                 optim: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.net = net
        self.recipe = OptimizerRecipe.from_config(optim)
        self.register_buffer("scaler_mean", torch.as_tensor(scaler_mean, dtype=torch.float32))
        self.register_buffer("scaler_std", torch.as_tensor(scaler_std, dtype=torch.float32))
        self.val_metrics = error_metrics("val/")
        self.test_metrics = error_metrics("test/")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

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

    def configure_optimizers(self) -> dict:
        return self.recipe.configure(self.net, self.trainer)
