"""How a batch forecast is cut into pieces that workers take one at a time.

A unit is one input file, or a part of a long file's series (``unique_id``\\ s): a folder of many
files spreads file by file, and when there are fewer files than workers each long file's series
are split into parts, so that a single large file still keeps every worker busy. Only the header
and the ``unique_id`` column are read to plan; the order of units and of ids within them is the
order the local run reads series in (files sorted, ids in order of first appearance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tsssm.data.series_tables import LONG_KEYS, table_layout, table_suffix


@dataclass(frozen=True)
class WorkUnit:
    """A file, or the series ``ids`` of it (None: all of them)."""

    path: Path
    ids: tuple[str, ...] | None = None


def is_parquet(path: Path) -> bool:
    return table_suffix(path, "input") == ".parquet"


def header(path: Path) -> pd.DataFrame:
    """The file's columns, without rows."""
    if is_parquet(path):
        return pd.DataFrame(columns=pq.read_schema(path).names)
    return pd.read_csv(path, nrows=0)


def series_ids(path: Path, layout: str) -> list[str] | None:
    """The ``unique_id``\\ s of a long file in order of first appearance; None for a wide file, or
    one with a row lacking its id (read whole, it is refused as the local run refuses it)."""
    if table_layout(header(path), layout, f"input {path}") != "long":
        return None
    column = LONG_KEYS[0]
    ids = (pd.read_parquet(path, columns=[column]) if is_parquet(path)
           else pd.read_csv(path, usecols=[column]))[column]
    if ids.isna().any():
        return None
    return list(pd.unique(ids.astype(str)))


def plan_units(files: list[Path], layout: str, workers: int) -> list[WorkUnit]:
    """The units of a forecast over ``files`` for ``workers`` workers (module docstring)."""
    if len(files) >= workers:
        return [WorkUnit(path) for path in files]
    parts_per_file = -(-workers // len(files))
    units = []
    for path in files:
        ids = series_ids(path, layout)
        if ids is None or len(ids) < 2:
            units.append(WorkUnit(path))
            continue
        units += [WorkUnit(path, tuple(part))
                  for part in np.array_split(np.array(ids, dtype=object),
                                             min(parts_per_file, len(ids)))]
    return units
