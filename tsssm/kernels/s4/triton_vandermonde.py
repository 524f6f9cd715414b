"""Device code of S4D's Vandermonde kernel, ``K[r, h, l] = 2 Re Σ_n c[r, h, n] P[h, n, l]``,
``P = exp(a l)``, ``a = Δλ``, and of its backward.

**Forward.** A program owns one row (r, h), up to ``BLOCK_N`` modes and a span of taps, which it
walks a chunk of ``STEPS × BLOCK_L`` taps at a time, splitting the exponent of
``l = l_c + s BLOCK_L + j``::

    P[n, l] = exp(a_n l_c) · Q[s, n] · E[n, j],   Q = exp(a s BLOCK_L),  E = exp(a j)

Q and E are tables made once per program, ``exp(a l_c)`` once per chunk and mode; each factor is
evaluated directly (never by repeated multiplication, whose error grows with l). Then a chunk is
a complex matrix product, ``K[l_c + s BLOCK_L + j] = 2 Re Σ_n W[s, n] E[n, j]`` with
``W = c exp(a l_c) Q``: two fp32 ``tl.dot``s (``input_precision="ieee"``, not tf32), so each
term costs 2 FMAs, every transcendental is evaluated by one thread only, and no reduction
crosses lanes. (Written as one exp per step broadcast over the taps instead, Triton 3.6 puts
the modes on the warps and the taps on the lanes, and every lane recomputed the warp's 16
exponentials and sines per step: 243 registers, and far more special-function work than FMAs.)

**Phases.** ``Im(a) l`` reaches 10^5 rad at l = 16K (|Im Δλ| ~ 10), where one fp32 ulp is
0.01 rad; so ``a l`` is formed in float64 and the phase reduced by quarter turns there before
the fp32 cos/sin. That costs a few float64 operations per table entry and per (chunk, mode),
none per term.

**Backward** (complex gradients as ``triton.py`` says). With ``g = ∂loss/∂K`` real::

    dc[r, h, n] = 2 Σ_l g[r, h, l] conj(P[h, n, l])
    da[h, n]    = 2 Σ_r conj(c[r, h, n]) Σ_l g[r, h, l] l conj(P[h, n, l])

one program per (row, block of modes, span of taps) loops over its span. The chunk's sums over
taps are dots too: ``A[n, j] = Σ_chunks Σ_s conj(exp(a l_c) Q[s, n]) g[l_c + s BLOCK_L + j]``
accumulates, and ``Σ_l g conj(P) = Σ_j conj(E[n, j]) A[n, j]`` is reduced once, at the end.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from tsssm.kernels.triton_common import load_complex, store_complex

_HALF_PI_HI = torch.tensor(math.pi / 2, dtype=torch.float32).item()
# π/2 = HI + LO to ~1e-15: both exact in fp32, so Triton's fp32 literals lose nothing.
HALF_PI_HI = tl.constexpr(_HALF_PI_HI)
HALF_PI_LO = tl.constexpr(torch.tensor(math.pi / 2 - _HALF_PI_HI, dtype=torch.float32).item())
TWO_OVER_PI = tl.constexpr(2 / math.pi)


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
def vandermonde_fwd_kernel(c_ptr, a_ptr, k_ptr, H, N, L, SPAN, BLOCK_N: tl.constexpr,
                           BLOCK_L: tl.constexpr, STEPS: tl.constexpr):
    """Grid (R·H rows, spans, mode chunks): ``k[chunk, row, l] = 2 Re Σ_{n in chunk} c P`` for
    the taps ``l`` of one span. c (R·H, N), a (H, N) complex; k (chunks, R·H, L) fp32."""
    row = tl.program_id(0)
    start = tl.program_id(1) * SPAN
    chunk = tl.program_id(2)
    h = row % H
    n = chunk * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = n < N
    a_re, a_im = load_complex(a_ptr, h * N + n, n_ok)
    c_re, c_im = load_complex(c_ptr, row.to(tl.int64) * N + n, n_ok)
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
def vandermonde_bwd_kernel(c_ptr, a_ptr, g_ptr, dc_ptr, da_ptr, H, N, L, SPAN,
                           BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, STEPS: tl.constexpr):
    """Grid (R·H rows, mode blocks, spans): one span's share of ``dc[row, n]`` and of
    ``2 conj(c) Σ_l g l conj(P)`` (da before the sum over r), into ``[span, row, n]`` of dc, da.
    ``sum`` is A of the module notes (g real), ``moment`` the same with ``l g``."""
    row = tl.program_id(0)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    start = tl.program_id(2) * SPAN
    h = row % H
    n_ok = n < N
    a_re, a_im = load_complex(a_ptr, h * N + n, n_ok)
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
    c_re, c_im = load_complex(c_ptr, row.to(tl.int64) * N + n, n_ok)
    part = (tl.program_id(2) * tl.num_programs(0) + row).to(tl.int64) * N + n
    store_complex(dc_ptr, part, 2.0 * sum_re, 2.0 * sum_im, n_ok)
    store_complex(da_ptr, part, 2.0 * (c_re * moment_re + c_im * moment_im),
                  2.0 * (c_re * moment_im - c_im * moment_re), n_ok)
