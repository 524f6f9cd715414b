"""forecast: a trained checkpoint and files of series in, a long table of forecasts out (reading
and checking the series; the table's layout and the Python API: test_forecast_table.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests import cli
from tests.checkpoints import edited_checkpoint
from tsssm.data.ltsf import LTSFDataModule
from tsssm.data.synthetic import synthetic_frame
from tsssm.forecast import forecast_files
from tsssm.forecasting.checkpoints import load_forecaster
from tsssm.run.checkpoint import CheckpointError, load_task
from tsssm.tasks.language_model import LanguageModelTask

LOOKBACK, HORIZON = 48, 12  # FAST's
CHANNELS = ["x0", "x1", "x2", "x3"]
SERIES = synthetic_frame(n_rows=700)  # the training data of FAST's synthetic default
DAILY = pd.date_range("2020-01-01", periods=60, freq="D")
SQUARES = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(60) ** 2, "h")  # irregular


def forecast(checkpoint: Path, source: Path, output: Path, **options) -> pd.DataFrame:
    return forecast_files(checkpoint, source, output, device="cpu", **options)


def by_step(table: pd.DataFrame, series: str, channels: list[str], model: str) -> np.ndarray:
    """One series' forecasts ``(H, C)`` from its long table (ids ``<series>/<channel>``)."""
    ids = [f"{series}/{channel}" for channel in channels]
    return table.pivot(index="ds", columns="unique_id", values=model)[ids].to_numpy()


@pytest.mark.parametrize("dates,freq", [
    (pd.date_range("2021-03-01", periods=50, freq="15min"), "15min"),
    (SQUARES[:50], None),
])
def test_the_frequency_of_a_user_file_is_inferred_for_its_checkpoints(tmp_path, dates, freq):
    SERIES.iloc[:50].assign(date=dates).to_csv(tmp_path / "mine.csv", index=False)
    data = LTSFDataModule(name=None, path=tmp_path / "mine.csv", lookback=4, horizon=2)
    data.setup()
    assert data.freq == freq


@torch.no_grad()
def test_a_wide_csv_is_forecast_as_training_fed_the_network(forecasters, tmp_path, capsys):
    frame = SERIES.iloc[:-HORIZON]  # its last LOOKBACK rows are the input of the last test window
    frame.to_csv(tmp_path / "plant.csv", index=False)
    table = forecast(forecasters["dlinear"], tmp_path / "plant.csv", tmp_path / "fc.parquet")
    assert table.equals(pd.read_parquet(tmp_path / "fc.parquet"))
    assert list(table.columns) == ["unique_id", "ds", "dlinear"]
    assert list(table["unique_id"].unique()) == [f"plant/{c}" for c in CHANNELS]
    assert len(table) == HORIZON * len(CHANNELS)
    future = pd.date_range(frame["date"].iloc[-1], periods=HORIZON + 1, freq="h")[1:]
    assert (pd.DatetimeIndex(table["ds"].unique()) == future).all()
    assert "dates continued at the checkpoint's frequency 'h'" in capsys.readouterr().out

    task = load_forecaster(forecasters["dlinear"]).task
    mean, std = task.scaler_mean.double().numpy(), task.scaler_std.double().numpy()
    window = frame[CHANNELS].to_numpy()[-LOOKBACK:]
    x = torch.from_numpy(((window - mean) / std).astype(np.float32))
    assert np.array_equal(by_step(table, "plant", CHANNELS, "dlinear"), task.predict_step(x[None], 0)[0].numpy())

    trained = load_task(forecasters["dlinear"], stage="test")
    test_windows = trained.datamodule.datasets["test"]
    x_test, _ = test_windows[len(test_windows) - 1]
    # training normalised with the float64 scaler the checkpoint keeps as float32
    torch.testing.assert_close(x, x_test, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.tensor(by_step(table, "plant", CHANNELS, "dlinear"), dtype=torch.float32),
                               trained.task.predict_step(x_test[None], 0)[0], rtol=1e-5, atol=1e-5)


def test_long_input_gives_one_series_per_unique_id_equal_to_its_wide_forecast(forecasters,
                                                                              tmp_path):
    parts = {"north": SERIES.iloc[:600], "south": SERIES.iloc[:650]}
    long = pd.concat([part.rename(columns={"date": "ds"}).assign(unique_id=name)
                      for name, part in parts.items()])
    long.to_csv(tmp_path / "stores.csv", index=False)
    folder = tmp_path / "wide"
    folder.mkdir()
    for name, part in parts.items():
        part.to_parquet(folder / f"{name}.parquet")
    from_long = forecast(forecasters["dlinear"], tmp_path / "stores.csv", tmp_path / "long.csv")
    from_wide = forecast(forecasters["dlinear"], folder, tmp_path / "wide.parquet", layout="wide")
    assert sorted(from_long["unique_id"].unique()) == [f"{name}/{c}" for name in ("north", "south")
                                                       for c in CHANNELS]
    pd.testing.assert_frame_equal(from_long, from_wide)
    written = pd.read_csv(tmp_path / "long.csv", parse_dates=["ds"])
    assert np.array_equal(written["dlinear"], from_long["dlinear"])
    assert (written["ds"] == from_long["ds"]).all()


def test_a_univariate_model_reads_y_or_its_channel_and_ignores_other_columns(forecasters, tmp_path,
                                                                              capsys):
    frame = SERIES.iloc[:-HORIZON]
    frame.to_csv(tmp_path / "all.csv", index=False)
    frame[["date", "x3"]].rename(columns={"date": "ds", "x3": "y"}).assign(unique_id="all").to_csv(
        tmp_path / "y.csv", index=False)
    wide = forecast(forecasters["mamba"], tmp_path / "all.csv", tmp_path / "wide.csv")
    assert "ignored columns ['x0', 'x1', 'x2']" in capsys.readouterr().out
    long = forecast(forecasters["mamba"], tmp_path / "y.csv", tmp_path / "long.csv")
    pd.testing.assert_frame_equal(wide, long)
    assert list(long.columns) == ["unique_id", "ds", "mamba"]
    assert set(long["unique_id"]) == {"all"} and len(long) == HORIZON


@pytest.mark.parametrize("freq,dates,expected,says", [
    ("h", DAILY, pd.date_range(DAILY[-1], periods=13, freq="h")[1:], "dates step by 'D'"),
    (None, DAILY, pd.date_range(DAILY[-1], periods=13, freq="D")[1:], "each series' inferred"),
    (None, SQUARES, range(1, 13), "step index 1..12 (no regular frequency in the dates of "
                                  "series ['s'])"),
    ("h", np.arange(60) * 10, range(600, 720, 10), "integer time steps, continued"),
])
def test_dates_continue_at_the_series_frequency(forecasters, tmp_path, capsys, freq, dates,
                                                expected, says):
    checkpoint = edited_checkpoint(forecasters["dlinear"], tmp_path / "edited.ckpt",
                                   lambda record: record["data"].update(freq=freq))
    SERIES.iloc[:60].assign(date=dates).to_csv(tmp_path / "s.csv", index=False)
    table = forecast(checkpoint, tmp_path / "s.csv", tmp_path / "fc.parquet")
    assert list(table["ds"].unique()) == list(expected)
    assert says in capsys.readouterr().out


def test_a_nan_before_the_lookback_is_not_read(forecasters, tmp_path):
    frame = SERIES.iloc[:200].copy()
    frame.loc[10, "x1"] = np.nan
    frame.to_csv(tmp_path / "gap.csv", index=False)
    SERIES.iloc[:200].to_csv(tmp_path / "full.csv", index=False)
    gap = forecast(forecasters["dlinear"], tmp_path / "gap.csv", tmp_path / "gap.parquet")
    full = forecast(forecasters["dlinear"], tmp_path / "full.csv", tmp_path / "full.parquet")
    assert np.array_equal(gap["dlinear"], full["dlinear"])


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def swapped_rows(frame: pd.DataFrame, i: int, j: int) -> pd.DataFrame:
    frame = frame.copy()
    frame.iloc[[i, j]] = frame.iloc[[j, i]].to_numpy()
    return frame


def with_value(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.copy().astype({column: object})
    frame.loc[row, column] = value
    return frame


def bad_folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in names:
        path = folder / name
        if name.endswith(".parquet"):
            SERIES.to_parquet(path)
        else:
            SERIES.to_csv(path, index=False)
    return folder


SHORT = SERIES.iloc[:100]
BAD_INPUTS = {
    "missing channel": (lambda p: write_csv(SHORT.drop(columns="x2"), p / "a.csv"),
                        r"a.csv: missing channel columns \['x2'\]; the model was trained on "
                        r"channels \['x0', 'x1', 'x2', 'x3'\]"),
    "too few rows": (lambda p: write_csv(SERIES.iloc[:30], p / "a.csv"),
                     r"a.csv: 30 rows, but the model reads the last lookback=48 rows"),
    "nan in lookback": (lambda p: write_csv(with_value(SHORT, 95, "x1", np.nan), p / "a.csv"),
                        r"1 missing values \(NaN\) in the last lookback=48 rows, the first at "
                        r"row 95 .*in columns \['x1'\]"),
    "unparseable date": (lambda p: write_csv(with_value(SHORT, 10, "date", "soon"), p / "a.csv"),
                         r"a.csv: date column 'date' has 'soon' at row 10 .*which is not a date"),
    "unsorted dates": (lambda p: write_csv(swapped_rows(SHORT, 5, 6), p / "a.csv"),
                       r"dates must be sorted and unique, but row 6 \(2016-07-01 05:00:00\) comes "
                       r"before the date of row 5"),
    "repeated date": (lambda p: write_csv(with_value(SHORT, 6, "date", SHORT["date"][5]),
                                          p / "a.csv"),
                      r"but row 6 \(2016-07-01 05:00:00\) repeats the date of row 5"),
    "long series without a channel": (
        lambda p: write_csv(SHORT[["date", "x3"]].rename(columns={"date": "ds", "x3": "y"})
                            .assign(unique_id="shop"), p / "a.csv"),
        r"missing channel columns \['x0', 'x1', 'x2', 'x3'\]"),
    "long format without its columns": (lambda p: write_csv(SHORT, p / "a.csv"),
                                        r"format=long needs columns \['unique_id', 'ds'\]"),
    "unknown suffix": (lambda p: write_csv(SHORT, p / "a.xlsx"),
                       r"input .*a.xlsx: unsupported file extension; expected one of .csv"),
    "empty folder": (lambda p: bad_folder(p, ["notes.txt"]), r"folder .* holds no .csv"),
    "one name twice": (lambda p: bad_folder(p, ["a.csv", "a.parquet"]),
                       r"two series are named 'a': input .*a.csv and input .*a.parquet"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_named_with_what_was_expected(forecasters, tmp_path, case):
    make, message = BAD_INPUTS[case]
    layout = "long" if case == "long format without its columns" else "auto"
    with pytest.raises(ValueError, match=message):
        forecast(forecasters["dlinear"], make(tmp_path), tmp_path / "fc.parquet", layout=layout)
    assert not (tmp_path / "fc.parquet").exists()


SEQUENCE_TASK = f"{LanguageModelTask.__module__}.{LanguageModelTask.__qualname__}"


@pytest.mark.parametrize("edit,message", [
    (lambda record: record["config"]["task"].update(_target_=SEQUENCE_TASK),
     f"holds a sequence model ({SEQUENCE_TASK}), not a forecaster: a forecaster is trained with "
     "task=forecast"),
    (lambda record: record.pop("data"), "cannot be built without its data: it keeps no record of "
                                        "its training data"),
])
def test_a_checkpoint_that_cannot_forecast_is_refused(forecasters, tmp_path, edit, message):
    checkpoint = edited_checkpoint(forecasters["dlinear"], tmp_path / "edited.ckpt", edit)
    write_csv(SHORT, tmp_path / "a.csv")
    with pytest.raises(CheckpointError, match=re.escape(message)):
        forecast(checkpoint, tmp_path / "a.csv", tmp_path / "fc.parquet")


def test_the_command_line_writes_the_table_and_nothing_else(forecasters, tmp_path):
    write_csv(SERIES, tmp_path / "plant.csv")
    result = cli.run_module("tsssm.forecast", [f"checkpoint={forecasters['mamba']}",
                                               "input=plant.csv", "output=fc.csv", "device=cpu"],
                            tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "forecast: 1 series x 12 steps x 1 channels ['x3']" in result.stdout
    assert "wrote fc.csv (12 rows), columns ['unique_id', 'ds', 'mamba']" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.csv", "plant.csv"]
    assert len(pd.read_csv(tmp_path / "fc.csv")) == HORIZON


@pytest.mark.parametrize("checkpoint", ["", "  ", []])
def test_an_empty_checkpoint_is_refused_as_empty_not_taken_for_the_current_folder(tmp_path,
                                                                                  checkpoint):
    write_csv(SERIES, tmp_path / "plant.csv")
    with pytest.raises(ValueError, match="checkpoint is empty"):
        forecast_files(checkpoint, tmp_path / "plant.csv", tmp_path / "fc.csv")
