"""The ``ds`` of forecasts: each series' dates continued past its last row.

``ds`` continues at the checkpoint's frequency, else at the one pandas infers from the series'
dates; integer time steps continue at their constant spacing; where neither exists, every series
gets the step index 1..horizon, so that the column holds one kind of value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from tsssm.data.series_tables import Series
from tsssm.data.tabular import inferred_frequency


def future_dates(dates: pd.Index, horizon: int, freq: str | None) -> pd.Index | None:
    """The ``horizon`` dates after the last of ``dates`` (a series' last ``lookback``): at ``freq``,
    else at their inferred frequency; integer time steps continue at their constant spacing.
    None where there is no frequency (or spacing) to continue at."""
    if not isinstance(dates, pd.DatetimeIndex):
        spacing = np.unique(np.diff(dates.to_numpy()))
        ahead = np.arange(1, horizon + 1)
        return pd.Index(dates[-1] + spacing[0] * ahead) if len(spacing) == 1 else None
    freq = freq or inferred_frequency(dates)
    return None if freq is None else pd.date_range(dates[-1], periods=horizon + 1, freq=freq)[1:]


def frequency_mismatch(series: Series, dates: pd.Index, freq: str | None) -> str | None:
    """A note when a series' dates step otherwise than the training data's ``freq``."""
    inferred = inferred_frequency(dates) if isinstance(dates, pd.DatetimeIndex) else None
    if freq is None or inferred is None or to_offset(inferred) == to_offset(freq):
        return None
    return (f"{series.where}: dates step by {inferred!r} but the model was trained on data at "
            f"{freq!r}; ds continues at {freq!r}")


def forecast_dates(series: list[Series], lookback: int, horizon: int, freq: str | None,
                   notes: list[str]) -> tuple[np.ndarray, str]:
    """``ds`` of every series and step ``(N, H)`` (from the last ``lookback`` dates of each) and a
    line saying where it came from (module docstring)."""
    windows = [s.dates[-lookback:] for s in series]
    notes += filter(None, (frequency_mismatch(s, w, freq) for s, w in zip(series, windows)))
    futures = [future_dates(dates, horizon, freq) for dates in windows]
    lacking = [s.unique_id for s, future in zip(series, futures) if future is None]
    kinds = {isinstance(future, pd.DatetimeIndex) for future in futures}
    if lacking or len(kinds) > 1:
        reason = (f"no regular frequency in the dates of series {lacking}" if lacking
                  else "some series have dates and some integer time steps")
        steps = np.tile(np.arange(1, horizon + 1), (len(series), 1))
        return steps, f"the step index 1..{horizon} ({reason})"
    if kinds == {False}:
        source = "each series' integer time steps, continued at their spacing"
    elif freq:
        source = f"dates continued at the checkpoint's frequency {freq!r}"
    else:
        source = "dates continued at each series' inferred frequency"
    return np.stack([future.to_numpy() for future in futures]), source
