"""Mamba mixer: streaming equals parallel, every parameter learns, the init recipe, bad configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.mamba import Mamba, MambaState

F64 = torch.float64
TINY = dict(d_state=4, d_conv=3, expand=2)  # d_inner 32 for d_model 16, dt_rank 1


@pytest.mark.parametrize("bias, conv_bias", [(False, True), (True, False)])
@pytest.mark.parametrize("length", [1, 2, 13])
def test_step_loop_matches_forward(bias, conv_bias, length):
    torch.manual_seed(0)
    mixer = Mamba(16, bias=bias, conv_bias=conv_bias, **TINY).double()
    with torch.no_grad():  # move D off its all-ones init so the skip is really checked
        mixer.D.normal_()
    x = torch.randn(2, length, 16, dtype=F64)
    with torch.no_grad():
        y = mixer(x)
        y_steps, _ = step_through(mixer, x)
    assert y.shape == x.shape
    assert (y_steps - y).abs().max() <= 1e-10


def test_state_has_fixed_size_and_layout():
    mixer = Mamba(16, **TINY).double()
    state = mixer.init_state(3)
    assert isinstance(state, MambaState)
    assert state.conv.shape == (3, 32, 2) and state.conv.dtype == F64
    assert state.ssm.shape == (3, 32, 4) and state.ssm.dtype == F64
    size = state_nbytes(state)
    assert size == 3 * 32 * (2 + 4) * 8
    with torch.no_grad():
        for _ in range(5):
            _, state = mixer.step(torch.randn(3, 16, dtype=F64), state)
    assert state_nbytes(state) == size
    low = mixer.init_state(1, dtype=torch.bfloat16)
    assert low.conv.dtype == torch.bfloat16 and low.ssm.dtype == torch.float32


@pytest.mark.parametrize("dtype", [F64, torch.bfloat16])
def test_prefill_state_has_init_states_layout(dtype):
    mixer = Mamba(16, **TINY).to(dtype)
    with torch.no_grad():
        _, state = mixer.prefill(torch.randn(3, 5, 16, dtype=dtype))
    assert isinstance(state, MambaState)
    for got, want in zip(state, mixer.init_state(3)):
        assert got.shape == want.shape and got.dtype == want.dtype


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    mixer = Mamba(16, bias=True, **TINY)
    mixer(torch.randn(2, 11, 16)).square().sum().backward()
    for name, param in mixer.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_decay_parameters_skip_weight_decay_and_follow_the_init_recipe():
    torch.manual_seed(0)
    mixer = Mamba(64, d_state=16, dt_min=1e-3, dt_max=1e-1)
    flagged = {name for name, p in mixer.named_parameters()
               if getattr(p, "_no_weight_decay", False)}
    assert flagged == {"A_log", "D", "dt_proj.bias"}
    assert mixer.dt_rank == 4 and mixer.d_inner == 128
    dt = nn.functional.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    log_dt = dt.log()  # log-uniform: spread over the whole range, not bunched at one end
    assert log_dt.min() < math.log(3e-3) and log_dt.max() > math.log(3e-2)
    expected = torch.log(torch.arange(1, 17, dtype=torch.float32)).expand(128, 16)
    assert torch.equal(mixer.A_log.detach(), expected)
    assert torch.equal(mixer.D.detach(), torch.ones(128))


def test_bf16_input_runs_and_keeps_its_dtype():
    mixer = Mamba(16, **TINY).to(torch.bfloat16)
    y = mixer(torch.randn(2, 5, 16, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(dt_rank=0), "dt_rank must be 'auto' or a positive int"),
    (dict(dt_rank="big"), "dt_rank must be 'auto' or a positive int"),
    (dict(dt_min=0.2, dt_max=0.1), "0 < dt_min <= dt_max"),
    (dict(d_state=0), "d_state and d_conv must be positive"),
    (dict(expand=0), "expand \\* d_model must be at least 1"),
])
def test_bad_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mamba(16, **kwargs)


def test_wrong_input_width_is_named():
    mixer = Mamba(16, **TINY)
    with pytest.raises(ValueError, match=r"Mamba.forward: expected input \(batch, L, d_model=16\)"):
        mixer(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"Mamba.step: expected input \(batch, d_model=16\)"):
        mixer.step(torch.randn(2, 8), mixer.init_state(2))
