"""dC and dB of the SSD scan, with the decay gradient's terms that come with them. The group's
heads share B and C, so their masked pair tiles are summed before the one product with B or C.

Per (batch, chunk, group), steps r, s of the chunk, the group's heads h (``triton.py`` gives the
notation; cs, dt, x, dy, h_{c-1} and dh_c are the head's)::

    forward (dC)  out_r = sum_s [sum_h exp(cs_r - cs_s) dt_s (dy_r · x_s)] B_s   (s <= r)
                        + sum_h exp(cs_r) dy_r h_{c-1}
    reverse (dB)  out_r = sum_s [sum_h exp(cs_s - cs_r) dt_r (x_r · dy_s)] C_s   (s >= r)
                        + sum_h exp(cs_last - cs_r) dt_r x_r dh_c

In the kernel's names: U_r · V_s the pair product (K = P), W the group's B or C, own the other
one (own_r · W_s = C·B), S the head's state (P × N). ``chunk_scan_dbc_kernel`` runs once each
way; a program takes BLOCK_M rows of one (batch, chunk, group) and all N columns. For each
block of BLOCK_S steps s it sums the heads' decayed pair tiles mixed^h in fp32 and multiplies the
sum once by W_s (K = BLOCK_S); the state terms (K = P) stay per head, as do the decay gradient's
terms, per head and row, taken in fp32 from the same tiles::

    pair^h_r = sum_s mixed^h_rs (own_r · W_s)       via_state^h_r = own_r · (state term of h)_r

They accumulate in a (BLOCK_M, BLOCK_H) tile, one column per head: BLOCK_H heads per pass over
the steps, so a group of more heads takes more passes (each with its own product by W). dC
writes dcs = pair + via_state, dB dcs = -pair and to_end = via_state (``triton.py``: the
decay's gradient). own_r · W_s comes from ``triton_gram.py`` (HAS_GRAM) or is multiplied once
per step block, for all heads.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_tiles import (ROWS_AND_STEPS_IN_CHUNK, cast_nearest, causal_pairs,
                                            chunk_program, mma, pair_decay, state_decay, tuned)
from tsssm.kernels.triton_common import INTERPRETED

# All N columns in one program: 64-row tiles need 8 warps, 32-row ones 4 (HMMA); these spill no
# registers at N = 16 or 128 (ptxas, sm_90; scripts/ssd_sass_stats.py). No 16-step blocks: Triton
# 3.6 pipelines 16-wide fp32 tiles wrongly (``DBC_MIN_BLOCK_N``).
DBC_CONFIGS = [triton.Config({"BLOCK_M": rows, "BLOCK_S": steps}, num_warps=warps,
                             num_stages=stages)
               for rows, steps, warps in ((64, 32, 8), (32, 64, 4)) for stages in (2, 3)]
DBC_INTERPRETED = triton.Config({"BLOCK_M": 32, "BLOCK_S": 16})
DBC_HEADS = 2 if INTERPRETED else 32
"""Most heads per pass (BLOCK_H): small in tests, to cross passes."""
DBC_MIN_BLOCK_N = 16 if INTERPRETED else 32
"""The narrowest N tile on the GPU: Triton 3.6's pipelined loop over 16-wide fp32 tiles reads
shared memory out of range (N = 16 in fp32, found by compute-sanitizer), so N = 16 runs in a
half-masked 32-wide tile."""


@tuned(DBC_CONFIGS, DBC_INTERPRETED, key=["CHUNK", "P", "N", "REVERSE", "HAS_GRAM", "BLOCK_H"],
       caps=ROWS_AND_STEPS_IN_CHUNK)
@triton.jit
def chunk_scan_dbc_kernel(out_ptr, dcs_ptr, to_end_ptr,
                          u_ptr, s_u_b, s_u_l, s_u_h, s_u_p,
                          v_ptr, s_v_b, s_v_l, s_v_h, s_v_p,
                          w_ptr, s_w_b, s_w_l, s_w_g, s_w_n,
                          own_ptr, s_o_b, s_o_l, s_o_g, s_o_n,
                          states_ptr, cs_ptr, dt_ptr, gram_ptr,
                          batch, L, H, G, heads_per_group, n_chunks, P, N,
                          CHUNK: tl.constexpr, REVERSE: tl.constexpr, HAS_GRAM: tl.constexpr,
                          DT: tl.constexpr, INTERPRETED: tl.constexpr, BLOCK_K: tl.constexpr,
                          BLOCK_N: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_M: tl.constexpr,
                          BLOCK_S: tl.constexpr):
    """dC (forward: U=dy, V=x, W=B, own=C, states h_{c-1}) or dB (REVERSE: U=x, V=dy, W=C, own=B,
    states dh_c) for rows m0 .. m0 + BLOCK_M of one (batch, chunk, group), and each head's decay
    gradient terms (module docstring).

    U, V (b, L, H, P); W, own (b, L, G, N); states (nc, b, H, P, N); cs, dt (b, H, nc, CHUNK)
    fp32; gram (b, nc, G, CHUNK, CHUNK) fp32, C_i · B_j at [i, j]. Writes out (b, L, G, N) in
    own's dtype, dcs (b, H, nc, CHUNK) fp32 and, with REVERSE, to_end (same shape)."""
    c, tile, b, g, t0, chunk_len = chunk_program(tl.cdiv(CHUNK, BLOCK_M), G, n_chunks, L, CHUNK)
    m0 = tile * BLOCK_M
    rows = m0 + tl.arange(0, BLOCK_M)
    offs_k = tl.arange(0, BLOCK_K)
    offs_n = tl.arange(0, BLOCK_N)
    head_cols = tl.arange(0, BLOCK_H)
    row_ok = rows < chunk_len
    k_ok = offs_k < P
    n_ok = offs_n < N
    own_ptr += (b * s_o_b + (t0 + rows[:, None]) * s_o_l + g * s_o_g
                + offs_n[None, :] * s_o_n)
    u_ptr += b * s_u_b + t0 * s_u_l
    v_ptr += b * s_v_b + t0 * s_v_l
    w_ptr += b * s_w_b + t0 * s_w_l + g * s_w_g
    gram_ptr += ((b * n_chunks + c) * G + g) * CHUNK * CHUNK
    if REVERSE:  # own_r · W_s = B_r · C_s = gram[s, r]
        s_g_r = 1
        s_g_s = CHUNK
        lo = (m0 // BLOCK_S) * BLOCK_S
        hi = chunk_len
    else:
        s_g_r = CHUNK
        s_g_s = 1
        lo = 0
        hi = tl.minimum(m0 + BLOCK_M, chunk_len)
    total = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for first in range(g * heads_per_group, (g + 1) * heads_per_group, BLOCK_H):
        count = tl.minimum(BLOCK_H, (g + 1) * heads_per_group - first)
        per_head = tl.zeros((BLOCK_M, BLOCK_H), dtype=tl.float32)
        for i in range(count):  # the state terms
            h = first + i
            seg = ((b * H + h) * n_chunks + c) * CHUNK
            cs_r = tl.load(cs_ptr + seg + rows, mask=row_ok, other=0.0)
            decay = state_decay(cs_ptr + seg, cs_r, chunk_len, REVERSE)
            if REVERSE:
                decay *= tl.load(dt_ptr + seg + rows, mask=row_ok, other=0.0)
            u = tl.load(u_ptr + h * s_u_h + rows[:, None] * s_u_l + offs_k[None, :] * s_u_p,
                        mask=row_ok[:, None] & k_ok[None, :], other=0.0)
            state = tl.load(states_ptr + ((c * batch + b) * H + h) * P * N
                            + offs_k[:, None] * N + offs_n[None, :],
                            mask=k_ok[:, None] & n_ok[None, :], other=0.0)
            from_state = mma(u, state, DT, INTERPRETED) * decay[:, None]
            total += from_state
            # own read again per head (from L1): held across the loops, it spills registers.
            own = tl.load(own_ptr, mask=row_ok[:, None] & n_ok[None, :], other=0.0)
            via_state = tl.sum(own.to(tl.float32) * from_state, axis=1)
            if REVERSE:
                tl.store(to_end_ptr + seg + rows, via_state, mask=rows < CHUNK)
            else:
                per_head += tl.where(head_cols[None, :] == i, via_state[:, None], 0.0)
        for s0 in range(lo, hi, BLOCK_S):  # the pairs, BLOCK_S steps at a time
            cols = s0 + tl.arange(0, BLOCK_S)
            col_ok = cols < chunk_len
            w = tl.load(w_ptr + cols[:, None] * s_w_l + offs_n[None, :] * s_w_n,
                        mask=col_ok[:, None] & n_ok[None, :], other=0.0)
            keep = causal_pairs(rows, cols, row_ok, col_ok, REVERSE)
            if HAS_GRAM:
                products = tl.load(gram_ptr + rows[:, None] * s_g_r + cols[None, :] * s_g_s,
                                   mask=keep, other=0.0)
            else:
                own = tl.load(own_ptr, mask=row_ok[:, None] & n_ok[None, :], other=0.0)
                products = mma(own, tl.trans(w), DT, INTERPRETED)
            summed = tl.zeros((BLOCK_M, BLOCK_S), dtype=tl.float32)
            for i in range(count):
                h = first + i
                seg = ((b * H + h) * n_chunks + c) * CHUNK
                cs_r = tl.load(cs_ptr + seg + rows, mask=row_ok, other=0.0)
                cs_c = tl.load(cs_ptr + seg + cols, mask=col_ok, other=0.0)
                mixed = pair_decay(keep, cs_r, cs_c, REVERSE)
                if REVERSE:
                    mixed *= tl.load(dt_ptr + seg + rows, mask=row_ok, other=0.0)[:, None]
                else:
                    mixed *= tl.load(dt_ptr + seg + cols, mask=col_ok, other=0.0)[None, :]
                u = tl.load(u_ptr + h * s_u_h + rows[:, None] * s_u_l + offs_k[None, :] * s_u_p,
                            mask=row_ok[:, None] & k_ok[None, :], other=0.0)
                v_t = tl.load(v_ptr + h * s_v_h + cols[None, :] * s_v_l + offs_k[:, None] * s_v_p,
                              mask=k_ok[:, None] & col_ok[None, :], other=0.0)
                mixed *= mma(u, v_t, DT, INTERPRETED)
                summed += mixed
                pair = tl.sum(mixed * products, axis=1)
                per_head += tl.where(head_cols[None, :] == i, pair[:, None], 0.0)
            total += mma(summed, w, DT, INTERPRETED)
        heads = first + head_cols
        tl.store(dcs_ptr + ((b * H + heads[None, :]) * n_chunks + c) * CHUNK + rows[:, None],
                 -per_head if REVERSE else per_head,
                 mask=(rows < CHUNK)[:, None] & (head_cols < count)[None, :])
    tl.store(out_ptr + ((b * L + t0 + rows[:, None]) * G + g) * N + offs_n[None, :],
             cast_nearest(total, out_ptr.dtype.element_ty, INTERPRETED),
             mask=row_ok[:, None] & n_ok[None, :])
