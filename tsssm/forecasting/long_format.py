"""Forecast tables in the long format of Nixtla's neuralforecast and utilsforecast.

One row per series, channel and step; the key columns (``unique_id``, ``ds``, and for a backtest
``cutoff``), then one column per value: ``y`` where the truth is known, and per model its point
forecast (``<model>``, a quantile model's median) and its interval bounds (``<model>-lo-80``,
``<model>-hi-80``, lower bounds from the widest interval, upper from the narrowest, as
statsforecast orders them). A model of several channels forecasts series ``<unique_id>/<channel>``,
or with ``channel_column`` keeps ``unique_id`` and adds a ``channel`` column after the keys; a
one-channel model's series keep their ``unique_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tsssm.tasks.quantiles import QuantileLevels

CHANNEL_SEPARATOR = "/"


def forecast_columns(name: str, quantiles: QuantileLevels | None) -> list[tuple[str, int | None]]:
    """``(column, quantile index)`` of each column of a model: its point forecast first (index
    None for a point model), then its interval bounds (module docstring)."""
    if quantiles is None:
        return [(name, None)]
    lower = [(f"{name}-lo-{level}", quantiles.bounds(level)[0]) for level in reversed(quantiles.levels)]
    upper = [(f"{name}-hi-{level}", quantiles.bounds(level)[1]) for level in quantiles.levels]
    return [(name, quantiles.median), *lower, *upper]


def model_values(name: str, quantiles: QuantileLevels | None,
                 forecasts: np.ndarray) -> dict[str, np.ndarray]:
    """A model's forecasts ``(N, H, C)``, or ``(N, H, C, Q)`` for a quantile model, as one
    ``(N, H, C)`` array per column."""
    return {column: forecasts if index is None else forecasts[..., index]
            for column, index in forecast_columns(name, quantiles)}


def long_table(ids: Sequence[str], channels: Sequence[str], keys: Mapping[str, np.ndarray],
               values: Mapping[str, np.ndarray], channel_column: bool = False) -> pd.DataFrame:
    """The long table of ``N`` series (``ids``) with ``channels``: ``keys`` are ``(N, H)`` arrays
    (``ds``, ``cutoff``), ``values`` ``(N, H, C)`` arrays (``y``, forecast columns); rows series by
    series, then channel by channel, then step by step."""
    n, horizon = next(iter(keys.values())).shape
    width = len(channels)
    series = np.repeat(np.arange(n), width * horizon)
    channel = np.tile(np.repeat(np.arange(width), horizon), n)
    step = np.tile(np.arange(horizon), n * width)
    unique_id = pd.Series(np.asarray(ids, dtype=object)[series], dtype=object)
    names = np.asarray(channels, dtype=object)[channel]
    if width > 1 and not channel_column:
        unique_id = unique_id + CHANNEL_SEPARATOR + names
    columns: dict[str, object] = {"unique_id": unique_id.to_numpy()}
    columns.update({key: grid[series, step] for key, grid in keys.items()})
    if channel_column:
        columns["channel"] = names
    columns.update({column: np.asarray(grid, dtype=np.float64)[series, step, channel]
                    for column, grid in values.items()})
    return pd.DataFrame(columns)
