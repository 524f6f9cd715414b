"""Device helpers shared by the selective-scan kernels: program indices, tiles, step sizes.

**The tile.** A program owns one batch row and ``BLOCK_D`` channels of one group and holds a
``CHUNK``-step slice of the scan as 4-D tensors ``(CHUNK, N1, BLOCK_D, N2)``: the state index is
split as ``n = n2 · N1 + n1``. Triton's default layout gives the trailing axes to the lanes and
warps (``N2`` lanes per channel, the channels across the remaining lanes and the warps) and
keeps the leading ones in each thread's registers: every thread holds ``N1`` neighbouring
states of one channel (more with ``BLOCK_D`` wider than its lanes and warps) for all ``CHUNK``
steps. So the scan over time is a sequential loop of fused multiply-adds in registers (no
shuffles), a sum over the state takes ``N1 − 1`` in-thread additions and ``log2 N2`` shuffle
rounds, and a thread's work per step is ``N1`` independent recurrences.

The price of the layout: every thread reads its own copy of the chunk's B and C (``N1`` values
per step) and of its channel's u and Δ from shared memory, about 2.5 values per element at
N2 = 4; profiled on an H200, shared-memory wavefronts run at ~75% of their peak in the forward,
a limit beside the exponentials (``exp2``, one per element) and the issue slots.

State-shaped tensors (``A``, the carried state, checkpoints) are ``(N1, BLOCK_D, N2)``; step
tensors (u, Δ, z, y) ``(CHUNK, BLOCK_D)``; B and C ``(CHUNK, N1, N2)``.
"""

from __future__ import annotations

import triton
import triton.language as tl
from triton.language.extra import libdevice

LOG2E = tl.constexpr(1.4426950408889634)  # exp(v) = exp2(v · log2 e): exp2 is the native unit

# Triton's interpreter (TRITON_INTERPRET=1, read when a kernel is decorated) runs the kernels on
# CPU tensors; the tests use it where there is no GPU.
INTERPRETED = bool(triton.knobs.runtime.interpret)
HARDWARE_LOG2 = tl.constexpr(not INTERPRETED)  # lg2.approx: tl.log2 is a 15-step polynomial
LN2 = tl.constexpr(0.6931471805599453)


@triton.jit
def softplus(v):
    """torch's softplus: ``log(1 + e^v)``, and ``v`` itself above 20 where they agree in fp32."""
    one_plus = 1.0 + tl.exp2(v * LOG2E)
    if HARDWARE_LOG2:
        log2 = libdevice.fast_log2f(one_plus)
    else:
        log2 = tl.log2(one_plus)
    return tl.where(v <= 20.0, log2 * LN2, v)


@triton.jit
def sigmoid(v):
    """``1 / (1 + e^-v)`` with the approximate division (2 ulp): these per-step functions run
    once per lane of a channel, so their instruction count matters."""
    return tl.fdiv(1.0, 1.0 + tl.exp2(-v * LOG2E), ieee_rounding=False)


@triton.jit
def step_sizes(v, bias, mask, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(Δ, δ + bias) for raw step sizes ``v``; Δ = 0 where masked: a step that changes
    nothing."""
    if HAS_BIAS:
        v += bias
    dt = v
    if SOFTPLUS:
        dt = softplus(v)
    return tl.where(mask, dt, 0.0), v


@triton.jit
def channel_block(chans_per_group, BLOCK_D: tl.constexpr, EVEN_D: tl.constexpr):
    """This program's batch row, group and channels: (b, g, d (BLOCK_D,), d_mask).

    Grid (batch, G · cdiv(D/G, BLOCK_D)); a block never spans two groups."""
    blocks_per_group = tl.cdiv(chans_per_group, BLOCK_D)
    pid = tl.program_id(1)
    g = pid // blocks_per_group
    in_group = (pid % blocks_per_group) * BLOCK_D + tl.arange(0, BLOCK_D)
    d_mask = below(in_group, chans_per_group, EVEN_D)
    b = tl.program_id(0).to(tl.int64)
    return b, g, g * chans_per_group + in_group, d_mask


@triton.jit
def below(index, bound, ALL_BELOW: tl.constexpr):
    """``index < bound``: which of a block's channels exist, or which rows of a chunk are steps
    of the sequence. A constant (which masked loads fold away) when the caller knows they all are:
    the block size divides the group, or the chunk lies wholly inside the sequence."""
    if ALL_BELOW:
        mask = tl.full(index.shape, 1, tl.int1)
    else:
        mask = index < bound
    return mask


@triton.jit
def state_index(d, d_mask, DSTATE: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr):
    """State index n (N1, N2) of the tile, and the (N1, BLOCK_D, N2) mask of real states."""
    n = tl.arange(0, N1)[:, None] + tl.arange(0, N2)[None, :] * N1
    return n, (n < DSTATE)[:, None, :] & d_mask[None, :, None]


@triton.jit
def load_state(ptr, s_d, s_n, d, n, mask):
    """A (N1, BLOCK_D, N2) fp32 state tile of a (D, N) slice, zero where masked."""
    return tl.load(ptr + d[None, :, None] * s_d + n[:, None, :] * s_n, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def load_steps(ptr, rows, s_l, d, s_d, mask):
    """A (CHUNK, BLOCK_D) fp32 tile of a (L, D) slice, zero where masked."""
    return tl.load(ptr + rows[:, None] * s_l + d[None, :] * s_d, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def store_steps(ptr, rows, s_l, d, s_d, value, mask):
    """Store a (CHUNK, BLOCK_D) tile into a (L, D) slice, cast to its dtype."""
    tl.store(ptr + rows[:, None] * s_l + d[None, :] * s_d, value.to(ptr.dtype.element_ty),
             mask=mask)


@triton.jit
def load_proj(ptr, rows, s_l, n, s_n, row_mask, DSTATE: tl.constexpr):
    """A (CHUNK, N1, N2) fp32 tile of B or C (one group's (L, N) slice), zero where masked."""
    mask = row_mask[:, None, None] & (n < DSTATE)[None, :, :]
    return tl.load(ptr + rows[:, None, None] * s_l + n[None, :, :] * s_n, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def steps4(v):
    """A (CHUNK, BLOCK_D) step tensor broadcast against (CHUNK, N1, BLOCK_D, N2) tiles."""
    return v[:, None, :, None]


@triton.jit
def proj4(v):
    """A (CHUNK, N1, N2) B or C tile broadcast against (CHUNK, N1, BLOCK_D, N2) tiles."""
    return v[:, :, None, :]


@triton.jit
def state_sum(x):
    """Σ_n of a (CHUNK, N1, BLOCK_D, N2) tile: (CHUNK, BLOCK_D), in-thread axis first."""
    return tl.sum(tl.sum(x, axis=1), axis=2)


@triton.jit
def row(x, rows, index):
    """Row ``index`` of a (CHUNK, ...) tile whose rows live in one thread: register selects."""
    return tl.sum(tl.where(rows[:, None, None, None] == index, x, 0.0), axis=0)


@triton.jit
def compose(a_first, x_first, a_then, x_then):
    """Two consecutive steps ``h ↦ a h + x`` as one: ``(a_first, x_first)`` acts first."""
    return a_first * a_then, a_then * x_first + x_then
