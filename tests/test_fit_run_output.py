"""What one ``python -m tsssm.fit`` run leaves, run as a user runs it (stdout a pipe, not a
terminal): its console and its log file, its MLflow params and its MLflow model."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests import cli
from tests.compose import FAST
from tsssm.data.synthetic import synthetic_frame
from tsssm.forecast import forecast_files

# The run's params: its config as composed, each value once, and what fit adds (the last line).
PARAMS = {
    *(f"callbacks.checkpoint.{k}" for k in ("_target_", "dirpath", "filename", "mode", "monitor",
                                             "save_last", "save_top_k")),
    *(f"callbacks.early_stopping.{k}" for k in ("_target_", "check_on_train_epoch_end", "mode",
                                                 "monitor", "patience")),
    "callbacks.epoch_lines._target_",
    *(f"data.{k}" for k in ("_convert_", "_target_", "batch_size", "features", "horizon",
                            "lookback", "name", "num_workers", "path", "root", "split",
                            "synthetic.n_channels", "synthetic.n_rows", "synthetic.periods",
                            "synthetic.seed", "target", "train_fraction")),
    "logger.experiment_name", "logger.log_model", "logger.tracking_uri",
    "model.name", "model.net._partial_", "model.net._target_", "model.net.individual",
    "model.net.kernel_size",
    *(f"model.optim.{k}" for k in ("gamma", "lr", "min_lr_ratio", "schedule", "warmup_epochs",
                                   "weight_decay")),
    "flops_budget", "max_params", "plot_windows", "resume", "seed", "skip_finished", "tags",
    "test_only", "tuned_by", "tuned_only",
    "task._target_",
    "task.levels", "task.loss",
    *(f"trainer.{k}" for k in ("_target_", "accelerator", "devices", "enable_model_summary",
                               "enable_progress_bar", "gradient_clip_val", "limit_train_batches",
                               "limit_val_batches", "log_every_n_steps", "max_epochs")),
    "n_params", "world_size",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """A tiny DLinear fit of two epochs, its progress bar left to its default."""
    folder = tmp_path_factory.mktemp("fit_run")
    args = ["model=dlinear", "hydra.run.dir=run", "trainer.max_epochs=2",
            *(o for o in FAST if not o.startswith(("trainer.enable_progress_bar", "trainer.max_epochs")))]
    result = cli.run_module("tsssm.fit", args, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{folder}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    (found,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    return {"result": result, "folder": folder, "log": (folder / "run" / "fit.log").read_text(),
            "uri": uri, "run": found}


def test_the_log_file_holds_what_the_console_showed(run):
    result, log = run["result"], run["log"]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("dlinear-synthetic"))
    mlflow_line = next(line for line in result.stdout.splitlines() if line.startswith("MLflow: "))
    assert "test/mse=" in summary and summary in log
    assert f"run {run['run'].info.run_id}" in mlflow_line and mlflow_line in log
    assert "smaller than the logging interval" in result.stderr  # a warning of Lightning's ...
    assert "[py.warnings][WARNING]" in log and "smaller than the logging interval" in log  # ... kept
    assert "GPU available" in result.stderr and "GPU available" in log
    assert "Test metric" not in result.stdout, "the summary line reports the test, in the log too"


def test_known_noise_is_filtered(run):
    console = run["result"].stdout + run["result"].stderr
    for noise in ("Creating initial MLflow database tables", "Updating database tables",
                  "litlogger", "LeafSpec", "Downloading artifacts", "INFO: "):
        assert noise not in console and noise not in run["log"], noise


def test_off_a_terminal_each_epoch_is_one_line(run):
    stdout = run["result"].stdout
    lines = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[:4] for line in lines] == [["epoch", "1/2", "step", "3"],
                                                    ["epoch", "2/2", "step", "6"]]
    for key in ("train/loss", "val/mse", "val/mae"):
        assert key in lines[0], key
    assert lines[-1].endswith(" s") and lines[-1] in run["log"]
    assert "Epoch 0:" not in stdout and "\r" not in stdout  # no progress bar


def test_the_params_are_the_config_once(run):
    params = run["run"].data.params
    assert set(params) == PARAMS
    assert params["data.lookback"] == "48" and params["model.name"] == "dlinear"


def test_the_model_is_an_mlflow_model_that_forecasts_a_frame(run, tmp_path):
    mlflow.set_tracking_uri(run["uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{run['run'].info.run_id}/model")
    frame = synthetic_frame(n_rows=100, n_channels=4)
    forecasts = model.predict(frame)
    assert list(forecasts.columns) == ["unique_id", "ds", "dlinear"]
    assert list(forecasts["unique_id"].unique()) == [f"series/x{c}" for c in range(4)]
    frame.to_csv(tmp_path / "series.csv", index=False)
    checkpoint = run["folder"] / "run" / "checkpoints" / "best.ckpt"
    expected = forecast_files(checkpoint, tmp_path / "series.csv", tmp_path / "forecast.csv")
    pd.testing.assert_frame_equal(forecasts, expected)
