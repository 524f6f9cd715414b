"""Inside a chunk of the SSD scan: the masked "attention" plus the entering state, for the output
y and for dx, which share its shape. One helper, ``_mix_chunk``, serves both::

    forward  out_r = sum_{s <= r} exp(cs_r - cs_s) dt_s (U_r · V_s) W_s + exp(cs_r)           U_r S
    reverse  out_r = sum_{s >= r} exp(cs_s - cs_r)      (U_r · V_s) W_s + exp(cs_last - cs_r) U_r S
    y:  U=C,  V=B,  W=x,  S=h_{c-1}^T (forward)     dx/dt: U=B, V=C,  W=dy, S=dh_c^T (reverse)

``chunk_scan_fwd_kernel`` gives y, ``chunk_scan_dx_kernel`` dx (with the direct part of ddt
and dD), each program for HEADS_PER_PROGRAM heads of one group (an autotuned choice): U, V and
their products are the group's, so one load of each serves all of the program's heads. dC and
dB are sums of the same form over the group's heads (``triton_pairs.py``,
``triton_chunk_dbc.py``).
``gate_bwd_kernel`` is the backward of the output gate.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_gram import GRAM_BLOCK
from tsssm.kernels.ssd.triton_tiles import (ROWS_AND_STEPS_IN_CHUNK, SCAN_TILE, cast_nearest,
                                            causal_pairs, head_block_program, in_chunk, mma,
                                            real_heads, state_decay, tuned)
from tsssm.kernels.triton_common import LOG2E, sigmoid

GRAM_TILE = tl.constexpr(GRAM_BLOCK)
"""The gram's tile side: chunk_gram writes whole tiles on and below the diagonal, so row and step
blocks no larger than a tile (aligned, as powers of two) read near the diagonal only pairs of
the diagonal's tiles, those past it finite, and need no mask on their products."""


def scan_config(block_m: int, block_s: int, warps: int = 4, stages: int = 2,
                heads: int = 1, near_stages: int | None = None) -> triton.Config:
    """A chunk scan's config: BLOCK_M rows × BLOCK_S steps a block, for ``heads`` heads of one
    group per program (HEADS_PER_PROGRAM); the loop over the steps near the diagonal pipelined
    in ``near_stages`` (NEAR_STAGES, default ``stages``; 1: not pipelined)."""
    return triton.Config({"BLOCK_M": block_m, "BLOCK_S": block_s, "HEADS_PER_PROGRAM": heads,
                          "NEAR_STAGES": stages if near_stages is None else near_stages},
                         num_warps=warps, num_stages=stages)


SCAN_CONFIGS = [
    scan_config(64, 64, 4, 2),
    scan_config(64, 64, 4, 3),
    scan_config(64, 32, 4, 3),
    scan_config(128, 64, 8, 2),
    scan_config(128, 32, 8, 3),
    scan_config(32, 64, 4, 2),
    # Deeper pipelines and a two-warp HMMA tile, as Hopper's SSD kernels elsewhere run: none
    # spills registers at N = 16 or 128 (ptxas, sm_90; scripts/ssd_sass_stats.py).
    scan_config(64, 64, 4, 4),
    scan_config(64, 32, 4, 4),
    scan_config(128, 64, 8, 3),
    scan_config(32, 32, 2, 4),
    # The 64 x 32 tile the H100 kept at N 128 (3 stages, 66 KB of shared memory: 3 programs an
    # SM) at 2 stages: 53 KB and 128 registers (ptxas, sm_90) let 4 programs share an SM.
    scan_config(64, 32, 4, 2),
    # The kept 64 x 32 tiles with their near-diagonal loop (BLOCK_M / BLOCK_S = 2 steps a row
    # tile) not pipelined: the pipeline carried that loop's step indices in a layout other than
    # the product's operand, so each step's tile went through shared memory to change layout
    # (sm_90: 224 -> 170 instructions in the forward's loop, 242 -> 178 in dx's, its loads
    # then waited on in the loop).
    scan_config(64, 32, 4, 2, near_stages=1),
    scan_config(64, 32, 4, 3, near_stages=1),
    # Several heads of a group per program: each C·B tile and C row read once for them all,
    # the accumulator and the wide x tiles growing with the heads; none spills at N = 16 or 128
    # (4 heads at 64 rows would: in registers on 4 warps, past the SM's shared memory on 8).
    scan_config(64, 64, 8, 2, heads=2),
    scan_config(64, 64, 8, 3, heads=2),
    scan_config(64, 32, 8, 2, heads=2),
    scan_config(64, 32, 4, 3, heads=2),
    scan_config(32, 64, 4, 3, heads=2),
    scan_config(32, 32, 8, 2, heads=4),
]
SCAN_INTERPRETED = scan_config(16, 32, heads=2)
# dx writes dD's partial sums one slot per row tile; the smallest tile sets how many slots.
SMALLEST_BLOCK_M = min(c.kwargs["BLOCK_M"] for c in [*SCAN_CONFIGS, SCAN_INTERPRETED])


@triton.jit
def _mix_chunk(u_ptr, s_u_t, s_u_k, v_ptr, s_v_t, s_v_k, w_ptr, s_w_t, s_w_h, s_w_o,
               s_ptr, s_s_h, s_s_k, s_s_o, cs_ptr, dt_ptr, s_cs_h, n_heads, m0, chunk_len, KD, OD,
               gram_ptr, s_g_r, s_g_s,
               REVERSE: tl.constexpr, GRAM: tl.constexpr, DT: tl.constexpr,
               INTERPRETED: tl.constexpr, WHOLE: tl.constexpr, HEADS: tl.constexpr,
               BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_K: tl.constexpr,
               BLOCK_O: tl.constexpr, NEAR_STAGES: tl.constexpr):
    """out_r for rows r = m0 .. m0 + BLOCK_M of HEADS heads of one group side by side,
    (BLOCK_M, HEADS · BLOCK_O) fp32: head h in columns h · BLOCK_O .. (h + 1) · BLOCK_O.

    U, V: (chunk, KD) row-strided, shared by the heads; per head (the first n_heads of HEADS
    from the pointers' head are real, the rest read as zeros) W: (chunk, OD), S: (KD, OD), cs
    and dt: this chunk's. With GRAM, U_r · V_s comes from gram_ptr + r s_g_r + s s_g_s (C·B
    products in fp32, ``triton_gram.py``) instead of being multiplied here.

    Step blocks wholly on the causal side of the rows ("far") take the decay in two factors
    through a reference step ref between them, exp(cs_r - cs_s) = exp(cs_r - cs_ref) ·
    exp(cs_ref - cs_s), each at most 1 where the steps dt are positive: one exp per step and
    head, folded into the U·V tile's columns for one head and into W's rows for several, so one
    U·V tile feeds one product for all the heads; the rows' factor is applied once after the far
    blocks, and no causal mask. Only the blocks that straddle the diagonal ("near") take an exp
    and a mask per pair and head: the heads' decayed pair tiles side by side times their W
    blocks on a block diagonal, one product."""
    rows = m0 + tl.arange(0, BLOCK_M)
    offs_k = tl.arange(0, BLOCK_K)
    row_ok = in_chunk(rows, chunk_len, WHOLE)
    k_ok = offs_k < KD
    heads = tl.arange(0, HEADS)
    head_ok = real_heads(heads, n_heads, HEADS)
    cs_heads = cs_ptr + heads * s_cs_h
    wide_head, wide_o = side_by_side_index(HEADS, BLOCK_O)
    wide_ok = real_heads(wide_head, n_heads, HEADS) & (wide_o < OD)
    w_cols = wide_head * s_w_h + wide_o * s_w_o
    u = tl.load(u_ptr + rows[:, None] * s_u_t + offs_k[None, :] * s_u_k,
                mask=row_ok[:, None] & k_ok[None, :], other=0.0)
    state = tl.load(s_ptr + offs_k[:, None] * s_s_k + (wide_head * s_s_h + wide_o * s_s_o)[None, :],
                    mask=k_ok[:, None] & wide_ok[None, :], other=0.0)
    if REVERSE:
        ref = tl.minimum(m0 + BLOCK_M, chunk_len) - 1
        near_lo = (m0 // BLOCK_S) * BLOCK_S
        near_hi = tl.minimum(tl.cdiv(m0 + BLOCK_M, BLOCK_S) * BLOCK_S, chunk_len)
        far_lo = near_hi
        far_hi = chunk_len
    else:
        ref = tl.minimum(m0, chunk_len - 1)
        near_hi = tl.minimum(m0 + BLOCK_M, chunk_len)
        near_lo = tl.minimum((m0 // BLOCK_S) * BLOCK_S, near_hi)
        far_lo = 0
        # Whole blocks inside the chunk, their steps unmasked; rows wholly past a ragged
        # chunk's end (written by no one) take none.
        far_hi = tl.where(m0 < chunk_len, near_lo, 0)
    cs_ref = tl.load(cs_heads + ref, mask=head_ok, other=0.0)
    cs_ref2 = cs_ref * LOG2E  # the decays in base 2: one ex2 each (``fast_exp``)
    acc = mma(u, state, DT, INTERPRETED) * side_by_side(
        state_decay(cs_ptr + tl.minimum(heads, n_heads - 1) * s_cs_h,  # padded heads: a real one's
                    cs_ref, chunk_len, REVERSE)[None, :], 1, HEADS, BLOCK_O)
    for s0 in range(far_lo, far_hi, BLOCK_S):
        cols = s0 + tl.arange(0, BLOCK_S)
        # Forward: whole blocks inside the chunk (far_hi); reverse: the last far block may pass
        # a ragged chunk's end.
        col_ok = in_chunk(cols, chunk_len, WHOLE or not REVERSE)
        in_heads = col_ok[:, None] & head_ok[None, :]
        cs_c2 = tl.load(cs_heads[None, :] + cols[:, None], mask=in_heads, other=0.0) * LOG2E
        if REVERSE:
            weight = tl.exp2(tl.where(in_heads, cs_c2 - cs_ref2[None, :], float("-inf")))
        else:
            weight = tl.exp2(cs_ref2[None, :] - cs_c2) * tl.load(
                dt_ptr + heads[None, :] * s_cs_h + cols[:, None], mask=in_heads, other=0.0)
        pairs = _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, cols, offs_k,
                       k_ok, col_ok, GRAM, DT, INTERPRETED)
        w = tl.load(w_ptr + cols[:, None] * s_w_t + w_cols[None, :],
                    mask=col_ok[:, None] & wide_ok[None, :], other=0.0)
        if HEADS == 1:  # weights on the pair tile: W goes to the product as loaded
            acc += mma(pairs * tl.trans(weight), w, DT, INTERPRETED)
        else:
            acc += mma(pairs, w.to(tl.float32) * side_by_side(weight, BLOCK_S, HEADS, BLOCK_O),
                       DT, INTERPRETED)
    cs_r2 = tl.load(cs_heads[None, :] + rows[:, None], mask=row_ok[:, None] & head_ok[None, :],
                    other=0.0) * LOG2E
    if REVERSE:
        to_ref = cs_ref2[None, :] - cs_r2
    else:
        to_ref = cs_r2 - cs_ref2[None, :]
    acc *= side_by_side(tl.exp2(tl.where(row_ok[:, None], to_ref, float("-inf"))), BLOCK_M,
                        HEADS, BLOCK_O)
    step_head, step = side_by_side_index(HEADS, BLOCK_S)
    block_diagonal = step_head[:, None] == wide_head[None, :]
    for s0 in tl.range(near_lo, near_hi, BLOCK_S, num_stages=NEAR_STAGES):
        cols = s0 + step
        col_ok = in_chunk(cols, chunk_len, WHOLE) & real_heads(step_head, n_heads, HEADS)
        keep = causal_pairs(rows, cols, row_ok, col_ok, REVERSE)
        cs_c2 = tl.load(cs_ptr + step_head * s_cs_h + cols, mask=col_ok, other=0.0) * LOG2E
        if REVERSE:
            log2_decay = cs_c2[None, :] - side_by_side(cs_r2, BLOCK_M, HEADS, BLOCK_S)
        else:
            log2_decay = side_by_side(cs_r2, BLOCK_M, HEADS, BLOCK_S) - cs_c2[None, :]
        scale = tl.exp2(tl.where(keep, log2_decay, float("-inf")))
        if not REVERSE:
            scale *= tl.load(dt_ptr + step_head * s_cs_h + cols, mask=col_ok, other=0.0)[None, :]
        steps = s0 + tl.arange(0, BLOCK_S)
        products = _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, steps, offs_k,
                          k_ok, in_chunk(steps, chunk_len, WHOLE), GRAM, DT, INTERPRETED)
        if HEADS > 1:  # the same tile for every head
            products = tl.reshape(tl.broadcast_to(products[:, None, :],
                                                  (BLOCK_M, HEADS, BLOCK_S)),
                                  (BLOCK_M, HEADS * BLOCK_S))
        if GRAM and (BLOCK_M > GRAM_TILE or BLOCK_S > GRAM_TILE):
            scale = tl.where(keep, scale * products, 0.0)  # unwritten gram tiles: any bits
        else:  # every pair read lies in a tile chunk_gram wrote, finite where scale is 0
            scale *= products
        w = tl.load(w_ptr + cols[:, None] * s_w_t + w_cols[None, :],
                    mask=col_ok[:, None] & block_diagonal & wide_ok[None, :], other=0.0)
        acc += mma(scale, w, DT, INTERPRETED)
    return acc


@triton.jit
def tile_offsets(b, L, t0, H, h0, P, rows, heads, offs_p):
    """Where a tile's elements lie in a contiguous (b, L, H, P) output: the int64 offset of
    (b, t0, h0, 0) and the tile's int32 offsets from it (rows within the chunk, heads from h0):
    64-bit arithmetic once a program, not once an element."""
    return ((b * L + t0) * H + h0) * P, (rows * H + heads) * P + offs_p


@triton.jit
def side_by_side_index(HEADS: tl.constexpr, WIDTH: tl.constexpr):
    """Of HEADS blocks of WIDTH columns side by side, each column's block and place in it,
    two (HEADS · WIDTH,) int32."""
    wide = tl.arange(0, HEADS * WIDTH)
    return wide // WIDTH, wide % WIDTH


@triton.jit
def side_by_side(v, ROWS: tl.constexpr, HEADS: tl.constexpr, WIDTH: tl.constexpr):
    """(ROWS, HEADS) per-head values -> (ROWS, HEADS · WIDTH), each repeated over its head's
    WIDTH columns (``side_by_side_index``)."""
    return tl.reshape(tl.broadcast_to(v[:, :, None], (ROWS, HEADS, WIDTH)),
                      (ROWS, HEADS * WIDTH))


@triton.jit
def _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, cols, offs_k, k_ok, col_ok,
           GRAM: tl.constexpr, DT: tl.constexpr, INTERPRETED: tl.constexpr):
    """U_r · V_s for the rows' U (BLOCK_M, BLOCK_K) and the steps cols, (BLOCK_M, BLOCK_S) fp32.

    From gram unmasked: rows and steps are the chunk's (the chunk and the blocks powers of two,
    no block longer than the chunk), so each index lies in its (chunk, chunk) block, and a mask
    by the chunk's length would split the contiguous loads into 4-byte ones. The far blocks lie
    in the tiles ``chunk_gram`` writes; near the diagonal, blocks larger than its tiles may read
    unwritten ones, whose pairs ``_mix_chunk`` zeroes (``GRAM_TILE``)."""
    if GRAM:
        pairs = tl.load(gram_ptr + rows[:, None] * s_g_r + cols[None, :] * s_g_s)
    else:
        v_t = tl.load(v_ptr + cols[None, :] * s_v_t + offs_k[:, None] * s_v_k,
                      mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        pairs = mma(u, v_t, DT, INTERPRETED)
    return pairs


@tuned(SCAN_CONFIGS, SCAN_INTERPRETED,
       key=["CHUNK", "P", "N", "heads_per_group", "HAS_D", "HAS_Z", "STORE_PRE", "HAS_GRAM",
            "WHOLE"],
       caps=ROWS_AND_STEPS_IN_CHUNK, tile=SCAN_TILE)
@triton.jit
def chunk_scan_fwd_kernel(x_ptr, B_ptr, C_ptr, z_ptr, D_ptr, cs_ptr, dt_ptr, states_ptr,
                          gram_ptr, y_ptr, y_pre_ptr,
                          s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n,
                          s_C_b, s_C_l, s_C_g, s_C_n, s_z_b, s_z_l, s_z_h, s_z_p, s_D_h, s_D_p,
                          batch, L, H, heads_per_group, n_chunks, P, N,
                          CHUNK: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                          STORE_PRE: tl.constexpr, HAS_GRAM: tl.constexpr, DT: tl.constexpr,
                          INTERPRETED: tl.constexpr, WHOLE: tl.constexpr, BLOCK_K: tl.constexpr,
                          BLOCK_O: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr,
                          HEADS_PER_PROGRAM: tl.constexpr, NEAR_STAGES: tl.constexpr):
    """y for rows m0 .. m0 + BLOCK_M of one (batch, chunk) and HEADS_PER_PROGRAM heads of one
    group, all P columns.

    y, y_pre: (b, L, H, P) contiguous in x's dtype; y_pre (before the gate) only if STORE_PRE.
    With HAS_GRAM, C_i · B_j from gram (b, nc, G, CHUNK, CHUNK) fp32 (``triton_gram.py``)."""
    c, tile, b, g, h0, n_heads, t0, chunk_len = head_block_program(
        tl.cdiv(CHUNK, BLOCK_M), H // heads_per_group, heads_per_group, n_chunks, L, CHUNK,
        HEADS_PER_PROGRAM)
    m0 = tile * BLOCK_M
    x_base = x_ptr + b * s_x_b + t0 * s_x_l + h0 * s_x_h
    seg = ((b * H + h0) * n_chunks + c) * CHUNK
    acc = _mix_chunk(
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        x_base, s_x_l, s_x_h, s_x_p, states_ptr + ((c * batch + b) * H + h0) * P * N, P * N, 1, N,
        cs_ptr + seg, dt_ptr + seg, n_chunks * CHUNK, n_heads, m0, chunk_len,
        N, P, gram_ptr + ((b * n_chunks + c) * (H // heads_per_group) + g) * CHUNK * CHUNK,
        CHUNK, 1, False, HAS_GRAM, DT, INTERPRETED, WHOLE, HEADS_PER_PROGRAM, BLOCK_M, BLOCK_S,
        BLOCK_K, BLOCK_O, NEAR_STAGES)
    rows = (m0 + tl.arange(0, BLOCK_M))[:, None]
    heads, offs_p = side_by_side_index(HEADS_PER_PROGRAM, BLOCK_O)
    head_p_ok = real_heads(heads, n_heads, HEADS_PER_PROGRAM) & (offs_p < P)
    heads = heads[None, :]
    offs_p = offs_p[None, :]
    ok = in_chunk(rows, chunk_len, WHOLE) & head_p_ok[None, :]
    if HAS_D:
        x = tl.load(x_base + rows * s_x_l + heads * s_x_h + offs_p * s_x_p, mask=ok, other=0.0)
        d = tl.load(D_ptr + (h0 + heads) * s_D_h + offs_p * s_D_p, mask=head_p_ok[None, :],
                    other=0.0)
        acc += x.to(tl.float32) * d.to(tl.float32)
    out_base, out = tile_offsets(b, L, t0, H, h0, P, rows, heads, offs_p)
    if HAS_Z:
        if STORE_PRE:
            tl.store(y_pre_ptr + out_base + out,
                     cast_nearest(acc, y_pre_ptr.dtype.element_ty, INTERPRETED), mask=ok)
        z = tl.load(z_ptr + b * s_z_b + t0 * s_z_l + h0 * s_z_h
                    + (rows * s_z_l + heads * s_z_h + offs_p * s_z_p), mask=ok,
                    other=0.0).to(tl.float32)
        acc *= z * sigmoid(z)
    tl.store(y_ptr + out_base + out, cast_nearest(acc, y_ptr.dtype.element_ty, INTERPRETED),
             mask=ok)


@tuned(SCAN_CONFIGS, SCAN_INTERPRETED,
       key=["CHUNK", "P", "N", "heads_per_group", "HAS_D", "HAS_GRAM", "WHOLE"],
       caps=ROWS_AND_STEPS_IN_CHUNK, tile=SCAN_TILE)
@triton.jit
def chunk_scan_dx_kernel(x_ptr, B_ptr, C_ptr, dy_ptr, D_ptr, cs_ptr, dt_ptr, dstates_ptr,
                         gram_ptr, dx_ptr, ddt_ptr, dD_ptr,
                         s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n,
                         s_C_b, s_C_l, s_C_g, s_C_n, s_dy_b, s_dy_l, s_dy_h, s_dy_p, s_D_h, s_D_p,
                         batch, L, H, heads_per_group, n_chunks, P, N,
                         CHUNK: tl.constexpr, HAS_D: tl.constexpr, HAS_GRAM: tl.constexpr,
                         DT: tl.constexpr, INTERPRETED: tl.constexpr, WHOLE: tl.constexpr,
                         BLOCK_K: tl.constexpr,
                         BLOCK_O: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr,
                         HEADS_PER_PROGRAM: tl.constexpr, NEAR_STAGES: tl.constexpr):
    """dx = dt · g + D dy and ddt_direct = x · g for rows m0 .. m0 + BLOCK_M of
    HEADS_PER_PROGRAM heads of one group, where
    g_j = sum_{i >= j} exp(cs_i - cs_j) (B_j · C_i) dy_i + exp(cs_last - cs_j) dh_c B_j.

    dx (b, L, H, P) in x's dtype; ddt (b, H, nc, CHUNK) fp32; dD partial sums
    (CHUNK / SMALLEST_BLOCK_M, b, nc, H, P) fp32, one slot per row block."""
    c, tile, b, g, h0, n_heads, t0, chunk_len = head_block_program(
        tl.cdiv(CHUNK, BLOCK_M), H // heads_per_group, heads_per_group, n_chunks, L, CHUNK,
        HEADS_PER_PROGRAM)
    m0 = tile * BLOCK_M
    dy_base = dy_ptr + b * s_dy_b + t0 * s_dy_l + h0 * s_dy_h
    seg = ((b * H + h0) * n_chunks + c) * CHUNK
    grad = _mix_chunk(
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        dy_base, s_dy_l, s_dy_h, s_dy_p, dstates_ptr + ((c * batch + b) * H + h0) * P * N,
        P * N, 1, N, cs_ptr + seg, dt_ptr + seg, n_chunks * CHUNK, n_heads, m0, chunk_len,
        N, P, gram_ptr + ((b * n_chunks + c) * (H // heads_per_group) + g) * CHUNK * CHUNK,
        1, CHUNK, True, HAS_GRAM, DT, INTERPRETED, WHOLE, HEADS_PER_PROGRAM, BLOCK_M, BLOCK_S,
        BLOCK_K, BLOCK_O, NEAR_STAGES)
    rows = m0 + tl.arange(0, BLOCK_M)
    heads = tl.arange(0, HEADS_PER_PROGRAM)
    head_rows = seg + heads[None, :] * (n_chunks * CHUNK) + rows[:, None]  # (rows, heads)
    head_ok = real_heads(heads, n_heads, HEADS_PER_PROGRAM)[None, :]
    dt_rows = tl.load(dt_ptr + head_rows,
                      mask=in_chunk(rows, chunk_len, WHOLE)[:, None] & head_ok, other=0.0)
    padded = (rows < CHUNK)[:, None] & head_ok  # ddt's rows: the chunk padded to CHUNK
    heads, offs_p = side_by_side_index(HEADS_PER_PROGRAM, BLOCK_O)
    head_p_ok = real_heads(heads, n_heads, HEADS_PER_PROGRAM) & (offs_p < P)
    rows = rows[:, None]
    ok = in_chunk(rows, chunk_len, WHOLE) & head_p_ok[None, :]
    x = tl.load(x_ptr + b * s_x_b + t0 * s_x_l + h0 * s_x_h
                + (rows * s_x_l + (heads * s_x_h + offs_p * s_x_p)[None, :]), mask=ok,
                other=0.0).to(tl.float32)
    per_head = tl.reshape(x * grad, (BLOCK_M, HEADS_PER_PROGRAM, BLOCK_O))
    tl.store(ddt_ptr + head_rows, tl.sum(per_head, axis=2), mask=padded)
    dx = grad * side_by_side(dt_rows, BLOCK_M, HEADS_PER_PROGRAM, BLOCK_O)
    if HAS_D:
        dy = tl.load(dy_base + rows * s_dy_l + (heads * s_dy_h + offs_p * s_dy_p)[None, :],
                     mask=ok, other=0.0).to(tl.float32)
        d = tl.load(D_ptr + (h0 + heads) * s_D_h + offs_p * s_D_p, mask=head_p_ok, other=0.0)
        dx += dy * d.to(tl.float32)[None, :]
        slot = ((tile * batch + b) * n_chunks + c) * H + h0 + heads
        tl.store(dD_ptr + slot * P + offs_p, tl.sum(dy * x, axis=0), mask=head_p_ok)
    out_base, out = tile_offsets(b, L, t0, H, h0, P, rows, heads[None, :], offs_p[None, :])
    tl.store(dx_ptr + out_base + out, cast_nearest(dx, dx_ptr.dtype.element_ty, INTERPRETED),
             mask=ok)


@triton.jit
def gate_bwd_kernel(dout_ptr, z_ptr, y_pre_ptr, dy_ptr, dz_ptr,
                    s_do_b, s_do_l, s_do_h, s_do_p, s_z_b, s_z_l, s_z_h, s_z_p, n_rows, L, H, P,
                    INTERPRETED: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_P: tl.constexpr):
    """y = y_pre · silu(z): dy_pre = dout · silu(z), dz = dout · y_pre · silu'(z).

    Rows are (b, t, h); y_pre, dy and dz are (b, L, H, P) contiguous."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    offs_p = tl.arange(0, BLOCK_P)
    ok = (r < n_rows)[:, None] & (offs_p < P)[None, :]
    b = (r // (L * H)).to(tl.int64)
    t = (r // H) % L
    h = r % H
    dout = tl.load(dout_ptr + (b * s_do_b + t * s_do_l + h * s_do_h)[:, None]
                   + offs_p[None, :] * s_do_p, mask=ok, other=0.0).to(tl.float32)
    z = tl.load(z_ptr + (b * s_z_b + t * s_z_l + h * s_z_h)[:, None] + offs_p[None, :] * s_z_p,
                mask=ok, other=0.0).to(tl.float32)
    out = r.to(tl.int64)[:, None] * P + offs_p[None, :]
    y_pre = tl.load(y_pre_ptr + out, mask=ok, other=0.0).to(tl.float32)
    sig = sigmoid(z)
    tl.store(dy_ptr + out, cast_nearest(dout * z * sig, dy_ptr.dtype.element_ty, INTERPRETED),
             mask=ok)
    dz = dout * y_pre * sig * (1.0 + z * (1.0 - sig))
    tl.store(dz_ptr + out, cast_nearest(dz, dz_ptr.dtype.element_ty, INTERPRETED), mask=ok)
