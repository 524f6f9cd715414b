"""The forecast table in neuralforecast's long format, and the Python API that gives it:
``tsssm.load(checkpoint).predict(frame)``. Forecasts are hand-computable: a DLinear whose weights
read the last input value forecasts that value at every step (``tests.checkpoints.fixed``)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tsssm
from tests import cli
from tests.checkpoints import edited_checkpoint
from tsssm.data.synthetic import synthetic_frame
from tsssm.forecast import forecast_files
from tsssm.forecasting.checkpoints import unique_names
from tsssm.forecasting.long_format import forecast_columns, long_table
from tsssm.tasks.quantiles import QuantileLevels

HORIZON = 12
CHANNELS = ["x0", "x1", "x2", "x3"]
SERIES = synthetic_frame(n_rows=200)


def test_the_long_table_is_series_then_channel_then_step():
    ds = np.array([[1, 2], [7, 8]])
    values = {"m": np.arange(8.0).reshape(2, 2, 2)}  # (series, step, channel)
    table = long_table(["a", "b"], ["x", "y"], {"ds": ds}, values)
    expected = pd.DataFrame({"unique_id": ["a/x", "a/x", "a/y", "a/y", "b/x", "b/x", "b/y", "b/y"],
                             "ds": [1, 2, 1, 2, 7, 8, 7, 8],
                             "m": [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]})
    pd.testing.assert_frame_equal(table, expected)
    by_column = long_table(["a", "b"], ["x", "y"], {"ds": ds}, values, channel_column=True)
    assert list(by_column.columns) == ["unique_id", "ds", "channel", "m"]
    assert list(by_column["unique_id"]) == ["a"] * 4 + ["b"] * 4
    assert list(by_column["channel"]) == ["x", "x", "y", "y"] * 2
    one = long_table(["a"], ["x"], {"ds": ds[:1]}, {"m": values["m"][:1, :, :1]})
    assert list(one["unique_id"]) == ["a", "a"]


def test_interval_columns_are_named_as_neuralforecast_names_them():
    quantiles = QuantileLevels.from_config("quantile", [80, 90])
    assert forecast_columns("mamba", quantiles) == [
        ("mamba", 2), ("mamba-lo-90", 0), ("mamba-lo-80", 1), ("mamba-hi-80", 3),
        ("mamba-hi-90", 4)]
    assert forecast_columns("mamba", None) == [("mamba", None)]
    assert unique_names(["mamba", "mamba", "dlinear", "mamba"]) == [
        "mamba", "mamba-2", "dlinear", "mamba-3"]


def test_predict_forecasts_the_last_value_of_each_long_series(fixed):
    model = tsssm.load(fixed["point"])
    frame = pd.concat([SERIES.iloc[:100].assign(unique_id="a"),
                       SERIES.iloc[:150].assign(unique_id="b")]).rename(columns={"date": "ds"})
    table = model.predict(frame)
    assert list(table.columns) == ["unique_id", "ds", "dlinear"]
    ids = [f"{s}/{c}" for s in ("a", "b") for c in CHANNELS]
    assert list(table["unique_id"].unique()) == ids
    last = np.concatenate([SERIES[CHANNELS].to_numpy()[99], SERIES[CHANNELS].to_numpy()[149]])
    np.testing.assert_allclose(table["dlinear"].to_numpy(), np.repeat(last, HORIZON), rtol=1e-5)
    first_ds = table.groupby("unique_id", sort=False)["ds"].first()
    assert list(first_ds) == [SERIES["date"][100]] * 4 + [SERIES["date"][150]] * 4
    assert "lookback=48" in repr(model) and "horizon=12" in repr(model)


def test_a_quantile_model_gives_its_median_and_intervals(fixed, forecasters):
    model = tsssm.load(fixed["quantile"])
    table = model.predict(SERIES, channel_column=True, name="plant")
    assert list(table.columns) == ["unique_id", "ds", "channel", "dlinear", "dlinear-lo-90",
                                   "dlinear-lo-80", "dlinear-hi-80", "dlinear-hi-90"]
    std = model.checkpoints[0].task.scaler_std.double().numpy()
    last = np.repeat(SERIES[CHANNELS].to_numpy()[-1], HORIZON)
    scale = np.repeat(std, HORIZON)
    for column, offset in [("dlinear", 0), ("dlinear-lo-90", -2), ("dlinear-lo-80", -1),
                           ("dlinear-hi-80", 1), ("dlinear-hi-90", 2)]:
        np.testing.assert_allclose(table[column], last + offset * scale, rtol=1e-5, atol=1e-5)
    trained = tsssm.load(forecasters["quantile"]).predict(SERIES)
    columns = ["dlinear-lo-90", "dlinear-lo-80", "dlinear", "dlinear-hi-80", "dlinear-hi-90"]
    assert (np.diff(trained[columns].to_numpy(), axis=1) >= 0).all()


def test_several_checkpoints_give_a_column_each_on_the_same_rows(fixed, forecasters):
    both = tsssm.load([fixed["point"], forecasters["dlinear"]]).predict(SERIES)
    assert list(both.columns) == ["unique_id", "ds", "dlinear", "dlinear-2"]
    alone = tsssm.load(forecasters["dlinear"], alias="trained").predict(SERIES)
    np.testing.assert_array_equal(both["dlinear-2"], alone["trained"])
    named = tsssm.load([fixed["point"], fixed["quantile"]], alias=["last", "q"]).predict(SERIES)
    assert list(named.columns) == ["unique_id", "ds", "last", "q", "q-lo-90", "q-lo-80",
                                   "q-hi-80", "q-hi-90"]


@pytest.mark.parametrize("which,alias,message", [
    (["dlinear", "mamba"], None, "disagree on channels (['x0', 'x1', 'x2', 'x3'] vs ['x3'])"),
    (["dlinear", "hourly"], None, "disagree on freq ('h' vs 'D')"),
    (["dlinear", "dlinear"], ["a", "a"], "aliases ['a'] name several checkpoints"),
    (["dlinear"], ["y"], "model name 'y' cannot name a forecast column"),
    (["dlinear"], ["m-lo-80"], "model name 'm-lo-80' cannot name a forecast column"),
    (["dlinear", "dlinear"], ["a"], "alias: 1 names for 2 checkpoints"),
])
def test_checkpoints_that_cannot_share_a_table_are_refused(forecasters, tmp_path, which, alias,
                                                          message):
    daily = edited_checkpoint(forecasters["dlinear"], tmp_path / "daily.ckpt",
                              lambda record: record["data"].update(freq="D"))
    paths = [daily if name == "hourly" else forecasters[name] for name in which]
    with pytest.raises(ValueError, match=re.escape(message)):
        tsssm.load(paths, alias=alias)


def test_the_api_and_the_command_line_give_the_same_table(fixed, tmp_path):
    SERIES.to_csv(tmp_path / "plant.csv", index=False)
    from_files = forecast_files([fixed["point"], fixed["quantile"]], tmp_path / "plant.csv",
                                tmp_path / "fc.parquet", device="cpu")
    from_api = tsssm.load([fixed["point"], fixed["quantile"]]).predict(SERIES, name="plant")
    pd.testing.assert_frame_equal(from_files, from_api)
    result = cli.run_module("tsssm.forecast", [f"checkpoint=[{fixed['point']},{fixed['quantile']}]",
                                               "alias=[last,q]", "input=plant.csv",
                                               "output=fc.csv", "device=cpu"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    written = pd.read_csv(tmp_path / "fc.csv")
    assert list(written.columns) == ["unique_id", "ds", "last", "q", "q-lo-90", "q-lo-80",
                                     "q-hi-80", "q-hi-90"]
    np.testing.assert_allclose(written["last"], from_api["dlinear"], rtol=1e-12)


@pytest.mark.parametrize("args,message", [
    (["alias=[a,b]"], "error: alias: 2 names for 1 checkpoints; give one name per checkpoint"),
    (["input=missing.csv"], "error: input missing.csv does not exist"),
])
def test_command_line_errors_are_one_line(forecasters, tmp_path, args, message):
    SERIES.to_csv(tmp_path / "plant.csv", index=False)
    result = cli.run_module("tsssm.forecast", [f"checkpoint={forecasters['dlinear']}",
                                               "input=plant.csv", "output=fc.csv", "device=cpu",
                                               *args], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


def test_a_wide_frame_may_keep_its_dates_in_its_index(fixed):
    model = tsssm.load(fixed["point"])
    pd.testing.assert_frame_equal(model.predict(SERIES.set_index("date")), model.predict(SERIES))


def test_a_wide_frame_needs_a_dataframe(fixed):
    with pytest.raises(ValueError, match="predict needs a pandas DataFrame with at least one row"):
        tsssm.load(fixed["point"]).predict(SERIES.iloc[:0])


def test_importing_tsssm_loads_neither_torch_nor_lightning():
    code = "import sys, tsssm; print(sorted({'torch', 'lightning', 'pandas'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], env=cli.subprocess_env(),
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
