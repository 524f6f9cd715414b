"""Rolling-origin evaluation: forecasts from the last ``n_windows`` cutoffs of each series, beside
the truth.

A cutoff is the last row a window reads; the last window's forecast ends at the series' last row,
and each earlier window's cutoff lies ``step_size`` rows before the next one's (neuralforecast's
``cross_validation`` draws them so). The table has one row per series, channel, cutoff and step:
``unique_id, ds, cutoff, y`` and each model's columns (``long_format``); ``ds`` are the series'
own dates after the cutoff. A model can be given per window (``refit`` trains one on the rows up to
each cutoff); by default the same checkpoints forecast every window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsssm.data.sequence import check_positive
from tsssm.data.series_checks import finite_values
from tsssm.data.series_tables import Series, check_unique_ids
from tsssm.forecasting.long_format import long_table
from tsssm.forecasting.model import ForecastModel

ModelForWindow = Callable[[int, list[Series]], ForecastModel]


def check_windows(n_windows: int, step_size: int) -> None:
    """Both positive integers."""
    check_positive("n_windows", n_windows)
    check_positive("step_size", step_size)


def cutoff_rows(series: Series, channels: list[str], lookback: int, horizon: int,
                n_windows: int, step_size: int) -> list[int]:
    """The row of each window's cutoff in ``series``, oldest first (module docstring); every row
    the windows read must hold finite values (in ``channels``, the series' columns)."""
    length = len(series.dates)
    rows = [length - horizon - 1 - (n_windows - 1 - i) * step_size for i in range(n_windows)]
    needed = lookback + horizon + (n_windows - 1) * step_size
    if rows[0] + 1 < lookback:
        raise ValueError(f"{series.where}: {length} rows, but {n_windows} windows {step_size} rows "
                         f"apart need at least lookback {lookback} + horizon {horizon} + "
                         f"{n_windows - 1} x step_size {step_size} = {needed} rows")
    start = rows[0] + 1 - lookback
    finite_values(series.values[start:], channels, pd.RangeIndex(start, length), series.where,
                  f"the rows the backtest reads (from row {start})")
    return rows


def up_to(series: Series, row: int) -> Series:
    """The series' rows up to and including ``row``."""
    return Series(series.unique_id, series.where, series.dates[:row + 1],
                  series.values[:row + 1])


def after(values: np.ndarray | pd.Index, row: int, horizon: int) -> np.ndarray:
    """The ``horizon`` rows after ``row``."""
    return np.asarray(values[row + 1:row + 1 + horizon])


@dataclass(frozen=True)
class Backtest:
    """The backtest table (module docstring) and MASE's scale of every series, channel and cutoff
    (``unique_id, cutoff, scale``): the mean absolute difference between values ``seasonality``
    rows apart in the series up to the cutoff, the in-sample error of seasonal naive."""

    table: pd.DataFrame
    scales: pd.DataFrame


def seasonal_scale(history: np.ndarray, seasonality: int) -> np.ndarray:
    """``(C,)``: mean ``|y[t] - y[t - seasonality]|`` over a history ``(T, C)``, skipping the
    pairs a gap (NaN) before the windows' rows leaves undefined."""
    return np.nanmean(np.abs(history[seasonality:] - history[:-seasonality]), axis=0)


def backtest(model: ForecastModel, series: Sequence[Series], n_windows: int, step_size: int,
             seasonality: int = 1, batch_size: int = 256,
             model_for_window: ModelForWindow | None = None) -> Backtest:
    """The backtest of ``series`` (module docstring), rows ordered by series, channel, cutoff and
    step. ``model`` gives the channels, lookback and horizon; ``model_for_window(window, series up
    to its cutoffs)``, when given, the model that forecasts each window."""
    check_windows(n_windows, step_size)
    series = list(series)
    check_unique_ids(series)
    horizon = model.horizon
    rows = [cutoff_rows(s, model.channels, model.lookback, horizon, n_windows, step_size)
            for s in series]
    shortest = min(r[0] for r in rows) + 1
    if not isinstance(seasonality, int) or isinstance(seasonality, bool) \
            or not 0 < seasonality < shortest:
        raise ValueError(f"seasonality must be a positive integer shorter than the shortest "
                         f"history ({shortest} rows), got {seasonality!r}")
    ids = [s.unique_id for s in series]
    tables, scales = [], []
    for window in range(n_windows):
        cutoffs = [r[window] for r in rows]
        history = [up_to(s, row) for s, row in zip(series, cutoffs)]
        forecaster = model_for_window(window, history) if model_for_window else model
        cutoff = np.stack([np.asarray(s.dates[row:row + 1]) for s, row in zip(series, cutoffs)])
        keys = {"ds": np.stack([after(s.dates, row, horizon) for s, row in zip(series, cutoffs)]),
                "cutoff": np.repeat(cutoff, horizon, axis=1)}
        truth = np.stack([after(s.values, row, horizon) for s, row in zip(series, cutoffs)])
        values = {"y": truth, **forecaster.forecasts(history, batch_size)}
        tables.append(long_table(ids, model.channels, keys, values).assign(window=window))
        scale = np.stack([seasonal_scale(h.values, seasonality) for h in history])[:, None]
        scales.append(long_table(ids, model.channels, {"cutoff": cutoff}, {"scale": scale}))
    table = pd.concat(tables, ignore_index=True)
    order = {uid: i for i, uid in enumerate(dict.fromkeys(table["unique_id"]))}
    table = table.sort_values(["unique_id", "window", "ds"], key=lambda c: c.map(order)
                              if c.name == "unique_id" else c, kind="stable")
    return Backtest(table.drop(columns="window").reset_index(drop=True),
                    pd.concat(scales, ignore_index=True))
