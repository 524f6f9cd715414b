"""The debug configs (``debug=fdr|limit|overfit``) and the loggers other than MLflow
(``logger=csv|tensorboard``) compose and run a tiny experiment."""

from __future__ import annotations

import math

import mlflow
import pytest
import yaml

from tests.compose import compose_fit
from tsssm.fit import fit
from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.record import RECORD_KEY

# Small data and a fast model; the run's length is the debug config's.
TINY = ["model=dlinear", "data.lookback=48", "data.horizon=12", "data.synthetic.n_rows=700",
        "trainer.enable_progress_bar=false", "plot_windows=2"]


def trained_run(tmp_path, overrides: list[str]) -> tuple[dict[str, float], mlflow.entities.Run]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    metrics = fit(compose_fit(tmp_path, [*TINY, f"logger.tracking_uri={uri}", *overrides]))
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    return metrics, run


def test_debug_fdr_runs_one_batch_of_each(tmp_path):
    cfg = compose_fit(tmp_path, [*TINY, "debug=fdr"])
    assert cfg.trainer.fast_dev_run is True
    metrics, run = trained_run(tmp_path, ["debug=fdr"])
    assert run.info.status == "FINISHED" and run.data.metrics["trained_steps"] == 1
    assert math.isfinite(metrics["test/mse"])
    assert not (tmp_path / "outputs" / "checkpoints" / "best.ckpt").exists()


def test_debug_limit_runs_two_short_epochs(tmp_path):
    metrics, run = trained_run(tmp_path, ["debug=limit"])
    assert run.data.metrics["trained_steps"] == 2 * 4
    assert len(mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_metric_history(
        run.info.run_id, "val/mse")) == 2
    assert math.isfinite(metrics["val/best_mse"])


def test_debug_overfit_learns_two_batches_without_early_stopping(tmp_path):
    cfg = compose_fit(tmp_path, [*TINY, "debug=overfit"])
    assert cfg.callbacks.early_stopping is None and cfg.trainer.overfit_batches == 2
    _, run = trained_run(tmp_path, ["debug=overfit"])
    assert run.data.metrics["trained_steps"] == 20 * 2
    history = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_metric_history(
        run.info.run_id, "train/loss_epoch")
    assert len(history) == 20 and history[-1].value < 0.5 * history[0].value


def test_logger_csv_keeps_params_and_metrics_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_fit(tmp_path, [*TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                                 "logger=csv"])
    metrics = fit(cfg)
    logs = tmp_path / "outputs" / "csv" / "version_0"
    params = yaml.safe_load((logs / "hparams.yaml").read_text())
    assert params["model.name"] == "dlinear" and params["data.lookback"] == "48"
    assert "test/mse" in (logs / "metrics.csv").read_text().splitlines()[0]
    assert math.isfinite(metrics["test/mse"])
    record = read_checkpoint(tmp_path / "outputs" / "checkpoints" / "best.ckpt")[RECORD_KEY]
    assert record["run_id"] is None and record["tracking_uri"] is None
    assert not (tmp_path / "mlflow.db").exists()


def test_what_needs_mlflow_is_refused_for_another_logger(tmp_path):
    cfg = compose_fit(tmp_path, [*TINY, "logger=csv", "+logger.log_model=true"])
    with pytest.raises(ValueError, match="log_model=true needs an MLflow run"):
        fit(cfg)


def test_logger_tensorboard_writes_events(tmp_path):
    cfg = compose_fit(tmp_path, [*TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                                 "logger=tensorboard"])
    fit(cfg)
    assert list((tmp_path / "outputs" / "tensorboard").rglob("events.out.tfevents.*"))
