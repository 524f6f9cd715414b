"""compare against real MLflow runs with known metrics, in one sqlite store for the module (set-up is slow).

Experiment ``ltsf/etth1`` holds, besides runs that must be left out (failed, still running, an older run of
a seed that was run again):

    model  horizon  seed  test/mse  test/mae  n_params
    mamba  96       1     0.25      0.5       100
    mamba  96       2     0.75      1.0       100
    s4     96       1     1.0       2.0       40
    s4     96       2     3.0       2.0       -
    s4     192      1     4.0       5.0       40
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from mlflow.entities import Metric

from tsssm import compare
from tsssm.compare_plot import comparison_figure, fitted_limits
from tsssm.run import tracking

EXPERIMENT = "ltsf/etth1"
SQRT_0125 = math.sqrt(0.125)  # sample std of {0.25, 0.75} and of {0.5, 1.0}


def _make_run(client: mlflow.MlflowClient, experiment_id: str, tags: dict[str, str],
              metrics: dict[str, float], status: str = "FINISHED", start_time: int | None = None) -> str:
    run = client.create_run(experiment_id, start_time=start_time, tags=tags)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory):
    """The store described in the module docstring, plus experiments for each error case."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    etth1 = client.create_experiment(EXPERIMENT)

    def run(model, horizon, seed, mse, mae, n_params=None, **kwargs):
        metrics = {"test/mse": mse, "test/mae": mae} | ({} if n_params is None else {"n_params": n_params})
        return _make_run(client, etth1, tracking.run_tags(model, "etth1", horizon, seed), metrics, **kwargs)

    run("mamba", 96, 1, 100.0, 100.0, 100, start_time=1)  # replaced by the rerun of seed 1 below
    run("mamba", 96, 1, 0.25, 0.5, 100)
    run("mamba", 96, 2, 0.75, 1.0, 100)
    run("s4", 96, 1, 1.0, 2.0, 40)
    run("s4", 96, 2, 3.0, 2.0)
    run("s4", 192, 1, 4.0, 5.0, 40)
    run("mamba", 96, 3, 1e3, 1e3, status="FAILED")
    run("s4", 192, 2, 1e3, 1e3, status="RUNNING")

    ettm1 = client.create_experiment("ltsf/ettm1")
    _make_run(client, ettm1, tracking.run_tags("mamba", "ettm1", 96, 1), {"test/mse": 0.5, "test/mae": 0.5})
    failed_only = client.create_experiment("failed-only")
    _make_run(client, failed_only, tracking.run_tags("mamba", "ettm1", 96, 1), {"test/mse": 0.5}, "FAILED")
    untagged = client.create_experiment("untagged")
    _make_run(client, untagged, {"tsssm.model": "mamba"}, {"test/mse": 0.5})
    yield uri
    mlflow.set_tracking_uri(None)


def _seeds(uri: str, metrics=("test/mse", "test/mae")) -> pd.DataFrame:
    return compare.per_seed(tracking.search_runs(EXPERIMENT, uri), list(metrics))


def _table(uri: str, metrics=("test/mse", "test/mae")) -> pd.DataFrame:
    return compare.summarise(_seeds(uri, metrics), list(metrics))


def test_aggregate_means_and_sample_stds_over_seeds(uri: str) -> None:
    table = _table(uri)
    assert table[["dataset", "horizon", "model", "n"]].values.tolist() == [
        ["etth1", "96", "mamba", 2], ["etth1", "96", "s4", 2], ["etth1", "192", "s4", 1]]
    assert table["test/mse_mean"].tolist() == [0.5, 2.0, 4.0]
    assert table["test/mae_mean"].tolist() == [0.75, 2.0, 5.0]
    assert table["test/mse_std"].iloc[0] == pytest.approx(SQRT_0125, abs=1e-15)
    assert table["test/mse_std"].iloc[1] == pytest.approx(math.sqrt(2.0), abs=1e-15)
    assert table["test/mae_std"].iloc[0] == pytest.approx(SQRT_0125, abs=1e-15)
    assert table["test/mae_std"].iloc[1] == 0.0
    assert math.isnan(table["test/mse_std"].iloc[2]) and math.isnan(table["test/mae_std"].iloc[2])
    assert table["test/mse_n"].tolist() == [2, 2, 1]


def test_the_interval_is_students_t_over_seeds(uri: str) -> None:
    table = _table(uri)
    t_975_one_dof = 12.706204736174698  # scipy.stats.t.ppf(0.975, 1)
    assert table["test/mse_ci95"].iloc[0] == pytest.approx(t_975_one_dof * SQRT_0125 / math.sqrt(2))
    assert table["test/mse_ci95"].iloc[1] == pytest.approx(t_975_one_dof * 1.0)  # sqrt(2)/sqrt(2)
    assert math.isnan(table["test/mse_ci95"].iloc[2])  # one seed: no interval


def test_markdown_table(uri: str) -> None:
    assert compare.to_markdown(_table(uri), ["test/mse", "test/mae"]) == (
        "| dataset | horizon | model | test/mse   | test/mae    | n |\n"
        "| ------- | ------- | ----- | ---------- | ----------- | - |\n"
        "| etth1   | 96      | mamba | 0.5 ± 0.35 | 0.75 ± 0.35 | 2 |\n"
        "| etth1   | 96      | s4    | 2 ± 1.4    | 2 ± 0       | 2 |\n"
        "| etth1   | 192     | s4    | 4          | 5           | 1 |\n"
    )


def test_markdown_says_when_a_metric_has_fewer_seeds_than_the_group(uri: str) -> None:
    lines = compare.to_markdown(_table(uri, ["n_params"]), ["n_params"]).splitlines()
    assert lines[2:] == ["| etth1   | 96      | mamba | 100 ± 0  | 2 |",
                         "| etth1   | 96      | s4    | 40 (n=1) | 2 |",
                         "| etth1   | 192     | s4    | 40       | 1 |"]


def test_main_prints_and_writes_markdown_csv_and_png(uri: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "results" / "etth1"
    compare.main(["--experiment", EXPERIMENT, "--tracking-uri", uri, "--output", str(prefix)])
    out = capsys.readouterr().out
    markdown = (tmp_path / "results" / "etth1.md").read_text(encoding="utf-8")
    assert out.startswith(markdown)
    assert "| etth1   | 96      | mamba | 0.5 ± 0.35 | 0.75 ± 0.35 | 2 |" in markdown

    csv = pd.read_csv(tmp_path / "results" / "etth1.csv")
    assert csv.columns.tolist() == ["dataset", "horizon", "model", "n",
                                    "test/mse_mean", "test/mse_std", "test/mse_n", "test/mse_ci95",
                                    "test/mae_mean", "test/mae_std", "test/mae_n", "test/mae_ci95"]
    assert csv["horizon"].tolist() == [96, 96, 192]
    assert csv["test/mse_mean"].tolist() == [0.5, 2.0, 4.0]
    assert csv["test/mse_std"].iloc[:2].tolist() == pytest.approx([SQRT_0125, math.sqrt(2.0)], abs=1e-15)
    assert math.isnan(csv["test/mse_std"].iloc[2])

    png = (tmp_path / "results" / "etth1.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["etth1.csv", "etth1.md", "etth1.png"]


def test_the_files_are_logged_to_a_compare_run_that_is_never_compared(uri: str, tmp_path: Path,
                                                                       capsys) -> None:
    compare.main(["--experiment", EXPERIMENT, "--tracking-uri", uri, "--output",
                  str(tmp_path / "etth1")])
    client = mlflow.MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment_id], f"tags.{tracking.TAG_COMPARED} = '{EXPERIMENT}'",
                              order_by=["attributes.start_time DESC"])
    assert runs and runs[0].info.run_name == "compare" and runs[0].info.status == "FINISHED"
    logged = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert logged == {"etth1.md", "etth1.csv", "etth1.png"}
    assert runs[0].info.run_id in capsys.readouterr().out
    assert runs[0].info.run_id not in set(tracking.search_runs(EXPERIMENT, uri)["run_id"])


def test_the_figure_has_a_panel_per_metric_fitted_to_its_data(uri: str) -> None:
    metrics = ["test/mse", "test/mae"]
    seeds = _seeds(uri, metrics)
    table = compare.summarise(seeds, metrics)
    figure = comparison_figure(seeds, table, metrics, "etth1")
    axes = figure.get_axes()
    assert [ax.get_ylabel() for ax in axes] == metrics
    for ax, metric in zip(axes, metrics):
        low, high = ax.get_ylim()
        ends = pd.concat([seeds[metric], table[f"{metric}_mean"] - table[f"{metric}_ci95"].fillna(0),
                          table[f"{metric}_mean"] + table[f"{metric}_ci95"].fillna(0)])
        span = ends.max() - ends.min()
        assert low == pytest.approx(ends.min() - 0.08 * span)
        assert high == pytest.approx(ends.max() + 0.08 * span)
        points = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections
                                 if isinstance(c, PathCollection)])
        assert sorted(points) == sorted(seeds[metric]), "every seed a point"
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["mamba", "s4"]
    figure.draw_without_rendering()  # lays the figure out
    legend_box = legend.get_window_extent()
    assert all(legend_box.x0 >= ax.get_window_extent().x1 for ax in axes), "legend outside the panels"


def test_fitted_limits_do_not_start_at_zero() -> None:
    low, high = fitted_limits(np.array([0.40, 0.42, np.nan, 0.45]))
    assert low == pytest.approx(0.40 - 0.08 * 0.05) and high == pytest.approx(0.45 + 0.08 * 0.05)
    assert fitted_limits(np.array([2.0])) == pytest.approx((2.0 - 0.016, 2.0 + 0.016))


def test_main_takes_several_experiments(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    compare.main(["--experiment", EXPERIMENT, "--experiment", "ltsf/ettm1", "--tracking-uri", uri,
                  "--metrics", "test/mse"])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["etth1", "etth1", "etth1", "ettm1"]


@pytest.mark.parametrize("argv, message", [
    (["--experiment", "nope"], r"'nope' not found.*experiments there: \[.*'ltsf/etth1'"),
    (["--experiment", "failed-only"], r"no finished runs in experiment\(s\) \['failed-only'\]"),
    (["--experiment", EXPERIMENT, "--metrics", "test/mse", "val/acc"],
     r"metric\(s\) \['val/acc'\]; metrics logged: \['n_params', 'test/mae', 'test/mse'\]"),
    (["--experiment", "untagged"], r"lack one of the tags.*tsssm.dataset"),
])
def test_main_errors_are_clear(uri: str, argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare.main(argv + ["--tracking-uri", uri])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
