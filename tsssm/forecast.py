"""``python -m tsssm.forecast``: a batch job from a forecasting checkpoint and files of series to
a table of forecasts.

The checkpoint carries its training config and its record of the training data (channel names in
order, target, features mode, frequency: ``ForecastTask.checkpoint_record``), so the network is
rebuilt without the training file (``tsssm.run.checkpoint.load_task``). Input: a CSV/Parquet file or a
folder of them, wide (one series per file) or long (one series per ``unique_id``), read and checked
by ``tsssm.data.series_tables``. The last ``lookback`` rows of each series are normalised with the
checkpoint's scaler exactly as training normalised its windows, and the task's ``predict_step``
gives the next ``horizon`` steps in original units. Output (Parquet or CSV, by suffix, written
atomically), one row per series, step and channel: ``unique_id, ds, channel, forecast``; ``ds``
continues each series' dates at the checkpoint's frequency, else at the one pandas infers from the
series' dates, else it is the step index 1..horizon (the summary says which). Examples::

    python -m tsssm.forecast checkpoint=outputs/.../best.ckpt input=load.csv output=fc.parquet
    python -m tsssm.forecast checkpoint=best.ckpt input=stores/ output=fc.csv format=long device=cpu
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from pandas.tseries.frequencies import to_offset

from tsssm.data.series_tables import (LAYOUTS, Series, check_unique_ids, input_files, read_series,
                                       table_suffix, write_table)
from tsssm.data.tabular import inferred_frequency
from tsssm.run.checkpoint import LoadedTask, load_task
from tsssm.run.device import resolve_device
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.outputs import check_destination
from tsssm.run.predictions import long_frame
from tsssm.tasks.forecast import ForecastTask


@dataclass(frozen=True)
class ForecastCheckpoint:
    """What forecasting needs of a checkpoint: its task (eval mode, on its device), and the
    channel names and frequency of its training data."""

    task: ForecastTask
    channels: list[str]
    freq: str | None

    @classmethod
    def from_loaded(cls, loaded: LoadedTask[ForecastTask]) -> ForecastCheckpoint:
        """What forecasting needs of a checkpoint read back (``load_task``)."""
        data = loaded.record["data"]
        return cls(loaded.task, list(data["channel_names"]), data["freq"])

    @property
    def lookback(self) -> int:
        return self.task.shape.lookback

    @property
    def horizon(self) -> int:
        return self.task.shape.horizon


def load_forecaster(path: str | Path, device: torch.device | str = "cpu") -> ForecastCheckpoint:
    """The task of a forecasting checkpoint, weights and scaler loaded, built without its data."""
    loaded = load_task(path, expect=ForecastTask, stage=None)
    loaded.task.to(device)
    return ForecastCheckpoint.from_loaded(loaded)


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


def forecast_dates(series: list[Series], model: ForecastCheckpoint,
                   notes: list[str]) -> tuple[pd.Index, str]:
    """``ds`` of every forecast row (series-major, then step) and a line saying where it came from.

    Every series continues its own dates when each of them can; otherwise all get the step index
    1..horizon, so that the column holds one kind of value.
    """
    windows = [s.dates[-model.lookback:] for s in series]
    notes += filter(None, (frequency_mismatch(s, w, model.freq) for s, w in zip(series, windows)))
    futures = [future_dates(dates, model.horizon, model.freq) for dates in windows]
    lacking = [s.unique_id for s, future in zip(series, futures) if future is None]
    kinds = {isinstance(future, pd.DatetimeIndex) for future in futures}
    if lacking or len(kinds) > 1:
        reason = (f"no regular frequency in the dates of series {lacking}" if lacking
                  else "some series have dates and some integer time steps")
        steps = pd.Index(np.tile(np.arange(1, model.horizon + 1), len(series)))
        return steps, f"the step index 1..{model.horizon} ({reason})"
    if kinds == {False}:
        source = "each series' integer time steps, continued at their spacing"
    elif model.freq:
        source = f"dates continued at the checkpoint's frequency {model.freq!r}"
    else:
        source = "dates continued at each series' inferred frequency"
    return futures[0].append(futures[1:]), source


@torch.no_grad()
def predict(model: ForecastCheckpoint, series: list[Series], batch_size: int) -> np.ndarray:
    """Forecasts ``(N, H, C)`` in original units from the last ``lookback`` rows of each series,
    normalised as ``LTSFDataModule`` normalised the training windows."""
    mean = model.task.scaler_mean.double().cpu().numpy()
    std = model.task.scaler_std.double().cpu().numpy()
    windows = np.stack([s.values[-model.lookback:] for s in series])  # (N, L, C) float64
    x = torch.from_numpy(((windows - mean) / std).astype(np.float32))
    device = model.task.device
    parts = [model.task.predict_step(batch.to(device), index).cpu()
             for index, batch in enumerate(x.split(batch_size))]
    return torch.cat(parts).numpy()


def forecast_table(series: list[Series], forecasts: np.ndarray, ds: pd.Index,
                   channels: list[str]) -> pd.DataFrame:
    """Long format: ``unique_id, ds, channel, forecast``, one row per series, step and channel."""
    table = long_frame(np.arange(len(series)), forecasts, ForecastTask.prediction_axes,
                       ForecastTask.prediction_value)
    window, step = table["window"].to_numpy(), table["step"].to_numpy()
    ids = np.array([s.unique_id for s in series], dtype=object)
    names = np.array(channels, dtype=object)
    return pd.DataFrame({"unique_id": ids[window],
                         "ds": ds.take(window * forecasts.shape[1] + step),
                         "channel": names[table["channel"].to_numpy()],
                         "forecast": table[ForecastTask.prediction_value].to_numpy(dtype=np.float64)})


def forecast_series(model: ForecastCheckpoint, series: list[Series], notes: list[str],
                    batch_size: int = 256) -> tuple[pd.DataFrame, str]:
    """The long table of forecasts of ``series`` (checked, ids unique), and where its ``ds``
    came from; notes on the dates are added to ``notes``."""
    check_unique_ids(series)
    forecasts = predict(model, series, batch_size)
    ds, ds_source = forecast_dates(series, model, notes)
    return forecast_table(series, forecasts, ds, model.channels), ds_source


def forecast_files(checkpoint: str | Path, source: str | Path, output: str | Path,
                   layout: str = "auto", device: str = "auto",
                   batch_size: int = 256) -> pd.DataFrame:
    """Forecast every series of ``source`` (a file or folder) with ``checkpoint``; write and return
    the long table (module docstring) and print a summary."""
    output = Path(output)
    table_suffix(output, "output")
    check_destination(output, [Path(source), Path(checkpoint)])
    if layout not in LAYOUTS:
        raise ValueError(f"format must be one of {LAYOUTS}, got {layout!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    model = load_forecaster(checkpoint, resolve_device(str(device)))
    notes: list[str] = []
    series = [s for path in input_files(Path(source))
              for s in read_series(path, layout, model.channels, model.lookback, notes)]
    table, ds_source = forecast_series(model, series, notes, batch_size)
    write_table(table, output)
    for note in notes:
        print(f"note: {note}")
    print(f"forecast: {len(series)} series x {model.horizon} steps x {len(model.channels)} "
          f"channels {model.channels} from checkpoint {checkpoint} (lookback {model.lookback}, "
          f"device {model.task.device})\nds: {ds_source}\nwrote {output} ({len(table)} rows)")
    return table


@hydra_entry_point("forecast")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    forecast_files(cfg.checkpoint, cfg.input, cfg.output, cfg.format, cfg.device, cfg.batch_size)


if __name__ == "__main__":
    main()
