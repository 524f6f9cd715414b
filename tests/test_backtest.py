"""backtest: forecasts from the last cutoffs of a series beside the truth, their scores, the same
scores from utilsforecast's ``evaluate``, and refits up to each cutoff. The fixed checkpoints
forecast the last value before the cutoff (``tests.checkpoints.fixed``), so every number is
computed here by hand."""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from utilsforecast.evaluation import evaluate
from utilsforecast.losses import coverage, mae, mase, mse

from tests import cli
from tests.checkpoints import OFFSETS
from tsssm.backtest import backtest_file
from tsssm.data.synthetic import synthetic_frame
from tsssm.forecasting.backtest import backtest
from tsssm.forecasting.model import load

HORIZON, LOOKBACK = 12, 48
CHANNELS = ["x0", "x1", "x2", "x3"]
SERIES = synthetic_frame(n_rows=200)
VALUES, DATES = SERIES[CHANNELS].to_numpy(), SERIES["date"]


@pytest.fixture
def series_file(tmp_path):
    SERIES.to_csv(tmp_path / "plant.csv", index=False)
    return tmp_path / "plant.csv"


def run(checkpoint, series_file, **options):
    output = series_file.parent / "bt.parquet"
    return backtest_file(checkpoint, series_file, output, device="cpu", **options)


def test_each_cutoff_forecasts_the_rows_after_it(fixed, series_file):
    table, scores = run(fixed["point"], series_file, n_windows=3, step_size=5, seasonality=24)
    assert list(table.columns) == ["unique_id", "ds", "cutoff", "y", "dlinear"]
    assert table.equals(pd.read_parquet(series_file.parent / "bt.parquet"))
    cutoffs = [177, 182, 187]  # the last window's forecast ends at row 199
    ids = [f"plant/{c}" for c in CHANNELS]
    assert list(table["unique_id"].unique()) == ids and len(table) == 4 * 3 * HORIZON
    for (uid, cutoff), rows in table.groupby(["unique_id", "cutoff"], sort=False):
        channel, row = ids.index(uid), DATES.tolist().index(cutoff)
        assert row in cutoffs
        after = slice(row + 1, row + 1 + HORIZON)
        assert list(rows["ds"]) == list(DATES[after])
        np.testing.assert_array_equal(rows["y"], VALUES[after, channel])
        np.testing.assert_allclose(rows["dlinear"], VALUES[row, channel], rtol=1e-5)

    errors = np.stack([VALUES[row, None] - VALUES[row + 1:row + 1 + HORIZON] for row in cutoffs])
    scales = np.stack([np.abs(VALUES[24:row + 1] - VALUES[:row + 1 - 24]).mean(axis=0)
                       for row in cutoffs])  # (cutoffs, channels)
    expected = {"mse": (errors ** 2).mean(axis=(1, 2)), "mae": np.abs(errors).mean(axis=(1, 2)),
                "mase": (np.abs(errors).mean(axis=1) / scales).mean(axis=1)}
    assert list(scores.columns) == ["cutoff", "metric", "dlinear"]
    assert list(scores["cutoff"].unique()) == [str(DATES[row]) for row in cutoffs] + ["overall"]
    for metric, values in expected.items():
        found = scores[scores["metric"] == metric]["dlinear"].to_numpy()
        np.testing.assert_allclose(found, [*values, values.mean()], rtol=1e-4)


def test_intervals_are_scored_by_their_coverage(fixed, series_file):
    table, scores = run(fixed["quantile"], series_file, n_windows=2)
    assert list(table.columns) == ["unique_id", "ds", "cutoff", "y", "dlinear", "dlinear-lo-90",
                                   "dlinear-lo-80", "dlinear-hi-80", "dlinear-hi-90"]
    std = load(fixed["quantile"]).checkpoints[0].task.scaler_std.double().numpy()
    cutoffs = [175, 187]  # step_size = horizon
    for level, offset in ((80, OFFSETS[3]), (90, OFFSETS[4])):
        inside = [np.abs(VALUES[row + 1:row + 1 + HORIZON] - VALUES[row]) <= offset * std
                  for row in cutoffs]
        found = scores[scores["metric"] == f"coverage_{level}"]["dlinear"].to_numpy()
        np.testing.assert_allclose(found, [*(i.mean() for i in inside), np.mean(inside)])


def test_utilsforecast_evaluates_the_table_to_the_same_scores(fixed, series_file):
    table, scores = run([fixed["point"], fixed["quantile"]], series_file, n_windows=3,
                        step_size=4, alias=["last", "q"])
    theirs = pd.concat([evaluate(table, metrics=[mse, mae]),
                        evaluate(table, metrics=[coverage], models=["q"], level=[80, 90])])
    per_cutoff = theirs.groupby(["cutoff", "metric"])[["last", "q"]].mean()
    overall = theirs.groupby("metric")[["last", "q"]].mean()
    for metric, name in [("mse", "mse"), ("mae", "mae"), ("coverage_80", "coverage_level80"),
                         ("coverage_90", "coverage_level90")]:
        ours = scores[scores["metric"] == metric].set_index("cutoff")
        their_cutoffs = per_cutoff.xs(name, level="metric")
        np.testing.assert_allclose(ours.loc[[str(c) for c in their_cutoffs.index], "q"],
                                   their_cutoffs["q"], rtol=1e-9)
        np.testing.assert_allclose(ours.loc["overall", "q"], overall.loc[name, "q"], rtol=1e-9)
        if not metric.startswith("coverage"):
            np.testing.assert_allclose(ours.loc["overall", "last"], overall.loc[name, "last"],
                                       rtol=1e-9)
    assert scores[scores["metric"] == "coverage_80"]["last"].isna().all()


def test_mase_is_utilsforecasts_with_the_history_up_to_the_cutoff(fixed, series_file):
    table, scores = run(fixed["point"], series_file, n_windows=1, seasonality=24)
    history = SERIES.iloc[:188].melt(id_vars="date", var_name="channel", value_name="y")
    history = history.assign(unique_id="plant/" + history["channel"]).rename(columns={"date": "ds"})
    theirs = evaluate(table, metrics=[partial(mase, seasonality=24)], train_df=history[["unique_id", "ds", "y"]])
    overall = scores[(scores["cutoff"] == "overall") & (scores["metric"] == "mase")]["dlinear"]
    np.testing.assert_allclose(overall.item(), theirs["dlinear"].mean(), rtol=1e-9)


@pytest.mark.parametrize("options,message", [
    ({"n_windows": 20, "step_size": 8}, "200 rows, but 20 windows 8 rows apart need at least "
                                        "lookback 48 + horizon 12 + 19 x step_size 8 = 212 rows"),
    ({"n_windows": 0}, "n_windows must be a positive integer, got 0"),
    ({"seasonality": 500}, "seasonality must be a positive integer shorter than the shortest "
                           "history (188 rows), got 500"),
    ({"metrics": "scores.xlsx"}, "metrics scores.xlsx: unsupported file extension"),
])
def test_bad_windows_are_named(fixed, series_file, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run(fixed["point"], series_file, **options)
    assert not (series_file.parent / "bt.parquet").exists()


def test_a_nan_in_a_window_is_named(fixed, tmp_path):
    frame = SERIES.copy()
    frame.loc[150, "x2"] = np.nan
    frame.to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(ValueError, match=r"missing values \(NaN\) in the rows the backtest reads "
                                         r"\(from row 120\), the first at row 150 .* in columns \['x2'\]"):
        run(fixed["point"], tmp_path / "gap.csv", n_windows=3, step_size=10)


def test_a_gap_before_the_windows_leaves_the_scores_defined(fixed):
    frame = SERIES.copy()
    frame.loc[10, "x2"] = np.nan
    model = load(fixed["point"])
    gap = backtest(model, model.series(frame, name="g"), n_windows=2, step_size=12, seasonality=24)
    whole = backtest(model, model.series(SERIES, name="g"), n_windows=2, step_size=12,
                     seasonality=24)
    pd.testing.assert_frame_equal(gap.table, whole.table)
    differences = np.abs(VALUES[24:176, 2] - VALUES[:152, 2])
    differences[34 - 24] = np.nan  # y[34] - y[10]: the one pair the gap at row 10 undefines
    x2 = gap.scales[gap.scales["unique_id"] == "g/x2"]["scale"]
    np.testing.assert_allclose(x2.iloc[0], np.nanmean(differences), rtol=1e-12)
    others = gap.scales["unique_id"] != "g/x2"
    pd.testing.assert_frame_equal(gap.scales[others], whole.scales[others])


def test_the_command_line_writes_the_table_and_its_scores(fixed, series_file):
    folder = series_file.parent
    result = cli.run_module("tsssm.backtest", [f"checkpoint={fixed['point']}", "input=plant.csv",
                                               "output=bt.csv", "n_windows=2", "step_size=6"],
                            folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == ["bt-metrics.csv", "bt.csv", "plant.csv"]
    assert list(pd.read_csv(folder / "bt.csv").columns) == ["unique_id", "ds", "cutoff", "y",
                                                            "dlinear"]
    scores = pd.read_csv(folder / "bt-metrics.csv")
    assert list(scores["metric"].unique()) == ["mse", "mae", "mase"]
    assert "backtest: 1 series x 2 cutoffs x 12 steps by ['dlinear']" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["output=plant.csv"], "error: output plant.csv is the input plant.csv: writing it would "
                           "replace what the job reads; choose another path"),
    (["output=bt.csv", "n_windows=-1"], "error: n_windows must be a positive integer, got -1"),
])
def test_command_line_errors_are_one_line(fixed, series_file, args, message):
    result = cli.run_module("tsssm.backtest", [f"checkpoint={fixed['point']}", "input=plant.csv",
                                               *args], series_file.parent)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


def test_refit_trains_on_the_rows_up_to_each_cutoff_only(forecasters, tmp_path):
    uri = f"sqlite:///{tmp_path}/refit.db"
    original = forecasters["dlinear"].read_bytes()
    long = synthetic_frame(n_rows=300)
    changed = long.copy()
    changed.loc[288:, CHANNELS] += 100.0  # after the last cutoff: only y may differ
    tables = []
    for name, frame in (("a", long), ("b", changed)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        table, _ = backtest_file(forecasters["dlinear"], tmp_path / f"{name}.csv",
                                 tmp_path / f"{name}-bt.csv", n_windows=2, refit=True,
                                 overrides={"logger": {"tracking_uri": uri}}, device="cpu")
        tables.append(table)
    refit, same_history = tables
    np.testing.assert_array_equal(refit["dlinear"], same_history["dlinear"])
    assert not np.array_equal(refit["y"], same_history["y"])
    fixed_weights, _ = backtest_file(forecasters["dlinear"], tmp_path / "a.csv",
                                     tmp_path / "kept.csv", n_windows=2, device="cpu")
    assert not np.allclose(refit["dlinear"], fixed_weights["dlinear"])
    assert forecasters["dlinear"].read_bytes() == original
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("backtest").experiment_id])
    assert len(runs) == 4  # two windows, two files


def test_refit_needs_one_series(forecasters, tmp_path):
    frame = pd.concat([SERIES.assign(unique_id=u) for u in ("a", "b")]).rename(
        columns={"date": "ds"})
    frame.to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(ValueError, match=r"refit=true trains on one series, but the input holds "
                                         r"2 \(a, b\)"):
        backtest_file(forecasters["dlinear"], tmp_path / "two.csv", tmp_path / "bt.csv",
                      refit=True, device="cpu")
