"""The selective scan's forward kernel: one pass over the sequence (or over one of its segments,
``triton_segments``) per (batch row, channel block).

Each program carries its ``BLOCK_D × N`` fp32 state in registers from chunk to chunk, so it reads
u, Δ, z once and writes y once; B and C it reads once per channel block, from L2 after the first
program of the row. Inside a chunk every thread runs the recurrence ``h_t = a_t h_{t-1} + x_t``
over its own ``N1`` states and ``CHUNK`` steps in registers (``triton_tiles`` says why the layout
gives that): one exp2 for ``a``, a multiply for ``x``, a fused multiply-add for ``h`` and one for
``<C, h>`` per (step, channel, state). The chunk loop is software-pipelined (``num_stages``): the
next chunks' tiles are copied asynchronously into shared memory while this one is computed.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.selective_scan.triton_segments import fold_ends
from tsssm.kernels.selective_scan.triton_tiles import (FORWARD_CONFIGS, SEGMENT_ARGS,
                                                       channel_block, chunk_inputs, chunk_states,
                                                       load_proj, load_state, load_steps, proj4,
                                                       row, scan_tuning, state_index,
                                                       state_sum, store_steps)
from tsssm.kernels.triton_common import LOG2E, sigmoid


@triton.jit
def forward_chunk(steps, s_l, s_d, proj, p_l, p_n, t0, h, rows, left, d, d_mask, n, A2, skip,
                  bias, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                  SOFTPLUS: tl.constexpr, STORE_YPRE: tl.constexpr, DSTATE: tl.constexpr,
                  CHUNK: tl.constexpr, FULL: tl.constexpr):
    """y for the ``CHUNK`` steps from ``t0`` (``left`` of them in the sequence; ``FULL``: all,
    no step masks to evaluate), and the state leaving them.

    ``steps``: pointers (u, Δ, z, y, y before the gate) at the batch row, with step strides
    ``s_l`` and channel strides ``s_d`` (the last written with ``STORE_YPRE`` alone);
    ``proj``: (B, C) at the batch row and group, with step strides ``p_l`` and state strides
    ``p_n``; ``h``: the state before ``t0``."""
    t_mask, td_mask, u, dt, _, Bt = chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left,
                                                  d, d_mask, n, bias, HAS_BIAS, SOFTPLUS, DSTATE,
                                                  FULL)
    Ct = load_proj(proj[1] + t0 * p_l[1], rows, p_l[1], n, p_n[1], t_mask, DSTATE)

    _, _, hs = chunk_states(dt, u, A2, Bt, h, rows)
    y = state_sum(hs * proj4(Ct))
    if HAS_D:
        y += skip[None, :] * u
    if HAS_Z:
        if STORE_YPRE:
            store_steps(steps[4] + t0 * s_l[4], rows, s_l[4], d, s_d[4], y, td_mask)
        z = load_steps(steps[2] + t0 * s_l[2], rows, s_l[2], d, s_d[2], td_mask)
        y *= z * sigmoid(z)
    store_steps(steps[3] + t0 * s_l[3], rows, s_l[3], d, s_d[3], y, td_mask)
    return row(hs, rows, CHUNK - 1)


@scan_tuning(FORWARD_CONFIGS, key_extra=["STORE_CKPT", "STORE_YPRE", "n_segments"])
@triton.jit(do_not_specialize=SEGMENT_ARGS)
def scan_fwd_kernel(
        u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, h0_ptr,
        y_ptr, ypre_ptr, final_ptr, ckpt_ptr, ends_ptr, dsum_ptr,
        seqlen, dim, chans_per_group, seg_chunks, n_segments,
        s_u_b, s_u_l, s_u_d, s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
        s_z_b, s_z_l, s_z_d, s_h0_b, s_h0_d, s_h0_n, s_y_b, s_y_l, s_y_d,
        s_yp_b, s_yp_l, s_yp_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, HAS_H0: tl.constexpr, STORE_FINAL: tl.constexpr,
        STORE_CKPT: tl.constexpr, STORE_YPRE: tl.constexpr, DSTATE: tl.constexpr,
        CHUNK: tl.constexpr,
        BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, N2: tl.constexpr, STAGES: tl.constexpr,
        EVEN_D: tl.constexpr, VECTOR_STEPS: tl.constexpr):
    """Grid (batch · S, G · cdiv(D/G, BLOCK_D)): segment ``s`` of ``S`` (``seg_chunks`` chunks
    each, ``triton_segments``) of batch row ``b``. Writes y; the final state (batch, D, N), the
    state entering every chunk, ``ckpt`` (batch, n_chunks, D, N) fp32, and y before the gate,
    ``ypre`` (batch, L, D; with ``HAS_Z``), when asked. With
    ``S > 1`` it starts from the state folded from the pre-pass's ``ends`` and ``dsum``.

    The segment's chunks that lie wholly inside the sequence run in the pipelined loop without
    step masks; a ragged last chunk (in the last segment) runs after it, masked."""
    N1: tl.constexpr = BLOCK_N // N2
    row_id, g, d, d_mask = channel_block(chans_per_group, BLOCK_D, EVEN_D, VECTOR_STEPS)
    b, s = row_id // n_segments, row_id % n_segments
    n, dn_mask = state_index(d, d_mask, DSTATE, N1, N2)
    state_offs = d[None, :, None] * DSTATE + n[:, None, :]
    rows = tl.arange(0, CHUNK)

    A2 = load_state(A_ptr, s_A_d, s_A_n, d, n, dn_mask) * LOG2E
    skip = tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    if HAS_H0:
        h = load_state(h0_ptr + b * s_h0_b, s_h0_d, s_h0_n, d, n, dn_mask)
    else:
        h = tl.zeros((N1, BLOCK_D, N2), dtype=tl.float32)
    h = fold_ends(h, ends_ptr, dsum_ptr, b, s, n_segments, dim, d, d_mask, state_offs, dn_mask,
                  A2, DSTATE)
    steps = (u_ptr + b * s_u_b, dt_ptr + b * s_dt_b, z_ptr + b * s_z_b, y_ptr + b * s_y_b,
             ypre_ptr + b * s_yp_b)
    s_l = (s_u_l, s_dt_l, s_z_l, s_y_l, s_yp_l)
    s_d = (s_u_d, s_dt_d, s_z_d, s_y_d, s_yp_d)
    proj = (B_ptr + b * s_B_b + g * s_B_g, C_ptr + b * s_C_b + g * s_C_g)
    p_l = (s_B_l, s_C_l)
    p_n = (s_B_n, s_C_n)
    ckpt_b = ckpt_ptr + b * tl.cdiv(seqlen, CHUNK) * dim * DSTATE + state_offs

    full_chunks = seqlen // CHUNK
    c_begin = s * seg_chunks
    for c in tl.range(c_begin, tl.minimum(c_begin + seg_chunks, full_chunks), num_stages=STAGES):
        if STORE_CKPT:
            tl.store(ckpt_b + c * dim * DSTATE, h, mask=dn_mask)
        h = forward_chunk(steps, s_l, s_d, proj, p_l, p_n, tl.cast(c, tl.int64) * CHUNK, h,
                          rows, CHUNK, d, d_mask, n, A2, skip, bias, HAS_D, HAS_Z, HAS_BIAS,
                          SOFTPLUS, STORE_YPRE, DSTATE, CHUNK, FULL=True)
    if s == n_segments - 1:
        if full_chunks * CHUNK < seqlen:
            t0 = tl.cast(full_chunks, tl.int64) * CHUNK
            if STORE_CKPT:
                tl.store(ckpt_b + full_chunks * dim * DSTATE, h, mask=dn_mask)
            h = forward_chunk(steps, s_l, s_d, proj, p_l, p_n, t0, h, rows, seqlen - t0, d,
                              d_mask, n, A2, skip, bias, HAS_D, HAS_Z, HAS_BIAS, SOFTPLUS,
                              STORE_YPRE, DSTATE, CHUNK, FULL=False)
        if STORE_FINAL:
            tl.store(final_ptr + b * dim * DSTATE + state_offs, h, mask=dn_mask)
