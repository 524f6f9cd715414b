"""Checks on the values and dates of a series, shared by training files and forecast input.

Training and forecasting read different files for different ends, but a value or a date is wrong
the same way in both: one check each, so both refuse the same things with the same words. Rows are
named by their label in the file's frame, which counts data rows from 0 (the header excluded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROWS_COUNTED = "(data rows counted from 0)"


def finite_values(values: np.ndarray, columns: list[str], rows: pd.Index, where: str,
                  scope: str = "the series") -> None:
    """Raise naming the columns and first row of any NaN, then of any inf or -inf, in ``values``.

    values: (T, C) float64; columns: the C column names; rows: the T row labels; scope: how the
    message names the rows checked (e.g. "the last lookback=96 rows").
    """
    for problem, bad in (("missing values (NaN)", np.isnan(values)),
                         ("infinite values (inf or -inf)", np.isinf(values))):
        if bad.any():
            first = rows[bad.any(axis=1).argmax()]
            named = [column for column, hit in zip(columns, bad.any(axis=0)) if hit]
            raise ValueError(f"{where}: {int(bad.sum())} {problem} in {scope}, the first at row "
                             f"{first} {ROWS_COUNTED}, in columns {named}; expected finite "
                             "numbers: fill or drop them first")


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
                         f"{ROWS_COUNTED}, which is not a date; expected dates or integer time steps")
    return pd.Index(dates)


def check_date_order(dates: pd.Index, rows: pd.Index, where: str) -> None:
    """Raise naming the first row whose date repeats or precedes the one before it.

    dates: (T,) parsed dates or integer steps; rows: their T row labels in the file.
    """
    out_of_order = np.flatnonzero(~(dates[1:] > dates[:-1]))
    if out_of_order.size:
        i = out_of_order[0] + 1
        problem = "repeats" if dates[i] == dates[i - 1] else "comes before"
        raise ValueError(f"{where}: dates must be sorted and unique, but row {rows[i]} "
                         f"({dates[i]}) {problem} the date of row {rows[i - 1]} ({dates[i - 1]}) "
                         f"{ROWS_COUNTED}; expected each date later than the one before: sort the rows by "
                         "date and drop duplicates")
