"""Long-horizon forecasting data: the LTSF protocol as a LightningDataModule.

The protocol is Time-Series-Library's, row for row: the split of `splits.py`; a StandardScaler
(mean and ddof-0 std, a zero std replaced by 1, as sklearn does) fit on the train part only — over all
variables for "M", over the target alone for "S"; stride-1 windows of `lookback` inputs and `horizon`
targets; val and test parts starting `lookback` rows before their border. Every loader keeps every
window (no drop_last: the literature's drop_last on the test loader silently skipped windows); only the
train loader shuffles.

Batches are (x, y) float32 on the normalised scale: x (B, lookback, C), y (B, horizon, C).
`scaler_mean` and `scaler_std` (C,) map them back to original units: x * std + mean.

`train_fraction` trains on the last part of the train windows only (`splits.py`); the scaler is still
fit on the whole train part, so validation and test batches are the same at every fraction.
"""

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lightning import LightningDataModule

from tsssm.data.files import locate
from tsssm.data.registry import SPLIT_RULES, TabularSpec, get_tabular_spec
from tsssm.data.sampling import SplitLoaders
from tsssm.data.splits import Borders, check_fraction, check_length, ltsf_borders
from tsssm.data.synthetic import synthetic_frame
from tsssm.data.tabular import (check_features, check_shape, inferred_frequency, read_frame,
                                 select_channels, series_dates, variables)
from tsssm.data.windows import WindowDataset

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PreparedSeries:
    """What setup() produces: the windows of each split and what models and metrics need to know."""

    datasets: dict[str, WindowDataset]
    borders: Borders
    channel_names: list[str]
    scaler_mean: torch.Tensor  # (C,) float32
    scaler_std: torch.Tensor  # (C,) float32
    freq: str | None  # pandas alias of the time step; None without regular dates


def fit_scaler(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and population std (ddof 0) of train (T, C) float64; a zero std becomes 1."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 10 * np.finfo(np.float64).eps] = 1.0
    return mean, std


class LTSFDataModule(SplitLoaders, LightningDataModule):
    """Windows of a registry dataset (`name`), a user CSV/Parquet/LSTNet file (`path`) or the synthetic default.

    name: a registry name ("ETTh1", ..., "synthetic"), or None with `path`.
    path: a user file; its split defaults to "ratio" and its seasonal period to 1 (repeat the last value).
    root: data root (else env TSSSM_DATA, else ./data). features: "M" all variables, "S" only the target.
    target: the "S" variable and the one "M" puts last; None = the registry's default (last column for
    files without "OT"). split: override the registry's rule. synthetic: options of `synthetic_frame`.
    train_fraction: the share of the train windows trained on, the most recent ones (module docstring).
    """

    def __init__(
        self,
        name: str | None = "ETTh1",
        path: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        lookback: int = 96,
        horizon: int = 96,
        features: str = "M",
        target: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        split: str | None = None,
        date_column: str | None = "date",
        synthetic: dict | None = None,
        seasonal_period: int | None = None,
        train_fraction: float = 1.0,
    ) -> None:
        super().__init__()
        if (name is None) == (path is None):
            raise ValueError(f"give exactly one of name (a registry dataset) or path (a file); got {name=}, {path=}")
        check_features(features)
        if split is not None and split not in SPLIT_RULES:
            raise ValueError(f"split must be one of {SPLIT_RULES} or None, got {split!r}")
        for field, value in (("lookback", lookback), ("horizon", horizon), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        self.spec: TabularSpec | None = get_tabular_spec(name) if name is not None else None
        if synthetic is not None and (self.spec is None or self.spec.name != "synthetic"):
            raise ValueError(f"synthetic options are only used with name='synthetic', not with {name=}, {path=}")
        self.save_hyperparameters(logger=False)  # the run logs its config itself, once
        self.path = None if path is None else Path(path)
        self.root = root
        self.lookback = lookback
        self.horizon = horizon
        self.features = features
        self.target = target if target is not None or self.spec is None else self.spec.target
        self.batch_size = batch_size
        self.num_workers = int(num_workers)
        self.split = split or (self.spec.split if self.spec is not None else "ratio")
        self.date_column = date_column
        self.synthetic = dict(synthetic or {})
        self._seasonal_period = seasonal_period
        self.train_fraction = check_fraction(train_fraction)
        self._prepared: PreparedSeries | None = None

    @property
    def dataset_name(self) -> str:
        return self.spec.name if self.spec is not None else self.path.name.split(".")[0]

    @property
    def seasonal_period(self) -> int:
        if self._seasonal_period is not None:
            return int(self._seasonal_period)
        return self.spec.seasonal_period if self.spec is not None else 1

    @property
    def freq(self) -> str | None:
        """The series' time step as a pandas alias: the registry's (the synthetic generator's own
        ``freq`` option first), else inferred from a user file's dates at setup; None without regular
        dates."""
        return self._ready().freq

    def _registry_file(self) -> Path:
        return locate(self.spec.source, self.spec.name, self.root)

    def prepare_data(self) -> None:
        """Download the registry file if missing (Lightning runs this on one process only)."""
        if self.spec is not None and self.spec.source is not None:
            self._registry_file()

    def _table(self) -> tuple[pd.DataFrame, str, str | None]:
        """The table of the series, a label naming where it came from, and its date column."""
        if self.spec is None:
            return read_frame(self.path), str(self.path), self.date_column
        if self.spec.source is None:
            return synthetic_frame(**self.synthetic), f"synthetic({self.synthetic})", "date"
        path = self._registry_file()
        return read_frame(path, self.spec.file_format), str(path), self.date_column

    def _read(self) -> tuple[np.ndarray, list[str], str, str | None]:
        """The raw variables (T, C) float64, their names, a label naming where they came from, and
        the time step (``freq``). Values must be finite; dates, where the table has them, must parse,
        sorted and unique."""
        frame, source, date_column = self._table()
        values, names = variables(frame, source, date_column)
        dates = series_dates(frame, date_column, source)
        if self.spec is None:
            return values, names, source, None if dates is None else inferred_frequency(dates)
        if self.spec.source is None:
            return values, names, source, self.synthetic.get("freq", self.spec.freq)
        check_shape(values, self.spec.n_rows, self.spec.n_vars, source)
        return values, names, source, self.spec.freq

    def setup(self, stage: str | None = None) -> None:
        """Read, split, scale and window the series once; later calls reuse it."""
        if self._prepared is not None:
            return
        raw, names, source, freq = self._read()
        values, channel_names = select_channels(raw, names, self.target, self.features, source)
        borders = ltsf_borders(self.split, len(values), self.lookback)
        check_length(borders, len(values), self.lookback, self.horizon, self.split, source)
        mean, std = fit_scaler(values[borders.train.start : borders.train.stop])
        borders = replace(borders, train=borders.train.last_windows(self.train_fraction, self.lookback,
                                                                     self.horizon))
        series = torch.from_numpy(((values - mean) / std).astype(np.float32))
        self._prepared = PreparedSeries(
            datasets={
                name: WindowDataset(series[part.start : part.stop], self.lookback, self.horizon)
                for name, part in borders.items()
            },
            borders=borders,
            channel_names=channel_names,
            scaler_mean=torch.from_numpy(mean.astype(np.float32)),
            scaler_std=torch.from_numpy(std.astype(np.float32)),
            freq=freq,
        )

    def _ready(self) -> PreparedSeries:
        if self._prepared is None:
            raise RuntimeError("LTSFDataModule: call setup() before using its datasets or channel information")
        return self._prepared

    @property
    def datasets(self) -> dict[str, WindowDataset]:
        return self._ready().datasets

    @property
    def borders(self) -> Borders:
        return self._ready().borders

    @property
    def channel_names(self) -> list[str]:
        return self._ready().channel_names

    @property
    def n_channels(self) -> int:
        return len(self._ready().channel_names)

    @property
    def scaler_mean(self) -> torch.Tensor:
        return self._ready().scaler_mean

    @property
    def scaler_std(self) -> torch.Tensor:
        return self._ready().scaler_std
