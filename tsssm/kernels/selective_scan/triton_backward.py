"""The selective scan's backward kernel: one reverse pass over the sequence (or over one of its
segments, ``triton_segments``) per (batch row, channel block), the forward's states rebuilt
chunk by chunk from its checkpoints.

Per chunk, last chunk first, with every (CHUNK, N1, BLOCK_D, N2) tile in registers:

1. the states ``h_t`` from the checkpoint ``h_prev`` (the forward's scan again: one exp2 per
   element; with ``SPLIT = 2`` the chunk runs as two halves, the state at its middle rebuilt
   first, 1.5 exp2 per element for tiles of half the registers: 24% faster at N = 16);
2. the adjoint ``λ_t = ∂loss/∂h_t = q_t + a_{t+1} λ_{t+1}``, ``q_t = gy_t C_t``, a reverse
   scan over the same registers. The decay ``a_{t+1}`` of the step after ``t`` sits in the
   next row, which a per-row scan element cannot see; so an element carries its own decay and
   the combine applies the *later* segment's first decay (``reverse_compose``). The adjoint
   entering from the next chunk, ``μ = a_{t1+1} λ_{t1+1}``, is added to the last row's ``q``;
3. the gradients, each from tiles of the same step:
   ``du = Δ Σ_n λ B + D gy``, ``ddelta = u Σ_n λ B + Σ_n A λ a h_{t-1}`` (through the
   softplus), ``dA += Σ_t Δ λ a h_{t-1}`` with ``a_t h_{t-1} = h_t − x_t``, and the sums over
   the block's channels ``dB_t = Σ_d λ Δ u``, ``dC_t = Σ_d gy h_t``, added atomically into
   fp32 buffers shared by the group's channel blocks (their last bits vary from run to run);
   with a gate, ``dz`` from the forward's y before the gate, which it stored (in u's dtype):
   rebuilding it here was a third sum over the state (the loop's instructions before and
   after: ``docs/benchmarks/cpu-2026-12-05-scan-bwd-sass/``).

Nothing is recomputed twice and no (L, D, N) tensor is stored: the backward reads u, Δ, z, dy,
y before the gate, B, C and the checkpoints once and writes du, dΔ, dz once.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.selective_scan.triton_segments import fold_adjoints
from tsssm.kernels.selective_scan.triton_tiles import (BACKWARD_CONFIGS, SEGMENT_ARGS,
                                                       adjoint_scan, advance, channel_block,
                                                       chunk_inputs, chunk_states, load_proj,
                                                       load_state, load_steps, proj4, row,
                                                       scan_tuning, state_index,
                                                       state_sum, steps4, store_steps)
from tsssm.kernels.triton_common import LOG2E, sigmoid


@triton.jit
def add_over_channels(ptr, rows, s_l, n, value, row_mask, DSTATE: tl.constexpr):
    """Add Σ over the block's channels of a (CHUNK, N1, BLOCK_D, N2) tile into a (L, N) fp32
    slice (dB or dC of one group), atomically: other channel blocks add to the same elements."""
    mask = row_mask[:, None, None] & (n < DSTATE)[None, :, :]
    tl.atomic_add(ptr + rows[:, None, None] * s_l + n[None, :, :], tl.sum(value, axis=2),
                  mask=mask, sem="relaxed")


@triton.jit
def backward_chunk(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, carry, sums, rows, left, d,
                   d_mask, n, A, A2, skip, bias, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                   HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
                   SUB: tl.constexpr, FULL: tl.constexpr):
    """The gradients of the ``SUB`` steps from ``t0`` (``left`` of them in the sequence).

    ``steps``: pointers (u, Δ, z, dy, du, dΔ, dz, y before the gate) at the batch row, with step
    strides ``s_l`` and channel strides ``s_d``; ``proj``: (B, C, dB, dC) at the batch row and
    group, with step strides ``p_l`` and state strides ``p_n``. ``h_prev``: the state before ``t0``;
    ``carry``: μ entering from the right; ``sums``: running (dA, dD, d delta_bias). Returns the
    μ leaving to the left and the updated sums."""
    dA_acc, dD_acc, dbias_acc = sums
    t_mask, td_mask, u, dt, v, Bt = chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left,
                                                  d, d_mask, n, bias, HAS_BIAS, SOFTPLUS, DSTATE,
                                                  FULL)
    Ct = load_proj(proj[1] + t0 * p_l[1], rows, p_l[1], n, p_n[1], t_mask, DSTATE)
    gy = load_steps(steps[3] + t0 * s_l[3], rows, s_l[3], d, s_d[3], td_mask)

    a, x, hs = chunk_states(dt, u, A2, Bt, h_prev, rows)
    if HAS_Z:
        y = load_steps(steps[7] + t0 * s_l[7], rows, s_l[7], d, s_d[7], td_mask)
        z = load_steps(steps[2] + t0 * s_l[2], rows, s_l[2], d, s_d[2], td_mask)
        sig = sigmoid(z)
        store_steps(steps[6] + t0 * s_l[6], rows, s_l[6], d, s_d[6],
                    gy * y * sig * (1.0 + z * (1.0 - sig)), td_mask)
        gy = gy * z * sig
    if HAS_D:
        dD_acc += tl.sum(gy * u, axis=0)
    add_over_channels(proj[3] + t0 * p_l[3], rows, p_l[3], n, steps4(gy) * hs, t_mask, DSTATE)
    decayed = hs - x                                           # a_t h_{t-1}

    q = steps4(gy) * proj4(Ct)
    q = tl.where((rows == SUB - 1)[:, None, None, None], q + carry[None, :, :, :], q)
    lam = adjoint_scan(q, a)
    carry = row(a * lam, rows, 0)

    dtu = dt * u
    add_over_channels(proj[2] + t0 * p_l[2], rows, p_l[2], n, lam * steps4(dtu), t_mask,
                      DSTATE)
    s = state_sum(lam * proj4(Bt))
    du = dt * s
    if HAS_D:
        du += skip[None, :] * gy
    store_steps(steps[4] + t0 * s_l[4], rows, s_l[4], d, s_d[4], du, td_mask)
    w = lam * decayed                                          # λ_t a_t h_{t-1}
    dA_acc += tl.sum(w * steps4(dt), axis=0)
    ddt = u * s + state_sum(w * A[None, :, :, :])
    if SOFTPLUS:
        ddt *= sigmoid(v)
    ddt = tl.where(td_mask, ddt, 0.0)
    if HAS_BIAS:
        dbias_acc += tl.sum(ddt, axis=0)
    store_steps(steps[5] + t0 * s_l[5], rows, s_l[5], d, s_d[5], ddt, td_mask)
    return carry, (dA_acc, dD_acc, dbias_acc)


@triton.jit
def backward_span(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, carry, sums, left, d, d_mask,
                  n, A, A2, skip, bias, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                  HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
                  CHUNK: tl.constexpr, SPLIT: tl.constexpr, FULL: tl.constexpr):
    """The gradients of the ``CHUNK`` steps between two checkpoints, in ``SPLIT`` (1 or 2)
    sub-chunks. With 2, the state at the middle is rebuilt first (the first half's
    exponentials twice) and each half keeps half the registers: the chunk the checkpoint memory
    asks for and the tile the registers ask for need not be the same."""
    SUB: tl.constexpr = CHUNK // SPLIT
    rows = tl.arange(0, SUB)
    if SPLIT == 2:
        h_mid, _ = advance(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, rows, left, d, d_mask,
                           n, A2, bias, HAS_BIAS, SOFTPLUS, DSTATE, SUB, FULL)
        carry, sums = backward_chunk(steps, s_l, s_d, proj, p_l, p_n, t0 + SUB, h_mid, carry,
                                     sums, rows, left - SUB, d, d_mask, n, A, A2, skip, bias,
                                     HAS_D, HAS_Z, HAS_BIAS, SOFTPLUS, DSTATE, SUB, FULL)
    return backward_chunk(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, carry, sums, rows, left,
                          d, d_mask, n, A, A2, skip, bias, HAS_D, HAS_Z, HAS_BIAS, SOFTPLUS,
                          DSTATE, SUB, FULL)


@scan_tuning(BACKWARD_CONFIGS, key_extra=["HAS_DFINAL", "n_segments"],
             reset_to_zero=["dB_ptr", "dC_ptr"])
@triton.jit(do_not_specialize=SEGMENT_ARGS)
def scan_bwd_kernel(
        u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr, dy_ptr, dfinal_ptr,
        adj_ptr, dsum_ptr, ypre_ptr, du_ptr, ddt_ptr, dz_ptr, dB_ptr, dC_ptr, part_ptr, dh0_ptr,
        seqlen, dim, chans_per_group, groups, seg_chunks, n_segments,
        s_u_b, s_u_l, s_u_d, s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
        s_z_b, s_z_l, s_z_d, s_dy_b, s_dy_l, s_dy_d,
        s_du_b, s_du_l, s_du_d, s_ddt_b, s_ddt_l, s_ddt_d, s_dz_b, s_dz_l, s_dz_d,
        s_yp_b, s_yp_l, s_yp_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, HAS_H0: tl.constexpr, HAS_DFINAL: tl.constexpr,
        DSTATE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr, N2: tl.constexpr, STAGES: tl.constexpr, SPLIT: tl.constexpr,
        EVEN_D: tl.constexpr, VECTOR_STEPS: tl.constexpr):
    """Grid as the forward's: segment ``s`` of ``S`` of batch row ``b``, its adjoint entering
    from the right folded from ``dfinal`` and the pre-pass's ``adj`` and ``dsum``
    (``triton_segments``). Writes du, ddelta, dz (from ``ypre``, the forward's y before the
    gate, with ``HAS_Z``); adds into dB, dC (batch, L, G, N) fp32
    (zeroed by the caller); writes per-(row, segment) partial sums into ``part``
    (batch · S, D·N + 2D): dA (D·N), then dD and ddelta_bias (D each), and dh0 (batch, D, N),
    all fp32 contiguous.

    A ragged last chunk (in the last segment) runs first, masked; then the segment's whole
    chunks, last first, in the pipelined loop without step masks."""
    N1: tl.constexpr = BLOCK_N // N2
    row_id, g, d, d_mask = channel_block(chans_per_group, BLOCK_D, EVEN_D, VECTOR_STEPS)
    b, s = row_id // n_segments, row_id % n_segments
    n, dn_mask = state_index(d, d_mask, DSTATE, N1, N2)
    state_offs = d[None, :, None] * DSTATE + n[:, None, :]

    A = load_state(A_ptr, s_A_d, s_A_n, d, n, dn_mask)
    A2 = A * LOG2E
    skip = tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    steps = (u_ptr + b * s_u_b, dt_ptr + b * s_dt_b, z_ptr + b * s_z_b, dy_ptr + b * s_dy_b,
             du_ptr + b * s_du_b, ddt_ptr + b * s_ddt_b, dz_ptr + b * s_dz_b,
             ypre_ptr + b * s_yp_b)
    s_l = (s_u_l, s_dt_l, s_z_l, s_dy_l, s_du_l, s_ddt_l, s_dz_l, s_yp_l)
    s_d = (s_u_d, s_dt_d, s_z_d, s_dy_d, s_du_d, s_ddt_d, s_dz_d, s_yp_d)
    s_dBC_l = groups * DSTATE
    dBC = b * seqlen * s_dBC_l
    proj = (B_ptr + b * s_B_b + g * s_B_g, C_ptr + b * s_C_b + g * s_C_g,
            dB_ptr + dBC + g * DSTATE, dC_ptr + dBC + g * DSTATE)
    p_l = (s_B_l, s_C_l, s_dBC_l, s_dBC_l)
    p_n = (s_B_n, s_C_n, 1, 1)
    n_chunks = tl.cdiv(seqlen, CHUNK)
    ckpt_b = ckpt_ptr + b * n_chunks * dim * DSTATE + state_offs

    if HAS_DFINAL:
        carry = tl.load(dfinal_ptr + b * dim * DSTATE + state_offs, mask=dn_mask, other=0.0)
    else:
        carry = tl.zeros((N1, BLOCK_D, N2), dtype=tl.float32)
    carry = fold_adjoints(carry, adj_ptr, dsum_ptr, b, s, n_segments, dim, d, d_mask, state_offs,
                          dn_mask, A2, DSTATE)
    sums = (tl.zeros((N1, BLOCK_D, N2), dtype=tl.float32), tl.zeros((BLOCK_D,), dtype=tl.float32),
            tl.zeros((BLOCK_D,), dtype=tl.float32))

    full_chunks = seqlen // CHUNK
    c_begin = s * seg_chunks
    c_end = tl.minimum(c_begin + seg_chunks, full_chunks)
    if (s == n_segments - 1) & (full_chunks < n_chunks):
        t0 = tl.cast(full_chunks, tl.int64) * CHUNK
        h_prev = tl.load(ckpt_b + full_chunks * dim * DSTATE, mask=dn_mask, other=0.0)
        carry, sums = backward_span(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, carry, sums,
                                    seqlen - t0, d, d_mask, n, A, A2, skip, bias, HAS_D, HAS_Z,
                                    HAS_BIAS, SOFTPLUS, DSTATE, CHUNK, SPLIT, FULL=False)
    for i in tl.range(0, c_end - c_begin, num_stages=STAGES):
        c = c_end - 1 - i
        t0 = tl.cast(c, tl.int64) * CHUNK
        h_prev = tl.load(ckpt_b + c * dim * DSTATE, mask=dn_mask, other=0.0)
        carry, sums = backward_span(steps, s_l, s_d, proj, p_l, p_n, t0, h_prev, carry, sums,
                                    CHUNK, d, d_mask, n, A, A2, skip, bias, HAS_D, HAS_Z,
                                    HAS_BIAS, SOFTPLUS, DSTATE, CHUNK, SPLIT, FULL=True)

    dA_acc, dD_acc, dbias_acc = sums
    part = part_ptr + row_id * (dim * DSTATE + 2 * dim)
    tl.store(part + state_offs, dA_acc, mask=dn_mask)
    if HAS_D:
        tl.store(part + dim * DSTATE + d, dD_acc, mask=d_mask)
    if HAS_BIAS:
        tl.store(part + dim * DSTATE + dim + d, dbias_acc, mask=d_mask)
    if HAS_H0:
        if s == 0:
            tl.store(dh0_ptr + b * dim * DSTATE + state_offs, carry, mask=dn_mask)
