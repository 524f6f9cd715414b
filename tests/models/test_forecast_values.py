"""Value-level tests of the models behind every LTSF number: hand-set weights, hand-computed outputs.

Shape and linearity tests cannot tell a forecaster that forgot to map its output back to the
input's scale (RevIN's de-normalisation) from a correct one, nor a DLinear without its seasonal
branch from the real thing; these can.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from tsssm.mixers.base import Mixer
from tsssm.models.backbone import Backbone
from tsssm.models.baselines import DLinear
from tsssm.models.forecaster import Forecaster
from tsssm.models.shape import ForecastShape


class Silent(Mixer):
    """A mixer that adds nothing, so a one-layer backbone without MLP passes tokens through."""

    def forward(self, x):
        return torch.zeros_like(x)


def pass_through_forecaster(shape: ForecastShape, patch_len: int, stride: int) -> Forecaster:
    """A forecaster of width 1 whose backbone is the identity (silent mixer, final norm removed)."""
    backbone = Backbone(1, 1, "z", {"z": partial(Silent)})
    backbone.norm = nn.Identity()
    return Forecaster(shape, backbone, patch_len=patch_len, stride=stride).double()


def ramp_and_square(lookback: int) -> torch.Tensor:
    """``(1, lookback, 2)``: channel 0 is 0, 1, 2, ...; channel 1 is 0, 1, 4, 9, ... scaled by 100."""
    t = torch.arange(lookback, dtype=torch.float64)
    return torch.stack([t, 100.0 * t * t], dim=-1)[None]


def test_forecaster_last_patch_mean_comes_back_in_the_input_scale():
    # lookback 10 in patches of 4 with stride 4: 3 tokens, the last one padded by repeating
    # sample 9, so it holds samples 8, 9, 9, 9. Each token is its patch's mean; the head copies
    # the last token to every step. RevIN standardises the window first, and the forecast must
    # come back in the input's units: 8.75 for the ramp, 100 * (64 + 3 * 81) / 4 for the square.
    model = pass_through_forecaster(ForecastShape(lookback=10, horizon=3, n_channels=2), 4, 4)
    assert model.embed.n_tokens == 3
    with torch.no_grad():
        model.embed.proj.weight.fill_(0.25)
        model.embed.proj.bias.zero_()
        last, head = model.head[-1].weight, model.head[-1].bias
        last.zero_()
        last[:, -1] = 1.0
        head.zero_()
    y = model(ramp_and_square(10))
    assert y.shape == (1, 3, 2)
    torch.testing.assert_close(y[0, :, 0], torch.full((3,), 8.75, dtype=torch.float64))
    torch.testing.assert_close(y[0, :, 1], torch.full((3,), 100 * (64 + 3 * 81) / 4,
                                                      dtype=torch.float64))


def test_forecaster_constant_output_is_mapped_back_by_the_window_statistics():
    # With a zero head and bias b, the normalised forecast is b everywhere, so the forecast is
    # mean + b * std of each channel's window (population variance plus RevIN's eps 1e-5).
    model = pass_through_forecaster(ForecastShape(lookback=10, horizon=2, n_channels=2), 1, 1)
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.fill_(2.0)
    x = ramp_and_square(10)
    y = model(x)
    t = list(range(10))
    squares = [100.0 * s * s for s in t]
    for channel, values in enumerate([t, squares]):
        mean = sum(values) / 10
        var = sum((v - mean) ** 2 for v in values) / 10
        expected = mean + 2.0 * math.sqrt(var + 1e-5)
        assert y[0, :, channel].tolist() == pytest.approx([expected] * 2, rel=1e-9)


def last_step_map(lookback: int, horizon: int) -> torch.Tensor:
    """``(horizon, lookback)``: a linear map over time that repeats the window's last value."""
    weight = torch.zeros(horizon, lookback, dtype=torch.float64)
    weight[:, -1] = 1.0
    return weight


@pytest.mark.parametrize("branches, expected", [
    (("trend",), 20.0 / 3.0),        # the moving average's last value: (4 + 8 + 8) / 3
    (("seasonal",), 8.0 - 20.0 / 3.0),  # the remainder there
    (("trend", "seasonal"), 8.0),    # together they rebuild the input
])
def test_dlinear_adds_its_trend_and_seasonal_maps(branches, expected):
    # x = 1, 2, 4, 8 with a 3-step moving average, edges repeated: padded 1, 1, 2, 4, 8, 8.
    model = DLinear(ForecastShape(lookback=4, horizon=2, n_channels=1), kernel_size=3).double()
    with torch.no_grad():
        for name in ("trend", "seasonal"):
            linear = getattr(model, name)[0]
            linear.weight.copy_(last_step_map(4, 2) if name in branches else torch.zeros(2, 4))
            linear.bias.zero_()
    x = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64).reshape(1, 4, 1)
    assert model(x)[0, :, 0].tolist() == pytest.approx([expected, expected], rel=1e-12)


def test_individual_dlinear_maps_each_channel_with_its_own_weights():
    model = DLinear(ForecastShape(lookback=4, horizon=1, n_channels=2), kernel_size=3,
                    individual=True).double()
    with torch.no_grad():
        for channel, scale in enumerate([1.0, -3.0]):
            for linear in (model.trend[channel], model.seasonal[channel]):
                linear.weight.copy_(scale * last_step_map(4, 1))
                linear.bias.fill_(channel * 10.0)
    x = torch.tensor([[1.0, 0.0], [2.0, 1.0], [4.0, 1.0], [8.0, 5.0]],
                     dtype=torch.float64)[None]
    # trend + seasonal rebuild x's last value, times each channel's scale, plus both biases.
    assert model(x)[0, 0].tolist() == pytest.approx([8.0, -15.0 + 20.0], rel=1e-12)
