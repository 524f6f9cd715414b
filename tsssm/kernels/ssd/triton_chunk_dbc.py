"""dC and dB of the SSD scan, with the decay gradient's terms that come from the state. The
group's heads share B and C, so their pair tiles, summed over heads once for both
(``triton_pairs.py``), meet B or C in one product per group.

Per (batch, chunk, group), steps r, s of the chunk, the group's heads h (``triton.py`` gives the
notation; cs, dt, x, dy, h_{c-1} and dh_c are the head's; pairs the group's tile)::

    forward (dC)  out_r = sum_{s <= r} pairs_rs B_s + sum_h exp(cs_r) dy_r h_{c-1}
    reverse (dB)  out_r = sum_{s >= r} pairs_sr C_s + sum_h exp(cs_last - cs_r) dt_r x_r dh_c

In the kernel's names: U the head's dy or x, S its state (P × N), W the group's B or C, own the
other one. ``chunk_scan_dbc_kernel`` runs once each way; a program takes BLOCK_M rows of one
(batch, chunk, group) and all N columns: per head the state term (K = P) and, in fp32 from it,
the decay gradient's via-state term ``own_r · (state term of h)_r`` (dC's, summed from step r
on; dB's ``to_end``, up to r; ``triton.py``: the decay's gradient), then per block of BLOCK_S
steps one product of the pair tile with W (K = BLOCK_S).
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_tiles import (ROWS_AND_STEPS_IN_CHUNK, cast_nearest, causal_pairs,
                                            chunk_program, in_chunk, mma, state_decay, tuned)

# All N columns in one program: 64- and 128-row tiles on 8 warps (on 4 they spill at N = 128),
# 32-row ones on 4 (HMMA); these spill no registers at N = 16 or 128 (ptxas, sm_90;
# scripts/ssd_sass_stats.py). No 16-step blocks: Triton 3.6 pipelines 16-wide fp32 tiles wrongly
# (``triton_tiles.MIN_LOOP_WIDTH``).
DBC_CONFIGS = [triton.Config({"BLOCK_M": rows, "BLOCK_S": steps}, num_warps=warps,
                             num_stages=stages)
               for rows, steps, warps, stages in ((64, 32, 8, 2), (64, 32, 8, 3), (64, 64, 8, 2),
                                                  (64, 64, 8, 3), (128, 32, 8, 2), (32, 64, 4, 2),
                                                  (32, 32, 4, 3))]
DBC_INTERPRETED = triton.Config({"BLOCK_M": 32, "BLOCK_S": 16})


@tuned(DBC_CONFIGS, DBC_INTERPRETED, key=["CHUNK", "P", "N", "REVERSE", "WHOLE"],
       caps=ROWS_AND_STEPS_IN_CHUNK)
@triton.jit
def chunk_scan_dbc_kernel(out_ptr, via_state_ptr, u_ptr, w_ptr, own_ptr, states_ptr, cs_ptr,
                          dt_ptr, pairs_ptr,
                          s_u_b, s_u_l, s_u_h, s_u_p, s_w_b, s_w_l, s_w_g, s_w_n,
                          s_o_b, s_o_l, s_o_g, s_o_n,
                          batch, L, H, G, heads_per_group, n_chunks, P, N,
                          CHUNK: tl.constexpr, REVERSE: tl.constexpr, DT: tl.constexpr,
                          INTERPRETED: tl.constexpr, WHOLE: tl.constexpr,
                          BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr,
                          BLOCK_S: tl.constexpr):
    """dC (forward: U=dy, W=B, own=C, states h_{c-1}) or dB (REVERSE: U=x, W=C, own=B, states
    dh_c) for rows m0 .. m0 + BLOCK_M of one (batch, chunk, group), and each head's via-state
    term of the decay gradient (module docstring).

    U (b, L, H, P); W, own (b, L, G, N); states (nc, b, H, P, N); cs, dt (b, H, nc, CHUNK)
    fp32; pairs (b, nc, G, CHUNK, CHUNK), its causal tiles written (``triton_pairs.py``).
    Writes out (b, L, G, N) in own's dtype and via_state (b, H, nc, CHUNK) fp32."""
    c, tile, b, g, t0, chunk_len = chunk_program(tl.cdiv(CHUNK, BLOCK_M), G, n_chunks, L, CHUNK)
    m0 = tile * BLOCK_M
    rows = m0 + tl.arange(0, BLOCK_M)
    offs_k = tl.arange(0, BLOCK_K)
    offs_n = tl.arange(0, BLOCK_N)
    row_ok = in_chunk(rows, chunk_len, WHOLE)
    k_ok = offs_k < P
    n_ok = offs_n < N
    own = tl.load(own_ptr + b * s_o_b + (t0 + rows[:, None]) * s_o_l + g * s_o_g
                  + offs_n[None, :] * s_o_n,
                  mask=row_ok[:, None] & n_ok[None, :], other=0.0)
    u_ptr += b * s_u_b + (t0 + rows[:, None]) * s_u_l + offs_k[None, :] * s_u_p
    total = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for h in range(g * heads_per_group, (g + 1) * heads_per_group):
        seg = ((b * H + h) * n_chunks + c) * CHUNK
        cs_r = tl.load(cs_ptr + seg + rows, mask=row_ok, other=0.0)
        decay = state_decay(cs_ptr + seg, cs_r, chunk_len, REVERSE)
        if REVERSE:
            decay *= tl.load(dt_ptr + seg + rows, mask=row_ok, other=0.0)
        u = tl.load(u_ptr + h * s_u_h, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        state = tl.load(states_ptr + ((c * batch + b) * H + h) * P * N
                        + offs_k[:, None] * N + offs_n[None, :],
                        mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        from_state = mma(u, state, DT, INTERPRETED) * decay[:, None]
        total += from_state
        tl.store(via_state_ptr + seg + rows, tl.sum(own.to(tl.float32) * from_state, axis=1),
                 mask=rows < CHUNK)
    pairs_ptr += ((b * n_chunks + c) * G + g) * CHUNK * CHUNK
    w_ptr += b * s_w_b + t0 * s_w_l + g * s_w_g
    if REVERSE:  # the pairs' columns: pairs[s, r]
        s_p_r = 1
        s_p_s = CHUNK
        lo = (m0 // BLOCK_S) * BLOCK_S
        hi = chunk_len
    else:
        s_p_r = CHUNK
        s_p_s = 1
        lo = 0
        hi = tl.minimum(m0 + BLOCK_M, chunk_len)
    for s0 in range(lo, hi, BLOCK_S):
        cols = s0 + tl.arange(0, BLOCK_S)
        col_ok = in_chunk(cols, chunk_len, WHOLE)
        pairs = tl.load(pairs_ptr + rows[:, None] * s_p_r + cols[None, :] * s_p_s,
                        mask=causal_pairs(rows, cols, row_ok, col_ok, REVERSE), other=0.0)
        w = tl.load(w_ptr + cols[:, None] * s_w_l + offs_n[None, :] * s_w_n,
                    mask=col_ok[:, None] & n_ok[None, :], other=0.0)
        total += mma(pairs, w, DT, INTERPRETED)
    tl.store(out_ptr + ((b * L + t0 + rows[:, None]) * G + g) * N + offs_n[None, :],
             cast_nearest(total, out_ptr.dtype.element_ty, INTERPRETED),
             mask=row_ok[:, None] & n_ok[None, :])
