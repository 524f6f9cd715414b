"""Inside a chunk of the SSD scan: the masked "attention" plus the entering state, for the output
y and for dx, which share its shape. One helper, ``_mix_chunk``, serves both::

    forward  out_r = sum_{s <= r} exp(cs_r - cs_s) dt_s (U_r · V_s) W_s + exp(cs_r)           U_r S
    reverse  out_r = sum_{s >= r} exp(cs_s - cs_r)      (U_r · V_s) W_s + exp(cs_last - cs_r) U_r S
    y:  U=C,  V=B,  W=x,  S=h_{c-1}^T (forward)     dx/dt: U=B, V=C,  W=dy, S=dh_c^T (reverse)

``chunk_scan_fwd_kernel`` gives y, ``chunk_scan_dx_kernel`` dx (with the direct part of ddt
and dD). dC and dB are sums of the same form over the group's heads (``triton_pairs.py``,
``triton_chunk_dbc.py``).
``gate_bwd_kernel`` is the backward of the output gate.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_tiles import (ROWS_AND_STEPS_IN_CHUNK, cast_nearest, causal_pairs,
                                            chunk_program, mma, pair_decay, state_decay, tuned)

SCAN_CONFIGS = [
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 64}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 64}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 32}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 64}, num_warps=8, num_stages=2),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 32}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 32, "BLOCK_S": 64}, num_warps=4, num_stages=2),
    # Deeper pipelines and a two-warp HMMA tile, as Hopper's SSD kernels elsewhere run: none
    # spills registers at N = 16 or 128 (ptxas, sm_90; scripts/ssd_sass_stats.py).
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 64}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 32}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 64}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 32, "BLOCK_S": 32}, num_warps=2, num_stages=4),
]
SCAN_INTERPRETED = triton.Config({"BLOCK_M": 16, "BLOCK_S": 32})
# dx writes dD's partial sums one slot per row tile; the smallest tile sets how many slots.
SMALLEST_BLOCK_M = min(c.kwargs["BLOCK_M"] for c in [*SCAN_CONFIGS, SCAN_INTERPRETED])


@triton.jit
def _mix_chunk(u_ptr, s_u_t, s_u_k, v_ptr, s_v_t, s_v_k, w_ptr, s_w_t, s_w_o,
               s_ptr, s_s_k, s_s_o, cs_ptr, dt_ptr, m0, chunk_len, KD, OD,
               gram_ptr, s_g_r, s_g_s,
               CHUNK: tl.constexpr, REVERSE: tl.constexpr, GRAM: tl.constexpr, DT: tl.constexpr,
               INTERPRETED: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr,
               BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr):
    """out_r for rows r = m0 .. m0 + BLOCK_M, (BLOCK_M, BLOCK_O) fp32.

    U, V: (chunk, KD) row-strided; W: (chunk, OD); S: (KD, OD); cs, dt: this chunk's. With GRAM,
    U_r · V_s comes from gram_ptr + r s_g_r + s s_g_s (C·B products in fp32, ``triton_gram.py``)
    instead of being multiplied here.

    Step blocks wholly on the causal side of the rows ("far") take the decay in two factors
    through a reference step ref between them, exp(cs_r - cs_s) = exp(cs_r - cs_ref) ·
    exp(cs_ref - cs_s), each at most 1 where the steps dt are positive: one exp per step, the
    rows' factor applied once after the far blocks, and no causal mask. Only the blocks that
    straddle the diagonal ("near") take an exp and a mask per pair."""
    rows = m0 + tl.arange(0, BLOCK_M)
    offs_k = tl.arange(0, BLOCK_K)
    offs_o = tl.arange(0, BLOCK_O)
    row_ok = rows < chunk_len
    k_ok = offs_k < KD
    o_ok = offs_o < OD
    u = tl.load(u_ptr + rows[:, None] * s_u_t + offs_k[None, :] * s_u_k,
                mask=row_ok[:, None] & k_ok[None, :], other=0.0)
    cs_r = tl.load(cs_ptr + rows, mask=row_ok, other=0.0)
    state = tl.load(s_ptr + offs_k[:, None] * s_s_k + offs_o[None, :] * s_s_o,
                    mask=k_ok[:, None] & o_ok[None, :], other=0.0)
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
        far_hi = near_lo
    cs_ref = tl.load(cs_ptr + ref)
    acc = mma(u, state, DT, INTERPRETED) * state_decay(cs_ptr, cs_ref, chunk_len, REVERSE)
    for s0 in range(far_lo, far_hi, BLOCK_S):
        cols = s0 + tl.arange(0, BLOCK_S)
        col_ok = cols < chunk_len
        cs_c = tl.load(cs_ptr + cols, mask=col_ok, other=0.0)
        if REVERSE:
            weight = tl.exp(tl.where(col_ok, cs_c - cs_ref, float("-inf")))
        else:
            weight = tl.exp(cs_ref - cs_c) * tl.load(dt_ptr + cols, mask=col_ok, other=0.0)
        scale = _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, cols, offs_k,
                       k_ok, col_ok, CHUNK, GRAM, DT, INTERPRETED) * weight[None, :]
        w = tl.load(w_ptr + cols[:, None] * s_w_t + offs_o[None, :] * s_w_o,
                    mask=col_ok[:, None] & o_ok[None, :], other=0.0)
        acc += mma(scale, w, DT, INTERPRETED)
    if REVERSE:
        to_ref = cs_ref - cs_r
    else:
        to_ref = cs_r - cs_ref
    acc *= tl.exp(tl.where(row_ok, to_ref, float("-inf")))[:, None]
    for s0 in range(near_lo, near_hi, BLOCK_S):
        cols = s0 + tl.arange(0, BLOCK_S)
        col_ok = cols < chunk_len
        cs_c = tl.load(cs_ptr + cols, mask=col_ok, other=0.0)
        keep = causal_pairs(rows, cols, row_ok, col_ok, REVERSE)
        scale = pair_decay(keep, cs_r, cs_c, REVERSE)
        if not REVERSE:
            scale *= tl.load(dt_ptr + cols, mask=col_ok, other=0.0)[None, :]
        products = _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, cols, offs_k,
                          k_ok, col_ok, CHUNK, GRAM, DT, INTERPRETED)
        scale = tl.where(keep, scale * products, 0.0)
        w = tl.load(w_ptr + cols[:, None] * s_w_t + offs_o[None, :] * s_w_o,
                    mask=col_ok[:, None] & o_ok[None, :], other=0.0)
        acc += mma(scale, w, DT, INTERPRETED)
    return acc


@triton.jit
def _pairs(u, v_ptr, s_v_t, s_v_k, gram_ptr, s_g_r, s_g_s, rows, cols, offs_k, k_ok, col_ok,
           CHUNK: tl.constexpr, GRAM: tl.constexpr, DT: tl.constexpr,
           INTERPRETED: tl.constexpr):
    """U_r · V_s for the rows' U (BLOCK_M, BLOCK_K) and the steps cols, (BLOCK_M, BLOCK_S) fp32.

    From gram masked only by its (CHUNK, CHUNK) block, which holds every pair of the chunk: a
    mask by the chunk's length would split the contiguous loads into 4-byte ones. The far blocks
    lie in the tiles ``chunk_gram`` writes; the near ones zero (``tl.where``) the pairs past the
    diagonal, whose tiles it may leave unwritten."""
    if GRAM:
        pairs = tl.load(gram_ptr + rows[:, None] * s_g_r + cols[None, :] * s_g_s,
                        mask=(rows < CHUNK)[:, None] & (cols < CHUNK)[None, :], other=0.0)
    else:
        v_t = tl.load(v_ptr + cols[None, :] * s_v_t + offs_k[:, None] * s_v_k,
                      mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        pairs = mma(u, v_t, DT, INTERPRETED)
    return pairs


@tuned(SCAN_CONFIGS, SCAN_INTERPRETED,
       key=["CHUNK", "P", "N", "HAS_D", "HAS_Z", "STORE_PRE", "HAS_GRAM"],
       caps=ROWS_AND_STEPS_IN_CHUNK)
@triton.jit
def chunk_scan_fwd_kernel(x_ptr, s_x_b, s_x_l, s_x_h, s_x_p,
                          B_ptr, s_B_b, s_B_l, s_B_g, s_B_n,
                          C_ptr, s_C_b, s_C_l, s_C_g, s_C_n,
                          z_ptr, s_z_b, s_z_l, s_z_h, s_z_p,
                          D_ptr, s_D_h, s_D_p, cs_ptr, dt_ptr, states_ptr, gram_ptr,
                          y_ptr, y_pre_ptr, batch, L, H, heads_per_group, n_chunks, P, N,
                          CHUNK: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                          STORE_PRE: tl.constexpr, HAS_GRAM: tl.constexpr, DT: tl.constexpr,
                          INTERPRETED: tl.constexpr, BLOCK_K: tl.constexpr,
                          BLOCK_O: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """y for rows m0 .. m0 + BLOCK_M of one (batch, chunk, head), all P columns.

    y, y_pre: (b, L, H, P) contiguous in x's dtype; y_pre (before the gate) only if STORE_PRE.
    With HAS_GRAM, C_i · B_j from gram (b, nc, G, CHUNK, CHUNK) fp32 (``triton_gram.py``)."""
    c, tile, b, h, t0, chunk_len = chunk_program(tl.cdiv(CHUNK, BLOCK_M), H, n_chunks, L,
                                                 CHUNK)
    m0 = tile * BLOCK_M
    g = h // heads_per_group
    x_base = x_ptr + b * s_x_b + t0 * s_x_l + h * s_x_h
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    rows = m0 + tl.arange(0, BLOCK_M)
    acc = _mix_chunk(
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        x_base, s_x_l, s_x_p, states_ptr + ((c * batch + b) * H + h) * P * N, 1, N,
        cs_ptr + seg, dt_ptr + seg, m0, chunk_len,
        N, P, gram_ptr + ((b * n_chunks + c) * (H // heads_per_group) + g) * CHUNK * CHUNK,
        CHUNK, 1, CHUNK, False, HAS_GRAM, DT, INTERPRETED, BLOCK_M, BLOCK_S, BLOCK_K, BLOCK_O)
    offs_p = tl.arange(0, BLOCK_O)
    ok = (rows < chunk_len)[:, None] & (offs_p < P)[None, :]
    if HAS_D:
        x = tl.load(x_base + rows[:, None] * s_x_l + offs_p[None, :] * s_x_p, mask=ok, other=0.0)
        d = tl.load(D_ptr + h * s_D_h + offs_p * s_D_p, mask=offs_p < P, other=0.0)
        acc += x.to(tl.float32) * d.to(tl.float32)[None, :]
    out = ((b * L + t0 + rows[:, None]) * H + h) * P + offs_p[None, :]
    if HAS_Z:
        if STORE_PRE:
            tl.store(y_pre_ptr + out, cast_nearest(acc, y_pre_ptr.dtype.element_ty, INTERPRETED),
                     mask=ok)
        z = tl.load(z_ptr + b * s_z_b + (t0 + rows[:, None]) * s_z_l + h * s_z_h
                    + offs_p[None, :] * s_z_p, mask=ok, other=0.0).to(tl.float32)
        acc *= z * tl.sigmoid(z)
    tl.store(y_ptr + out, cast_nearest(acc, y_ptr.dtype.element_ty, INTERPRETED), mask=ok)


@tuned(SCAN_CONFIGS, SCAN_INTERPRETED, key=["CHUNK", "P", "N", "HAS_D", "HAS_GRAM"],
       caps=ROWS_AND_STEPS_IN_CHUNK)
@triton.jit
def chunk_scan_dx_kernel(x_ptr, s_x_b, s_x_l, s_x_h, s_x_p,
                         B_ptr, s_B_b, s_B_l, s_B_g, s_B_n,
                         C_ptr, s_C_b, s_C_l, s_C_g, s_C_n,
                         dy_ptr, s_dy_b, s_dy_l, s_dy_h, s_dy_p,
                         D_ptr, s_D_h, s_D_p, cs_ptr, dt_ptr, dstates_ptr, gram_ptr,
                         dx_ptr, ddt_ptr, dD_ptr,
                         batch, L, H, heads_per_group, n_chunks, P, N,
                         CHUNK: tl.constexpr, HAS_D: tl.constexpr, HAS_GRAM: tl.constexpr,
                         DT: tl.constexpr, INTERPRETED: tl.constexpr, BLOCK_K: tl.constexpr,
                         BLOCK_O: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """dx = dt · g + D dy and ddt_direct = x · g for rows m0 .. m0 + BLOCK_M, where
    g_j = sum_{i >= j} exp(cs_i - cs_j) (B_j · C_i) dy_i + exp(cs_last - cs_j) dh_c B_j.

    dx (b, L, H, P) in x's dtype; ddt (b, H, nc, CHUNK) fp32; dD partial sums
    (CHUNK / SMALLEST_BLOCK_M, b, nc, H, P) fp32, one slot per row block."""
    c, tile, b, h, t0, chunk_len = chunk_program(tl.cdiv(CHUNK, BLOCK_M), H, n_chunks, L,
                                                 CHUNK)
    m0 = tile * BLOCK_M
    g = h // heads_per_group
    dy_base = dy_ptr + b * s_dy_b + t0 * s_dy_l + h * s_dy_h
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    rows = m0 + tl.arange(0, BLOCK_M)
    grad = _mix_chunk(
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        dy_base, s_dy_l, s_dy_p, dstates_ptr + ((c * batch + b) * H + h) * P * N, 1, N,
        cs_ptr + seg, dt_ptr + seg, m0, chunk_len,
        N, P, gram_ptr + ((b * n_chunks + c) * (H // heads_per_group) + g) * CHUNK * CHUNK,
        1, CHUNK, CHUNK, True, HAS_GRAM, DT, INTERPRETED, BLOCK_M, BLOCK_S, BLOCK_K, BLOCK_O)
    offs_p = tl.arange(0, BLOCK_O)
    row_ok = rows < chunk_len
    ok = row_ok[:, None] & (offs_p < P)[None, :]
    x = tl.load(x_ptr + b * s_x_b + (t0 + rows[:, None]) * s_x_l + h * s_x_h
                + offs_p[None, :] * s_x_p, mask=ok, other=0.0).to(tl.float32)
    tl.store(ddt_ptr + seg + rows, tl.sum(x * grad, axis=1), mask=rows < CHUNK)
    dx = grad * tl.load(dt_ptr + seg + rows, mask=row_ok, other=0.0)[:, None]
    if HAS_D:
        dy = tl.load(dy_base + rows[:, None] * s_dy_l + offs_p[None, :] * s_dy_p, mask=ok,
                     other=0.0).to(tl.float32)
        d = tl.load(D_ptr + h * s_D_h + offs_p * s_D_p, mask=offs_p < P, other=0.0)
        dx += dy * d.to(tl.float32)[None, :]
        slot = ((tile * batch + b) * n_chunks + c) * H + h
        tl.store(dD_ptr + slot * P + offs_p, tl.sum(dy * x, axis=0), mask=offs_p < P)
    tl.store(dx_ptr + ((b * L + t0 + rows[:, None]) * H + h) * P + offs_p[None, :],
             cast_nearest(dx, dx_ptr.dtype.element_ty, INTERPRETED), mask=ok)


@triton.jit
def gate_bwd_kernel(dout_ptr, s_do_b, s_do_l, s_do_h, s_do_p,
                    z_ptr, s_z_b, s_z_l, s_z_h, s_z_p,
                    y_pre_ptr, dy_ptr, dz_ptr, n_rows, L, H, P,
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
    sig = tl.sigmoid(z)
    tl.store(dy_ptr + out, cast_nearest(dout * z * sig, dy_ptr.dtype.element_ty, INTERPRETED),
             mask=ok)
    dz = dout * y_pre * sig * (1.0 + z * (1.0 - sig))
    tl.store(dz_ptr + out, cast_nearest(dz, dz_ptr.dtype.element_ty, INTERPRETED), mask=ok)
