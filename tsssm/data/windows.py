"""Forecasting windows over one part of a series, cut by index on demand.

Why on demand: ETTm1 at lookback 96 has ~34k training windows; materialising them would copy the series
~200 times. Each item is two views into the one normalised tensor, and the DataLoader stacks a batch.
"""

import torch
from torch.utils.data import Dataset


class WindowDataset(Dataset):
    """Item i: x = series[i : i+lookback] (lookback, C), y = series[i+lookback : i+lookback+horizon] (horizon, C).

    series: (T, C) float32 tensor of one split part, already normalised. Stride 1, T - L - H + 1 items.
    """

    def __init__(self, series: torch.Tensor, lookback: int, horizon: int) -> None:
        if series.ndim != 2:
            raise ValueError(f"series must be (time, channels), got shape {tuple(series.shape)}")
        if series.shape[0] < lookback + horizon:
            raise ValueError(
                f"series of {series.shape[0]} steps is shorter than lookback {lookback} + horizon {horizon}"
            )
        self.series = series
        self.lookback = lookback
        self.horizon = horizon

    def __len__(self) -> int:
        return self.series.shape[0] - self.lookback - self.horizon + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range [0, {len(self)})")
        split = index + self.lookback
        return self.series[index:split], self.series[split : split + self.horizon]
