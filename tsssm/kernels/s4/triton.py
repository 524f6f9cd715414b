"""Triton fast paths of S4's two kernels, forward and backward, in O(H·N + H·L) memory.

Both kernels are sums over N modes of one term per (h, n, l). The reference builds that
``(..., N, L)`` tensor and sums it; here each program makes a tile of terms in registers and
reduces it at once, so nothing of size H·N·L ever reaches memory. Triton has no complex type:
complex tensors travel as interleaved (re, im) fp32 pairs (``torch.view_as_real``) and the
arithmetic is written out in fp32, except the phases of the Vandermonde powers (below).

**Vandermonde** ``K[r, h, l] = 2 Re Σ_n c[r, h, n] P[h, n, l]``, ``P = exp(a l)``, ``a = Δλ``.
A program owns one row (r, h), up to ``BLOCK_N`` modes and a span of taps, which it walks a chunk
of ``STEPS × BLOCK_L`` taps at a time, splitting the exponent of ``l = l_c + s BLOCK_L + j``::

    P[n, l] = exp(a_n l_c) · Q[s, n] · E[n, j],   Q = exp(a s BLOCK_L),  E = exp(a j)

Q and E are tables made once per program, ``exp(a l_c)`` once per chunk and mode; each factor is
evaluated directly (never by repeated multiplication, whose error grows with l). Then a chunk is
a complex matrix product, ``K[l_c + s BLOCK_L + j] = 2 Re Σ_n W[s, n] E[n, j]`` with
``W = c exp(a l_c) Q``: two fp32 ``tl.dot``s (``input_precision="ieee"``, not tf32), so each
term costs 2 FMAs, every transcendental is evaluated by one thread only, and no reduction
crosses lanes. (Written as one exp per step broadcast over the taps instead, Triton 3.6 puts
the modes on the warps and the taps on the lanes, and every lane recomputed the warp's 16
exponentials and sines per step: 243 registers, and far more special-function work than FMAs.)
Phases: ``Im(a) l`` reaches 10^5 rad at l = 16K (|Im Δλ| ~ 10), where one fp32 ulp is 0.01 rad;
so ``a l`` is formed in float64 and the phase reduced by quarter turns there before the fp32
cos/sin. That costs a few float64 operations per table entry and per (chunk, mode), none per
term.

**Cauchy** ``out[r, h, l] = Σ_n v[r, h, n] q[h, n, l]``, ``q = 1 / (z[l] - w[h, n])``. A program
owns up to ``BLOCK_R`` rows of v that share one row of poles w (S4 sums four numerators against
the same poles) and a block of points, and walks the modes: each reciprocal serves every row.

**Backward** (PyTorch's convention for complex gradients: ``∂loss/∂Re + i ∂loss/∂Im``, so a
holomorphic ``f`` sends back ``conj(f') ·`` the incoming gradient). With ``g = ∂loss/∂K`` real::

    dc[r, h, n] = 2 Σ_l g[r, h, l] conj(P[h, n, l])
    da[h, n]    = 2 Σ_r conj(c[r, h, n]) Σ_l g[r, h, l] l conj(P[h, n, l])

and with ``G = ∂loss/∂out`` complex::

    dv[r, h, n] = Σ_l G[r, h, l] conj(q[h, n, l])
    dw[h, n]    = Σ_r conj(v[r, h, n]) Σ_l G[r, h, l] conj(q[h, n, l])²

Each is a sum over l: one program per (row, block of modes, span of taps) loops over its span;
spans split long sequences so a small H still fills the GPU, and torch adds the spans' partial
sums (and the rows' for da). In the Vandermonde backward the chunk's sums over taps are dots
too: ``A[n, j] = Σ_chunks Σ_s conj(exp(a l_c) Q[s, n]) g[l_c + s BLOCK_L + j]`` accumulates, and
``Σ_l g conj(P) = Σ_j conj(E[n, j]) A[n, j]`` is reduced once, at the end. z gets no gradient:
S4 evaluates at fixed roots of unity, and a z that requires grad is refused
(``cauchy_unsupported``), so "auto" sends it to the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

# Triton's interpreter (TRITON_INTERPRET=1, read when a kernel is decorated) runs the kernels on
# CPU tensors; the tests use it where there is no GPU.
INTERPRETED = bool(triton.knobs.runtime.interpret)

_HALF_PI_HI = torch.tensor(math.pi / 2, dtype=torch.float32).item()
# π/2 = HI + LO to ~1e-15: both exact in fp32, so Triton's fp32 literals lose nothing.
HALF_PI_HI = tl.constexpr(_HALF_PI_HI)
HALF_PI_LO = tl.constexpr(torch.tensor(math.pi / 2 - _HALF_PI_HI, dtype=torch.float32).item())
TWO_OVER_PI = tl.constexpr(2 / math.pi)


@dataclass(frozen=True)
class Tiles:
    """Block sizes. Vandermonde: at most ``*_modes`` modes per program (at least 16, a dot's
    smallest side; more modes go to other programs), BLOCK_L = ``taps``, STEPS = ``*_steps``
    (a chunk is STEPS × BLOCK_L taps), and at least ``min_chunks`` chunks per span so the
    per-program tables stay cheap. Cauchy: ``rows`` of v per program, sharing each reciprocal,
    ``modes`` per step, ``tile``/``bwd_tile`` terms held per program (each backward term keeps
    four running sums). ``programs_per_sm`` sets how many spans long sequences are cut into.
    """

    vandermonde_modes: int
    vandermonde_bwd_modes: int
    taps: int
    steps: int
    bwd_steps: int
    min_chunks: int
    cauchy_rows: int
    cauchy_modes: int
    tile: int
    bwd_tile: int
    min_steps: int
    programs_per_sm: int


# On the GPU, ptxas (sm_90a, Triton 3.6, compiled without a device) reports no spills for
# these, at 4 warps (8 for the Vandermonde forward with 64 modes), in registers per thread:
# Vandermonde forward 96 (32 modes) or 80 (64 modes), backward 242; Cauchy forward 92 (4 rows)
# or 80 (8 rows), backward 71 or 125. Untimed so far: tune on the device. In the interpreter
# numpy runs each tile op; small tiles make the tests' short sequences cross block, chunk,
# row-block and span boundaries.
TILES = (Tiles(vandermonde_modes=16, vandermonde_bwd_modes=16, taps=16, steps=16,
               bwd_steps=16, min_chunks=1, cauchy_rows=2, cauchy_modes=4, tile=64,
               bwd_tile=64, min_steps=1, programs_per_sm=8)
         if INTERPRETED else
         Tiles(vandermonde_modes=64, vandermonde_bwd_modes=16, taps=64, steps=32,
               bwd_steps=16, min_chunks=8, cauchy_rows=8, cauchy_modes=16, tile=2048,
               bwd_tile=1024, min_steps=16, programs_per_sm=2))
NUM_WARPS = 4


# ------------------------------------------------------------------------------------------
# Device helpers
# ------------------------------------------------------------------------------------------


@triton.jit
def _load_complex(ptr, offsets, mask):
    """(re, im) fp32 tiles of the complex elements ``offsets`` of an interleaved (..., 2) view;
    zero where masked."""
    return (tl.load(ptr + 2 * offsets, mask=mask, other=0.0),
            tl.load(ptr + 2 * offsets + 1, mask=mask, other=0.0))


@triton.jit
def _store_complex(ptr, offsets, re, im, mask):
    tl.store(ptr + 2 * offsets, re, mask=mask)
    tl.store(ptr + 2 * offsets + 1, im, mask=mask)


@triton.jit
def _cos_sin_small(r):
    """(cos r, sin r) for fp32 ``|r| <= π/4``: Taylor polynomials to r^10 and r^9, whose
    truncation errors (< 2e-9) sit below fp32 rounding. Written out rather than ``tl.cos`` /
    ``tl.sin``, which compile to libdevice's sinf/cosf with their large-argument path (local
    arrays, ~5 KB of stack in the backward) that reduced arguments never take."""
    r2 = r * r
    cos = 1.0 + r2 * (-1 / 2 + r2 * (1 / 24 + r2 * (-1 / 720 + r2 * (1 / 40320
                                                                     - r2 / 3628800))))
    sin = r * (1.0 + r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 / 362880))))
    return cos, sin


@triton.jit
def _exp_of_multiple(a_re, a_im, l):
    """``exp(a l)`` as fp32 (re, im) for fp32 ``a`` and integer ``l`` (broadcastable shapes).

    ``a l`` is exact in float64 (24-bit times < 2^29). The phase is reduced there by quarter
    turns (π/2 in two fp32 parts, Cody-Waite) to ``|r| <= π/4``, evaluated in fp32, and turned
    back by its quadrant; so the result has fp32 accuracy whatever l is.
    """
    l = l.to(tl.float64)
    magnitude = tl.exp((a_re.to(tl.float64) * l).to(tl.float32))
    phase = a_im.to(tl.float64) * l
    quarters = tl.floor(phase * TWO_OVER_PI + 0.5)
    cos, sin = _cos_sin_small((phase - quarters * HALF_PI_HI - quarters * HALF_PI_LO)
                              .to(tl.float32))
    quadrant = (quarters - 4.0 * tl.floor(quarters * 0.25)).to(tl.int32)  # 0..3
    # turning (cos, sin) by quadrant · π/2: (c, s), (-s, c), (-c, -s), (s, -c)
    odd = (quadrant & 1) == 1
    re = tl.where(odd, sin, cos)
    im = tl.where(odd, cos, sin)
    re = tl.where((quadrant == 1) | (quadrant == 2), -re, re)
    im = tl.where(quadrant >= 2, -im, im)
    return magnitude * re, magnitude * im


@triton.jit
def _inverse_difference(z_re, z_im, w_re, w_im, mask):
    """``1 / (z - w)`` as (re, im), zero where ``mask`` is off: padding lanes load z = w = 0,
    and must neither divide by zero nor turn a masked-out zero into NaN."""
    d_re = z_re - w_re
    d_im = z_im - w_im
    scale = tl.where(mask, 1.0 / tl.where(mask, d_re * d_re + d_im * d_im, 1.0), 0.0)
    return d_re * scale, -d_im * scale


# ------------------------------------------------------------------------------------------
# Vandermonde
# ------------------------------------------------------------------------------------------


@triton.jit
def _tap_table(a_re, a_im, BLOCK_L: tl.constexpr):
    """``E = exp(a j)``, ``j < BLOCK_L``, for modes ``a`` (BLOCK_N,): (BLOCK_N, BLOCK_L)."""
    j = tl.arange(0, BLOCK_L)
    return _exp_of_multiple(a_re[:, None], a_im[:, None], j[None, :])


@triton.jit
def _step_table(a_re, a_im, BLOCK_L: tl.constexpr, STEPS: tl.constexpr):
    """``Q = exp(a s BLOCK_L)``, ``s < STEPS``, for modes ``a`` (BLOCK_N,): (STEPS, BLOCK_N)."""
    s = tl.arange(0, STEPS) * BLOCK_L
    return _exp_of_multiple(a_re[None, :], a_im[None, :], s[:, None])


@triton.jit
def _chunk_powers(a_re, a_im, q_re, q_im, l_c):
    """``exp(a (l_c + s BLOCK_L)) = exp(a l_c) · Q``: (STEPS, BLOCK_N) as (re, im)."""
    b_re, b_im = _exp_of_multiple(a_re, a_im, l_c)
    b_re, b_im = b_re[None, :], b_im[None, :]
    return b_re * q_re - b_im * q_im, b_re * q_im + b_im * q_re


@triton.jit
def _vandermonde_fwd_kernel(c_ptr, a_ptr, k_ptr, H, N, L, SPAN, BLOCK_N: tl.constexpr,
                            BLOCK_L: tl.constexpr, STEPS: tl.constexpr):
    """Grid (R·H rows, spans, mode chunks): ``k[chunk, row, l] = 2 Re Σ_{n in chunk} c P`` for
    the taps ``l`` of one span. c (R·H, N), a (H, N) complex; k (chunks, R·H, L) fp32."""
    row = tl.program_id(0)
    start = tl.program_id(1) * SPAN
    chunk = tl.program_id(2)
    h = row % H
    n = chunk * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = n < N
    a_re, a_im = _load_complex(a_ptr, h * N + n, n_ok)
    c_re, c_im = _load_complex(c_ptr, row.to(tl.int64) * N + n, n_ok)
    e_re, e_im = _tap_table(a_re, a_im, BLOCK_L)
    q_re, q_im = _step_table(a_re, a_im, BLOCK_L, STEPS)
    c_re, c_im = c_re[None, :], c_im[None, :]
    taps = (tl.arange(0, STEPS) * BLOCK_L)[:, None] + tl.arange(0, BLOCK_L)[None, :]
    out = k_ptr + (chunk * tl.num_programs(0) + row).to(tl.int64) * L
    for i in range(0, tl.cdiv(tl.minimum(SPAN, L - start), STEPS * BLOCK_L)):
        l_c = start + i * STEPS * BLOCK_L
        p_re, p_im = _chunk_powers(a_re, a_im, q_re, q_im, l_c)
        kernel = tl.dot(c_re * p_re - c_im * p_im, e_re, input_precision="ieee")
        kernel = tl.dot(-(c_re * p_im + c_im * p_re), e_im, kernel, input_precision="ieee")
        tl.store(out + l_c + taps, 2.0 * kernel, mask=l_c + taps < L)


@triton.jit
def _vandermonde_bwd_kernel(c_ptr, a_ptr, g_ptr, dc_ptr, da_ptr, H, N, L, SPAN,
                            BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, STEPS: tl.constexpr):
    """Grid (R·H rows, mode blocks, spans): one span's share of ``dc[row, n]`` and of
    ``2 conj(c) Σ_l g l conj(P)`` (da before the sum over r), into ``[span, row, n]`` of dc, da.
    ``sum`` is A of the module notes (g real), ``moment`` the same with ``l g``."""
    row = tl.program_id(0)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    start = tl.program_id(2) * SPAN
    h = row % H
    n_ok = n < N
    a_re, a_im = _load_complex(a_ptr, h * N + n, n_ok)
    q_re, q_im = _step_table(a_re, a_im, BLOCK_L, STEPS)
    taps = (tl.arange(0, STEPS) * BLOCK_L)[:, None] + tl.arange(0, BLOCK_L)[None, :]
    g_row = g_ptr + row.to(tl.int64) * L
    sum_re = tl.zeros((BLOCK_N, BLOCK_L), tl.float32)
    sum_im = tl.zeros((BLOCK_N, BLOCK_L), tl.float32)
    moment_re = tl.zeros((BLOCK_N, BLOCK_L), tl.float32)
    moment_im = tl.zeros((BLOCK_N, BLOCK_L), tl.float32)
    for i in range(0, tl.cdiv(tl.minimum(SPAN, L - start), STEPS * BLOCK_L)):
        l = start + i * STEPS * BLOCK_L + taps
        g = tl.load(g_row + l, mask=l < L, other=0.0)
        gl = g * l.to(tl.float32)
        p_re, p_im = _chunk_powers(a_re, a_im, q_re, q_im, start + i * STEPS * BLOCK_L)
        conj_re, conj_im = tl.trans(p_re), tl.trans(-p_im)  # conj(P)ᵀ: (BLOCK_N, STEPS)
        sum_re = tl.dot(conj_re, g, sum_re, input_precision="ieee")
        sum_im = tl.dot(conj_im, g, sum_im, input_precision="ieee")
        moment_re = tl.dot(conj_re, gl, moment_re, input_precision="ieee")
        moment_im = tl.dot(conj_im, gl, moment_im, input_precision="ieee")
    e_re, e_im = _tap_table(a_re, a_im, BLOCK_L)
    sum_re, sum_im = (tl.sum(e_re * sum_re + e_im * sum_im, axis=1),
                      tl.sum(e_re * sum_im - e_im * sum_re, axis=1))
    moment_re, moment_im = (tl.sum(e_re * moment_re + e_im * moment_im, axis=1),
                            tl.sum(e_re * moment_im - e_im * moment_re, axis=1))
    c_re, c_im = _load_complex(c_ptr, row.to(tl.int64) * N + n, n_ok)
    part = (tl.program_id(2) * tl.num_programs(0) + row).to(tl.int64) * N + n
    _store_complex(dc_ptr, part, 2.0 * sum_re, 2.0 * sum_im, n_ok)
    _store_complex(da_ptr, part, 2.0 * (c_re * moment_re + c_im * moment_im),
                   2.0 * (c_re * moment_im - c_im * moment_re), n_ok)


def _vandermonde_blocks(modes: int, most: int, steps: int) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_L, taps per chunk) for ``modes`` modes, at most ``most`` per program;
    every side of a dot is at least 16, tl.dot's smallest."""
    block_n = min(max(16, triton.next_power_of_2(modes)), most)
    return block_n, TILES.taps, TILES.taps * steps


def _vandermonde_forward(c: Tensor, dt_a: Tensor, length: int) -> Tensor:
    """c (R, H, N), dt_a (H, N) complex64 contiguous -> K (R, H, L) fp32."""
    rows, modes = c.shape[0] * c.shape[1], c.shape[2]
    block_n, block_l, chunk = _vandermonde_blocks(modes, TILES.vandermonde_modes, TILES.steps)
    mode_chunks = triton.cdiv(modes, block_n)
    span = _span(length, rows * mode_chunks, chunk, TILES.min_chunks, c.device)
    out = torch.empty(mode_chunks, *c.shape[:2], length, dtype=torch.float32, device=c.device)
    grid = (rows, triton.cdiv(length, span), mode_chunks)
    _vandermonde_fwd_kernel[grid](torch.view_as_real(c), torch.view_as_real(dt_a), out,
                                  c.shape[1], modes, length, span, BLOCK_N=block_n,
                                  BLOCK_L=block_l, STEPS=TILES.steps,
                                  num_warps=NUM_WARPS if block_n <= 32 else 2 * NUM_WARPS)
    return out[0] if mode_chunks == 1 else out.sum(0)


def _vandermonde_backward(c: Tensor, dt_a: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """grad (R, H, L) fp32 contiguous -> dc (R, H, N), da (H, N) complex64."""
    rows, modes, length = c.shape[0] * c.shape[1], c.shape[2], grad.shape[-1]
    block_n, block_l, chunk = _vandermonde_blocks(modes, TILES.vandermonde_bwd_modes,
                                                  TILES.bwd_steps)
    mode_blocks = triton.cdiv(modes, block_n)
    span = _span(length, rows * mode_blocks, chunk, TILES.min_chunks, c.device)
    spans = triton.cdiv(length, span)
    dc = torch.empty(spans, *c.shape, 2, dtype=torch.float32, device=c.device)
    da = torch.empty_like(dc)
    _vandermonde_bwd_kernel[(rows, mode_blocks, spans)](
        torch.view_as_real(c), torch.view_as_real(dt_a), grad, dc, da, c.shape[1], modes,
        length, span, BLOCK_N=block_n, BLOCK_L=block_l, STEPS=TILES.bwd_steps,
        num_warps=NUM_WARPS)
    return torch.view_as_complex(dc).sum(0), torch.view_as_complex(da).sum((0, 1))


class _Vandermonde(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c: Tensor, dt_a: Tensor, length: int) -> Tensor:
        ctx.save_for_backward(c, dt_a)
        return _vandermonde_forward(c, dt_a, length)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        c, dt_a = ctx.saved_tensors
        dc, da = _vandermonde_backward(c, dt_a, grad.contiguous())
        return (dc if ctx.needs_input_grad[0] else None,
                da if ctx.needs_input_grad[1] else None, None)


def vandermonde_kernel_triton(c: Tensor, dt_a: Tensor, length: int) -> Tensor:
    """``K[..., h, l] = 2 Re Σ_n c[..., h, n] exp(dt_a[h, n] l)``; differentiable in c and dt_a.

    Args:
        c: (H, N) or (R, H, N) complex64 mode weights.
        dt_a: (H, N) complex64 exponents.
        length: L, the number of taps.

    Returns:
        (H, L) or (R, H, L) fp32.
    """
    problem = vandermonde_unsupported(c, dt_a)
    if problem is not None:
        raise ValueError(f"vandermonde_kernel_triton: {problem}")
    lead, (heads, modes) = c.shape[:-2], dt_a.shape
    rows = c.resolve_conj().reshape(-1, heads, modes).contiguous()
    kernel = _Vandermonde.apply(rows, dt_a.resolve_conj().contiguous(), length)
    return kernel.reshape(*lead, heads, length)


# ------------------------------------------------------------------------------------------
# Cauchy
# ------------------------------------------------------------------------------------------


@triton.jit
def _cauchy_fwd_kernel(v_ptr, z_ptr, w_ptr, out_ptr, H, N, L, ROWS, ROW_BLOCKS,
                       BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    """Grid (H · pole rows · row blocks, point blocks). v, out (pole rows · ROWS, H, ·) and
    w (pole rows, H, N) complex; pole row k serves rows ``k · ROWS + i`` of v. The sum over
    the modes runs element-wise over the steps and is reduced once, at the end."""
    group = tl.program_id(0)
    l = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    h = group % H
    pole_row = group // H // ROW_BLOCKS
    i_r = (group // H % ROW_BLOCKS) * BLOCK_R + tl.arange(0, BLOCK_R)
    r_ok = i_r < ROWS
    rows = (pole_row * ROWS + i_r).to(tl.int64) * H + h
    l_ok = l < L
    z_re, z_im = _load_complex(z_ptr, l, l_ok)
    acc_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    acc_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    for n0 in range(0, N, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        n_ok = n < N
        w_re, w_im = _load_complex(w_ptr, (pole_row * H + h) * N + n, n_ok)
        v_re, v_im = _load_complex(v_ptr, rows[:, None] * N + n[None, :],
                                   r_ok[:, None] & n_ok[None, :])
        q_re, q_im = _inverse_difference(z_re[None, :], z_im[None, :], w_re[:, None],
                                         w_im[:, None], n_ok[:, None] & l_ok[None, :])
        v_re, v_im = v_re[:, :, None], v_im[:, :, None]
        acc_re += v_re * q_re[None] - v_im * q_im[None]
        acc_im += v_re * q_im[None] + v_im * q_re[None]
    _store_complex(out_ptr, rows[:, None] * L + l[None, :], tl.sum(acc_re, axis=1),
                   tl.sum(acc_im, axis=1), r_ok[:, None] & l_ok[None, :])


@triton.jit
def _cauchy_bwd_kernel(v_ptr, z_ptr, w_ptr, g_ptr, dv_ptr, dw_ptr, H, N, L, ROWS, ROW_BLOCKS,
                       SPAN, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_L: tl.constexpr):
    """Grid (H · pole rows · row blocks, mode blocks, spans): one span's ``dv[row, n]`` into
    ``dv[span, row, n]``, and this row block's share of ``dw[pole row, n]`` into
    ``dw[span · ROW_BLOCKS + row block, pole row, n]``. The sums over l run element-wise
    over the steps and are reduced over the block's taps once, at the end."""
    group = tl.program_id(0)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    span = tl.program_id(2)
    h = group % H
    pole_row = group // H // ROW_BLOCKS
    row_block = group // H % ROW_BLOCKS
    i_r = row_block * BLOCK_R + tl.arange(0, BLOCK_R)
    r_ok = i_r < ROWS
    rows = (pole_row * ROWS + i_r).to(tl.int64) * H + h
    n_ok = n < N
    w_re, w_im = _load_complex(w_ptr, (pole_row * H + h) * N + n, n_ok)
    sum_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    sum_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    square_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    square_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    start = span * SPAN
    for l0 in range(start, tl.minimum(start + SPAN, L), BLOCK_L):
        l = l0 + tl.arange(0, BLOCK_L)
        l_ok = l < L
        z_re, z_im = _load_complex(z_ptr, l, l_ok)
        g_re, g_im = _load_complex(g_ptr, rows[:, None] * L + l[None, :],
                                   r_ok[:, None] & l_ok[None, :])
        q_re, q_im = _inverse_difference(z_re[None, :], z_im[None, :], w_re[:, None],
                                         w_im[:, None], n_ok[:, None] & l_ok[None, :])
        # conj(q) and conj(q)², broadcast against the rows: (1, BLOCK_N, BLOCK_L)
        p_re, p_im = q_re[None], -q_im[None]
        s_re, s_im = p_re * p_re - p_im * p_im, 2.0 * p_re * p_im
        g_re, g_im = g_re[:, None, :], g_im[:, None, :]
        sum_re += g_re * p_re - g_im * p_im
        sum_im += g_re * p_im + g_im * p_re
        square_re += g_re * s_re - g_im * s_im
        square_im += g_re * s_im + g_im * s_re
    sum_re, sum_im = tl.sum(sum_re, axis=2), tl.sum(sum_im, axis=2)
    square_re, square_im = tl.sum(square_re, axis=2), tl.sum(square_im, axis=2)
    mask = r_ok[:, None] & n_ok[None, :]
    v_re, v_im = _load_complex(v_ptr, rows[:, None] * N + n[None, :], mask)
    rows_total = tl.num_programs(0) // ROW_BLOCKS * ROWS  # R·H
    _store_complex(dv_ptr, (span * rows_total + rows[:, None]) * N + n[None, :], sum_re, sum_im,
                   mask)
    dw_part = ((span * ROW_BLOCKS + row_block) * (tl.num_programs(0) // ROW_BLOCKS)
               + pole_row * H + h).to(tl.int64) * N + n
    _store_complex(dw_ptr, dw_part, tl.sum(v_re * square_re + v_im * square_im, axis=0),
                   tl.sum(v_re * square_im - v_im * square_re, axis=0), n_ok)


def _cauchy_layout(v: Tensor, w: Tensor) -> tuple[int, int, int, int]:
    """(rows of v per pole row, block of rows, row blocks, block of modes)."""
    rows = v.shape[0] // w.shape[0]
    block_r = min(triton.next_power_of_2(rows), TILES.cauchy_rows)
    block_n = min(triton.next_power_of_2(v.shape[2]), TILES.cauchy_modes)
    return rows, block_r, triton.cdiv(rows, block_r), block_n


def _cauchy_forward(v: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """v (R, H, N), z (L,), w (R or 1, H, N) complex64 contiguous -> (R, H, L) complex64."""
    heads, modes, length = v.shape[1], v.shape[2], z.shape[0]
    rows, block_r, row_blocks, block_n = _cauchy_layout(v, w)
    block_l = max(16, TILES.tile // (block_r * block_n))
    out = torch.empty(*v.shape[:2], length, 2, dtype=torch.float32, device=v.device)
    grid = (w.shape[0] * heads * row_blocks, triton.cdiv(length, block_l))
    _cauchy_fwd_kernel[grid](torch.view_as_real(v), torch.view_as_real(z),
                             torch.view_as_real(w), out, heads, modes, length, rows, row_blocks,
                             BLOCK_R=block_r, BLOCK_N=block_n, BLOCK_L=block_l,
                             num_warps=NUM_WARPS)
    return torch.view_as_complex(out)


def _cauchy_backward(v: Tensor, z: Tensor, w: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """grad (R, H, L) complex64 contiguous -> dv (R, H, N), dw (R or 1, H, N) complex64."""
    heads, modes, length = v.shape[1], v.shape[2], z.shape[0]
    rows, block_r, row_blocks, block_n = _cauchy_layout(v, w)
    block_l = max(16, TILES.bwd_tile // (block_r * block_n))
    groups, mode_blocks = w.shape[0] * heads * row_blocks, triton.cdiv(modes, block_n)
    span = _span(length, groups * mode_blocks, block_l, TILES.min_steps, v.device)
    spans = triton.cdiv(length, span)
    dv = torch.empty(spans, *v.shape, 2, dtype=torch.float32, device=v.device)
    dw = torch.empty(spans * row_blocks, *w.shape, 2, dtype=torch.float32, device=v.device)
    _cauchy_bwd_kernel[(groups, mode_blocks, spans)](
        torch.view_as_real(v), torch.view_as_real(z), torch.view_as_real(w),
        torch.view_as_real(grad), dv, dw, heads, modes, length, rows, row_blocks, span,
        BLOCK_R=block_r, BLOCK_N=block_n, BLOCK_L=block_l, num_warps=NUM_WARPS)
    return torch.view_as_complex(dv).sum(0), torch.view_as_complex(dw).sum(0)


class _Cauchy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, z: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(v, z, w)
        return _cauchy_forward(v, z, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
        v, z, w = ctx.saved_tensors
        dv, dw = _cauchy_backward(v, z, w, grad.resolve_conj().contiguous())
        return (dv if ctx.needs_input_grad[0] else None, None,
                dw if ctx.needs_input_grad[2] else None)


def cauchy_kernel_triton(v: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """``out[..., h, l] = Σ_n v[..., h, n] / (z[l] - w[..., h, n])``; differentiable in v and w.

    Args:
        v: (H, N) or (R, H, N) complex64 numerators.
        z: (L,) complex64 points; must not require grad.
        w: (H, N) or (R, H, N) complex64 poles, broadcastable to v. Poles shared by all rows
            (no leading dimension, or 1) are loaded once per row block.

    Returns:
        (H, L) or (R, H, L) complex64.
    """
    problem = cauchy_unsupported(v, z, w)
    if problem is not None:
        raise ValueError(f"cauchy_kernel_triton: {problem}")
    shape = torch.broadcast_shapes(v.shape, w.shape)
    lead, (heads, modes) = shape[:-2], shape[-2:]
    rows = v.resolve_conj().expand(shape).reshape(-1, heads, modes)
    if math.prod(w.shape[:-2]) == 1:
        poles = w.resolve_conj().reshape(w.shape[-2:]).expand(heads, modes)[None]
    else:
        poles = w.resolve_conj().expand(shape).reshape(-1, heads, modes)
    out = _Cauchy.apply(rows.contiguous(), z.resolve_conj().contiguous(), poles.contiguous())
    return out.reshape(*lead, heads, z.shape[0])


# ------------------------------------------------------------------------------------------
# What the kernels can take, and how long sequences are split
# ------------------------------------------------------------------------------------------


def vandermonde_unsupported(c: Tensor, dt_a: Tensor) -> str | None:
    """Why the Triton Vandermonde kernel cannot take these (checked) inputs, or None."""
    return _unsupported({"c": c, "dt_a": dt_a})


def cauchy_unsupported(v: Tensor, z: Tensor, w: Tensor) -> str | None:
    """Why the Triton Cauchy kernel cannot take these (checked) inputs, or None."""
    if z.requires_grad:
        return ("z requires grad, and the Triton Cauchy kernel gives no gradient for the "
                "evaluation points (S4's are fixed roots of unity)")
    return _unsupported({"v": v, "z": z, "w": w})


def _unsupported(tensors: dict[str, Tensor]) -> str | None:
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        return f"all inputs must be on one device, got {sorted(map(str, devices))}"
    device = devices.pop()
    if device.type == "cpu" and not INTERPRETED:
        return ("the Triton kernels need CUDA tensors; on the CPU they run only under Triton's "
                "interpreter (set TRITON_INTERPRET=1 before tsssm.kernels.s4.triton is imported)")
    if device.type not in ("cuda", "cpu"):
        return f"the Triton kernels run on CUDA tensors, got {device}"
    for name, tensor in tensors.items():
        if tensor.dtype != torch.complex64:
            return (f"the Triton kernels compute in fp32 and take complex64, got {name} of dtype "
                    f"{tensor.dtype} (complex128 runs on backend='reference')")
        if tensor.numel() == 0:
            return f"{name} is empty (shape {tuple(tensor.shape)})"
    return None


def _span(length: int, programs: int, unit: int, min_units: int, device: torch.device) -> int:
    """Taps per span, a multiple of ``unit`` (the taps a program takes per loop step): enough
    spans that ``programs`` rows of work fill the device, each at least ``min_units`` steps."""
    target = TILES.programs_per_sm * _multiprocessors(device)
    most = max(1, length // (min_units * unit))
    spans = max(1, min(triton.cdiv(target, programs), most))
    return triton.cdiv(triton.cdiv(length, spans), unit) * unit


@lru_cache(maxsize=None)
def _multiprocessors(device: torch.device) -> int:
    if device.type != "cuda":
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count
