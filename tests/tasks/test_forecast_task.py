"""What a forecaster owns of its runs: the shape and scaler its data decides, the record of that data
its checkpoints keep (enough to rebuild the network without the data), its run's name, its figure
and the layout of its predictions."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from tests.compose import FAST, compose_fit
from tsssm.models.shape import ForecastShape
from tsssm.run.build import build
from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.record import RECORD_KEY
from tsssm.tasks.forecast import ForecastTask

CHANNELS = ["x0", "x1", "x2", "x3"]
RECORD = {"channel_names": CHANNELS, "target": "x3", "features": "M", "freq": "h",
          "seasonal_period": 24}


@pytest.fixture
def run(tmp_path):
    """FAST's config (synthetic data, lookback 48, horizon 12) with DLinear, and its data module,
    set up."""
    cfg = compose_fit(tmp_path, ["model=dlinear", *FAST])
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return cfg, datamodule


def test_the_data_decides_the_shape_and_the_scaler(run):
    cfg, datamodule = run
    assert ForecastTask.accepts(datamodule)
    assert ForecastTask.checkpoint_record(datamodule) == RECORD
    net_inputs, task_inputs = ForecastTask.data_inputs(cfg, datamodule)
    assert net_inputs == {"shape": ForecastShape(lookback=48, horizon=12, n_channels=4, period=24)}
    assert task_inputs["scaler_mean"].equal(datamodule.scaler_mean)
    assert task_inputs["scaler_std"].equal(datamodule.scaler_std)


def test_the_record_alone_gives_the_same_shape(run):
    cfg, datamodule = run
    net_inputs, task_inputs = ForecastTask.record_inputs(cfg, RECORD)
    assert net_inputs == ForecastTask.data_inputs(cfg, datamodule)[0]
    assert task_inputs["scaler_mean"].equal(torch.zeros(4))
    assert task_inputs["scaler_std"].equal(torch.ones(4))
    with pytest.raises(ValueError, match="it keeps no record of its training data"):
        ForecastTask.record_inputs(cfg, None)


def test_checkpoints_keep_the_record_of_their_data(forecasters):
    assert read_checkpoint(forecasters["dlinear"])[RECORD_KEY]["data"] == RECORD
    assert read_checkpoint(forecasters["mamba"])[RECORD_KEY]["data"]["channel_names"] == ["x3"]


@torch.no_grad()
def test_a_run_is_named_by_its_horizon_draws_its_forecasts_and_predicts_steps_by_channels(
        tmp_path):
    datamodule, task = build(compose_fit(tmp_path, ["model=dlinear", *FAST]))
    assert task.run_horizon(datamodule) == 12 and task.start_metrics(datamodule) == {}
    (figure,) = task.figures(datamodule, tmp_path, "dlinear", n_windows=2)
    assert figure == tmp_path / "plots" / "forecast.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x, _ = datamodule.datasets["test"][0]
    prediction = task.predict_step(x[None], 0)[0]
    assert ForecastTask.prediction_axes == ("step", "channel")
    assert prediction.shape == (task.shape.horizon, len(CHANNELS))
