"""The states of the SSD scan's chunks: each chunk's own state ``S_c``, one (P, N) outer product
per (batch, chunk, head) on the tensor cores (``chunk_outer_kernel``, which also gives the
gradient reaching the state that enters a chunk), and the state passed along the chunks,
sequential in c and parallel over (batch, head, P·N) (``pass_states_kernel`` and its backward);
or both at once along the chunks where batch · heads alone fill the GPU
(``chain_states_kernel``).
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_tiles import cast_nearest, chunk_program, in_chunk, mma, tuned
from tsssm.kernels.triton_common import compose, fast_exp


def outer_tile(p: int, n: int, t: int, warps: int = 4, stages: int = 2) -> triton.Config:
    """A (P, N) tile summed over t steps a block, for ``chunk_outer_kernel`` and
    ``chain_states_kernel``."""
    return triton.Config({"BLOCK_P": p, "BLOCK_N": n, "BLOCK_T": t}, num_warps=warps,
                         num_stages=stages)


OUTER_CONFIGS = [
    outer_tile(64, 64, 64, 4, 2),
    outer_tile(64, 128, 64, 4, 3),
    outer_tile(128, 64, 32, 8, 3),
    outer_tile(64, 64, 128, 4, 2),
    outer_tile(32, 64, 64, 4, 2),
    # Deeper pipelines over the chunk's steps (no spills at N = 16 or 128, ptxas sm_90).
    outer_tile(64, 128, 32, 4, 4),
    outer_tile(64, 64, 64, 4, 4),
    outer_tile(64, 128, 64, 8, 3),
]
OUTER_INTERPRETED = outer_tile(16, 16, 32)


@tuned(OUTER_CONFIGS, OUTER_INTERPRETED, key=["CHUNK", "P", "N", "FOR_STATES", "WHOLE"],
       caps={"BLOCK_P": "P", "BLOCK_N": "N", "BLOCK_T": "CHUNK"})
@triton.jit
def chunk_outer_kernel(a_ptr, b_ptr, cs_ptr, dt_ptr, out_ptr,
                       s_a_b, s_a_l, s_a_h, s_a_p, s_b_b, s_b_l, s_b_g, s_b_n,
                       batch, L, H, heads_per_group, n_chunks, P, N,
                       CHUNK: tl.constexpr, FOR_STATES: tl.constexpr, DT: tl.constexpr,
                       INTERPRETED: tl.constexpr, WHOLE: tl.constexpr, BLOCK_P: tl.constexpr,
                       BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr):
    """out[c, b, h] = sum_t a_t ⊗ (w_t b_t) over chunk c: a (b, L, H, P), b (b, L, G, N).

    FOR_STATES: a = x, b = B, w_t = exp(cs_last - cs_t) dt_t, the state the chunk builds from
    zero. Otherwise a = dy, b = C, w_t = exp(cs_t): the gradient reaching the state that
    enters the chunk. out: (nc, batch, H, P, N) fp32."""
    n_tiles_n = tl.cdiv(N, BLOCK_N)
    c, tile, b, h, t0, chunk_len = chunk_program(tl.cdiv(P, BLOCK_P) * n_tiles_n, H, n_chunks,
                                                 L, CHUNK)
    offs_p = (tile // n_tiles_n) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = (tile % n_tiles_n) * BLOCK_N + tl.arange(0, BLOCK_N)
    a_base = a_ptr + b * s_a_b + t0 * s_a_l + h * s_a_h
    b_base = b_ptr + b * s_b_b + t0 * s_b_l + (h // heads_per_group) * s_b_g
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    cs_last = tl.load(cs_ptr + seg + CHUNK - 1)
    acc = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    for s0 in range(0, chunk_len, BLOCK_T):
        steps = s0 + tl.arange(0, BLOCK_T)
        acc += _outer_block(a_base, s_a_l, s_a_p, b_base, s_b_l, s_b_n, cs_ptr + seg,
                            dt_ptr + seg, cs_last, steps, in_chunk(steps, chunk_len, WHOLE),
                            offs_p, offs_n, P, N, FOR_STATES, DT, INTERPRETED)
    out = out_ptr + ((c.to(tl.int64) * batch + b) * H + h) * P * N
    tl.store(out + offs_p[:, None] * N + offs_n[None, :], acc,
             mask=(offs_p < P)[:, None] & (offs_n < N)[None, :])


# Narrow tiles give a sequence more programs, each reading all of its x (from L2 after the
# first), or all of its B where narrow in P; whole (P, N) tiles read each once a head. None
# spills at N 16; at N 128, 64 x 128 on 4 warps spills 8 bytes (sm_90), on 8 it does not.
CHAIN_CONFIGS = [
    outer_tile(64, 64, 64, 4, 3),
    outer_tile(64, 32, 64, 4, 3),
    outer_tile(64, 128, 32, 4, 3),
    outer_tile(32, 128, 64, 4, 3),
    outer_tile(32, 64, 64, 4, 4),
    outer_tile(64, 16, 128, 4, 2),
    outer_tile(64, 128, 32, 8, 3),
    outer_tile(64, 128, 64, 8, 3),
]
CHAIN_INTERPRETED = outer_tile(16, 16, 8)


@tuned(CHAIN_CONFIGS, CHAIN_INTERPRETED, key=["CHUNK", "P", "N", "HAS_INIT", "WHOLE"],
       caps={"BLOCK_P": "P", "BLOCK_N": "N", "BLOCK_T": "CHUNK"})
@triton.jit
def chain_states_kernel(x_ptr, b_ptr, cs_ptr, dt_ptr, init_ptr, entering_ptr, final_ptr,
                        s_x_b, s_x_l, s_x_h, s_x_p, s_b_b, s_b_l, s_b_g, s_b_n,
                        batch, L, H, heads_per_group, n_chunks, P, N,
                        CHUNK: tl.constexpr, HAS_INIT: tl.constexpr, DT: tl.constexpr,
                        INTERPRETED: tl.constexpr, WHOLE: tl.constexpr, BLOCK_P: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr):
    """entering[c] <- h_{c-1}, the state entering chunk c, and final <- h_{nc-1}, as
    ``chunk_outer_kernel`` (FOR_STATES) and ``pass_states_kernel`` give them, in one program per
    (P·N tile, batch, head) that runs along the sequence: each chunk's S_c is summed in
    registers and folded into the running state, h_c = exp(cs_last) h_{c-1} + S_c, at the
    chunk's end, so no S_c goes to memory and back (the two kernels write and read it in fp32).
    The price is parallelism: tiles · batch · heads programs instead of that times the chunks.

    x (b, L, H, P), B (b, L, G, N); cs and dt (b, H, nc, CHUNK) fp32; entering (nc, b, H, P, N)
    in any of the kernels' dtypes (rounded to nearest; the running state stays fp32); init and
    final (b, H, P, N) fp32, contiguous."""
    n_tiles_n = tl.cdiv(N, BLOCK_N)
    tile = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    offs_p = (tile // n_tiles_n) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = (tile % n_tiles_n) * BLOCK_N + tl.arange(0, BLOCK_N)
    tile_ok = (offs_p < P)[:, None] & (offs_n < N)[None, :]
    slots = bh * P * N + offs_p[:, None] * N + offs_n[None, :]
    between_chunks = tl.full((), batch, tl.int64) * H * P * N  # batch may be the constant 1
    x_base = x_ptr + b * s_x_b + h * s_x_h
    b_base = b_ptr + b * s_b_b + (h // heads_per_group) * s_b_g
    cs_seq = cs_ptr + bh * n_chunks * CHUNK  # a sequence's chunks back to back: step t at t
    dt_seq = dt_ptr + bh * n_chunks * CHUNK
    if HAS_INIT:
        state = tl.load(init_ptr + slots, mask=tile_ok, other=0.0)
    else:
        state = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    built = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    for t0 in range(0, n_chunks * CHUNK, BLOCK_T):
        c = t0 // CHUNK
        cs_last = tl.load(cs_seq + c * CHUNK + CHUNK - 1)
        steps = t0 + tl.arange(0, BLOCK_T)
        built += _outer_block(x_base, s_x_l, s_x_p, b_base, s_b_l, s_b_n, cs_seq, dt_seq,
                              cs_last, steps, in_chunk(steps, L, WHOLE), offs_p, offs_n, P, N,
                              True, DT, INTERPRETED)
        if (t0 + BLOCK_T) % CHUNK == 0:
            tl.store(entering_ptr + tl.full((), c, tl.int64) * between_chunks + slots,
                     cast_nearest(state, entering_ptr.dtype.element_ty, INTERPRETED),
                     mask=tile_ok)
            state = fast_exp(cs_last) * state + built
            built = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    tl.store(final_ptr + slots, state, mask=tile_ok)


@triton.jit
def _outer_block(a_base, s_a_l, s_a_p, b_base, s_b_l, s_b_n, cs_at, dt_at, cs_last, steps, t_ok,
                 offs_p, offs_n, P, N, FOR_STATES: tl.constexpr, DT: tl.constexpr,
                 INTERPRETED: tl.constexpr):
    """One block of steps' sum_t a_t ⊗ (w_t b_t), (BLOCK_P, BLOCK_N) fp32 (``chunk_outer_kernel``
    says which a, b and w): a at a_base + t s_a_l, b at b_base + t s_b_l, cs and dt at cs_at + t
    and dt_at + t, for the steps t where t_ok; cs_last the chunk's last cumulative log-decay."""
    a = tl.load(a_base + steps[None, :] * s_a_l + offs_p[:, None] * s_a_p,
                mask=t_ok[None, :] & (offs_p < P)[:, None], other=0.0)
    bt = tl.load(b_base + steps[:, None] * s_b_l + offs_n[None, :] * s_b_n,
                 mask=t_ok[:, None] & (offs_n < N)[None, :], other=0.0)
    cs = tl.load(cs_at + steps, mask=t_ok, other=0.0)
    if FOR_STATES:
        w = fast_exp(cs_last - cs) * tl.load(dt_at + steps, mask=t_ok, other=0.0)
    else:
        w = fast_exp(cs)
    w = tl.where(t_ok, w, 0.0)
    if a.shape[0] < bt.shape[1]:  # the weights on the smaller tile, the other as loaded
        product = mma(a.to(tl.float32) * w[None, :], bt, DT, INTERPRETED)
    else:
        product = mma(a, bt.to(tl.float32) * w[:, None], DT, INTERPRETED)
    return product


@triton.jit
def pass_states_kernel(states_ptr, entering_ptr, cs_ptr, init_ptr, final_ptr, batch, H, n_chunks,
                       PN, CHUNK: tl.constexpr, HAS_INIT: tl.constexpr,
                       INTERPRETED: tl.constexpr, BLOCK: tl.constexpr, GROUP: tl.constexpr):
    """entering[c] <- h_{c-1} (the state entering chunk c) from states[c] = S_c; entering may
    be states itself (in place) or a buffer of a narrower dtype (rounded to nearest), the running
    state stays fp32.

    GROUP chunks at a time: their S_c and decays are loaded together, then the recurrence
    ``h_c = exp(cs_last) h_{c-1} + S_c`` runs over the (GROUP, BLOCK) tile as a scan, the state
    entering the group folded into its first row; so the pass waits for memory once per GROUP
    chunks, not once per chunk (at batch 1 the grid is too small to hide that wait).

    states (nc, b, H, P, N) fp32, entering the same shape; init and final (b, H, P, N) fp32,
    contiguous."""
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = idx < PN
    bh = tl.program_id(1).to(tl.int64)
    if HAS_INIT:
        state = tl.load(init_ptr + bh * PN + idx, mask=ok, other=0.0)
    else:
        state = tl.zeros((BLOCK,), dtype=tl.float32)
    step = batch * H * PN
    rows = tl.arange(0, GROUP)
    for c0 in range(0, n_chunks, GROUP):
        chunks = c0 + rows
        present = chunks < n_chunks
        slots = (chunks.to(tl.int64) * step)[:, None] + (bh * PN + idx)[None, :]
        tile_ok = present[:, None] & ok[None, :]
        built = tl.load(states_ptr + slots, mask=tile_ok, other=0.0)
        log_decay = tl.load(cs_ptr + (bh * n_chunks + chunks) * CHUNK + CHUNK - 1, mask=present,
                            other=0.0)
        decay = tl.broadcast_to(fast_exp(log_decay)[:, None], (GROUP, BLOCK))
        drive = tl.where((rows == 0)[:, None], built + decay * state[None, :], built)
        _, leaving = tl.associative_scan((decay, drive), 0, compose)
        # Chunk c0 + r is entered by the state leaving chunk c0 + r - 1: row r - 1 of the scan,
        # or the group's entering state for r = 0. Absent chunks (decay 1, S 0) keep the state.
        tl.store(entering_ptr + slots,
                 cast_nearest(tl.broadcast_to(state[None, :], (GROUP, BLOCK)),
                              entering_ptr.dtype.element_ty, INTERPRETED),
                 mask=(rows == 0)[:, None] & ok[None, :])
        tl.store(entering_ptr + slots + step,
                 cast_nearest(leaving, entering_ptr.dtype.element_ty, INTERPRETED),
                 mask=((chunks + 1 < n_chunks) & (rows < GROUP - 1))[:, None] & ok[None, :])
        state = tl.sum(tl.where((rows == GROUP - 1)[:, None], leaving, 0.0), axis=0)
    tl.store(final_ptr + bh * PN + idx, state, mask=ok)


@triton.jit
def pass_states_bwd_kernel(dstates_ptr, dh_ptr, states_ptr, cs_ptr, dfinal_ptr, dinit_ptr,
                           dlast_ptr, batch, H, n_chunks, PN,
                           CHUNK: tl.constexpr, INTERPRETED: tl.constexpr, BLOCK: tl.constexpr,
                           GROUP: tl.constexpr):
    """Backward of ``_pass_states``, from the last chunk to the first: the recurrence
    ``dh_{c-1} = exp(cs_last_c) dh_c + dstates[c]`` over GROUP chunks at a time, as a scan of a
    (GROUP, BLOCK) tile like the forward's, row r holding chunk c_r = top - r.

    dstates[c] holds the gradient chunk c's outputs send to h_{c-1} (fp32); dh[c] <- the whole
    gradient dh_c of the state leaving chunk c, rounded to dh's dtype (the products that read it
    round it so anyway; the running gradient stays fp32). states[c] = h_{c-1} fp32; all
    (nc, b, H, P, N). Writes dinit = the gradient of h_{-1}, and dlast[block, b, h, c] =
    sum(dh_c ⊙ exp(cs_last) h_{c-1}), the gradient of chunk c's log-decay through h_c.

    Row r's scan output is dh_{c_r - 1}, so it is stored, and paired with chunk c_r - 1's decay
    and entering state, one chunk down; the top chunk's dh is dfinal."""
    block = tl.program_id(0)
    idx = block * BLOCK + tl.arange(0, BLOCK)
    ok = idx < PN
    bh = tl.program_id(1).to(tl.int64)
    step = batch * H * PN
    last_decays = cs_ptr + bh * n_chunks * CHUNK + CHUNK - 1  # chunk c's at c * CHUNK
    dlast = dlast_ptr + (block * batch * H + bh) * n_chunks
    grad = tl.load(dfinal_ptr + bh * PN + idx, mask=ok, other=0.0)
    # int64 offsets, n_chunks - 1 a tensor even where the launch made n_chunks the constant 1
    top = tl.full((), n_chunks - 1, tl.int64) * step + bh * PN + idx
    tl.store(dh_ptr + top, cast_nearest(grad, dh_ptr.dtype.element_ty, INTERPRETED), mask=ok)
    top_decay = fast_exp(tl.load(last_decays + (n_chunks - 1) * CHUNK))
    tl.store(dlast + n_chunks - 1,
             tl.sum(grad * top_decay * tl.load(states_ptr + top, mask=ok, other=0.0), axis=0))
    rows = tl.arange(0, GROUP)
    for i in range(tl.cdiv(n_chunks, GROUP)):
        chunks = n_chunks - 1 - i * GROUP - rows
        present = chunks >= 0
        below = chunks - 1  # the chunk whose dh row r's scan output is
        has_below = below >= 0
        slots = (chunks.to(tl.int64) * step)[:, None] + (bh * PN + idx)[None, :]
        from_outputs = tl.load(dstates_ptr + slots, mask=present[:, None] & ok[None, :],
                               other=0.0)
        # Absent rows (chunks < 0) decay by 1 and add nothing: the gradient passes them as is.
        decay = tl.broadcast_to(fast_exp(tl.load(last_decays + chunks * CHUNK, mask=present,
                                                 other=0.0))[:, None], (GROUP, BLOCK))
        drive = tl.where((rows == 0)[:, None], from_outputs + decay * grad[None, :],
                         from_outputs)
        _, leaving_below = tl.associative_scan((decay, drive), 0, compose)
        below_ok = has_below[:, None] & ok[None, :]
        tl.store(dh_ptr + slots - step,
                 cast_nearest(leaving_below, dh_ptr.dtype.element_ty, INTERPRETED),
                 mask=below_ok)
        entering_below = tl.load(states_ptr + slots - step, mask=below_ok, other=0.0)
        decay_below = fast_exp(tl.load(last_decays + below * CHUNK, mask=has_below, other=0.0))
        tl.store(dlast + below,
                 tl.sum(leaving_below * decay_below[:, None] * entering_below, axis=1),
                 mask=has_below)
        grad = tl.sum(tl.where((rows == GROUP - 1)[:, None], leaving_below, 0.0), axis=0)
    tl.store(dinit_ptr + bh * PN + idx, grad, mask=ok)
