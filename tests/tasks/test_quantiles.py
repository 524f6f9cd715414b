"""Quantile loss: the quantiles of interval levels, the pinball loss, networks with one output per
quantile, and the task's median errors and interval coverage, on hand-computed values."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from mlflow import MlflowClient
from torch import nn

from tests.checkpoints import edited_checkpoint
from tests.models.test_forecast_values import Silent
from tsssm.models.backbone import Backbone
from tsssm.models.baselines import DLinear, SeasonalNaive
from tsssm.models.forecaster import Forecaster
from tsssm.models.shape import ForecastShape
from tsssm.run.checkpoint import load_task, read_checkpoint
from tsssm.run.record import RECORD_KEY
from tsssm.tasks.forecast import ForecastTask
from tsssm.tasks.quantiles import QuantileLevels, pinball_loss


def test_levels_give_the_median_and_a_lower_and_upper_quantile_each():
    quantiles = QuantileLevels.from_config("quantile", [90, 80])
    assert quantiles.levels == (80, 90)
    assert quantiles.fractions == pytest.approx([0.05, 0.1, 0.5, 0.9, 0.95])
    assert quantiles.median == 2
    assert quantiles.bounds(80) == (1, 3) and quantiles.bounds(90) == (0, 4)
    assert QuantileLevels.from_config("mse", []) is None
    assert QuantileLevels.from_config("quantile", []).fractions == [0.5]


@pytest.mark.parametrize("loss,levels,message", [
    ("mse", [80], r"task.levels=\[80\] needs task.loss=quantile"),
    ("mae", [], r"task.loss must be one of \('mse', 'quantile'\), got 'mae'"),
    ("quantile", [100], r"distinct integers between 1 and 99 .*got \[100\]"),
    ("quantile", [80, 80], r"got \[80, 80\]"),
    ("quantile", [0.8], r"got \[0.8\]"),
])
def test_bad_loss_settings_are_named(loss, levels, message):
    with pytest.raises(ValueError, match=message):
        QuantileLevels.from_config(loss, levels)


def test_the_pinball_loss_weighs_errors_by_their_side():
    # quantiles 0.1, 0.5, 0.9 forecast 1, 2, 3 of a target 2: errors 1, 0, -1 cost
    # 0.1 * 1, 0 and 0.1 * 1 (an upper quantile above the target costs 1 - 0.9 per unit)
    prediction = torch.tensor([[1.0, 2.0, 3.0]])
    loss = pinball_loss(prediction, torch.tensor([2.0]), [0.1, 0.5, 0.9])
    assert loss.item() == pytest.approx(0.2 / 3)
    median = pinball_loss(torch.tensor([[0.0], [4.0]]), torch.tensor([1.0, 1.0]), [0.5])
    assert median.item() == pytest.approx(0.5 * (1 + 3) / 2)  # half the MAE


def step_and_quantile_biases(linear: nn.Linear, n_quantiles: int) -> None:
    """Zero weights, bias ``10 * step + quantile``: the output says where each value went."""
    linear.weight.data.zero_()
    outputs = torch.arange(linear.out_features)
    linear.bias.data.copy_(10.0 * (outputs // n_quantiles) + outputs % n_quantiles)


def expected_layout(batch: int, horizon: int, channels: int, quantiles: int) -> torch.Tensor:
    step = 10.0 * torch.arange(horizon)[:, None, None]
    return (step + torch.arange(quantiles)).expand(batch, horizon, channels, quantiles)


@torch.no_grad()
def test_dlinear_gives_each_step_and_channel_its_quantiles():
    model = DLinear(ForecastShape(lookback=6, horizon=2, n_channels=3, n_quantiles=5),
                    kernel_size=3)
    step_and_quantile_biases(model.trend[0], 5)
    model.seasonal[0].weight.data.zero_()
    model.seasonal[0].bias.data.zero_()
    y = model(torch.randn(4, 6, 3))
    torch.testing.assert_close(y, expected_layout(4, 2, 3, 5))


@pytest.mark.parametrize("channel_independent", [True, False])
@torch.no_grad()
def test_the_forecaster_head_gives_each_step_and_channel_its_quantiles(channel_independent):
    shape = ForecastShape(lookback=8, horizon=3, n_channels=2, n_quantiles=3)
    backbone = Backbone(4, 1, "z", {"z": partial(Silent)})
    model = Forecaster(shape, backbone, patch_len=4, stride=4,
                       channel_independent=channel_independent, revin=False)
    head = model.head[-1]
    head.weight.data.zero_()
    outputs = torch.arange(head.out_features)
    per_channel = 1 if channel_independent else shape.n_channels
    step, rest = outputs // (3 * per_channel), outputs % (3 * per_channel)
    head.bias.data.copy_(10.0 * step + rest // per_channel)
    torch.testing.assert_close(model(torch.randn(5, 8, 2)), expected_layout(5, 3, 2, 3))


def test_seasonal_naive_learns_no_quantiles():
    with pytest.raises(ValueError, match="SeasonalNaive .* cannot forecast quantiles"):
        SeasonalNaive(ForecastShape(lookback=8, horizon=2, n_channels=1, period=4, n_quantiles=3))


class Fixed(nn.Module):
    """A network that forecasts the quantiles ``values (Q,)`` for every step and channel."""

    def __init__(self, shape: ForecastShape, values: list[float]) -> None:
        super().__init__()
        self.shape = shape
        self.register_buffer("values", torch.tensor(values))

    def forward(self, x):
        return self.values.expand(len(x), self.shape.horizon, self.shape.n_channels, -1)


def test_the_task_scores_the_median_and_the_coverage_of_each_interval():
    shape = ForecastShape(lookback=2, horizon=2, n_channels=1, n_quantiles=5)
    task = ForecastTask(Fixed(shape, [-2.0, -1.0, 0.0, 1.0, 2.0]), torch.tensor([10.0]),
                        torch.tensor([2.0]), loss="quantile", levels=[50, 90])
    assert task.prediction_axes == ("step", "channel", "quantile")
    assert ForecastTask.prediction_axes == ("step", "channel")
    y = torch.tensor([[-3.0, -1.5], [0.5, 1.0]])[..., None]  # (2 windows, 2 steps, 1 channel)
    task.test_step((torch.zeros(2, 2, 1), y), 0)
    metrics = {k: v.item() for k, v in task.test_metrics.compute().items()}
    assert metrics["test/mse"] == pytest.approx((9 + 2.25 + 0.25 + 1) / 4)
    assert metrics["test/mae"] == pytest.approx((3 + 1.5 + 0.5 + 1) / 4)
    assert metrics["test/mse_orig"] == pytest.approx(4 * (9 + 2.25 + 0.25 + 1) / 4)
    assert metrics["test/coverage_50"] == pytest.approx(2 / 4)  # inside [-1, 1]: 0.5 and 1
    assert metrics["test/coverage_90"] == pytest.approx(3 / 4)  # inside [-2, 2]: all but -3
    expected = pinball_loss(task(torch.zeros(2, 2, 1)), y, task.quantiles.fractions)
    assert task.loss(task(torch.zeros(2, 2, 1)), y) == expected
    prediction = task.predict_step(torch.zeros(1, 2, 1), 0)
    torch.testing.assert_close(prediction[0, 0, 0], torch.tensor([6.0, 8.0, 10.0, 12.0, 14.0]))
    assert torch.equal(task.point(prediction), prediction[..., 2])


def test_a_quantile_run_logs_coverage_and_its_checkpoint_keeps_the_levels(forecasters):
    record = read_checkpoint(forecasters["quantile"])[RECORD_KEY]
    assert record["config"]["task"]["loss"] == "quantile"
    assert list(record["config"]["task"]["levels"]) == [80, 90]
    logged = MlflowClient(record["tracking_uri"]).get_run(record["run_id"]).data.metrics
    assert {"test/mse", "test/mae", "test/coverage_80", "test/coverage_90",
            "val/coverage_80"} <= set(logged)
    assert 0 <= logged["test/coverage_80"] <= logged["test/coverage_90"] <= 1


def test_a_config_without_a_loss_is_a_point_model():
    task = ForecastTask(Fixed(ForecastShape(2, 2, 1), [0.0]), torch.zeros(1), torch.ones(1))
    assert task.quantiles is None and not math.isnan(task.loss(torch.zeros(1), torch.ones(1)))


@torch.no_grad()
def test_a_checkpoint_recorded_before_the_loss_setting_loads_as_a_point_model(forecasters,
                                                                              tmp_path):
    def drop_loss(record):
        for key in ("loss", "levels"):
            record["config"]["task"].pop(key)

    older = edited_checkpoint(forecasters["dlinear"], tmp_path / "older.ckpt", drop_loss)
    assert "loss" not in read_checkpoint(older)[RECORD_KEY]["config"]["task"]
    before, now = load_task(older, stage=None).task, load_task(forecasters["dlinear"], stage=None).task
    assert before.quantiles is None and before.shape.n_quantiles == 1
    x = torch.randn(3, 48, 4)
    assert torch.equal(before.predict_step(x, 0), now.predict_step(x, 0))
