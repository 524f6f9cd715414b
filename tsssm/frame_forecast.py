"""Forecasts of series given as a DataFrame, from a forecasting checkpoint read back: what an
MLflow model of a fit (``tsssm.run.pyfunc_model``) answers to ``predict(df)``.

The frame takes the forms ``python -m tsssm.forecast`` reads from files (``tsssm.data.series_tables``):
wide (a date column and one column per channel: one series) or long (``unique_id``, ``ds`` and the
channels, or ``y`` for a one-channel model). The answer is the forecast command's long table,
``unique_id, ds, channel, forecast`` (``tsssm.forecast.forecast_series``).
"""

from __future__ import annotations

import logging

import pandas as pd

from tsssm.data.series_tables import frame_series
from tsssm.forecast import ForecastCheckpoint, forecast_series
from tsssm.run.checkpoint import LoadedTask
from tsssm.tasks.forecast import ForecastTask

log = logging.getLogger(__name__)
FRAME_SERIES_ID = "series"  # the unique_id of a wide frame's one series


def predict_frame(loaded: LoadedTask[ForecastTask], frame: pd.DataFrame) -> pd.DataFrame:
    """The next ``horizon`` steps of every series of ``frame`` (module docstring: long when it has
    ``unique_id`` and ``ds``, else wide), in original units; notes on the frame (unused columns,
    dates) are logged."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValueError(f"expected a non-empty pandas DataFrame of series, got {type(frame).__name__}"
                         f"{' with no rows' if isinstance(frame, pd.DataFrame) else ''}")
    model = ForecastCheckpoint.from_loaded(loaded)
    notes: list[str] = []
    frame = frame.rename(columns=str)
    series = frame_series(frame, "frame", FRAME_SERIES_ID, "auto", model.channels, model.lookback,
                          notes)
    table, _ = forecast_series(model, series, notes)
    for note in notes:
        log.info("note: %s", note)
    return table
