"""The two kernels of a fused Mamba-1 block step: one token through ``x + mixer(rmsnorm(x))``.

Both grids are (channel blocks, batch blocks): a program owns ``BLOCK_E`` of the E inner
channels and ``BLOCK_B`` batch rows, and every product with a weight matrix is a tile
``(BLOCK_B, rows, cols)`` of fp32 products summed over its last axis (the batch is small, so
the weights are read once per program and the GEMVs need no tensor cores).

``step_in_kernel``: RMSNorm of the residual row (every program recomputes its sum of squares),
the block's x and z rows of ``in_proj``, the conv step (its state shifted in place), SiLU, and
the block's share of ``x_proj``'s output, added atomically into a zeroed fp32 workspace. The
first channel block also writes ``residual + out_proj.bias`` to the fp32 output.

``step_out_kernel``: ``dt_proj`` from the workspace's dt part, softplus, the selective state
update with the D skip and the z gate, and the block's share of ``out_proj`` added atomically
into the output (which is then the block's output). The last program to finish zeroes the
workspace again, so the next step (the next layer's, or the next replay of a CUDA graph) finds
it zeroed: no memset between kernels.

Both states are updated in place, and a tile smaller than the program's threads gives several
threads copies of one element: a barrier between a state's reads and its writes keeps a copy in
one warp from overwriting what a copy in another has not read yet.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.triton_common import fast_exp, sigmoid, softplus


@triton.jit
def _span(start, end, BLOCK: tl.constexpr):
    """Indices ``start .. start + BLOCK - 1`` and the mask of those below ``end``."""
    i = start + tl.arange(0, BLOCK)
    return i, i < end


@triton.jit
def _weight_tile(ptr, rows, row_mask, cols, col_mask, s_row, s_col):
    """``W[rows, cols]`` as an fp32 tile (len(rows), len(cols)), zero where masked."""
    return tl.load(ptr + rows[:, None] * s_row + cols[None, :] * s_col,
                   mask=row_mask[:, None] & col_mask[None, :], other=0.0).to(tl.float32)


@triton.jit
def _times_transposed(v, w):
    """``v (BLOCK_B, K) @ w (R, K)ᵀ -> (BLOCK_B, R)`` in fp32, by a product tile."""
    return tl.sum(v[:, None, :] * w[None, :, :], axis=2)


@triton.jit
def step_in_kernel(
        res_ptr, norm_w_ptr, in_w_ptr, in_b_ptr, conv_w_ptr, conv_b_ptr, conv_ptr, xp_w_ptr,
        out_b_ptr, x_ptr, z_ptr, xp_ptr, out_ptr,
        batch, d_model, d_inner, n_proj, eps,
        s_res_b, s_res_m, s_in_o, s_in_i, s_cw_e, s_cw_k, s_cs_b, s_cs_e, s_cs_k,
        s_xp_j, s_xp_e,
        HAS_IN_BIAS: tl.constexpr, HAS_CONV_BIAS: tl.constexpr, HAS_OUT_BIAS: tl.constexpr,
        D_CONV: tl.constexpr, WINDOW: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_E: tl.constexpr,
        BLOCK_K: tl.constexpr, BLOCK_J: tl.constexpr):
    """Residual (batch, d_model) -> x, z (batch, E) fp32 contiguous, ``xp`` (batch, n_proj)
    += this block's share of x_proj, ``out`` (batch, d_model) fp32 = residual + out bias.
    Weights: in_proj (2E, d_model), conv (E, ·, D_CONV), x_proj (n_proj, E)."""
    b, b_mask = _span(tl.program_id(1) * BLOCK_B, batch, BLOCK_B)
    e, e_mask = _span(tl.program_id(0) * BLOCK_E, d_inner, BLOCK_E)
    first = tl.program_id(0) == 0

    acc_x = tl.zeros((BLOCK_B, BLOCK_E), dtype=tl.float32)
    acc_z = tl.zeros((BLOCK_B, BLOCK_E), dtype=tl.float32)
    sum_sq = tl.zeros((BLOCK_B,), dtype=tl.float32)
    for k0 in range(0, d_model, BLOCK_K):
        k, k_mask = _span(k0, d_model, BLOCK_K)
        bk_mask = b_mask[:, None] & k_mask[None, :]
        u = tl.load(res_ptr + b[:, None] * s_res_b + k[None, :] * s_res_m, mask=bk_mask,
                    other=0.0).to(tl.float32)
        sum_sq += tl.sum(u * u, axis=1)
        carried = u
        if HAS_OUT_BIAS:
            carried += tl.load(out_b_ptr + k, mask=k_mask, other=0.0).to(tl.float32)[None, :]
        tl.store(out_ptr + b[:, None] * d_model + k[None, :], carried, mask=bk_mask & first)
        scaled = u * tl.load(norm_w_ptr + k, mask=k_mask, other=0.0).to(tl.float32)[None, :]
        acc_x += _times_transposed(scaled, _weight_tile(in_w_ptr, e, e_mask, k, k_mask,
                                                        s_in_o, s_in_i))
        acc_z += _times_transposed(scaled, _weight_tile(in_w_ptr + d_inner * s_in_o, e, e_mask,
                                                        k, k_mask, s_in_o, s_in_i))
    rstd = (1.0 / tl.sqrt(sum_sq / d_model + eps))[:, None]
    x_in = acc_x * rstd
    z = acc_z * rstd
    if HAS_IN_BIAS:
        x_in += tl.load(in_b_ptr + e, mask=e_mask, other=0.0).to(tl.float32)[None, :]
        z += tl.load(in_b_ptr + d_inner + e, mask=e_mask, other=0.0).to(tl.float32)[None, :]

    # Conv step over the window [state (oldest first), x_in], (BLOCK_B, BLOCK_E, WINDOW); the
    # state keeps the window's last D_CONV - 1. Threads holding copies of one element all read
    # it before any of them writes (the barrier): the new state overwrites the old in place.
    be_mask = b_mask[:, None] & e_mask[None, :]
    tap = tl.arange(0, WINDOW)[None, None, :]
    slots_at = conv_ptr + b[:, None, None] * s_cs_b + e[None, :, None] * s_cs_e + tap * s_cs_k
    window = tl.load(slots_at, mask=be_mask[:, :, None] & (tap < D_CONV - 1),
                     other=0.0).to(tl.float32)
    window = tl.where(tap == D_CONV - 1, x_in[:, :, None], window)
    taps = _weight_tile(conv_w_ptr, e, e_mask, tl.arange(0, WINDOW), tl.arange(0, WINDOW) < D_CONV,
                        s_cw_e, s_cw_k)
    conv = tl.sum(window * taps[None, :, :], axis=2)
    if HAS_CONV_BIAS:
        conv += tl.load(conv_b_ptr + e, mask=e_mask, other=0.0).to(tl.float32)[None, :]
    tl.debug_barrier()
    tl.store(slots_at - s_cs_k, window.to(conv_ptr.dtype.element_ty),
             mask=be_mask[:, :, None] & (tap >= 1) & (tap < D_CONV))
    x = conv * sigmoid(conv)
    tl.store(x_ptr + b[:, None] * d_inner + e[None, :], x, mask=be_mask)
    tl.store(z_ptr + b[:, None] * d_inner + e[None, :], z, mask=be_mask)

    for j0 in range(0, n_proj, BLOCK_J):
        j, j_mask = _span(j0, n_proj, BLOCK_J)
        share = _times_transposed(x, _weight_tile(xp_w_ptr, j, j_mask, e, e_mask, s_xp_j, s_xp_e))
        tl.atomic_add(xp_ptr + b[:, None] * n_proj + j[None, :], share,
                      mask=b_mask[:, None] & j_mask[None, :])


@triton.jit
def step_out_kernel(
        xp_ptr, count_ptr, x_ptr, z_ptr, dt_w_ptr, dt_b_ptr, A_log_ptr, D_ptr, ssm_ptr,
        out_w_ptr, out_ptr,
        batch, d_model, d_inner, dt_rank, n_proj,
        s_dt_e, s_dt_r, s_A_e, s_A_n, s_st_b, s_st_e, s_st_n, s_out_m, s_out_e,
        DSTATE: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_R: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_ZERO: tl.constexpr):
    """``xp`` (batch, n_proj) = [dt (dt_rank), B (N), C (N)] fp32 and x, z -> the scan state
    (batch, E, N) updated in place, ``out`` (batch, d_model) += this block's share of out_proj;
    ``count`` (int32, zero between launches) finds the last program, which re-zeroes ``xp``.
    Weights: dt_proj (E, dt_rank) with bias (E,), A_log (E, N), D (E,), out_proj (d_model, E)."""
    b, b_mask = _span(tl.program_id(1) * BLOCK_B, batch, BLOCK_B)
    e, e_mask = _span(tl.program_id(0) * BLOCK_E, d_inner, BLOCK_E)
    be_mask = b_mask[:, None] & e_mask[None, :]
    row_at = xp_ptr + b[:, None] * n_proj

    dt = tl.zeros((BLOCK_B, BLOCK_E), dtype=tl.float32)
    for r0 in range(0, dt_rank, BLOCK_R):
        r, r_mask = _span(r0, dt_rank, BLOCK_R)
        low = tl.load(row_at + r[None, :], mask=b_mask[:, None] & r_mask[None, :], other=0.0)
        dt += _times_transposed(low, _weight_tile(dt_w_ptr, e, e_mask, r, r_mask,
                                                  s_dt_e, s_dt_r))
    dt = softplus(dt + tl.load(dt_b_ptr + e, mask=e_mask, other=0.0).to(tl.float32)[None, :])

    n, n_mask = _span(0, DSTATE, BLOCK_N)
    bn_mask = b_mask[:, None] & n_mask[None, :]
    B = tl.load(row_at + dt_rank + n[None, :], mask=bn_mask, other=0.0)
    C = tl.load(row_at + dt_rank + DSTATE + n[None, :], mask=bn_mask, other=0.0)
    x = tl.load(x_ptr + b[:, None] * d_inner + e[None, :], mask=be_mask, other=0.0)
    z = tl.load(z_ptr + b[:, None] * d_inner + e[None, :], mask=be_mask, other=0.0)
    A = -fast_exp(_weight_tile(A_log_ptr, e, e_mask, n, n_mask, s_A_e, s_A_n))

    state_at = (ssm_ptr + b[:, None, None] * s_st_b + e[None, :, None] * s_st_e
                + n[None, None, :] * s_st_n)
    state_mask = be_mask[:, :, None] & n_mask[None, None, :]
    state = tl.load(state_at, mask=state_mask, other=0.0).to(tl.float32)
    state = (fast_exp(dt[:, :, None] * A[None, :, :]) * state
             + (dt * x)[:, :, None] * B[:, None, :])
    tl.debug_barrier()  # every copy of an element read before it is overwritten, as above
    tl.store(state_at, state.to(ssm_ptr.dtype.element_ty), mask=state_mask)
    y = tl.sum(state * C[:, None, :], axis=2)
    y += tl.load(D_ptr + e, mask=e_mask, other=0.0).to(tl.float32)[None, :] * x
    y *= z * sigmoid(z)

    for m0 in range(0, d_model, BLOCK_M):
        m, m_mask = _span(m0, d_model, BLOCK_M)
        share = _times_transposed(y, _weight_tile(out_w_ptr, m, m_mask, e, e_mask,
                                                  s_out_m, s_out_e))
        tl.atomic_add(out_ptr + b[:, None] * d_model + m[None, :], share,
                      mask=b_mask[:, None] & m_mask[None, :])

    # Every program has used its reads of xp (they fed the state above): the last one to take a
    # ticket may overwrite it.
    tl.debug_barrier()
    ticket = tl.atomic_add(count_ptr, 1)
    last = ticket == tl.num_programs(0) * tl.num_programs(1) - 1
    for i0 in range(0, batch * n_proj, BLOCK_ZERO):
        i, i_mask = _span(i0, batch * n_proj, BLOCK_ZERO)
        tl.store(xp_ptr + i, tl.zeros((BLOCK_ZERO,), dtype=tl.float32), mask=i_mask & last)
    tl.store(count_ptr, 0, mask=last)
