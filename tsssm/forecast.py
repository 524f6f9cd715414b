"""``python -m tsssm.forecast``: a batch job from a forecasting checkpoint and files of series to
a table of forecasts.

The checkpoint carries its training config and what its data decided (``tsssm.runs``: channel
names in order, target, features mode, frequency), so the network is rebuilt without the training
file. Input: a CSV/Parquet file or a folder of them, each either

- **wide**: a date column (``date`` or ``ds``, else the first column) and one column per channel:
  the file is one series, named by the file;
- **long**: ``unique_id``, ``ds`` and one column per channel (``y`` for a one-channel model):
  one series per ``unique_id``.

Each series needs every training channel by name (other columns are ignored, with a note), sorted
unique dates and at least ``lookback`` rows, the last ``lookback`` without NaN. Those rows are
normalised with the checkpoint's scaler exactly as training normalised its windows, and the task's
``predict_step`` gives the next ``horizon`` steps in original units. Output (Parquet or CSV, by
suffix, written atomically), one row per series, step and channel: ``unique_id, ds, channel,
forecast``; ``ds`` continues each series' dates at the checkpoint's frequency, else at the one
pandas infers from the series' dates, else it is the step index 1..horizon (the summary says which).
Examples::

    python -m tsssm.forecast checkpoint=outputs/.../best.ckpt input=load.csv output=fc.parquet
    python -m tsssm.forecast checkpoint=best.ckpt input=stores/ output=fc.csv format=long device=cpu
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from pandas.tseries.frequencies import to_offset

from tsssm.atomic import write_atomically
from tsssm.fit import build_task
from tsssm.generate import resolve_device
from tsssm.models.shape import ForecastShape
from tsssm.predictions import long_frame
from tsssm.runs import RECORD_KEY, CheckpointError, checkpoint_config, read_checkpoint
from tsssm.tasks.forecast import ForecastTask

FORECAST_TASK = f"{ForecastTask.__module__}.{ForecastTask.__qualname__}"
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
LAYOUTS = ("auto", "wide", "long")
LONG_KEYS = ("unique_id", "ds")
WIDE_DATE_COLUMNS = ("date", "ds")
UNIVARIATE_COLUMN = "y"


@dataclass(frozen=True)
class ForecastCheckpoint:
    """What forecasting needs of a checkpoint: its task (eval mode, on its device) and the sizes,
    channel names and frequency of its training data."""

    task: ForecastTask
    lookback: int
    horizon: int
    channels: list[str]
    freq: str | None


@dataclass(frozen=True)
class Series:
    """One input series: ``values (T, C)`` float64 in the model's channel order, with its dates."""

    unique_id: str
    where: str
    dates: pd.Index
    values: np.ndarray


def table_suffix(path: Path, role: str) -> str:
    """The table suffix of ``path`` (``.csv``, ``.csv.gz``, ``.parquet``); else a clear error."""
    name = path.name.lower()
    for suffix in TABLE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"{role} {path}: unsupported file extension; expected one of "
                     f"{', '.join(TABLE_SUFFIXES)}")


def load_forecaster(path: str | Path, device: torch.device | str = "cpu") -> ForecastCheckpoint:
    """The task of a forecasting checkpoint, weights and scaler loaded, built without its data."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = checkpoint_config(checkpoint, source=path)
    task_target = OmegaConf.select(config, "task._target_")
    if task_target != FORECAST_TASK:
        raise CheckpointError(f"checkpoint {path} is of task {task_target}, not a forecaster: "
                              f"forecast needs a checkpoint trained with task=forecast "
                              f"({FORECAST_TASK}) on series data")
    data = checkpoint[RECORD_KEY].get("data")
    if not data:
        raise CheckpointError(f"checkpoint {path} has no record of its training data (channel "
                              "names, frequency): it was written by an older tsssm.fit; train it "
                              "again to forecast with it")
    channels = list(data["channel_names"])
    shape = ForecastShape(config.data.lookback, config.data.horizon, len(channels),
                          data["seasonal_period"])
    placeholder_scaler = {"scaler_mean": torch.zeros(len(channels)),
                          "scaler_std": torch.ones(len(channels))}
    task = build_task(config, {"shape": shape}, placeholder_scaler)
    task.load_state_dict(checkpoint["state_dict"])
    return ForecastCheckpoint(task.to(device).eval(), shape.lookback, shape.horizon, channels,
                              data["freq"])


def input_files(source: Path, output: Path) -> list[Path]:
    """``source`` itself, or the table files of the folder ``source`` but ``output``, sorted."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir()
                       if p.is_file() and not p.name.startswith(".")
                       and p.name.lower().endswith(TABLE_SUFFIXES)
                       and p.resolve() != output.resolve())
        if not files:
            raise ValueError(f"input folder {source} holds no {', '.join(TABLE_SUFFIXES)} files")
        return files
    if not source.is_file():
        raise FileNotFoundError(f"input {source} does not exist")
    table_suffix(source, "input")
    return [source]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file (read as training reads its files), with string column names."""
    try:
        if table_suffix(path, "input") == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"input {path} could not be read: {error}") from error
    frame.columns = [str(column) for column in frame.columns]
    if frame.columns.has_duplicates:
        raise ValueError(f"input {path}: duplicated column names "
                         f"{sorted(set(frame.columns[frame.columns.duplicated()]))}")
    return frame


def table_layout(frame: pd.DataFrame, layout: str, path: Path) -> str:
    """``wide`` or ``long``: as asked; for ``auto``, long when it has ``unique_id`` and ``ds``."""
    is_long = set(LONG_KEYS) <= set(frame.columns)
    if layout == "long" and not is_long:
        raise ValueError(f"input {path}: format=long needs columns {list(LONG_KEYS)}; "
                         f"found {list(frame.columns)}")
    if layout == "auto":
        return "long" if is_long else "wide"
    return layout


def channel_columns(columns: list[str], channels: list[str], where: str) -> list[str]:
    """The input column holding each training channel, in the model's order."""
    if len(channels) == 1 and channels[0] not in columns and UNIVARIATE_COLUMN in columns:
        return [UNIVARIATE_COLUMN]
    missing = [channel for channel in channels if channel not in columns]
    if missing:
        alternative = f" (or a {UNIVARIATE_COLUMN!r} column)" if len(channels) == 1 else ""
        raise ValueError(f"{where}: missing channel columns {missing}{alternative}; the model was "
                         f"trained on channels {channels}, each needed by name; found {columns}")
    return list(channels)


def parse_dates(column: pd.Series, where: str) -> pd.Index:
    """Dates (or integer time steps) of every row; a row that is neither is named in the error."""
    if pd.api.types.is_integer_dtype(column):
        return pd.Index(column)
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = column
    elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise ValueError(f"{where}: date column {column.name!r} holds {column.dtype} values; "
                         "expected dates or integer time steps")
    else:
        dates = pd.to_datetime(column, errors="coerce")
        if dates.isna().any():
            dates = pd.to_datetime(column, errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        row = column.index[bad.argmax()]
        raise ValueError(f"{where}: date column {column.name!r} has {column[row]!r} at row {row} "
                         "(counting data rows from 0), which is not a date")
    return pd.Index(dates)


def check_series(series: Series, rows: pd.Index, columns: list[str], lookback: int) -> None:
    """Dates strictly increasing, at least ``lookback`` rows, no NaN among the last ``lookback``.

    ``rows``: the series' row labels in its file; ``columns``: the file's column of each channel.
    """
    dates = series.dates
    out_of_order = np.flatnonzero(~(dates[1:] > dates[:-1]))
    if out_of_order.size:
        i = out_of_order[0] + 1
        problem = "repeats" if dates[i] == dates[i - 1] else "comes before"
        raise ValueError(f"{series.where}: dates must be sorted and unique, but row {rows[i]} "
                         f"({dates[i]}) {problem} the date of row {rows[i - 1]} ({dates[i - 1]}) "
                         "(rows counted from 0); sort the rows by date and drop duplicates")
    if len(dates) < lookback:
        raise ValueError(f"{series.where}: {len(dates)} rows, but the model reads the last "
                         f"lookback={lookback} rows of a series")
    nan_rows, nan_channels = np.nonzero(np.isnan(series.values[-lookback:]))
    if nan_rows.size:
        first = rows[len(dates) - lookback + nan_rows[0]]
        named = sorted({columns[c] for c in nan_channels})
        raise ValueError(f"{series.where}: {nan_rows.size} missing values (NaN) in the last "
                         f"lookback={lookback} rows, the first at row {first} (rows counted from "
                         f"0), in columns {named}; fill them first")


def series_rows(frame: pd.DataFrame, layout: str, path: Path) -> dict[str, np.ndarray]:
    """The positions of each series' rows: the whole file (named by it) or each ``unique_id``."""
    if layout == "wide":
        return {path.name.removesuffix(table_suffix(path, "input")): np.arange(len(frame))}
    missing = frame["unique_id"].isna().to_numpy()
    if missing.any():
        row = frame.index[missing.argmax()]
        raise ValueError(f"input {path}: unique_id is missing at row {row} (counting data rows "
                         "from 0)")
    ids = frame["unique_id"].astype(str)
    rows = ids.groupby(ids).indices
    return {uid: rows[uid] for uid in ids.unique()}


def read_series(path: Path, layout: str, model: ForecastCheckpoint,
                notes: list[str]) -> list[Series]:
    """Every series of one input file, checked; a note for each file with unused columns."""
    frame = read_table(path)
    layout = table_layout(frame, layout, path)
    if frame.empty:
        raise ValueError(f"input {path} has no rows")
    if layout == "long":
        date_column, keys = "ds", list(LONG_KEYS)
    else:
        date_column = next((c for c in WIDE_DATE_COLUMNS if c in frame.columns), frame.columns[0])
        keys = [date_column]
    where = f"input {path}"
    columns = channel_columns([c for c in frame.columns if c not in keys], model.channels, where)
    not_numeric = [f"{c} ({frame[c].dtype})" for c in columns
                   if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    if not_numeric:
        raise ValueError(f"{where}: channel columns {', '.join(not_numeric)} must hold numbers")
    ignored = [c for c in frame.columns if c not in keys and c not in columns]
    if ignored:
        notes.append(f"{path}: ignored columns {ignored} (not channels of the model)")
    dates = parse_dates(frame[date_column], where)
    values = frame[columns].to_numpy(dtype=np.float64)
    found = []
    for uid, rows in series_rows(frame, layout, path).items():
        label = where if layout == "wide" else f"series {uid!r} of {where}"
        series = Series(uid, label, dates[rows], values[rows])
        check_series(series, frame.index[rows], columns, model.lookback)
        found.append(series)
    return found


def inferred_frequency(dates: pd.Index) -> str | None:
    """The pandas frequency alias of ``dates``, or None where pandas finds none (or < 3 dates)."""
    try:
        return pd.infer_freq(dates)
    except (TypeError, ValueError):
        return None


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
    table = long_frame(np.arange(len(series)), forecasts, ("step", "channel"), "forecast")
    window, step = table["window"].to_numpy(), table["step"].to_numpy()
    ids = np.array([s.unique_id for s in series], dtype=object)
    names = np.array(channels, dtype=object)
    return pd.DataFrame({"unique_id": ids[window],
                         "ds": ds.take(window * forecasts.shape[1] + step),
                         "channel": names[table["channel"].to_numpy()],
                         "forecast": table["forecast"].to_numpy(dtype=np.float64)})


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """``table`` as Parquet or CSV (by ``path``'s suffix), atomically."""
    parquet = table_suffix(path, "output") == ".parquet"
    return write_atomically(path, lambda tmp: table.to_parquet(tmp, index=False) if parquet
                            else table.to_csv(tmp, index=False))


def check_unique_ids(series: list[Series]) -> None:
    """Two series of one name would be indistinguishable in the output."""
    seen: dict[str, str] = {}
    for s in series:
        if s.unique_id in seen:
            raise ValueError(f"two series are named {s.unique_id!r}: {seen[s.unique_id]} and "
                             f"{s.where}; give every series (file stem or unique_id) its own name")
        seen[s.unique_id] = s.where


def forecast_files(checkpoint: str | Path, source: str | Path, output: str | Path,
                   layout: str = "auto", device: str = "auto",
                   batch_size: int = 256) -> pd.DataFrame:
    """Forecast every series of ``source`` (a file or folder) with ``checkpoint``; write and return
    the long table (module docstring) and print a summary."""
    output = Path(output)
    table_suffix(output, "output")
    if layout not in LAYOUTS:
        raise ValueError(f"format must be one of {LAYOUTS}, got {layout!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    model = load_forecaster(checkpoint, resolve_device(str(device)))
    notes: list[str] = []
    series = [s for path in input_files(Path(source), output)
              for s in read_series(path, layout, model, notes)]
    check_unique_ids(series)
    forecasts = predict(model, series, batch_size)
    ds, ds_source = forecast_dates(series, model, notes)
    table = forecast_table(series, forecasts, ds, model.channels)
    write_table(table, output)
    for note in notes:
        print(f"note: {note}")
    print(f"forecast: {len(series)} series x {model.horizon} steps x {len(model.channels)} "
          f"channels {model.channels} from checkpoint {checkpoint} (lookback {model.lookback}, "
          f"device {model.task.device})\nds: {ds_source}\nwrote {output} ({len(table)} rows)")
    return table


@hydra.main(version_base="1.3", config_path="../conf", config_name="forecast")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    forecast_files(cfg.checkpoint, cfg.input, cfg.output, cfg.format, cfg.device, cfg.batch_size)


if __name__ == "__main__":
    main()
