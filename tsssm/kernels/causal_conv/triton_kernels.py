"""Device code of the causal depthwise convolution: the forward tile and the gradient tile.

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

import triton
import triton.language as tl

INTERPRETED = bool(triton.knobs.runtime.interpret)
"""True when Triton runs the kernels through its CPU interpreter (``TRITON_INTERPRET=1`` set
before this module is imported)."""

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


def _tuned(configs: tuple[tuple[int, int, int], ...], budget: int):
    """Autotune over ``configs`` on the GPU (keyed on the channels, taps and flags), keeping
    those whose window holds at most ``budget`` fp32 values per thread; the one
    ``INTERPRETED_CONFIG`` under the interpreter."""

    def prune(configs, named_args, **kwargs):
        return [config for config in configs
                if kwargs["K_PAD"] * config.kwargs["BLOCK_L"] * config.kwargs["BLOCK_C"]
                <= budget * 32 * config.num_warps]

    chosen = (INTERPRETED_CONFIG,) if INTERPRETED else configs
    return triton.autotune(
        [triton.Config({"BLOCK_L": rows, "BLOCK_C": chans}, num_warps=warps)
         for rows, chans, warps in chosen],
        key=["channels", "K", "HAS_BIAS", "SILU"], prune_configs_by={"early_config_prune": prune})


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
        y = y * tl.sigmoid(y)
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
            sig = tl.sigmoid(pre)
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
