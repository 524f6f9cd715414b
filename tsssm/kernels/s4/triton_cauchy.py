"""Device code of S4's Cauchy kernel, ``out[r, h, l] = Σ_n v[r, h, n] q[h, n, l]``,
``q = 1 / (z[l] - w[h, n])`` (the DPLR generating function), and of its backward.

**Forward.** A program owns up to ``BLOCK_R`` rows of v that share one row of poles w (S4 sums
four numerators against the same poles) and a block of points, and walks the modes: each
reciprocal serves every row.

**Backward** (complex gradients as ``triton.py`` says). With ``G = ∂loss/∂out`` complex::

    dv[r, h, n] = Σ_l G[r, h, l] conj(q[h, n, l])
    dw[h, n]    = Σ_r conj(v[r, h, n]) Σ_l G[r, h, l] conj(q[h, n, l])²

one program per (row block, block of modes, span of points) loops over its span. z gets no
gradient: S4 evaluates at fixed roots of unity.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.triton_common import load_complex, store_complex


@triton.jit
def _inverse_difference(z_re, z_im, w_re, w_im, mask):
    """``1 / (z - w)`` as (re, im), zero where ``mask`` is off: padding lanes load z = w = 0,
    and must neither divide by zero nor turn a masked-out zero into NaN."""
    d_re = z_re - w_re
    d_im = z_im - w_im
    scale = tl.where(mask, 1.0 / tl.where(mask, d_re * d_re + d_im * d_im, 1.0), 0.0)
    return d_re * scale, -d_im * scale


@triton.jit
def cauchy_fwd_kernel(v_ptr, z_ptr, w_ptr, out_ptr, H, N, L, ROWS, ROW_BLOCKS,
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
    z_re, z_im = load_complex(z_ptr, l, l_ok)
    acc_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    acc_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    for n0 in range(0, N, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        n_ok = n < N
        w_re, w_im = load_complex(w_ptr, (pole_row * H + h) * N + n, n_ok)
        v_re, v_im = load_complex(v_ptr, rows[:, None] * N + n[None, :],
                                  r_ok[:, None] & n_ok[None, :])
        q_re, q_im = _inverse_difference(z_re[None, :], z_im[None, :], w_re[:, None],
                                         w_im[:, None], n_ok[:, None] & l_ok[None, :])
        v_re, v_im = v_re[:, :, None], v_im[:, :, None]
        acc_re += v_re * q_re[None] - v_im * q_im[None]
        acc_im += v_re * q_im[None] + v_im * q_re[None]
    store_complex(out_ptr, rows[:, None] * L + l[None, :], tl.sum(acc_re, axis=1),
                  tl.sum(acc_im, axis=1), r_ok[:, None] & l_ok[None, :])


@triton.jit
def cauchy_bwd_kernel(v_ptr, z_ptr, w_ptr, g_ptr, dv_ptr, dw_ptr, H, N, L, ROWS, ROW_BLOCKS,
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
    w_re, w_im = load_complex(w_ptr, (pole_row * H + h) * N + n, n_ok)
    sum_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    sum_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    square_re = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    square_im = tl.zeros((BLOCK_R, BLOCK_N, BLOCK_L), tl.float32)
    start = span * SPAN
    for l0 in range(start, tl.minimum(start + SPAN, L), BLOCK_L):
        l = l0 + tl.arange(0, BLOCK_L)
        l_ok = l < L
        z_re, z_im = load_complex(z_ptr, l, l_ok)
        g_re, g_im = load_complex(g_ptr, rows[:, None] * L + l[None, :],
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
    v_re, v_im = load_complex(v_ptr, rows[:, None] * N + n[None, :], mask)
    rows_total = tl.num_programs(0) // ROW_BLOCKS * ROWS  # R·H
    store_complex(dv_ptr, (span * rows_total + rows[:, None]) * N + n[None, :], sum_re, sum_im,
                  mask)
    dw_part = ((span * ROW_BLOCKS + row_block) * (tl.num_programs(0) // ROW_BLOCKS)
               + pole_row * H + h).to(tl.int64) * N + n
    store_complex(dw_ptr, dw_part, tl.sum(v_re * square_re + v_im * square_im, axis=0),
                  tl.sum(v_re * square_im - v_im * square_re, axis=0), n_ok)
