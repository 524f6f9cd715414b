"""Forecaster building blocks and baselines: shapes, invertibility, and what each one promises."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tsssm.models.backbone import Backbone
from tsssm.mixers.base import Mixer
from tsssm.models.baselines import DLinear, MovingAverage, SeasonalNaive
from tsssm.models.forecaster import Forecaster
from tsssm.models.patching import PatchEmbedding, n_patches
from tsssm.models.revin import RevIN
from tsssm.models.shape import ForecastShape


class CumulativeMean(Mixer):
    """A tiny causal mixer (running mean over time) so model tests need no real SSM."""

    def forward(self, x):
        steps = torch.arange(1, x.shape[1] + 1, dtype=x.dtype, device=x.device)
        return x.cumsum(1) / steps[:, None]


def tiny_backbone(d_model: int = 8) -> Backbone:
    return Backbone(d_model, 2, "c", {"c": partial(CumulativeMean)}, mlp_ratio=2)


def test_revin_roundtrip_restores_the_input_scale():
    torch.manual_seed(0)
    revin = RevIN(3)
    with torch.no_grad():
        revin.weight.uniform_(0.5, 2.0)
        revin.bias.uniform_(-1, 1)
    x = torch.randn(4, 50, 3) * 7 + 3
    z, stats = revin.normalize(x)
    assert torch.allclose(revin.denormalize(z, stats), x, atol=1e-4)
    plain, _ = RevIN(3, affine=False).normalize(x)
    assert torch.allclose(plain.mean(1), torch.zeros(4, 3), atol=1e-5)


@pytest.mark.parametrize("length,patch,stride,tokens", [(336, 16, 8, 41), (96, 16, 8, 11),
                                                       (100, 16, 8, 12), (10, 1, 1, 10)])
def test_patch_count_covers_every_sample(length, patch, stride, tokens):
    assert n_patches(length, patch, stride) == tokens
    emb = PatchEmbedding(length, 1, 4, patch, stride)
    assert emb((torch.randn(2, length, 1))).shape == (2, tokens, 4)
    assert (tokens - 1) * stride + patch - length == emb.pad < stride or emb.pad == 0


def test_patches_hold_the_right_samples():
    emb = PatchEmbedding(20, 2, 3, patch_len=4, stride=4)
    with torch.no_grad():
        emb.proj.weight.zero_()
        emb.proj.bias.zero_()
        emb.proj.weight[0, 0] = 1.0
    x = torch.arange(40, dtype=torch.float32).reshape(1, 20, 2)
    # the first input of token k is feature 0 of the first sample of patch k: x[0, 4k, 0]
    assert emb(x)[0, :, 0].tolist() == [x[0, 4 * k, 0].item() for k in range(5)]


def test_patch_longer_than_input_is_an_error():
    with pytest.raises(ValueError, match="patch_len=32 is longer than the input length 16"):
        PatchEmbedding(16, 1, 4, 32, 8)


@pytest.mark.parametrize("independent", [True, False])
def test_forecaster_maps_lookback_to_horizon(independent):
    shape = ForecastShape(lookback=48, horizon=12, n_channels=3)
    model = Forecaster(shape, tiny_backbone(), patch_len=8, stride=4,
                       channel_independent=independent)
    y = model(torch.randn(5, 48, 3))
    assert y.shape == (5, 12, 3)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match=r"expects inputs \(B, 48, 3\)"):
        model(torch.randn(5, 40, 3))


def test_channel_independent_forecaster_treats_channels_alike():
    shape = ForecastShape(lookback=32, horizon=8, n_channels=2)
    model = Forecaster(shape, tiny_backbone(), patch_len=8, stride=8, revin=False).eval()
    x = torch.randn(1, 32, 1).repeat(1, 1, 2)
    y = model(x)
    assert torch.allclose(y[..., 0], y[..., 1])


def test_seasonal_naive_repeats_the_last_season():
    shape = ForecastShape(lookback=10, horizon=7, n_channels=2, period=3)
    x = torch.arange(20, dtype=torch.float32).reshape(1, 10, 2)
    y = SeasonalNaive(shape)(x)
    expected_steps = [7, 8, 9, 7, 8, 9, 7]
    assert y[0, :, 0].tolist() == [x[0, s, 0].item() for s in expected_steps]
    with pytest.raises(ValueError, match="period 24 is longer than the lookback 10"):
        SeasonalNaive(shape, period=24)
    with pytest.raises(ValueError, match="positive seasonal period"):
        SeasonalNaive(ForecastShape(10, 7, 2))


def test_moving_average_keeps_constants_and_length():
    avg = MovingAverage(5)
    x = torch.full((2, 9, 3), 4.0)
    assert torch.allclose(avg(x), x)
    ramp = torch.arange(9, dtype=torch.float32).reshape(1, 9, 1)
    assert avg(ramp)[0, 4, 0].item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="odd"):
        MovingAverage(4)


@pytest.mark.parametrize("individual", [False, True])
def test_dlinear_is_linear_in_its_input(individual):
    torch.manual_seed(0)
    model = DLinear(ForecastShape(24, 6, 3), kernel_size=5, individual=individual)
    a, b = torch.randn(2, 24, 3), torch.randn(2, 24, 3)
    zero = model(torch.zeros(2, 24, 3))
    assert torch.allclose(model(a + b) - zero, (model(a) - zero) + (model(b) - zero), atol=1e-5)
    assert model(a).shape == (2, 6, 3)
    assert len(model.trend) == (3 if individual else 1)


def test_shape_rejects_nonpositive_sizes():
    with pytest.raises(ValueError, match="horizon must be positive"):
        ForecastShape(10, 0, 1)
