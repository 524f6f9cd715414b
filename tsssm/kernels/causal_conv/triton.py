"""Triton fast path of the causal depthwise convolution (+ optional SiLU), forward and backward.

It works on the (batch, L, C) channel-last layout the mixers hold, any strides (a column slice
of a projection included): no transposes, no padded copy. The forward reads x once and writes y
once; the backward reads x and dy, writes ``g = dy · act'(pre)`` (with SiLU) and the small
partial sums of dweight and dbias (``triton_kernels.grad_kernel``), then gets dx by running the
forward kernel over ``g`` backwards in time. Arithmetic is fp32 for fp32, bf16 and fp16 inputs;
y, g and dx are stored in x's dtype (as torch's separate SiLU backward stored its gradient).
"""

from __future__ import annotations

import torch
import triton
from torch import Tensor

from tsssm.kernels.causal_conv.reference import check_causal_conv_args
from tsssm.kernels.causal_conv.triton_kernels import (INTERPRETED, ROWS_PER_PROGRAM,
                                                      forward_kernel, grad_kernel)

MAX_TAPS = 8  # the window tile grows with K; the configs are sized for K <= 8
MAX_BATCH = 65535  # the batch is grid axis 1
_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _reversed_in_time(t: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
    """``t`` (batch, L, C) backwards in time, for the kernels: a view that starts at step L - 1,
    and t's strides with the step stride negated."""
    return t[:, -1:], (t.stride(0), -t.stride(1), t.stride(2))


def conv_forward(x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool, y: Tensor,
                 reverse: bool = False) -> None:
    """Run the forward kernel into ``y`` (batch, L, C) from x (batch, L, C), any strides;
    weight (C, K) and bias (C,) contiguous. With ``reverse``, time runs backward in both:
    ``y[t] = act(bias + Σ_k weight[k] · x[t + K - 1 - k])``."""
    batch, length, channels = x.shape
    taps = weight.shape[1]
    x_arg, x_strides = _reversed_in_time(x) if reverse else (x, x.stride())
    y_arg, y_strides = _reversed_in_time(y) if reverse else (y, y.stride())
    grid = lambda meta: (triton.cdiv(length, meta["BLOCK_L"]), batch,  # noqa: E731
                         triton.cdiv(channels, meta["BLOCK_C"]))
    forward_kernel[grid](x_arg, weight, weight if bias is None else bias, y_arg, length, channels,
                         *x_strides, *y_strides, HAS_BIAS=bias is not None, SILU=silu, K=taps,
                         K_PAD=triton.next_power_of_2(taps))


def conv_grad(x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool, dy: Tensor,
              g: Tensor | None, dweight_parts: Tensor, dbias_parts: Tensor | None) -> None:
    """Run the gradient kernel: ``g`` (batch, L, C) receives ``dy · silu'(pre)`` (with ``silu``;
    None without, where it is dy itself); ``dweight_parts`` (batch · spans, C, K) and
    ``dbias_parts`` (batch · spans, C), fp32 contiguous, the partial sums over spans of
    ``ROWS_PER_PROGRAM`` steps (``spans = cdiv(L, ROWS_PER_PROGRAM)``). x, dy, g any strides."""
    batch, length, channels = x.shape
    taps = weight.shape[1]
    g_arg = dy if g is None else g
    grid = lambda meta: (triton.cdiv(length, ROWS_PER_PROGRAM), batch,  # noqa: E731
                         triton.cdiv(channels, meta["BLOCK_C"]))
    grad_kernel[grid](x, weight, weight if bias is None else bias, dy, g_arg, dweight_parts,
                      dweight_parts if dbias_parts is None else dbias_parts,
                      length, channels, ROWS_PER_PROGRAM, *x.stride(), *dy.stride(),
                      *g_arg.stride(), HAS_BIAS=bias is not None, SILU=silu, K=taps,
                      K_PAD=triton.next_power_of_2(taps))


class _CausalConv1d(torch.autograd.Function):
    """The convolution with its Triton backward; nothing beyond the inputs is saved."""

    @staticmethod
    def forward(ctx, x, weight, bias, silu):
        y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        conv_forward(x, weight, bias, silu, y)
        ctx.save_for_backward(x, weight, bias)
        ctx.silu = silu
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias = ctx.saved_tensors
        need_dx, need_dweight, need_dbias = ctx.needs_input_grad[:3]
        g = torch.empty(x.shape, dtype=x.dtype, device=x.device) if ctx.silu else None
        dweight, dbias = None, None
        if ctx.silu or need_dweight or need_dbias:
            parts = x.shape[0] * triton.cdiv(x.shape[1], ROWS_PER_PROGRAM)
            dweight_parts = torch.empty(parts, *weight.shape, dtype=torch.float32,
                                        device=x.device)
            dbias_parts = (None if bias is None else
                           torch.empty(parts, bias.shape[0], dtype=torch.float32, device=x.device))
            conv_grad(x, weight, bias, ctx.silu, dy, g, dweight_parts, dbias_parts)
            dweight = dweight_parts.sum(0).to(weight.dtype)
            dbias = None if bias is None else dbias_parts.sum(0).to(bias.dtype)
        dx = None
        if need_dx:
            dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
            conv_forward(dy if g is None else g, weight, None, False, dx, reverse=True)
        return dx, dweight, dbias, None


def causal_conv1d_triton(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                         activation: str | None = None) -> Tensor:
    """The convolution on the GPU (or interpreted), differentiable in x, weight and bias.

    Args:
        x: (batch, L, C) inputs, any strides.
        weight: (C, K) one filter per channel, oldest tap first, K <= ``MAX_TAPS``.
        bias: (C,) or None.
        activation: None or "silu".

    Returns:
        y (batch, L, C) in x's dtype; gradients come back in their inputs' dtypes.
    """
    where = "causal_conv1d_triton"
    check_causal_conv_args(where, x, weight, bias, activation)
    problem = unsupported(x, weight, bias)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return _CausalConv1d.apply(x, weight.contiguous(),
                               None if bias is None else bias.contiguous(), activation == "silu")


def unsupported(x: Tensor, weight: Tensor, bias: Tensor | None) -> str | None:
    """Why the kernels cannot take these (shape-checked) inputs, or None: fp32/bf16/fp16 tensors
    of one CUDA device (or of the CPU, interpreted), at most ``MAX_TAPS`` taps and
    ``MAX_BATCH`` batch rows."""
    tensors = {"x": x, "weight": weight, "bias": bias}
    for name, tensor in tensors.items():
        if tensor is not None and tensor.device != x.device:
            return f"{name} is on {tensor.device} but x is on {x.device}"
        if tensor is not None and tensor.dtype not in _KERNEL_DTYPES:
            return (f"{name} must be float32, bfloat16 or float16, got {tensor.dtype} "
                    f"(float64 runs on backend='reference')")
    if x.device.type != "cuda" and not (INTERPRETED and x.device.type == "cpu"):
        return (f"the kernels need CUDA tensors (got {x.device}); CPU tensors run only under "
                f"TRITON_INTERPRET=1 set before tsssm.kernels.causal_conv.triton is imported")
    if weight.shape[1] > MAX_TAPS:
        return (f"weight has K={weight.shape[1]} taps (weight.shape[1]); the kernels take "
                f"<= {MAX_TAPS}")
    if x.shape[0] > MAX_BATCH:
        return f"x has batch {x.shape[0]} (x.shape[0]); the kernels take <= {MAX_BATCH}"
    return None
