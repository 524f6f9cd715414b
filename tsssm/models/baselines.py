"""Baselines with the Forecaster interface, ``(B, L_in, C) -> (B, H, C)``, so every comparison has them.

- ``SeasonalNaive``: repeat the last observed season. No parameters; any model that cannot beat it
  has learned nothing.
- ``DLinear`` (Zeng et al., 2023): split the window into a moving-average trend and the remainder,
  map each linearly from ``L_in`` to ``H`` steps, add. The paper's claim that this beats
  Transformers on LTSF is the bar every sequence model here must clear.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from tsssm.models.shape import ForecastShape


class SeasonalNaive(nn.Module):
    """``y[t + h] = x[t + h - k * period]`` for the smallest ``k`` that lands inside the window."""

    def __init__(self, shape: ForecastShape, period: int | None = None) -> None:
        super().__init__()
        period = period if period is not None else shape.period
        if period is None or period <= 0:
            raise ValueError("SeasonalNaive needs a positive seasonal period: set model.net.period "
                             f"or the dataset's period (got {period})")
        if shape.n_quantiles > 1:
            raise ValueError("SeasonalNaive forecasts one value per step and learns nothing, so it "
                             "cannot forecast quantiles: use task.loss=mse with model=naive")
        if period > shape.lookback:
            raise ValueError(f"SeasonalNaive period {period} is longer than the lookback "
                             f"{shape.lookback}: the window holds no full season to repeat")
        self.shape = shape
        self.period = period
        steps = torch.arange(shape.horizon)
        self.register_buffer("index", shape.lookback - period + steps % period, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.index, :]


class MovingAverage(nn.Module):
    """Centred moving average over time of ``(B, L, C)``, edges padded by repetition (same length)."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(f"moving-average kernel_size must be odd and positive, got {kernel_size}")
        self.kernel_size = kernel_size

    def forward(self, x: Tensor) -> Tensor:
        half = (self.kernel_size - 1) // 2
        padded = F.pad(x.transpose(1, 2), (half, half), mode="replicate")
        return F.avg_pool1d(padded, self.kernel_size, stride=1).transpose(1, 2)


class DLinear(nn.Module):
    """Trend + remainder, each through a linear map over time shared by channels (or one per
    channel); a quantile model maps to ``horizon * n_quantiles`` values per channel."""

    def __init__(self, shape: ForecastShape, kernel_size: int = 25, individual: bool = False) -> None:
        super().__init__()
        self.shape = shape
        self.individual = individual
        self.decompose = MovingAverage(kernel_size)
        n_maps = shape.n_channels if individual else 1
        outputs = shape.horizon * shape.n_quantiles
        self.trend = nn.ModuleList(nn.Linear(shape.lookback, outputs) for _ in range(n_maps))
        self.seasonal = nn.ModuleList(nn.Linear(shape.lookback, outputs) for _ in range(n_maps))

    def forward(self, x: Tensor) -> Tensor:
        trend = self.decompose(x)
        seasonal = (x - trend).transpose(1, 2)
        trend = trend.transpose(1, 2)
        if self.individual:
            y = torch.stack([s(seasonal[:, c]) + t(trend[:, c]) for c, (s, t)
                             in enumerate(zip(self.seasonal, self.trend))], dim=1)
        else:
            y = self.seasonal[0](seasonal) + self.trend[0](trend)
        y = y.unflatten(2, self.shape.outputs)  # (B, C, H) or (B, C, H, Q)
        return y.transpose(1, 2)
