"""Reading a multivariate series from CSV, CSV.gz, Parquet or LSTNet text, and checking it is usable.

Why so strict: a forecasting number is only meaningful if the matrix behind it is what we think it is. A
stray text column, a NaN or inf, a repeated date or a truncated file would otherwise turn into a silent
wrong result, so every problem is a one-line error that names the file, the column or row, and what was
expected. Values and dates are checked by `series_checks`, as forecast input is.

Formats (picked from the file name):
- wide CSV (`.csv`, `.csv.gz`) or Parquet (`.parquet`): an optional date column plus one numeric column per
  variable, one row per time step;
- LSTNet text (`.txt`, `.txt.gz`): a headerless comma-separated float matrix without dates; its variables
  are named "0", "1", ... in file order.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tsssm.data.series_checks import check_date_order, finite_values, parse_dates

_FORMAT_BY_SUFFIX = {
    ".csv": "wide_csv",
    ".csv.gz": "wide_csv",
    ".parquet": "parquet",
    ".txt": "lstnet_txt",
    ".txt.gz": "lstnet_txt",
}


_EXPECTED = {
    "wide_csv": "a CSV table: a header line, then one row per time step",
    "parquet": "a Parquet table with one row per time step",
    "lstnet_txt": "comma-separated numbers without a header, one row per time step",
}
_READERS = {
    "wide_csv": pd.read_csv,
    "parquet": pd.read_parquet,
    "lstnet_txt": lambda path: pd.read_csv(path, header=None),
}
# What pandas and pyarrow raise on bytes that are not the table the name promises.
_UNREADABLE = (pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
               gzip.BadGzipFile, EOFError, zlib.error)


def table_format(path: Path) -> str:
    """The format implied by a file name; an unknown extension is an error listing the supported ones."""
    name = path.name.lower()
    for suffix in sorted(_FORMAT_BY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return _FORMAT_BY_SUFFIX[suffix]
    raise ValueError(
        f"{path}: unsupported file extension; expected one of {', '.join(_FORMAT_BY_SUFFIX)}"
    )


def read_frame(path: Path, expected_format: str | None = None) -> pd.DataFrame:
    """Read a table as a DataFrame (columns as strings, at least one row). `expected_format` guards
    registry files. A folder, a missing, empty or unreadable file is an error naming the file."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a table file ({', '.join(_FORMAT_BY_SUFFIX)})")
    file_format = table_format(path)
    if expected_format is not None and file_format != expected_format:
        raise ValueError(f"{path}: the file name says {file_format!r} but the registry expects {expected_format!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; expected {_EXPECTED[file_format]}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes); expected {_EXPECTED[file_format]}")
    try:
        frame = _READERS[file_format](path)
    except _UNREADABLE as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(f"{path}: unreadable ({reason}); expected {_EXPECTED[file_format]}") from error
    if len(frame) == 0:
        raise ValueError(f"{path}: header only, no data rows (columns {[str(c) for c in frame.columns]}); "
                         f"expected {_EXPECTED[file_format]}")
    return named_columns(frame, str(path))


def named_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """``frame`` with its column names as strings; names that repeat are an error naming
    ``source``."""
    frame = frame.set_axis([str(column) for column in frame.columns], axis=1)
    if frame.columns.has_duplicates:
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValueError(f"{source}: duplicated column names {duplicated}")
    return frame


def variables(frame: pd.DataFrame, source: str, date_column: str | None = "date") -> tuple[np.ndarray, list[str]]:
    """The variables of a wide table as a float64 matrix (T, C) and their names, the date column dropped.

    Errors name `source` and list non-numeric columns (with their dtype), or the columns and first
    row of NaN, inf or -inf values.
    """
    if date_column is not None and date_column in frame.columns:
        frame = frame.drop(columns=[date_column])
    if frame.shape[1] == 0:
        raise ValueError(f"{source}: no variable columns besides the date column {date_column!r}")
    non_numeric = [
        f"{column} ({frame[column].dtype})"
        for column in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])
    ]
    if non_numeric:
        raise ValueError(
            f"{source}: non-numeric columns {', '.join(non_numeric)}; every column but the date column "
            f"({date_column!r}) must hold numbers. If one of them is the date column, pass date_column=<its name>."
        )
    values = frame.to_numpy(dtype=np.float64)
    finite_values(values, list(frame.columns), frame.index, source)
    return values, list(frame.columns)


def check_shape(values: np.ndarray, n_rows: int | None, n_vars: int | None, source: str) -> None:
    """Raise if a registry file does not have its published shape (rows × variables, date excluded)."""
    rows, columns = values.shape
    if (n_rows is not None and rows != n_rows) or (n_vars is not None and columns != n_vars):
        raise ValueError(
            f"{source}: expected {n_rows} rows × {n_vars} variables (the published shape), got {rows} × {columns}; "
            "the file is truncated or a different version"
        )


def check_features(features: str) -> None:
    """Raise unless `features` is "M" (all variables) or "S" (only the target)."""
    if features not in ("M", "S"):
        raise ValueError(f"features must be 'M' (all variables) or 'S' (only the target), got {features!r}")


def select_channels(
    values: np.ndarray, names: list[str], target: str | None, features: str, source: str
) -> tuple[np.ndarray, list[str]]:
    """Order the variables as Time-Series-Library does and pick them by `features`.

    "M": every variable, the target moved to the last column (other variables keep file order).
    "S": only the target. `target=None` means the last column. values: (T, C) -> (T, C') float64.
    """
    check_features(features)
    target = names[-1] if target is None else target
    if target not in names:
        raise ValueError(f"{source}: target column {target!r} not found; available columns: {', '.join(names)}")
    index = names.index(target)
    order = [i for i in range(len(names)) if i != index] + [index] if features == "M" else [index]
    return values[:, order], [names[i] for i in order]


def inferred_frequency(dates: pd.Index | pd.Series) -> str | None:
    """The pandas frequency alias of ``dates``, or None where pandas finds none (irregular steps,
    integer steps, fewer than 3 dates)."""
    try:
        return pd.infer_freq(dates)
    except (TypeError, ValueError):
        return None


def series_dates(frame: pd.DataFrame, date_column: str | None, source: str) -> pd.Index | None:
    """The dates (or integer steps) of a frame's date column, each parsed, sorted and unique; None
    without that column. Errors name `source` and the first row that fails."""
    if date_column not in frame.columns:
        return None
    dates = parse_dates(frame[date_column], source)
    check_date_order(dates, frame.index, source)
    return dates
