"""CausalDepthwiseConv: steps equal forward, the prefill state is the last inputs, nn.Conv1d
weights load into it, bad inputs are named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.mixers.stepping import step_through
from tsssm.mixers.conv import CausalDepthwiseConv

F64 = torch.float64


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("d_conv", [1, 2, 4])
@pytest.mark.parametrize("length", [1, 3, 9])
def test_step_loop_matches_forward(bias, d_conv, length):
    torch.manual_seed(0)
    conv = CausalDepthwiseConv(5, d_conv, bias=bias).double()
    x = torch.randn(2, length, 5, dtype=F64)
    with torch.no_grad():
        y_steps, state = step_through(conv, x, conv.init_state(2))
        y = conv(x)
    assert y.shape == x.shape
    assert (y_steps - y).abs().max() <= 1e-12
    assert state.shape == (2, 5, d_conv - 1)


@pytest.mark.parametrize("length", [1, 2, 3, 7])
def test_prefill_state_is_the_last_inputs_zero_padded(length):
    torch.manual_seed(0)
    conv = CausalDepthwiseConv(5, 4).double()
    x = torch.randn(2, length, 5, dtype=F64)
    with torch.no_grad():
        y, state = conv.prefill(x)
    assert torch.equal(y, conv(x))
    expected = torch.cat([torch.zeros(2, 3, 5, dtype=F64), x], dim=1)[:, -3:].transpose(1, 2)
    assert torch.equal(state, expected)


def test_prefill_then_step_continues_the_sequence():
    torch.manual_seed(0)
    conv = CausalDepthwiseConv(5, 4).double()
    x = torch.randn(2, 9, 5, dtype=F64)
    with torch.no_grad():
        y = conv(x)
        _, state = conv.prefill(x[:, :2])
        y_steps, _ = step_through(conv, x[:, 2:], state)
    assert (y_steps - y[:, 2:]).abs().max() <= 1e-12


def test_depthwise_conv1d_weights_load_and_give_its_causal_output():
    torch.manual_seed(0)
    reference = nn.Conv1d(6, 6, 3, groups=6, padding=2).double()
    conv = CausalDepthwiseConv(6, 3).double()
    conv.load_state_dict(reference.state_dict())
    x = torch.randn(2, 8, 6, dtype=F64)
    with torch.no_grad():
        expected = reference(x.transpose(1, 2))[..., :8].transpose(1, 2)
        assert (conv(x) - expected).abs().max() <= 1e-12


def test_init_state_defaults_to_the_weights_and_bad_inputs_are_named():
    conv = CausalDepthwiseConv(5, 4)
    state = conv.init_state(3)
    assert state.shape == (3, 5, 3) and state.dtype == torch.float32 and not state.any()
    assert conv.init_state(1, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"expected input \(B, L, channels=5\), got \(2, 3, 4\)"):
        conv(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"step: expected input \(B, channels=5\)"):
        conv.step(torch.randn(2, 3, 5), state)
    with pytest.raises(ValueError, match="channels and d_conv must be positive"):
        CausalDepthwiseConv(5, 0)
