"""Files of series a user brings to a trained forecaster: CSV or Parquet, wide or long.

- **wide**: a date column (``date`` or ``ds``, else the first column) and one column per channel:
  the file is one series, named by the file;
- **long**: ``unique_id``, ``ds`` and one column per channel (``y`` for a one-channel model):
  one series per ``unique_id``.

Reading checks what a forecast needs and names the file, series, row or column that fails: every
channel by name, numbers in them, dates (or integer steps) sorted and unique, at least ``lookback``
rows, no NaN, inf or -inf among the last ``lookback``. Values and dates are checked by
``series_checks``, as training checks its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsssm.data.atomic import write_atomically
from tsssm.data.series_checks import check_date_order, finite_values, parse_dates
from tsssm.data.tabular import read_frame

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
LAYOUTS = ("auto", "wide", "long")
LONG_KEYS = ("unique_id", "ds")
WIDE_DATE_COLUMNS = ("date", "ds")
UNIVARIATE_COLUMN = "y"


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


def input_files(source: Path) -> list[Path]:
    """``source`` itself, or the table files of the folder ``source``, sorted."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir()
                       if p.is_file() and not p.name.startswith(".")
                       and p.name.lower().endswith(TABLE_SUFFIXES))
        if not files:
            raise ValueError(f"input folder {source} holds no {', '.join(TABLE_SUFFIXES)} files")
        return files
    if not source.is_file():
        raise FileNotFoundError(f"input {source} does not exist")
    table_suffix(source, "input")
    return [source]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file, read and refused as training reads its files (``tabular.read_frame``:
    string column names, none twice, at least one row; an unreadable file named)."""
    table_suffix(path, "input")
    return read_frame(path)


def table_layout(frame: pd.DataFrame, layout: str, path: Path | str) -> str:
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


def check_series(series: Series, rows: pd.Index, columns: list[str], lookback: int) -> None:
    """Dates strictly increasing, at least ``lookback`` rows, finite values in the last ``lookback``
    (the rows the model reads; older gaps are harmless).

    ``rows``: the series' row labels in its file; ``columns``: the file's column of each channel.
    """
    check_date_order(series.dates, rows, series.where)
    if len(series.dates) < lookback:
        raise ValueError(f"{series.where}: {len(series.dates)} rows, but the model reads the last "
                         f"lookback={lookback} rows of a series")
    finite_values(series.values[-lookback:], columns, rows[-lookback:], series.where,
                  f"the last lookback={lookback} rows")


def series_rows(frame: pd.DataFrame, layout: str, path: Path | str,
                series_id: str) -> dict[str, np.ndarray]:
    """The positions of each series' rows: the whole table (named ``series_id``) or each
    ``unique_id``."""
    if layout == "wide":
        return {series_id: np.arange(len(frame))}
    missing = frame["unique_id"].isna().to_numpy()
    if missing.any():
        row = frame.index[missing.argmax()]
        raise ValueError(f"input {path}: unique_id is missing at row {row} (counting data rows "
                         "from 0)")
    ids = frame["unique_id"].astype(str)
    rows = ids.groupby(ids).indices
    return {uid: rows[uid] for uid in ids.unique()}


def read_series(path: Path, layout: str, channels: list[str], lookback: int,
                notes: list[str]) -> list[Series]:
    """Every series of one input file with ``channels`` in that order, checked for a model that
    reads the last ``lookback`` rows; a note for each file with unused columns."""
    series_id = path.name.removesuffix(table_suffix(path, "input"))
    return frame_series(read_table(path), str(path), series_id, layout, channels, lookback, notes)


def frame_series(frame: pd.DataFrame, source: str, series_id: str, layout: str,
                 channels: list[str], lookback: int, notes: list[str]) -> list[Series]:
    """``read_series`` of a table read from ``source`` (named in messages); ``series_id`` names
    the one series of a wide table."""
    layout = table_layout(frame, layout, source)
    if layout == "long":
        date_column, keys = "ds", list(LONG_KEYS)
    else:
        date_column = next((c for c in WIDE_DATE_COLUMNS if c in frame.columns), frame.columns[0])
        keys = [date_column]
    where = f"input {source}"
    columns = channel_columns([c for c in frame.columns if c not in keys], channels, where)
    not_numeric = [f"{c} ({frame[c].dtype})" for c in columns
                   if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    if not_numeric:
        raise ValueError(f"{where}: channel columns {', '.join(not_numeric)} must hold numbers")
    ignored = [c for c in frame.columns if c not in keys and c not in columns]
    if ignored:
        notes.append(f"{source}: ignored columns {ignored} (not channels of the model)")
    dates = parse_dates(frame[date_column], where)
    values = frame[columns].to_numpy(dtype=np.float64)
    found = []
    for uid, rows in series_rows(frame, layout, source, series_id).items():
        label = where if layout == "wide" else f"series {uid!r} of {where}"
        series = Series(uid, label, dates[rows], values[rows])
        check_series(series, frame.index[rows], columns, lookback)
        found.append(series)
    return found


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
