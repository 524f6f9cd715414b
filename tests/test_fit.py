"""End to end: every model config composes, trains a few steps and is tracked in MLflow."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests import cli
from tests.compose import FAST, compose_fit
from tsssm.compare import main as compare_main
from tsssm.data.synthetic import synthetic_frame
from tsssm.fit import fit, objective_name
from tsssm.run import tracking
from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.record import RECORD_KEY

MODELS = ["s4", "s4d", "mamba", "mamba2", "transformer", "hybrid", "lstm", "dlinear", "naive", "lstsq"]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_trains_and_tests(tmp_path, model):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = compose_fit(tmp_path, [f"model={model}", f"logger.tracking_uri={uri}", *FAST])
    metrics = fit(cfg)
    for key in ("test/mse", "test/mae", "test/mse_orig", "test/mae_orig"):
        assert math.isfinite(metrics[key]), key
    assert metrics["test/mse"] > 0


def test_a_run_holds_params_metrics_and_artifacts(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = compose_fit(tmp_path, ["model=mamba", f"logger.tracking_uri={uri}", "seed=7",
                                 *FAST, "trainer.max_epochs=2"])
    fit(cfg)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("default")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "mamba-synthetic-h12-s7"
    params = run.data.params
    assert params["model.name"] == "mamba" and params["data.horizon"] == "12"
    assert params["model.backbone.mixers.m.d_state"] == "16" and params["seed"] == "7"
    assert int(params["n_params"]) > 0
    history = client.get_metric_history(run.info.run_id, "val/mse")
    assert len(history) == 2, "one val/mse per epoch"
    assert run.data.metrics["val/best_mse"] == min(m.value for m in history)
    for key in ("test/mse", "test/mae", "test/mse_orig", "test/mae_orig", "train/loss_epoch"):
        assert key in run.data.metrics, key
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "checkpoints", "plots"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")] == ["checkpoints/best.ckpt"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == ["plots/forecast.png"]
    assert run.data.tags["tsssm.model"] == "mamba" and run.data.tags["tsssm.seed"] == "7"


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return cli.run_module("tsssm.fit", args, cwd)


def test_cli_multirun_then_compare_over_seeds(tmp_path):
    result = run_cli(["-m", "model=dlinear,naive", "seed=1,2", "hydra.sweep.dir=sweep", *FAST],
                     tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    store = f"sqlite:///{tmp_path}/mlflow.db"
    runs = tracking.search_runs("default", store)
    assert sorted(runs["tags.mlflow.runName"]) == [f"{m}-synthetic-h12-s{s}" for m in ("dlinear", "naive")
                                                   for s in (1, 2)]
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    assert "test/mse" in result.stdout

    compare_main(["--experiment", "default", "--tracking-uri", store, "--output",
                  str(tmp_path / "table")])
    table = pd.read_csv(tmp_path / "table.csv").set_index("model")
    naive = runs[runs["tags.tsssm.model"] == "naive"]["metrics.test/mse"]
    assert table.loc["naive", "test/mse_mean"] == pytest.approx(naive.mean())
    assert table.loc["naive", "test/mse_std"] == pytest.approx(0.0, abs=1e-12), "naive has no seed"
    assert table.loc["dlinear", "test/mse_n"] == 2


@pytest.mark.parametrize("args,message", [
    (["model=resnet"], "Could not find 'model/resnet'"),
    (["data.horizon=soon"], "horizon must be a positive integer, got 'soon'"),
    (["experiment=ltsf/nowhere"], "Could not find 'experiment/ltsf/nowhere'"),
])
def test_cli_bad_overrides_fail_clearly(tmp_path, args, message):
    result = run_cli([*FAST, *args], tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_user_csv_trains_through_data_csv(tmp_path, monkeypatch):
    frame = synthetic_frame(n_rows=600, n_channels=3).rename(columns={"x1": "load"})
    frame.to_csv(tmp_path / "my_series.csv", index=False)
    monkeypatch.chdir(tmp_path)
    cfg = compose_fit(tmp_path, ["data=csv", "data.path=my_series.csv",
                                 "data.target=load", "model=dlinear",
                                 f"logger.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
                                 *[o for o in FAST if not o.startswith("data.synthetic")]])
    metrics = fit(cfg)
    assert math.isfinite(metrics["test/mse"])
    runs = tracking.search_runs("default", f"sqlite:///{tmp_path}/mlflow.db")
    assert runs["tags.mlflow.runName"].tolist() == ["dlinear-my_series-h12-s1"]
    stored = read_checkpoint(tmp_path / "outputs" / "checkpoints" / "best.ckpt")[RECORD_KEY]["config"]
    assert stored["data"]["path"] == str(tmp_path / "my_series.csv")  # given relative, kept absolute


@pytest.mark.parametrize("model", ["mamba", "naive"])
def test_sweepers_get_the_validation_metric_not_the_test_one(tmp_path, model):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = compose_fit(tmp_path, [f"model={model}", f"logger.tracking_uri={uri}", *FAST])
    metrics = fit(cfg)
    assert objective_name(cfg) == "val/best_mse"
    assert math.isfinite(metrics["val/best_mse"]) and metrics["val/best_mse"] != metrics["test/mse"]
    run = tracking.search_runs("default", uri).iloc[0]
    assert run["metrics.val/best_mse"] == pytest.approx(metrics["val/best_mse"])
