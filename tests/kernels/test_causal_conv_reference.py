"""The causal-conv reference against torch's grouped ``conv1d`` with left padding; its dtypes,
the dispatcher on CPU tensors, and bad inputs named."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tsssm.kernels.causal_conv import causal_conv1d
from tsssm.kernels.causal_conv.reference import causal_conv1d_ref

F64 = torch.float64


def conv1d_oracle(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  activation: str | None) -> torch.Tensor:
    """x (B, L, C), weight (C, K): torch's depthwise conv1d over the left-padded sequence."""
    taps = weight.shape[1]
    padded = F.pad(x.transpose(1, 2), (taps - 1, 0))
    y = F.conv1d(padded, weight[:, None, :], bias, groups=x.shape[2]).transpose(1, 2)
    return F.silu(y) if activation == "silu" else y


@pytest.mark.parametrize("taps", [1, 2, 4, 5])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_matches_grouped_conv1d(taps, bias, activation):
    gen = torch.Generator().manual_seed(taps)
    x = torch.randn(2, 11, 6, generator=gen, dtype=F64)
    weight = torch.randn(6, taps, generator=gen, dtype=F64)
    b = torch.randn(6, generator=gen, dtype=F64) if bias else None
    y = causal_conv1d_ref(x, weight, b, activation)
    assert y.shape == x.shape and y.dtype == F64
    assert (y - conv1d_oracle(x, weight, b, activation)).abs().max() <= 1e-12


def test_strided_input_and_sequence_shorter_than_the_filter():
    """x as the second half of a projection's columns, 3 steps against 4 taps."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 10, generator=gen, dtype=F64).chunk(2, dim=-1)[1]
    weight = torch.randn(5, 4, generator=gen, dtype=F64)
    assert not x.is_contiguous()
    y = causal_conv1d_ref(x, weight, None, "silu")
    assert (y - conv1d_oracle(x.contiguous(), weight, None, "silu")).abs().max() <= 1e-12


def test_gradients_pass_gradcheck():
    gen = torch.Generator().manual_seed(2)
    inputs = (torch.randn(1, 7, 3, generator=gen, dtype=F64, requires_grad=True),
              torch.randn(3, 4, generator=gen, dtype=F64, requires_grad=True),
              torch.randn(3, generator=gen, dtype=F64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda x, w, b: causal_conv1d_ref(x, w, b, "silu"), inputs)


def test_low_precision_computes_in_fp32_and_returns_the_input_dtype():
    """bf16 x with fp32 weights (as under autocast): fp32 arithmetic, so every output is within
    one bf16 rounding (2^-8 relative) of the exact value."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 9, 4, generator=gen).to(torch.bfloat16)
    weight, bias = torch.randn(4, 3, generator=gen), torch.randn(4, generator=gen)
    y = causal_conv1d_ref(x, weight, bias, "silu")
    assert y.dtype == torch.bfloat16
    expected = conv1d_oracle(x.double(), weight.double(), bias.double(), "silu")
    assert ((y.double() - expected).abs() <= (2**-8 + 1e-6) * expected.abs()).all()


def test_auto_backend_on_cpu_tensors_is_the_reference():
    """CPU tensors take the reference under "auto", interpreter or not (the mixers rely on it)."""
    gen = torch.Generator().manual_seed(4)
    x, weight = torch.randn(1, 5, 3, generator=gen), torch.randn(3, 4, generator=gen)
    assert torch.equal(causal_conv1d(x, weight, activation="silu"),
                       causal_conv1d_ref(x, weight, activation="silu"))
    with pytest.raises(ValueError, match="backend must be one of"):
        causal_conv1d(x, weight, backend="cuda")


@pytest.mark.parametrize("x_shape,weight_shape,bias_shape,activation,message", [
    ((2, 5), (5, 4), None, None, r"x must have shape \(batch, L, C\) with L >= 1, got \(2, 5\)"),
    ((2, 0, 5), (5, 4), None, None, r"L >= 1, got \(2, 0, 5\)"),
    ((2, 3, 5), (5, 1, 4), None, None, r"weight must have shape \(C, K\) = \(5, K\)"),
    ((2, 3, 5), (4, 4), None, None, r"weight must have shape \(C, K\) = \(5, K\)"),
    ((2, 3, 5), (5, 0), None, None, r"with K >= 1, got \(5, 0\)"),
    ((2, 3, 5), (5, 4), (4,), None, r"bias must have shape \(C,\) = \(5,\), got \(4,\)"),
    ((2, 3, 5), (5, 4), None, "relu", r"activation must be one of \(None, 'silu'\), got 'relu'"),
])
def test_bad_inputs_are_named(x_shape, weight_shape, bias_shape, activation, message):
    bias = None if bias_shape is None else torch.zeros(bias_shape)
    with pytest.raises(ValueError, match=message):
        causal_conv1d(torch.zeros(x_shape), torch.zeros(weight_shape), bias, activation)


def test_integer_inputs_are_named():
    with pytest.raises(ValueError, match="causal_conv1d_ref: x must be a real floating-point"):
        causal_conv1d(torch.zeros(1, 3, 2, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="weight must be a real floating-point"):
        causal_conv1d(torch.zeros(1, 3, 2), torch.zeros(2, 4, dtype=torch.int32))
