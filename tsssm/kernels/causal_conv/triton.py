"""Triton fast path of the causal depthwise convolution (+ optional SiLU), forward and backward.

It works on the (batch, L, C) channel-last layout the mixers hold, any strides (a column slice
of a projection included): no transposes, no padded copy. The forward reads x once and writes y
once; the backward reads x and dy, writes ``g = dy · act'(pre)`` (with SiLU) and the small
partial sums of dweight and dbias (``grad_kernel``), then gets dx by running the forward kernel
over ``g`` backwards in time. Arithmetic is fp32 for fp32, bf16 and fp16 inputs; y, g and dx are
stored in x's dtype (as torch's separate SiLU backward stored its gradient).

**Tiles.** A program owns one batch row, ``BLOCK_L`` steps and ``BLOCK_C`` channels (the
contiguous axis of the (batch, L, C) layout, so a row of a tile is one coalesced read). The
convolution reads each tile's ``K`` shifted copies at once as a (BLOCK_L, BLOCK_C, K_PAD) window
(``K_PAD`` = K rounded up to a power of two, the extra taps masked): the shifted rows are
re-loaded rather than shifted in registers (which Triton cannot express); they hit L1/L2, so
``x`` still crosses DRAM about once. The taps go last: Triton lays the lanes out along the
contiguous channel axis, then along the strided axes in order, so with the taps first they took
lanes (seen in the sm_90 TTGIR) and the sum over them needed shuffles; last, they stay in each
thread's registers.

**Gradients.** With ``g = dy · act'(pre)`` (``pre`` recomputed from x rather than stored)::

    dx[t]       = Σ_k weight[k] · g[t + K - 1 - k]      (the forward kernel run backwards in time)
    dweight[k]  = Σ_t g[t] · x[t - K + 1 + k]
    dbias       = Σ_t g[t]

``grad_kernel`` writes ``g`` and each program's partial sums of dweight and dbias over a span of
``rows_per_program`` steps (summed by torch afterwards: deterministic, no atomics); the
forward kernel then reads ``g`` with a negated step stride to give ``dx``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.causal_conv.reference import check_causal_conv_args
from tsssm.kernels.triton_common import (INTERPRETED, KERNEL_DTYPES, autotune, cdiv,
                                         device_problem, next_power_of_2, sigmoid)
from tsssm.kernels.triton_launch import TunedLaunch

MAX_TAPS = 8  # the window tile grows with K; the configs are sized for K <= 8
MAX_BATCH = 65535  # the batch is grid axis 1

# (BLOCK_L, BLOCK_C, num_warps). Each holds a (BLOCK_L, BLOCK_C, K_PAD) fp32 window: 64 values
# per thread at K = 4 in the forward, 32 in the gradient (whose accumulator is a second one);
# ``_tuned``'s pruning drops the tiles that would hold more at larger K (the last of each list
# fits K = 8). Under the interpreter one small tile, so the tests cross several step and channel
# blocks and mask the last of each.
FORWARD_CONFIGS = ((16, 128, 4), (32, 64, 4), (32, 128, 8), (64, 64, 8), (8, 128, 4))
GRAD_CONFIGS = ((16, 64, 4), (16, 128, 8), (32, 64, 8), (8, 128, 4), (8, 64, 4))
INTERPRETED_CONFIG = (8, 4, 1)
ROWS_PER_PROGRAM = 16 if INTERPRETED else 256
"""Steps one gradient program sums its weight and bias partials over: a multiple of every
``BLOCK_L``; the partial sums cost ``4 K / (ROWS_PER_PROGRAM · itemsize)`` of x's bytes."""


def _config(rows: int, chans: int, warps: int) -> triton.Config:
    return triton.Config({"BLOCK_L": rows, "BLOCK_C": chans}, num_warps=warps)


def _tuned(configs: tuple[tuple[int, int, int], ...], budget: int):
    """Autotune over ``configs`` on the GPU (keyed on the channels, taps and flags), keeping
    those whose window holds at most ``budget`` fp32 values per thread; the one
    ``INTERPRETED_CONFIG`` under the interpreter."""

    def prune(configs, named_args, **kwargs):
        return [config for config in configs
                if kwargs["K_PAD"] * config.kwargs["BLOCK_L"] * config.kwargs["BLOCK_C"]
                <= budget * 32 * config.num_warps]

    return autotune([_config(*config) for config in configs], _config(*INTERPRETED_CONFIG),
                    key=["channels", "K", "HAS_BIAS", "SILU"], prune=prune)


@triton.jit
def _row_start(ptr, b, t0, s_b, s_l):
    """Pointer to step ``t0`` of batch row ``b``; 64-bit, the tile offsets from it 32-bit."""
    return ptr + b * s_b + t0.to(tl.int64) * s_l


@triton.jit
def _tile(row_ptr, s_l, s_c, t0, length, c, channels, BLOCK_L: tl.constexpr):
    """Pointers (BLOCK_L, BLOCK_C) to steps ``t0 ..`` from ``row_ptr`` (at step t0), and the
    mask of those inside the sequence and the channels."""
    i = tl.arange(0, BLOCK_L)
    mask = ((t0 + i) < length)[:, None] & (c < channels)[None, :]
    return row_ptr + i[:, None] * s_l + c[None, :] * s_c, mask


@triton.jit
def _window(row_ptr, s_l, s_c, t0, length, c, channels, BLOCK_L: tl.constexpr,
            K: tl.constexpr, K_PAD: tl.constexpr):
    """(BLOCK_L, BLOCK_C, K_PAD) fp32: ``window[i, :, k] = x[t0 + i - K + 1 + k]``, zero before
    step 0, past the sequence, for taps k >= K and channels past ``channels``."""
    k = tl.arange(0, K_PAD)[None, None, :]
    shift = tl.arange(0, BLOCK_L)[:, None, None] - (K - 1) + k   # (BLOCK_L, 1, K_PAD)
    step = t0 + shift
    mask = (k < K) & (step >= 0) & (step < length) & (c < channels)[None, :, None]
    ptrs = row_ptr + shift * s_l + c[None, :, None] * s_c
    return tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _filters(w_ptr, bias_ptr, c, channels, HAS_BIAS: tl.constexpr, K: tl.constexpr,
             K_PAD: tl.constexpr):
    """The block's taps (BLOCK_C, K_PAD) and bias (BLOCK_C,) in fp32, zeros where absent;
    weight (C, K) and bias (C,) contiguous."""
    k = tl.arange(0, K_PAD)[None, :]
    c_mask = c < channels
    w = tl.load(w_ptr + c[:, None] * K + k, mask=c_mask[:, None] & (k < K), other=0.0)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + c, mask=c_mask, other=0.0).to(tl.float32)
    else:
        bias = tl.zeros(c.shape, dtype=tl.float32)
    return w.to(tl.float32), bias


@triton.jit
def _preactivation(window, w, bias):
    """(BLOCK_L, BLOCK_C) ``bias + Σ_k w[:, k] · window[:, :, k]`` from ``_filters``' taps and
    bias."""
    return tl.sum(w[None, :, :] * window, axis=2) + bias[None, :]


@_tuned(FORWARD_CONFIGS, budget=64)
@triton.jit
def forward_kernel(x_ptr, w_ptr, bias_ptr, y_ptr, length, channels,
                   s_x_b, s_x_l, s_x_c, s_y_b, s_y_l, s_y_c,
                   HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr,
                   K_PAD: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr):
    """``y = act(bias + causal conv(x))`` for one tile. Grid (cdiv(L, BLOCK_L), batch,
    cdiv(C, BLOCK_C)). Any strides, negative step strides included (time reversed)."""
    t0 = tl.program_id(0) * BLOCK_L
    b = tl.program_id(1).to(tl.int64)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    w, bias = _filters(w_ptr, bias_ptr, c, channels, HAS_BIAS, K, K_PAD)
    window = _window(_row_start(x_ptr, b, t0, s_x_b, s_x_l), s_x_l, s_x_c, t0, length, c,
                     channels, BLOCK_L, K, K_PAD)
    y = _preactivation(window, w, bias)
    if SILU:
        y = y * sigmoid(y)
    ptrs, mask = _tile(_row_start(y_ptr, b, t0, s_y_b, s_y_l), s_y_l, s_y_c, t0, length, c,
                       channels, BLOCK_L)
    tl.store(ptrs, y.to(y_ptr.dtype.element_ty), mask=mask)


@_tuned(GRAD_CONFIGS, budget=32)
@triton.jit
def grad_kernel(x_ptr, w_ptr, bias_ptr, dy_ptr, g_ptr, dw_ptr, dbias_ptr,
                length, channels, rows_per_program,
                s_x_b, s_x_l, s_x_c, s_dy_b, s_dy_l, s_dy_c, s_g_b, s_g_l, s_g_c,
                HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr,
                K_PAD: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr):
    """Over ``rows_per_program`` steps of one batch row and ``BLOCK_C`` channels: ``g`` (with
    SiLU; it is ``dy`` without) and this program's partial sums of dweight (C, K) and dbias (C,),
    into row ``b · spans + span`` of ``dw_ptr`` (parts, C, K) and ``dbias_ptr`` (parts, C), both
    fp32 contiguous. Grid (spans = cdiv(L, rows_per_program), batch, cdiv(C, BLOCK_C))."""
    span = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    start = span * rows_per_program
    w, bias = _filters(w_ptr, bias_ptr, c, channels, HAS_BIAS, K, K_PAD)
    dw = tl.zeros((BLOCK_L, BLOCK_C, K_PAD), dtype=tl.float32)
    dbias = tl.zeros((BLOCK_L, BLOCK_C), dtype=tl.float32)
    for offset in range(0, tl.minimum(rows_per_program, length - start), BLOCK_L):
        t0 = start + offset
        window = _window(_row_start(x_ptr, b, t0, s_x_b, s_x_l), s_x_l, s_x_c, t0, length, c,
                         channels, BLOCK_L, K, K_PAD)
        ptrs, mask = _tile(_row_start(dy_ptr, b, t0, s_dy_b, s_dy_l), s_dy_l, s_dy_c, t0,
                           length, c, channels, BLOCK_L)
        g = tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
        if SILU:
            pre = _preactivation(window, w, bias)
            sig = sigmoid(pre)
            g = g * sig * (1.0 + pre * (1.0 - sig))
            ptrs, mask = _tile(_row_start(g_ptr, b, t0, s_g_b, s_g_l), s_g_l, s_g_c, t0,
                               length, c, channels, BLOCK_L)
            tl.store(ptrs, g.to(g_ptr.dtype.element_ty), mask=mask)
        dw += g[:, :, None] * window
        if HAS_BIAS:
            dbias += g
    part = b * tl.num_programs(0) + span
    k = tl.arange(0, K_PAD)[None, :]
    c_mask = c < channels
    tl.store(dw_ptr + part * channels * K + c[:, None] * K + k, tl.sum(dw, axis=0),
             mask=c_mask[:, None] & (k < K))
    if HAS_BIAS:
        tl.store(dbias_ptr + part * channels + c, tl.sum(dbias, axis=0), mask=c_mask)


_FORWARD = TunedLaunch(forward_kernel)
_GRAD = TunedLaunch(grad_kernel)
"""Launched with the config their autotuner chose for the key (the channels; ``TunedLaunch``
adds the flags and dtypes), which is all it keys on and its pruning reads."""


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
    grid = lambda meta: (cdiv(length, meta["BLOCK_L"]), batch,  # noqa: E731
                         cdiv(channels, meta["BLOCK_C"]))
    _FORWARD(grid, (x_arg, weight, weight if bias is None else bias, y_arg),
             (length, channels, *x_strides, *y_strides), (channels,), HAS_BIAS=bias is not None,
             SILU=silu, K=taps, K_PAD=next_power_of_2(taps))


def conv_grad(x: Tensor, weight: Tensor, bias: Tensor | None, silu: bool, dy: Tensor,
              g: Tensor | None, dweight_parts: Tensor, dbias_parts: Tensor | None) -> None:
    """Run the gradient kernel: ``g`` (batch, L, C) receives ``dy · silu'(pre)`` (with ``silu``;
    None without, where it is dy itself); ``dweight_parts`` (batch · spans, C, K) and
    ``dbias_parts`` (batch · spans, C), fp32 contiguous, the partial sums over spans of
    ``ROWS_PER_PROGRAM`` steps (``spans = cdiv(L, ROWS_PER_PROGRAM)``). x, dy, g any strides."""
    batch, length, channels = x.shape
    taps = weight.shape[1]
    g_arg = dy if g is None else g
    grid = lambda meta: (cdiv(length, ROWS_PER_PROGRAM), batch,  # noqa: E731
                         cdiv(channels, meta["BLOCK_C"]))
    _GRAD(grid, (x, weight, weight if bias is None else bias, dy, g_arg, dweight_parts,
                 dweight_parts if dbias_parts is None else dbias_parts),
          (length, channels, ROWS_PER_PROGRAM, *x.stride(), *dy.stride(), *g_arg.stride()),
          (channels,), HAS_BIAS=bias is not None, SILU=silu, K=taps,
          K_PAD=next_power_of_2(taps))


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
            parts = x.shape[0] * cdiv(x.shape[1], ROWS_PER_PROGRAM)
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
    problem = causal_conv1d_unsupported(x, weight, bias)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return _CausalConv1d.apply(x, weight.contiguous(),
                               None if bias is None else bias.contiguous(), activation == "silu")


def causal_conv1d_unsupported(x: Tensor, weight: Tensor, bias: Tensor | None) -> str | None:
    """Why the kernels cannot take these (shape-checked) inputs, or None: fp32/bf16/fp16 tensors
    of one CUDA device (or of the CPU, interpreted), at most ``MAX_TAPS`` taps and
    ``MAX_BATCH`` batch rows."""
    tensors = {"x": x, "weight": weight, "bias": bias}
    for name, tensor in tensors.items():
        if tensor is not None and tensor.device != x.device:
            return f"{name} is on {tensor.device} but x is on {x.device}"
        if tensor is not None and tensor.dtype not in KERNEL_DTYPES:
            return (f"{name} must be float32, bfloat16 or float16, got {tensor.dtype} "
                    f"(float64 runs on backend='reference')")
    problem = device_problem(x.device)
    if problem is not None:
        return problem
    if weight.shape[1] > MAX_TAPS:
        return (f"weight has K={weight.shape[1]} taps (weight.shape[1]); the kernels take "
                f"<= {MAX_TAPS}")
    if x.shape[0] > MAX_BATCH:
        return f"x has batch {x.shape[0]} (x.shape[0]); the kernels take <= {MAX_BATCH}"
    return None
