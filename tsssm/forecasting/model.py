"""Trained forecasters behind one call: ``tsssm.load(...)`` and ``ForecastModel.predict(frame)``.

One or several forecasting checkpoints (agreeing on horizon, frequency and channels:
``checkpoints``) forecast the same series; each checkpoint's forecasts are columns of one long
table (``long_format``), joined on ``unique_id`` and ``ds``. The last ``lookback`` rows of each
series (each checkpoint its own lookback) are normalised with the checkpoint's training scaler
exactly as training normalised its windows, and the task's ``predict_step`` gives the next
``horizon`` steps in original units.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsssm.data.sequence import check_positive
from tsssm.data.series_tables import Series, check_unique_ids, frame_series
from tsssm.data.tabular import named_columns
from tsssm.forecasting.checkpoints import ForecastCheckpoint, as_list, load_forecasters
from tsssm.forecasting.dates import forecast_dates
from tsssm.forecasting.long_format import long_table, model_values
from tsssm.run.device import resolve_device


@torch.no_grad()
def predict_windows(model: ForecastCheckpoint, windows: np.ndarray, batch_size: int) -> np.ndarray:
    """Forecasts in original units of input windows ``(N, lookback, C)`` float64: ``(N, H, C)``,
    or ``(N, H, C, Q)`` for a quantile model."""
    check_positive("batch_size", batch_size)
    mean = model.task.scaler_mean.double().cpu().numpy()
    std = model.task.scaler_std.double().cpu().numpy()
    x = torch.from_numpy(((windows - mean) / std).astype(np.float32))
    device = model.task.device
    parts = [model.task.predict_step(batch.to(device), index).cpu()
             for index, batch in enumerate(x.split(batch_size))]
    return torch.cat(parts).numpy()


class ForecastModel:
    """Forecasters of one or several checkpoints (module docstring); ``names`` are their columns."""

    def __init__(self, checkpoints: Sequence[ForecastCheckpoint]) -> None:
        self.checkpoints = list(checkpoints)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.checkpoints]

    @property
    def channels(self) -> list[str]:
        return self.checkpoints[0].channels

    @property
    def horizon(self) -> int:
        return self.checkpoints[0].horizon

    @property
    def freq(self) -> str | None:
        return self.checkpoints[0].freq

    @property
    def lookback(self) -> int:
        """The most rows any of the checkpoints reads."""
        return max(c.lookback for c in self.checkpoints)

    def __repr__(self) -> str:
        return (f"ForecastModel({self.names}, channels={self.channels}, lookback={self.lookback}, "
                f"horizon={self.horizon}, freq={self.freq!r})")

    def forecasts(self, series: Sequence[Series], batch_size: int = 256) -> dict[str, np.ndarray]:
        """Every model's columns (``long_format.model_values``) for the ``horizon`` steps after
        the end of each series: ``(N, H, C)`` arrays."""
        values: dict[str, np.ndarray] = {}
        for model in self.checkpoints:
            windows = np.stack([s.values[-model.lookback:] for s in series])
            predicted = predict_windows(model, windows, batch_size)
            values.update(model_values(model.name, model.quantiles, predicted))
        return values

    def forecast(self, series: Sequence[Series], batch_size: int = 256,
                 channel_column: bool = False, notes: list[str] | None = None
                 ) -> tuple[pd.DataFrame, str]:
        """The long table of forecasts of ``series`` and a line saying where its ``ds`` came
        from; notes on the series are appended to ``notes``."""
        return self.table(series, self.forecasts(series, batch_size), channel_column, notes)

    def table(self, series: Sequence[Series], values: dict[str, np.ndarray],
              channel_column: bool = False, notes: list[str] | None = None
              ) -> tuple[pd.DataFrame, str]:
        """The long table of the forecasts ``values`` (``forecasts``) of ``series`` (their last
        ``lookback`` rows suffice) and the line saying where its ``ds`` came from."""
        check_unique_ids(list(series))
        ds, source = forecast_dates(list(series), self.lookback, self.horizon, self.freq,
                                    [] if notes is None else notes)
        table = long_table([s.unique_id for s in series], self.channels, {"ds": ds}, values,
                           channel_column)
        return table, source

    def series(self, frame: pd.DataFrame, layout: str = "auto", name: str = "series",
               notes: list[str] | None = None) -> list[Series]:
        """The series of a table: long (``unique_id, ds`` and the channels, or ``y``) or wide (a
        date column, or a DatetimeIndex, and the channels: one series, named ``name``), checked
        as files are."""
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise ValueError("predict needs a pandas DataFrame with at least one row, "
                             f"got {type(frame).__name__}")
        dated = isinstance(frame.index, pd.DatetimeIndex)
        frame = named_columns(frame.reset_index(drop=not dated), "the input DataFrame")
        return frame_series(frame, layout, self.channels, self.lookback,
                            [] if notes is None else notes, "the input DataFrame", name)

    def predict(self, frame: pd.DataFrame, layout: str = "auto", channel_column: bool = False,
                batch_size: int = 256, name: str = "series") -> pd.DataFrame:
        """Forecasts of every series of ``frame`` (``series``) as a long table: ``unique_id, ds``
        (``channel`` with ``channel_column``) and each model's columns."""
        notes: list[str] = []
        table, _ = self.forecast(self.series(frame, layout, name, notes), batch_size,
                                 channel_column, notes)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        return table


def load(checkpoint: str | Path | Sequence[str | Path], alias: str | Sequence[str] | None = None,
         device: str = "cpu") -> ForecastModel:
    """A ``ForecastModel`` of one checkpoint or several; ``alias`` names their columns (one name
    per checkpoint), else each is named by its model config (``mamba``, ``mamba-2``);
    ``device``: ``cpu``, ``cuda[:INDEX]`` or ``auto``."""
    return ForecastModel(load_forecasters(as_list(checkpoint), resolve_device(str(device)),
                                          as_list(alias)))
