"""The math of one chunk that every pass of the scan shares: its inputs, its states and its
adjoint, as (CHUNK, N1, BLOCK_D, N2) tiles in registers (``triton_tiles`` says why this layout).
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.selective_scan.triton_tiles import (below, compose, load_proj, load_steps,
                                                       proj4, row, step_sizes, steps4)


@triton.jit
def chunk_states(dt, u, A2, Bt, h_prev, rows):
    """The chunk's drives ``x = Δ u B`` and states ``h``, each (CHUNK, N1, BLOCK_D, N2).

    ``h_prev`` enters through row 0 (``x_0 += a_0 h_prev``), so the scan needs no decay
    products; masked steps have Δ = 0, so ``a = 1`` and ``x = 0`` and they keep the state."""
    a = tl.exp2(steps4(dt) * A2[None, :, :, :])
    x = steps4(dt * u) * proj4(Bt)
    x0 = tl.where((rows == 0)[:, None, None, None], x + a * h_prev[None, :, :, :], x)
    _, h = tl.associative_scan((a, x0), 0, compose)
    return a, x, h


@triton.jit
def chunk_steps(dt_ptr, s_dt_l, s_dt_d, t0, rows, left, d, d_mask, bias, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, FULL: tl.constexpr):
    """The step mask (CHUNK,) of the chunk from ``t0`` (``left`` of its steps in the sequence),
    the step × channel mask, Δ (bias and softplus applied; 0 on masked steps) and δ + bias."""
    t_mask = below(rows, left, FULL)
    td_mask = t_mask[:, None] & d_mask[None, :]
    dt, v = step_sizes(load_steps(dt_ptr + t0 * s_dt_l, rows, s_dt_l, d, s_dt_d, td_mask), bias,
                       td_mask, HAS_BIAS, SOFTPLUS)
    return t_mask, td_mask, dt, v


@triton.jit
def chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left, d, d_mask, n, bias,
                 HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
                 FULL: tl.constexpr):
    """What every pass over the chunk from ``t0`` reads first: the step mask (CHUNK,), the
    step × channel mask, u, Δ (bias and softplus applied; 0 on masked steps), δ + bias (for Δ's
    gradient) and B (CHUNK, N). Pointers and strides as in ``forward_chunk``."""
    t_mask, td_mask, dt, v = chunk_steps(steps[1], s_l[1], s_d[1], t0, rows, left, d, d_mask,
                                         bias, HAS_BIAS, SOFTPLUS, FULL)
    u = load_steps(steps[0] + t0 * s_l[0], rows, s_l[0], d, s_d[0], td_mask)
    Bt = load_proj(proj[0] + t0 * p_l[0], rows, p_l[0], n, p_n[0], t_mask, DSTATE)
    return t_mask, td_mask, u, dt, v, Bt


@triton.jit
def advance(steps, s_l, s_d, proj, p_l, p_n, t0, h, rows, left, d, d_mask, n, A2, bias,
            HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
            SUB: tl.constexpr, FULL: tl.constexpr):
    """The state after the ``SUB`` steps from ``t0`` (``left`` of them in the sequence), from the
    state ``h`` before them, and Σ Δ over them (BLOCK_D,): the forward's recurrence, for the
    state alone."""
    _, _, u, dt, _, Bt = chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left, d, d_mask,
                                      n, bias, HAS_BIAS, SOFTPLUS, DSTATE, FULL)
    _, _, hs = chunk_states(dt, u, A2, Bt, h, rows)
    return row(hs, rows, SUB - 1), tl.sum(dt, axis=0)


@triton.jit
def reverse_compose(v_later, p_later, a_later, v_first, p_first, a_first):
    """Adjoint segments, the later one scanned first: a segment ``[i, j]`` holds
    ``λ_i = v + p μ`` for the decayed adjoint ``μ`` entering it from the right, and ``a_i``."""
    entering = a_later * p_first
    return v_first + entering * v_later, entering * p_later, a_first


@triton.jit
def adjoint_scan(q, a):
    """λ_t = q_t + a_{t+1} λ_{t+1} over the rows of (CHUNK, ...) tiles, last row first.

    Flipped, scanned forward, flipped back: with the rows in registers the flips are register
    renames, while ``reverse=True`` makes Triton 3.6 exchange every value across the lanes
    (~900 extra shuffles per thread per chunk in sm_90 SASS)."""
    lam, _, _ = tl.associative_scan((tl.flip(q, 0), tl.full(q.shape, 1.0, tl.float32),
                                     tl.flip(a, 0)), 0, reverse_compose)
    return tl.flip(lam, 0)
