"""ForecastTask: trains and evaluates any ``(B, L_in, C) -> (B, H, C)`` network the LTSF way.

Loss is MSE on the normalised scale, or with ``loss="quantile"`` the pinball loss of the median
and of the bounds of an interval per level of ``levels`` (``tsssm.tasks.quantiles``). Metrics are
reported both on the normalised scale (what the literature's tables hold) and in original units
(what a user's decisions depend on): MSE and MAE of the point forecast (a quantile model's median)
and, for a quantile model, the coverage of each interval (``coverage_80``: the fraction of targets
inside the 80% interval). Each metric accumulates over every window, step and channel of the
split, so the epoch value is the exact mean, not a mean of batch means.

What the data decides about the network is its ``ForecastShape``, built in ``forecast_shape``
alone: the window sizes from the data config, the channels and seasonal period from the training
data's record (``checkpoint_record``), which checkpoints keep so that new series are forecast
without that data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection

from tsssm.models.shape import ForecastShape
from tsssm.tasks.base import Task
from tsssm.tasks.plots import plot_forecasts
from tsssm.tasks.quantiles import QuantileLevels, pinball_loss


def error_metrics(prefix: str, quantiles: QuantileLevels | None) -> MetricCollection:
    """``{prefix}mse``, ``{prefix}mae``, ``{prefix}mse_orig``, ``{prefix}mae_orig``, and
    ``{prefix}coverage_<level>`` per interval level of a quantile model."""
    levels = quantiles.levels if quantiles else ()
    return MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
                             "mse_orig": MeanSquaredError(), "mae_orig": MeanAbsoluteError(),
                             **{f"coverage_{level}": MeanMetric() for level in levels}},
                            prefix=prefix)


class ForecastTask(Task):
    """Lightning wrapper: MSE (or pinball) training, AdamW + warm-up/cosine, val/test metrics,
    predictions.

    ``scaler_mean`` and ``scaler_std`` ``(C,)`` are the data's train-split statistics; they map
    normalised values back to original units for the ``*_orig`` metrics and for ``predict_step``.
    ``optim`` holds the ``OptimizerRecipe``'s fields (``model.optim``); absent ones take its defaults.
    ``loss`` (``mse`` or ``quantile``) and ``levels`` (interval levels in percent, quantile loss
    only) say what the network forecasts: ``(B, H, C)`` points, or ``(B, H, C, Q)`` quantiles.
    """

    kind = "forecaster"
    data_kind = "multivariate series"
    data_attribute = "horizon"
    trained_with = "task=forecast on series data (experiment=ltsf/*, data=csv)"
    prediction_axes = ("step", "channel")
    prediction_value = "forecast"
    serves_frames = True

    def __init__(self, net: nn.Module, scaler_mean: Tensor, scaler_std: Tensor,
                 optim: Mapping[str, Any] | None = None, loss: str = "mse",
                 levels: Sequence[int] | None = None) -> None:
        super().__init__(net, optim)
        self.register_buffer("scaler_mean", torch.as_tensor(scaler_mean, dtype=torch.float32))
        self.register_buffer("scaler_std", torch.as_tensor(scaler_std, dtype=torch.float32))
        self.quantiles = QuantileLevels.from_config(loss, levels)
        if self.quantiles:
            self.prediction_axes = (*self.prediction_axes, "quantile")
        self.val_metrics = error_metrics("val/", self.quantiles)
        self.test_metrics = error_metrics("test/", self.quantiles)

    @property
    def shape(self) -> ForecastShape:
        """The sizes the network was built for (every forecasting network keeps its shape)."""
        return self.net.shape

    def to_original(self, y: Tensor) -> Tensor:
        """Normalised ``(..., C)`` -> original units."""
        return y * self.scaler_std + self.scaler_mean

    def forecast(self, x: Tensor) -> Tensor:
        """The network's forecasts on the normalised scale; a quantile model's sorted along its
        quantiles, so that no lower bound exceeds its upper one (sorting never raises the
        pinball loss). Evaluation and ``predict_step`` read these."""
        prediction = self(x)
        return prediction.sort(dim=-1).values if self.quantiles else prediction

    def point(self, prediction: Tensor) -> Tensor:
        """The point forecast ``(..., C)`` of a prediction: itself, or a quantile model's median."""
        return prediction[..., self.quantiles.median] if self.quantiles else prediction

    def loss(self, prediction: Tensor, y: Tensor) -> Tensor:
        """MSE, or the pinball loss over every quantile, on the normalised scale."""
        if self.quantiles:
            return pinball_loss(prediction, y, self.quantiles.fractions)
        return nn.functional.mse_loss(prediction, y)

    def network_input(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """The input windows x (B, L_in, C) of an (x, y) batch."""
        return batch[0]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x),
                 sync_dist=True)
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], metrics: MetricCollection) -> None:
        x, y = batch
        prediction = self.forecast(x)
        for level in self.quantiles.levels if self.quantiles else ():
            low, high = self.quantiles.bounds(level)
            inside = (prediction[..., low] <= y) & (y <= prediction[..., high])
            metrics[f"coverage_{level}"].update(inside.float())
        pred = self.point(prediction)
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
        """Forecasts (``forecast``) in original units, ``(B, H, C)``; a quantile model's
        ``(B, H, C, Q)``."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not self.quantiles:
            return self.to_original(self.forecast(x))
        return self.to_original(self.forecast(x).movedim(-1, 0)).movedim(0, -1)

    @staticmethod
    def forecast_shape(cfg: DictConfig, record: Mapping[str, Any]) -> ForecastShape:
        """The network's shape: ``lookback`` and ``horizon`` of the data config, the channels and
        seasonal period of the training data's ``checkpoint_record``, the quantiles of the task's
        loss (one value per step and channel without ``task.loss``, as older configs have)."""
        quantiles = QuantileLevels.from_config(cfg.task.get("loss", "mse"), cfg.task.get("levels"))
        return ForecastShape(lookback=cfg.data.lookback, horizon=cfg.data.horizon,
                             n_channels=len(record["channel_names"]),
                             period=record["seasonal_period"],
                             n_quantiles=len(quantiles.fractions) if quantiles else 1)

    @classmethod
    def data_inputs(cls, cfg: DictConfig, datamodule: L.LightningDataModule
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The shape, and the scaler of the training split."""
        shape = cls.forecast_shape(cfg, cls.checkpoint_record(datamodule))
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
        return {"shape": cls.forecast_shape(cfg, record)}, {
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
            forecast = self.point(self.predict_step((x,), 0)).cpu()
        history, truth = self.to_original(x).cpu(), self.to_original(y).cpu()
        return [plot_forecasts(history[..., channel].numpy(), truth[..., channel].numpy(),
                               forecast[..., channel].numpy(), names[channel],
                               folder / "plots" / "forecast.png", title)]
