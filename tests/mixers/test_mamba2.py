"""Mamba-2 mixer: streaming equals parallel, every parameter learns, bad configs are refused."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.gated_norm import GatedRMSNorm
from tsssm.mixers.mamba2 import Mamba2

F64 = torch.float64
TINY = dict(d_state=8, d_conv=3, expand=2, headdim=8, chunk_size=4)  # d_inner 32, 4 heads


@pytest.mark.parametrize("ngroups", [1, 2])
@pytest.mark.parametrize("bias, conv_bias", [(False, True), (True, False)])
@pytest.mark.parametrize("length", [1, 13])
def test_step_loop_matches_forward(ngroups, bias, conv_bias, length):
    torch.manual_seed(0)
    mixer = Mamba2(16, ngroups=ngroups, bias=bias, conv_bias=conv_bias, **TINY).double()
    with torch.no_grad():  # move D and the norm weight off their all-ones init
        mixer.D.normal_()
        mixer.norm.weight.normal_()
    x = torch.randn(2, length, 16, dtype=F64)
    with torch.no_grad():
        y = mixer(x)
        y_steps, _ = step_through(mixer, x)
    assert y.shape == x.shape
    assert (y_steps - y).abs().max() <= 1e-10


def test_state_has_fixed_size_and_layout():
    mixer = Mamba2(16, ngroups=2, **TINY).double()
    conv_state, ssm_state = mixer.init_state(3)
    assert conv_state.shape == (3, 32 + 2 * 2 * 8, 2) and conv_state.dtype == F64
    assert ssm_state.shape == (3, 4, 8, 8) and ssm_state.dtype == F64
    size = state_nbytes((conv_state, ssm_state))
    state = (conv_state, ssm_state)
    with torch.no_grad():
        for _ in range(5):
            _, state = mixer.step(torch.randn(3, 16, dtype=F64), state)
    assert state_nbytes(state) == size
    assert mixer.init_state(1, dtype=torch.bfloat16)[1].dtype == torch.float32


@pytest.mark.parametrize("dtype", [F64, torch.bfloat16])
def test_prefill_state_has_init_states_layout(dtype):
    mixer = Mamba2(16, ngroups=2, **TINY).to(dtype)
    with torch.no_grad():
        _, state = mixer.prefill(torch.randn(3, 5, 16, dtype=dtype))
    for got, want in zip(state, mixer.init_state(3)):
        assert got.shape == want.shape and got.dtype == want.dtype


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    mixer = Mamba2(16, ngroups=2, bias=True, **TINY)
    mixer(torch.randn(2, 11, 16)).square().sum().backward()
    for name, param in mixer.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_decay_parameters_skip_weight_decay_and_follow_the_init_recipe():
    mixer = Mamba2(64, dt_min=1e-3, dt_max=1e-1, A_init_range=(1, 16), headdim=8)
    flagged = {name for name, p in mixer.named_parameters()
               if getattr(p, "_no_weight_decay", False)}
    assert flagged == {"A_log", "D", "dt_bias"}
    dt = nn.functional.softplus(mixer.dt_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    A = -torch.exp(mixer.A_log)
    assert A.max() <= -1 + 1e-6 and A.min() >= -16 - 1e-5


def test_gated_norm_is_rmsnorm_of_the_gated_signal():
    torch.manual_seed(0)
    y, z = torch.randn(3, 5, 12, dtype=F64), torch.randn(3, 5, 12, dtype=F64)
    norm = GatedRMSNorm(12, eps=1e-5).double()
    plain = nn.RMSNorm(12, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.normal_()
        plain.weight.copy_(norm.weight)
    gated = y * nn.functional.silu(z)
    assert (norm(y, z) - plain(gated)).abs().max() <= 1e-12
    grouped = GatedRMSNorm(12, group_size=4).double()
    per_group = torch.cat([nn.functional.rms_norm(g, (4,), eps=1e-5) for g in gated.split(4, -1)],
                          dim=-1)
    assert (grouped(y, z) - per_group).abs().max() <= 1e-12


@pytest.mark.parametrize("kwargs, message", [
    (dict(d_model=10, headdim=8), "divisible by headdim"),
    (dict(d_model=16, headdim=8, ngroups=3), "divisible by ngroups"),
    (dict(d_model=5, expand=1.5), "whole number"),
    (dict(d_model=16, headdim=8, d_state=0), "d_state"),
    (dict(d_model=16, headdim=8, dt_min=0.2, dt_max=0.1), "dt_min"),
    (dict(d_model=16, headdim=8, A_init_range=(0, 4)), "A_init_range"),
])
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mamba2(**kwargs)


def test_bad_input_shapes_are_refused():
    mixer = Mamba2(16, **TINY)
    with pytest.raises(ValueError, match="d_model=16"):
        mixer(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="d_model=16"):
        mixer.step(torch.randn(2, 1, 16), mixer.init_state(2))
    with pytest.raises(ValueError, match="group_size"):
        GatedRMSNorm(12, group_size=5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("length", [42, 63, 91])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 3e-2)])
def test_training_step_on_gpu_at_the_forecasters_width_matches_float64(length, dtype, tolerance):
    """The LTSF preset's shape at its searched width 32 (4 heads of 16, N 32, chunk 64) over the
    patch counts of lookbacks 336, 512 and 720, at a forecaster's channel-independent batch:
    fp32 and bf16 autocast take the kernels, float64 the reference; outputs and gradients agree."""
    torch.manual_seed(0)
    reference = Mamba2(32, d_state=32, headdim=16).double().cuda()
    fast = copy.deepcopy(reference).float()
    x = torch.randn(224, length, 32, dtype=F64, device="cuda")
    grads = []
    for mixer, inputs in ((reference, x), (fast, x.float())):
        inputs = inputs.clone().requires_grad_(True)
        with torch.autocast("cuda", dtype=torch.bfloat16,
                            enabled=mixer is fast and dtype == torch.bfloat16):
            y = mixer(inputs)
        y.float().square().mean().backward()
        grads.append([y.detach().double(), inputs.grad.double(),
                      *(p.grad.double() for p in mixer.parameters())])
    for got, want in zip(grads[1], grads[0]):
        assert (got - want).norm() <= tolerance * want.norm()
