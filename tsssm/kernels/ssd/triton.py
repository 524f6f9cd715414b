"""Mamba-2's SSD scan as Triton kernels on tensor cores: forward, backward, and one decode step.

The chunked algorithm of ``reference.py``, per (batch, head), chunk ``c`` of Q steps, local steps
``i, j`` and the log-decay running sum ``cs_i = sum_{k <= i} dt_k A`` inside the chunk::

    S_c = sum_j exp(cs_last - cs_j) dt_j x_j ⊗ B_j                      (chunk state, P × N)
    h_c = exp(cs_last) h_{c-1} + S_c                                    (state leaving chunk c)
    y_i = sum_{j <= i} exp(cs_i - cs_j) dt_j (C_i · B_j) x_j + exp(cs_i) h_{c-1} C_i + D x_i

Kernels, forward (4 launches), and their grids:
  ``_dt_cumsum_fwd``  dt -> softplus(dt + bias) and its running sum cs     (nc, b, H/BLOCK_H)
  ``_chunk_outer``    S_c = (x · w)^T B, one (P, N) tile per program         (tiles·nc, b·H)
  ``_pass_states``    h_c along the chunks, in place over S_c                 (PN/BLOCK, b·H)
  ``_chunk_scan_fwd`` y, one (BLOCK_M rows, all P) tile per program          (tiles·nc, b·H)
Backward (states recomputed, not stored; 9 launches): ``_dt_cumsum_fwd``, ``_chunk_outer``,
``_pass_states`` again; ``_gate_bwd`` (only with z); ``_chunk_outer`` for the gradient reaching
h_{c-1} from chunk c's outputs; ``_pass_states_bwd``; ``_chunk_scan_dx`` (dx, the direct part
of ddt, dD); ``_chunk_scan_dbc`` twice (dC, then dB, summed over the group's heads inside the
program, 64 of the N columns per program: wider tiles spill registers); ``_dt_cumsum_bwd`` (ddt,
dA, d dt_bias). With z, the forward also stores y before the gate (for dz); nothing else is kept.

The decay's gradient. With a_k = dt_k A and M_ij = (dy_i · x_j)(C_i · B_j) exp(cs_i - cs_j) dt_j
(j <= i), the gradient of a_k, for k in chunk c, is a sum of terms that do not cancel::

    sum_{i >= k > j} M_ij                   intra-chunk pairs the step k lies between
  + sum_{i >= k} dy_i · exp(cs_i) h_{c-1} C_i       the entering state's decay to step i
  + sum_{j < k} exp(cs_last - cs_j) dt_j x_j · (dh_c B_j)   the decay from step j to the end
  + sum(dh_c ⊙ exp(cs_last) h_{c-1})                 the entering state's decay to the end
The first is computed as a reverse running sum of (row sums - column sums) of M, both taken in
fp32 from the same products (``pair`` in ``_mix_chunk``), so their cancellation costs only fp32
rounding. (Summing C·dC - B·dB instead, where dC and dB went through low-precision products,
turned bf16 rounding into 5-7% errors in dA.)

Precision: matmul operands in x's dtype (bf16, fp16) with fp32 accumulation; fp32 inputs use
tf32x3 (about fp32's accuracy); states, decays and running sums in fp32. Under
``TRITON_INTERPRET=1`` numpy multiplies in fp32 and truncates casts to bf16, so there the kernels
round to bf16 (to nearest even) themselves, as the GPU does: CPU tests see the GPU's bf16 precision.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.ssd.reference import check_ssd_inputs, check_state_update_inputs

EMULATED = bool(triton.knobs.runtime.interpret)
"""True when Triton runs kernels through its CPU interpreter (set ``TRITON_INTERPRET=1`` first)."""

DOT_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}
MAX_DIM = 256  # the scan kernels hold all of P and N in one tile; wider would need splitting.


# ---------------------------------------------------------------------------------------------
# Rounding helpers: the tensor cores' operand precision, spelled out under the interpreter.


@triton.jit
def _round_bf16(x):
    """fp32 -> the nearest bf16 value (ties to even), still held in fp32."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + (0x7FFF + ((bits >> 16) & 1))) & 0xFFFF0000
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _cast(x, DT: tl.constexpr, EMULATED: tl.constexpr):
    """x as dtype DT, rounded to nearest as the GPU does (the interpreter would truncate bf16)."""
    if EMULATED and DT == tl.bfloat16:
        out = _round_bf16(x.to(tl.float32)).to(DT)
    else:
        out = x.to(DT)
    return out


@triton.jit
def _mma(a, b, DT: tl.constexpr, EMULATED: tl.constexpr):
    """a @ b in fp32 on the tensor cores, from operands rounded to DT.

    fp32 operands use tf32x3 (three tf32 products of split operands, about fp32's accuracy);
    the interpreter computes those in plain fp32."""
    if EMULATED:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
        if DT == tl.bfloat16:
            a = _round_bf16(a)
            b = _round_bf16(b)
        elif DT == tl.float16:
            a = a.to(tl.float16).to(tl.float32)
            b = b.to(tl.float16).to(tl.float32)
        out = tl.dot(a, b, input_precision="ieee")
    elif DT == tl.float32:
        out = tl.dot(a.to(DT), b.to(DT), input_precision="tf32x3")
    else:
        out = tl.dot(a.to(DT), b.to(DT))
    return out


@triton.jit
def _softplus(v):
    """log(1 + e^v) without overflow, and without losing e^v when it is tiny (Kahan's log1p)."""
    e = tl.exp(-tl.abs(v))
    u = 1.0 + e
    log1p = tl.where(u == 1.0, e, tl.log(u) * (e / (u - 1.0)))
    return tl.maximum(v, 0.0) + log1p


@triton.jit
def _chunk_program(n_tiles, rows_per_batch, L, CHUNK: tl.constexpr):
    """Where a program of the per-chunk kernels stands, in their grid
    (n_chunks · n_tiles, batch · rows_per_batch): (chunk c, tile within the chunk, batch row b
    as int64 for offsets, head or group r of that row, the chunk's first step t0 (int64) and
    its length, shorter for a ragged last chunk)."""
    c = tl.program_id(0) // n_tiles
    tile = tl.program_id(0) % n_tiles
    b = (tl.program_id(1) // rows_per_batch).to(tl.int64)
    r = tl.program_id(1) % rows_per_batch
    t0 = c.to(tl.int64) * CHUNK
    return c, tile, b, r, t0, tl.minimum(CHUNK, L - t0)


# ---------------------------------------------------------------------------------------------
# Step sizes and the running sum of the log-decay inside each chunk.


@triton.jit
def _dt_cumsum_fwd_kernel(dt_ptr, s_dt_b, s_dt_l, s_dt_h, A_ptr, bias_ptr, dt_out_ptr, cs_ptr,
                          L, H, n_chunks,
                          CHUNK: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                          BLOCK_H: tl.constexpr):
    """dt (b, L, H) -> dt_eff and cs = cumsum(dt_eff A), both (b, H, nc, CHUNK) fp32.

    Steps past L get dt_eff = 0: decay 1 and no input, so cs there equals the chunk's last real
    step and cs[CHUNK - 1] is always the whole chunk's log-decay."""
    c = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    heads = tl.program_id(2) * BLOCK_H + tl.arange(0, BLOCK_H)
    steps = tl.arange(0, CHUNK)
    t = c * CHUNK + steps
    h_ok = heads < H
    ok = (t < L)[:, None] & h_ok[None, :]
    v = tl.load(dt_ptr + b * s_dt_b + t[:, None] * s_dt_l + heads[None, :] * s_dt_h,
                mask=ok, other=0.0).to(tl.float32)
    if HAS_BIAS:
        v += tl.load(bias_ptr + heads, mask=h_ok, other=0.0).to(tl.float32)[None, :]
    if SOFTPLUS:
        v = _softplus(v)
    v = tl.where(ok, v, 0.0)
    a = tl.load(A_ptr + heads, mask=h_ok, other=0.0).to(tl.float32)
    cs = tl.cumsum(v * a[None, :], axis=0)
    out = ((b * H + heads[None, :]) * n_chunks + c) * CHUNK + steps[:, None]
    tl.store(dt_out_ptr + out, v, mask=h_ok[None, :])
    tl.store(cs_ptr + out, cs, mask=h_ok[None, :])


@triton.jit
def _dt_cumsum_bwd_kernel(dt_ptr, s_dt_b, s_dt_l, s_dt_h, A_ptr, bias_ptr, dt_eff_ptr,
                          ddt_direct_ptr, dcs_ptr, n_dcs_parts, to_end_ptr, n_to_end_parts,
                          dlast_ptr, n_dlast_parts, ddt_ptr, dA_part_ptr, dbias_part_ptr,
                          batch, L, H, n_chunks,
                          CHUNK: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                          BLOCK_H: tl.constexpr):
    """Gradients of the step sizes: direct (ddt_direct) and through the decay a_k = dt_k A.

    d a_k = sum_{i >= k} dcs_i + sum_{j < k} to_end_j + dlast (see the module docstring):
    dcs and to_end (parts, b, H, nc, CHUNK) per step, dlast
    (parts, b, H, nc) per chunk. Writes ddt (b, L, H) fp32 and per (b, chunk, head) partial
    sums of dA and d(dt_bias), (b, nc, H) fp32."""
    c = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    heads = tl.program_id(2) * BLOCK_H + tl.arange(0, BLOCK_H)
    steps = tl.arange(0, CHUNK)
    t = c * CHUNK + steps
    h_ok = heads < H
    ok = (t < L)[:, None] & h_ok[None, :]
    seg = ((b * H + heads[None, :]) * n_chunks + c) * CHUNK + steps[:, None]
    n_seg = batch * H * n_chunks * CHUNK
    dcs = tl.zeros((CHUNK, BLOCK_H), dtype=tl.float32)
    for k in range(n_dcs_parts):
        dcs += tl.load(dcs_ptr + k * n_seg + seg, mask=h_ok[None, :], other=0.0)
    dlast = tl.zeros((BLOCK_H,), dtype=tl.float32)
    for k in range(n_dlast_parts):
        dlast += tl.load(dlast_ptr + ((k * batch + b) * H + heads) * n_chunks + c, mask=h_ok,
                         other=0.0)
    to_end = tl.zeros((CHUNK, BLOCK_H), dtype=tl.float32)
    for k in range(n_to_end_parts):
        to_end += tl.load(to_end_ptr + k * n_seg + seg, mask=h_ok[None, :], other=0.0)
    d_log_decay = (tl.cumsum(dcs, axis=0, reverse=True) + (tl.cumsum(to_end, axis=0) - to_end)
                   + dlast[None, :])
    a = tl.load(A_ptr + heads, mask=h_ok, other=0.0).to(tl.float32)
    dt_eff = tl.load(dt_eff_ptr + seg, mask=h_ok[None, :], other=0.0)
    ddt = tl.load(ddt_direct_ptr + seg, mask=h_ok[None, :], other=0.0) + a[None, :] * d_log_decay
    tl.store(dA_part_ptr + (b * n_chunks + c) * H + heads, tl.sum(dt_eff * d_log_decay, axis=0),
             mask=h_ok)
    if SOFTPLUS:
        v = tl.load(dt_ptr + b * s_dt_b + t[:, None] * s_dt_l + heads[None, :] * s_dt_h,
                    mask=ok, other=0.0).to(tl.float32)
        if HAS_BIAS:
            v += tl.load(bias_ptr + heads, mask=h_ok, other=0.0).to(tl.float32)[None, :]
        ddt *= tl.sigmoid(v)
    ddt = tl.where(ok, ddt, 0.0)
    tl.store(ddt_ptr + (b * L + t[:, None]) * H + heads[None, :], ddt, mask=ok)
    if HAS_BIAS:
        tl.store(dbias_part_ptr + (b * n_chunks + c) * H + heads, tl.sum(ddt, axis=0), mask=h_ok)


# ---------------------------------------------------------------------------------------------
# Chunk states: one (P, N) outer product per (batch, chunk, head), on the tensor cores.

_OUTER_CONFIGS = [
    triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_T": 64}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_P": 64, "BLOCK_N": 128, "BLOCK_T": 64}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_P": 128, "BLOCK_N": 64, "BLOCK_T": 32}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_T": 128}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_P": 32, "BLOCK_N": 64, "BLOCK_T": 64}, num_warps=4, num_stages=2),
]
_OUTER_INTERPRETED = triton.Config({"BLOCK_P": 16, "BLOCK_N": 16, "BLOCK_T": 32})

_SCAN_CONFIGS = [
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 64}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 64}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 32}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 64}, num_warps=8, num_stages=2),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 32}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 32, "BLOCK_S": 64}, num_warps=4, num_stages=2),
]
_SCAN_INTERPRETED = triton.Config({"BLOCK_M": 16, "BLOCK_S": 32})
# dB/dC loop over a group's heads, which costs registers: these spill least (ptxas, sm_90).
_DBC_CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 32}, num_warps=8, num_stages=2),
    triton.Config({"BLOCK_M": 32, "BLOCK_S": 64}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_M": 64, "BLOCK_S": 32}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_S": 64}, num_warps=8, num_stages=2),
    triton.Config({"BLOCK_M": 32, "BLOCK_S": 32}, num_warps=4, num_stages=3),
]
_DBC_INTERPRETED = triton.Config({"BLOCK_M": 32, "BLOCK_S": 16})
# dx writes dD's partial sums one slot per row tile; the smallest tile sets how many slots.
SMALLEST_BLOCK_M = min(c.kwargs["BLOCK_M"] for c in [*_SCAN_CONFIGS, _SCAN_INTERPRETED])
DBC_BLOCK_N = 16 if EMULATED else 64  # dB/dC's column tile; small in tests, to cross tiles


def _fit_blocks(caps: dict[str, str]):
    """Autotune pruner: cap each block (name -> argument it must not exceed, padded to a power
    of two >= 16), then drop the configs that became duplicates."""

    def prune(configs, named_args, **kwargs):
        args = {**named_args, **kwargs}
        fitted, seen = [], set()
        for config in configs:
            blocks = {name: min(size, _padded(args[caps[name]])) if name in caps else size
                      for name, size in config.kwargs.items()}
            key = (tuple(sorted(blocks.items())), config.num_warps, config.num_stages)
            if key not in seen:
                seen.add(key)
                fitted.append(triton.Config(blocks, num_warps=config.num_warps,
                                            num_stages=config.num_stages))
        return fitted

    return prune


def _tuned(configs, interpreted, key, caps):
    """Autotune over ``configs`` on the GPU; the interpreter runs the one small ``interpreted``
    config (its blocks are deliberately unequal, so the tests cross block boundaries)."""
    return triton.autotune(configs=[interpreted] if EMULATED else configs, key=key,
                           prune_configs_by={"early_config_prune": _fit_blocks(caps)})


@_tuned(_OUTER_CONFIGS, _OUTER_INTERPRETED, key=["CHUNK", "P", "N", "FOR_STATES"],
        caps={"BLOCK_P": "P", "BLOCK_N": "N", "BLOCK_T": "CHUNK"})
@triton.jit
def _chunk_outer_kernel(a_ptr, s_a_b, s_a_l, s_a_h, s_a_p,
                        b_ptr, s_b_b, s_b_l, s_b_g, s_b_n,
                        cs_ptr, dt_ptr, out_ptr,
                        batch, L, H, heads_per_group, n_chunks, P, N,
                        CHUNK: tl.constexpr, FOR_STATES: tl.constexpr, DT: tl.constexpr,
                        EMULATED: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr,
                        BLOCK_T: tl.constexpr):
    """out[c, b, h] = sum_t a_t ⊗ (w_t b_t) over chunk c: a (b, L, H, P), b (b, L, G, N).

    FOR_STATES: a = x, b = B, w_t = exp(cs_last - cs_t) dt_t, the state the chunk builds from
    zero. Otherwise a = dy, b = C, w_t = exp(cs_t): the gradient reaching the state that
    enters the chunk. out: (nc, batch, H, P, N) fp32."""
    n_tiles_n = tl.cdiv(N, BLOCK_N)
    c, tile, b, h, t0, chunk_len = _chunk_program(tl.cdiv(P, BLOCK_P) * n_tiles_n, H, L, CHUNK)
    offs_p = (tile // n_tiles_n) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = (tile % n_tiles_n) * BLOCK_N + tl.arange(0, BLOCK_N)
    a_base = a_ptr + b * s_a_b + t0 * s_a_l + h * s_a_h
    b_base = b_ptr + b * s_b_b + t0 * s_b_l + (h // heads_per_group) * s_b_g
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    cs_last = tl.load(cs_ptr + seg + CHUNK - 1)
    acc = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    for s0 in range(0, chunk_len, BLOCK_T):
        steps = s0 + tl.arange(0, BLOCK_T)
        t_ok = steps < chunk_len
        a = tl.load(a_base + steps[None, :] * s_a_l + offs_p[:, None] * s_a_p,
                    mask=t_ok[None, :] & (offs_p < P)[:, None], other=0.0)
        bt = tl.load(b_base + steps[:, None] * s_b_l + offs_n[None, :] * s_b_n,
                     mask=t_ok[:, None] & (offs_n < N)[None, :], other=0.0).to(tl.float32)
        cs = tl.load(cs_ptr + seg + steps, mask=t_ok, other=0.0)
        if FOR_STATES:
            w = tl.exp(cs_last - cs) * tl.load(dt_ptr + seg + steps, mask=t_ok, other=0.0)
        else:
            w = tl.exp(cs)
        acc += _mma(a, bt * tl.where(t_ok, w, 0.0)[:, None], DT, EMULATED)
    out = out_ptr + ((c.to(tl.int64) * batch + b) * H + h) * P * N
    tl.store(out + offs_p[:, None] * N + offs_n[None, :], acc,
             mask=(offs_p < P)[:, None] & (offs_n < N)[None, :])


# ---------------------------------------------------------------------------------------------
# Passing the state along the chunks: sequential in c, parallel over (batch, head, P·N).


@triton.jit
def _pass_states_kernel(states_ptr, cs_ptr, init_ptr, final_ptr, batch, H, n_chunks, PN,
                        CHUNK: tl.constexpr, HAS_INIT: tl.constexpr, BLOCK: tl.constexpr):
    """In place: states[c] holds S_c on entry and h_{c-1} (the state entering chunk c) on exit.

    states (nc, b, H, P, N) fp32; init and final (b, H, P, N) fp32, contiguous."""
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = idx < PN
    bh = tl.program_id(1).to(tl.int64)
    if HAS_INIT:
        state = tl.load(init_ptr + bh * PN + idx, mask=ok, other=0.0)
    else:
        state = tl.zeros((BLOCK,), dtype=tl.float32)
    for c in range(n_chunks):
        slot = states_ptr + (c * batch * H + bh) * PN + idx
        built = tl.load(slot, mask=ok, other=0.0)
        tl.store(slot, state, mask=ok)
        decay = tl.exp(tl.load(cs_ptr + (bh * n_chunks + c) * CHUNK + CHUNK - 1))
        state = decay * state + built
    tl.store(final_ptr + bh * PN + idx, state, mask=ok)


@triton.jit
def _pass_states_bwd_kernel(dstates_ptr, states_ptr, cs_ptr, dfinal_ptr, dinit_ptr, dlast_ptr,
                            batch, H, n_chunks, PN,
                            CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    """Backward of ``_pass_states``, from the last chunk to the first, in place.

    dstates[c] holds, on entry, the gradient chunk c's outputs send to h_{c-1}; on exit the
    whole gradient dh_c of the state leaving chunk c. states[c] = h_{c-1}, (nc, b, H, P, N).
    Writes dinit = the gradient of h_{-1}, and dlast[block, b, h, c] =
    sum(dh_c ⊙ exp(cs_last) h_{c-1}), the gradient of chunk c's log-decay through h_c."""
    block = tl.program_id(0)
    idx = block * BLOCK + tl.arange(0, BLOCK)
    ok = idx < PN
    bh = tl.program_id(1).to(tl.int64)
    grad = tl.load(dfinal_ptr + bh * PN + idx, mask=ok, other=0.0)
    for i in range(n_chunks):
        c = n_chunks - 1 - i
        slot = (c * batch * H + bh) * PN + idx
        from_outputs = tl.load(dstates_ptr + slot, mask=ok, other=0.0)
        tl.store(dstates_ptr + slot, grad, mask=ok)
        decay = tl.exp(tl.load(cs_ptr + (bh * n_chunks + c) * CHUNK + CHUNK - 1))
        kept = decay * tl.load(states_ptr + slot, mask=ok, other=0.0)
        tl.store(dlast_ptr + ((block * batch * H) + bh) * n_chunks + c, tl.sum(grad * kept))
        grad = decay * grad + from_outputs
    tl.store(dinit_ptr + bh * PN + idx, grad, mask=ok)


# ---------------------------------------------------------------------------------------------
# Inside a chunk: the masked "attention" plus the entering state. One helper serves the output
# and all three input gradients, which share its shape:
#   forward  out_r = sum_{s <= r} exp(cs_r - cs_s) dt_s (U_r · V_s) W_s + exp(cs_r)           U_r S
#   reverse  out_r = sum_{s >= r} exp(cs_s - cs_r)      (U_r · V_s) W_s + exp(cs_last - cs_r) U_r S
#   y:  U=C,  V=B,  W=x,  S=h_{c-1}^T (forward)     dx/dt: U=B, V=C,  W=dy, S=dh_c^T (reverse)
#   dC: U=dy, V=x,  W=B,  S=h_{c-1}   (forward)     dB/dt: U=x, V=dy, W=C,  S=dh_c   (reverse)


@triton.jit
def _mix_chunk(acc, u_ptr, s_u_t, s_u_k, v_ptr, s_v_t, s_v_k, w_ptr, s_w_t, s_w_o,
               s_ptr, s_s_k, s_s_o, own, row_scale, cs_ptr, dt_ptr, m0, chunk_len, KD, OD,
               REVERSE: tl.constexpr, WITH_PAIR: tl.constexpr, DT: tl.constexpr,
               EMULATED: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr,
               BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr):
    """acc + row_scale_r · out_r for rows r = m0 .. m0 + BLOCK_M, (BLOCK_M, BLOCK_O) fp32.

    With WITH_PAIR (own: the (BLOCK_M, BLOCK_O) rows of C for dC, of B for dB) also returns, in
    fp32, via_state_r = own_r · (its state term) and pair_r = sum_s mixed_rs (own_r · W_s),
    mixed_rs being the weight W_s gets in row r: M's row sum for dC, its column sum for dB.
    One accumulator keeps register pressure down. U, V: (chunk, KD) row-strided;
    W: (chunk, OD); S: (KD, OD) fp32; cs, dt: this chunk's; row_scale: (BLOCK_M,) fp32."""
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
        decay = tl.exp(tl.load(cs_ptr + chunk_len - 1) - cs_r)
        lo = (m0 // BLOCK_S) * BLOCK_S
        hi = chunk_len
    else:
        decay = tl.exp(cs_r)
        lo = 0
        hi = tl.minimum(m0 + BLOCK_M, chunk_len)
    from_state = _mma(u, state, DT, EMULATED) * (decay * row_scale)[:, None]
    pair = tl.zeros((BLOCK_M,), dtype=tl.float32)
    if WITH_PAIR:
        via_state = tl.sum(own.to(tl.float32) * from_state, axis=1)
    else:
        via_state = pair
    acc += from_state
    for s0 in range(lo, hi, BLOCK_S):
        cols = s0 + tl.arange(0, BLOCK_S)
        col_ok = cols < chunk_len
        v_t = tl.load(v_ptr + cols[None, :] * s_v_t + offs_k[:, None] * s_v_k,
                      mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        cs_c = tl.load(cs_ptr + cols, mask=col_ok, other=0.0)
        # Both ends in the chunk: a row past a ragged chunk's end reads cs_r = 0, and there
        # exp(cs_r - cs_c) overflows once the chunk's log-decay passes -88 (inf · 0 = NaN).
        in_chunk = row_ok[:, None] & col_ok[None, :]
        if REVERSE:
            keep = (cols[None, :] >= rows[:, None]) & in_chunk
            scale = tl.exp(tl.where(keep, cs_c[None, :] - cs_r[:, None], float("-inf")))
            scale *= row_scale[:, None]
        else:
            keep = (cols[None, :] <= rows[:, None]) & in_chunk
            dt_c = tl.load(dt_ptr + cols, mask=col_ok, other=0.0)
            scale = tl.exp(tl.where(keep, cs_r[:, None] - cs_c[None, :], float("-inf")))
            scale *= row_scale[:, None] * dt_c[None, :]
        mixed = _mma(u, v_t, DT, EMULATED) * scale
        w = tl.load(w_ptr + cols[:, None] * s_w_t + offs_o[None, :] * s_w_o,
                    mask=col_ok[:, None] & o_ok[None, :], other=0.0)
        acc += _mma(mixed, w, DT, EMULATED)
        if WITH_PAIR:
            pair += tl.sum(mixed * _mma(own, tl.trans(w), DT, EMULATED), axis=1)
    return acc, via_state, pair


@_tuned(_SCAN_CONFIGS, _SCAN_INTERPRETED, key=["CHUNK", "P", "N", "HAS_D", "HAS_Z", "STORE_PRE"],
        caps={"BLOCK_M": "CHUNK", "BLOCK_S": "CHUNK"})
@triton.jit
def _chunk_scan_fwd_kernel(x_ptr, s_x_b, s_x_l, s_x_h, s_x_p,
                           B_ptr, s_B_b, s_B_l, s_B_g, s_B_n,
                           C_ptr, s_C_b, s_C_l, s_C_g, s_C_n,
                           z_ptr, s_z_b, s_z_l, s_z_h, s_z_p,
                           D_ptr, s_D_h, s_D_p, cs_ptr, dt_ptr, states_ptr, y_ptr, y_pre_ptr,
                           batch, L, H, heads_per_group, n_chunks, P, N,
                           CHUNK: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                           STORE_PRE: tl.constexpr, DT: tl.constexpr, EMULATED: tl.constexpr,
                           BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr,
                           BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """y for rows m0 .. m0 + BLOCK_M of one (batch, chunk, head), all P columns.

    y, y_pre: (b, L, H, P) contiguous in x's dtype; y_pre (before the gate) only if STORE_PRE."""
    c, tile, b, h, t0, chunk_len = _chunk_program(tl.cdiv(CHUNK, BLOCK_M), H, L, CHUNK)
    m0 = tile * BLOCK_M
    g = h // heads_per_group
    x_base = x_ptr + b * s_x_b + t0 * s_x_l + h * s_x_h
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    rows = m0 + tl.arange(0, BLOCK_M)
    acc, _, _ = _mix_chunk(
        tl.zeros((BLOCK_M, BLOCK_O), dtype=tl.float32),
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        x_base, s_x_l, s_x_p, states_ptr + ((c * batch + b) * H + h) * P * N, 1, N,
        None, tl.full((BLOCK_M,), 1.0, tl.float32), cs_ptr + seg, dt_ptr + seg, m0, chunk_len,
        N, P, False, False, DT, EMULATED, BLOCK_M, BLOCK_S, BLOCK_K, BLOCK_O)
    offs_p = tl.arange(0, BLOCK_O)
    ok = (rows < chunk_len)[:, None] & (offs_p < P)[None, :]
    if HAS_D:
        x = tl.load(x_base + rows[:, None] * s_x_l + offs_p[None, :] * s_x_p, mask=ok, other=0.0)
        d = tl.load(D_ptr + h * s_D_h + offs_p * s_D_p, mask=offs_p < P, other=0.0)
        acc += x.to(tl.float32) * d.to(tl.float32)[None, :]
    out = ((b * L + t0 + rows[:, None]) * H + h) * P + offs_p[None, :]
    if HAS_Z:
        if STORE_PRE:
            tl.store(y_pre_ptr + out, _cast(acc, y_pre_ptr.dtype.element_ty, EMULATED), mask=ok)
        z = tl.load(z_ptr + b * s_z_b + (t0 + rows[:, None]) * s_z_l + h * s_z_h
                    + offs_p[None, :] * s_z_p, mask=ok, other=0.0).to(tl.float32)
        acc *= z * tl.sigmoid(z)
    tl.store(y_ptr + out, _cast(acc, y_ptr.dtype.element_ty, EMULATED), mask=ok)


@_tuned(_SCAN_CONFIGS, _SCAN_INTERPRETED, key=["CHUNK", "P", "N", "HAS_D"],
        caps={"BLOCK_M": "CHUNK", "BLOCK_S": "CHUNK"})
@triton.jit
def _chunk_scan_dx_kernel(x_ptr, s_x_b, s_x_l, s_x_h, s_x_p,
                          B_ptr, s_B_b, s_B_l, s_B_g, s_B_n,
                          C_ptr, s_C_b, s_C_l, s_C_g, s_C_n,
                          dy_ptr, s_dy_b, s_dy_l, s_dy_h, s_dy_p,
                          D_ptr, s_D_h, s_D_p, cs_ptr, dt_ptr, dstates_ptr,
                          dx_ptr, ddt_ptr, dD_ptr,
                          batch, L, H, heads_per_group, n_chunks, P, N,
                          CHUNK: tl.constexpr, HAS_D: tl.constexpr, DT: tl.constexpr,
                          EMULATED: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """dx = dt · g + D dy and ddt_direct = x · g for rows m0 .. m0 + BLOCK_M, where
    g_j = sum_{i >= j} exp(cs_i - cs_j) (B_j · C_i) dy_i + exp(cs_last - cs_j) dh_c B_j.

    dx (b, L, H, P) in x's dtype; ddt (b, H, nc, CHUNK) fp32; dD partial sums
    (CHUNK / SMALLEST_BLOCK_M, b, nc, H, P) fp32, one slot per row block."""
    c, tile, b, h, t0, chunk_len = _chunk_program(tl.cdiv(CHUNK, BLOCK_M), H, L, CHUNK)
    m0 = tile * BLOCK_M
    g = h // heads_per_group
    dy_base = dy_ptr + b * s_dy_b + t0 * s_dy_l + h * s_dy_h
    seg = ((b * H + h) * n_chunks + c) * CHUNK
    rows = m0 + tl.arange(0, BLOCK_M)
    grad, _, _ = _mix_chunk(
        tl.zeros((BLOCK_M, BLOCK_O), dtype=tl.float32),
        B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
        C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
        dy_base, s_dy_l, s_dy_p, dstates_ptr + ((c * batch + b) * H + h) * P * N, 1, N,
        None, tl.full((BLOCK_M,), 1.0, tl.float32), cs_ptr + seg, dt_ptr + seg, m0, chunk_len,
        N, P, True, False, DT, EMULATED, BLOCK_M, BLOCK_S, BLOCK_K, BLOCK_O)
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
             _cast(dx, dx_ptr.dtype.element_ty, EMULATED), mask=ok)


@_tuned(_DBC_CONFIGS, _DBC_INTERPRETED, key=["CHUNK", "P", "N", "REVERSE"],
        caps={"BLOCK_M": "CHUNK", "BLOCK_S": "CHUNK"})
@triton.jit
def _chunk_scan_dbc_kernel(u_ptr, s_u_b, s_u_l, s_u_h, s_u_p,
                           v_ptr, s_v_b, s_v_l, s_v_h, s_v_p,
                           w_ptr, s_w_b, s_w_l, s_w_g, s_w_n,
                           own_ptr, s_o_b, s_o_l, s_o_g, s_o_n,
                           states_ptr, cs_ptr, dt_ptr, out_ptr, dcs_ptr, to_end_ptr,
                           batch, L, H, G, heads_per_group, n_chunks, P, N,
                           CHUNK: tl.constexpr, REVERSE: tl.constexpr, DT: tl.constexpr,
                           EMULATED: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr,
                           BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    """dC or dB for rows m0 .. m0 + BLOCK_M of one (batch, chunk, group), summed over the
    group's heads, and each head's terms of the decay gradient (module docstring).

    dC (forward: U=dy, V=x, W=B, own=C, states = h_{c-1}): dcs_i = row sum of M
    + dy_i · exp(cs_i) h_{c-1} C_i. dB (REVERSE: U=x, V=dy, W=C, own=B, states = dh_c, all
    times dt_j): dcs_j = -column sum of M, and to_end_j = exp(cs_last - cs_j) dt_j x_j·(dh_c B_j).
    Each program takes BLOCK_O of the N columns (64 at most: wider tiles spill registers), so
    dcs and to_end come as one partial sum per column tile: (N / BLOCK_O, b, H, nc, CHUNK) fp32.
    out: (b, L, G, N) in B's dtype."""
    n_cols = tl.cdiv(N, BLOCK_O)
    c, tile, b, g, t0, chunk_len = _chunk_program(tl.cdiv(CHUNK, BLOCK_M) * n_cols, G, L,
                                                  CHUNK)
    m0 = tile // n_cols * BLOCK_M
    col_tile = tile % n_cols
    n0 = col_tile * BLOCK_O
    rows = m0 + tl.arange(0, BLOCK_M)
    offs_n = n0 + tl.arange(0, BLOCK_O)
    part = col_tile * (batch * H * n_chunks * CHUNK)
    row_ok = rows < chunk_len
    ok = row_ok[:, None] & (offs_n < N)[None, :]
    own = tl.load(own_ptr + b * s_o_b + (t0 + rows[:, None]) * s_o_l + g * s_o_g
                  + offs_n[None, :] * s_o_n, mask=ok, other=0.0)
    total = tl.zeros((BLOCK_M, BLOCK_O), dtype=tl.float32)
    for i in range(heads_per_group):
        h = g * heads_per_group + i
        seg = ((b * H + h) * n_chunks + c) * CHUNK
        if REVERSE:
            row_scale = tl.load(dt_ptr + seg + rows, mask=row_ok, other=0.0)
        else:
            row_scale = tl.full((BLOCK_M,), 1.0, tl.float32)
        total, via_state, pair = _mix_chunk(
            total, u_ptr + b * s_u_b + t0 * s_u_l + h * s_u_h, s_u_l, s_u_p,
            v_ptr + b * s_v_b + t0 * s_v_l + h * s_v_h, s_v_l, s_v_p,
            w_ptr + b * s_w_b + t0 * s_w_l + g * s_w_g + n0 * s_w_n, s_w_l, s_w_n,
            states_ptr + ((c * batch + b) * H + h) * P * N + n0, N, 1, own, row_scale,
            cs_ptr + seg, dt_ptr + seg, m0, chunk_len, P, N - n0,
            REVERSE, True, DT, EMULATED, BLOCK_M, BLOCK_S, BLOCK_K, BLOCK_O)
        if REVERSE:
            tl.store(dcs_ptr + part + seg + rows, -pair, mask=rows < CHUNK)
            tl.store(to_end_ptr + part + seg + rows, via_state, mask=rows < CHUNK)
        else:
            tl.store(dcs_ptr + part + seg + rows, pair + via_state, mask=rows < CHUNK)
    tl.store(out_ptr + ((b * L + t0 + rows[:, None]) * G + g) * N + offs_n[None, :],
             _cast(total, out_ptr.dtype.element_ty, EMULATED), mask=ok)


@triton.jit
def _gate_bwd_kernel(dout_ptr, s_do_b, s_do_l, s_do_h, s_do_p,
                     z_ptr, s_z_b, s_z_l, s_z_h, s_z_p,
                     y_pre_ptr, dy_ptr, dz_ptr, n_rows, L, H, P,
                     EMULATED: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_P: tl.constexpr):
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
    tl.store(dy_ptr + out, _cast(dout * z * sig, dy_ptr.dtype.element_ty, EMULATED), mask=ok)
    dz = dout * y_pre * sig * (1.0 + z * (1.0 - sig))
    tl.store(dz_ptr + out, _cast(dz, dz_ptr.dtype.element_ty, EMULATED), mask=ok)


# ---------------------------------------------------------------------------------------------
# One decode step.


@triton.jit
def _state_update_kernel(state_ptr, s_s_b, s_s_h, s_s_p, s_s_n,
                         x_ptr, s_x_b, s_x_h, s_x_p, dt_ptr, s_dt_b, s_dt_h, A_ptr,
                         B_ptr, s_B_b, s_B_g, s_B_n, C_ptr, s_C_b, s_C_g, s_C_n,
                         D_ptr, s_D_h, s_D_p, z_ptr, s_z_b, s_z_h, s_z_p, bias_ptr, y_ptr,
                         H, heads_per_group, P, N,
                         HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                         SOFTPLUS: tl.constexpr, EMULATED: tl.constexpr,
                         BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr):
    """h = exp(dt A) h + dt x ⊗ B in place, y = h C (+ D x, · silu(z)) for BLOCK_P rows of
    one (batch, head). y: (b, H, P) contiguous in x's dtype."""
    b = (tl.program_id(1) // H).to(tl.int64)
    h = tl.program_id(1) % H
    g = h // heads_per_group
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    p_ok = offs_p < P
    n_ok = offs_n < N
    ok = p_ok[:, None] & n_ok[None, :]
    dt = tl.load(dt_ptr + b * s_dt_b + h * s_dt_h).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + h).to(tl.float32)
    if SOFTPLUS:
        dt = _softplus(dt)
    decay = tl.exp(dt * tl.load(A_ptr + h).to(tl.float32))
    x = tl.load(x_ptr + b * s_x_b + h * s_x_h + offs_p * s_x_p, mask=p_ok, other=0.0)
    x = x.to(tl.float32)
    Bv = tl.load(B_ptr + b * s_B_b + g * s_B_g + offs_n * s_B_n, mask=n_ok, other=0.0)
    Cv = tl.load(C_ptr + b * s_C_b + g * s_C_g + offs_n * s_C_n, mask=n_ok, other=0.0)
    state_at = state_ptr + b * s_s_b + h * s_s_h + offs_p[:, None] * s_s_p + offs_n[None, :] * s_s_n
    state = tl.load(state_at, mask=ok, other=0.0).to(tl.float32)
    state = decay * state + (dt * x)[:, None] * Bv.to(tl.float32)[None, :]
    tl.store(state_at, _cast(state, state_ptr.dtype.element_ty, EMULATED), mask=ok)
    y = tl.sum(state * Cv.to(tl.float32)[None, :], axis=1)
    if HAS_D:
        y += x * tl.load(D_ptr + h * s_D_h + offs_p * s_D_p, mask=p_ok, other=0.0).to(tl.float32)
    if HAS_Z:
        z = tl.load(z_ptr + b * s_z_b + h * s_z_h + offs_p * s_z_p, mask=p_ok, other=0.0)
        z = z.to(tl.float32)
        y *= z * tl.sigmoid(z)
    tl.store(y_ptr + (b * H + h) * P + offs_p, _cast(y, y_ptr.dtype.element_ty, EMULATED),
             mask=p_ok)


# ---------------------------------------------------------------------------------------------
# Launches.


def _padded(n: int) -> int:
    """Tile width for a dimension of n: a power of two, at least 16 (the tensor cores' minimum)."""
    return max(16, triton.next_power_of_2(n))


def _skip_strides(D: Tensor | None, like: Tensor) -> tuple[Tensor, int, int]:
    """D as (pointer, head stride, P stride): a (H,) D reads one value per head (P stride 0)."""
    if D is None:
        return like, 0, 0
    return (D, D.stride(0), 0) if D.dim() == 1 else (D, D.stride(0), D.stride(1))


def _dt_cumsum(dt: Tensor, A: Tensor, dt_bias: Tensor | None, dt_softplus: bool,
               chunk: int) -> tuple[Tensor, Tensor]:
    """(dt_eff, cs), each (b, H, nc, chunk) fp32."""
    batch, length, heads = dt.shape
    n_chunks = triton.cdiv(length, chunk)
    dt_eff = torch.empty(batch, heads, n_chunks, chunk, device=dt.device, dtype=torch.float32)
    cs = torch.empty_like(dt_eff)
    block_h = _cumsum_block_h(heads, chunk)
    _dt_cumsum_fwd_kernel[(n_chunks, batch, triton.cdiv(heads, block_h))](
        dt, *dt.stride(), A, dt if dt_bias is None else dt_bias, dt_eff, cs,
        length, heads, n_chunks,
        CHUNK=chunk, HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus, BLOCK_H=block_h)
    return dt_eff, cs


def _cumsum_block_h(heads: int, chunk: int) -> int:
    """Heads per program of the step-size kernels: about 1024 values per program (more spill
    registers in the backward one)."""
    return min(triton.next_power_of_2(heads), max(1, 1024 // chunk))


def _chunk_outer(a: Tensor, b: Tensor, cs: Tensor, dt_eff: Tensor, out: Tensor,
                 for_states: bool) -> None:
    """out (nc, batch, H, P, N) fp32 <- per chunk sum_t a_t ⊗ w_t b_t (see the kernel)."""
    batch, length, heads, head_dim = a.shape
    groups, state_dim = b.shape[2], b.shape[3]
    n_chunks, chunk = cs.shape[2], cs.shape[3]

    def grid(meta):
        tiles = triton.cdiv(head_dim, meta["BLOCK_P"]) * triton.cdiv(state_dim, meta["BLOCK_N"])
        return (tiles * n_chunks, batch * heads)

    _chunk_outer_kernel[grid](
        a, *a.stride(), b, *b.stride(), cs, dt_eff, out,
        batch, length, heads, heads // groups, n_chunks, head_dim, state_dim,
        CHUNK=chunk, FOR_STATES=for_states, DT=DOT_DTYPES[a.dtype], EMULATED=EMULATED)


def _pass_block(pn: int) -> int:
    return min(1024, triton.next_power_of_2(pn))


def _pass_states(states: Tensor, cs: Tensor, init: Tensor | None, final: Tensor) -> None:
    """states[c]: S_c -> h_{c-1} in place for c < nc (the chunks of cs); final <- h_{nc-1}.

    states (>= nc, b, H, P, N) fp32; init and final (b, H, P, N) fp32, contiguous."""
    _, batch, heads, head_dim, state_dim = states.shape
    n_chunks = cs.shape[2]
    pn = head_dim * state_dim
    block = _pass_block(pn)
    _pass_states_kernel[(triton.cdiv(pn, block), batch * heads)](
        states, cs, final if init is None else init, final, batch, heads, n_chunks, pn,
        CHUNK=cs.shape[3], HAS_INIT=init is not None, BLOCK=block, num_warps=4)


def _scan_grid(chunk: int, n_chunks: int, programs: int, col_tiles: int = 1):
    """Grid of the chunk-scan kernels: (row tiles × column tiles × chunks, programs)."""
    return lambda meta: (triton.cdiv(chunk, meta["BLOCK_M"]) * col_tiles * n_chunks, programs)


def _ssd_forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int,
                 D: Tensor | None, z: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool,
                 init: Tensor | None, keep_pre: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    """y (b, L, H, P) in x's dtype, y before the gate (if keep_pre and z), final state fp32."""
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2], B.shape[3]
    dt_eff, cs = _dt_cumsum(dt, A, dt_bias, dt_softplus, chunk)
    n_chunks = cs.shape[2]
    states = torch.empty(n_chunks, batch, heads, head_dim, state_dim, device=x.device,
                         dtype=torch.float32)
    final = torch.empty(batch, heads, head_dim, state_dim, device=x.device, dtype=torch.float32)
    _chunk_outer(x, B, cs, dt_eff, states, for_states=True)
    _pass_states(states, cs, init, final)
    y = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    y_pre = torch.empty_like(y) if keep_pre and z is not None else None
    skip, s_d_h, s_d_p = _skip_strides(D, x)
    gate = x if z is None else z
    _chunk_scan_fwd_kernel[_scan_grid(chunk, n_chunks, batch * heads)](
        x, *x.stride(), B, *B.stride(), C, *C.stride(), gate, *gate.stride(),
        skip, s_d_h, s_d_p, cs, dt_eff, states, y, y if y_pre is None else y_pre,
        batch, length, heads, heads // groups, n_chunks, head_dim, state_dim,
        CHUNK=chunk, HAS_D=D is not None, HAS_Z=z is not None, STORE_PRE=y_pre is not None,
        DT=DOT_DTYPES[x.dtype], EMULATED=EMULATED, BLOCK_K=_padded(state_dim),
        BLOCK_O=_padded(head_dim))
    return y, y_pre, final


def _gate_bwd(dout: Tensor, z: Tensor, y_pre: Tensor) -> tuple[Tensor, Tensor]:
    """(dy before the gate, dz), both (b, L, H, P) contiguous in y_pre's / z's dtype."""
    batch, length, heads, head_dim = z.shape
    dy = torch.empty(z.shape, device=z.device, dtype=y_pre.dtype)
    dz = torch.empty(z.shape, device=z.device, dtype=z.dtype)
    n_rows = batch * length * heads
    block_p = triton.next_power_of_2(head_dim)
    block_r = max(1, 2048 // block_p)
    _gate_bwd_kernel[(triton.cdiv(n_rows, block_r),)](
        dout, *dout.stride(), z, *z.stride(), y_pre, dy, dz, n_rows, length, heads, head_dim,
        EMULATED=EMULATED, BLOCK_R=block_r, BLOCK_P=block_p)
    return dy, dz


def _ssd_backward(saved: tuple, chunk: int, dt_softplus: bool, dout: Tensor,
                  dfinal: Tensor) -> tuple[Tensor | None, ...]:
    """Gradients of x, dt, A, B, C, D, z, dt_bias, initial_state (see the module docstring)."""
    x, dt, A, B, C, D, z, dt_bias, init, y_pre = saved
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2], B.shape[3]
    dot_dtype = DOT_DTYPES[x.dtype]
    f32 = dict(device=x.device, dtype=torch.float32)

    # Recompute the forward's chunk sums and entering states h_{c-1}.
    dt_eff, cs = _dt_cumsum(dt, A, dt_bias, dt_softplus, chunk)
    n_chunks = cs.shape[2]
    states = torch.empty(n_chunks, batch, heads, head_dim, state_dim, **f32)
    _chunk_outer(x, B, cs, dt_eff, states, for_states=True)
    _pass_states(states, cs, None if init is None else init.float().contiguous(),
                 torch.empty(batch, heads, head_dim, state_dim, **f32))

    dy, dz = (dout, None) if z is None else _gate_bwd(dout, z, y_pre)
    dstates = torch.empty_like(states)
    _chunk_outer(dy, C, cs, dt_eff, dstates, for_states=False)
    pn = head_dim * state_dim
    block = _pass_block(pn)
    n_blocks = triton.cdiv(pn, block)
    dinit = torch.empty(batch, heads, head_dim, state_dim, **f32)
    dlast = torch.empty(n_blocks, batch, heads, n_chunks, **f32)
    _pass_states_bwd_kernel[(n_blocks, batch * heads)](
        dstates, states, cs, dfinal.float().contiguous(), dinit, dlast,
        batch, heads, n_chunks, pn, CHUNK=chunk, BLOCK=block, num_warps=4)

    dx = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    ddt_direct = torch.empty_like(cs)
    slots = triton.cdiv(chunk, SMALLEST_BLOCK_M)
    dD_parts = (ddt_direct if D is None  # not written without D
                else torch.empty(slots, batch, n_chunks, heads, head_dim, **f32))
    skip, s_d_h, s_d_p = _skip_strides(D, x)
    _chunk_scan_dx_kernel[_scan_grid(chunk, n_chunks, batch * heads)](
        x, *x.stride(), B, *B.stride(), C, *C.stride(), dy, *dy.stride(),
        skip, s_d_h, s_d_p, cs, dt_eff, dstates, dx, ddt_direct, dD_parts,
        batch, length, heads, heads // groups, n_chunks, head_dim, state_dim,
        CHUNK=chunk, HAS_D=D is not None, DT=dot_dtype, EMULATED=EMULATED,
        BLOCK_K=_padded(state_dim), BLOCK_O=_padded(head_dim))
    dD = None
    if D is not None:
        used = triton.cdiv(chunk, _chunk_scan_dx_kernel.best_config.kwargs["BLOCK_M"])
        dD = dD_parts[:used].sum(dim=(0, 1, 2))
        dD = (dD.sum(dim=-1) if D.dim() == 1 else dD).to(D.dtype)

    block_n = min(_padded(state_dim), DBC_BLOCK_N)
    n_cols = triton.cdiv(state_dim, block_n)
    dcs = torch.empty(2 * n_cols, *cs.shape, **f32)
    to_end = torch.empty(n_cols, *cs.shape, **f32)
    dB = torch.empty(B.shape, device=B.device, dtype=B.dtype)
    dC = torch.empty(C.shape, device=C.device, dtype=C.dtype)
    for out, (u, v, w, own, state, parts, reverse) in (
            (dC, (dy, x, B, C, states, dcs[:n_cols], False)),
            (dB, (x, dy, C, B, dstates, dcs[n_cols:], True))):
        _chunk_scan_dbc_kernel[_scan_grid(chunk, n_chunks, batch * groups, n_cols)](
            u, *u.stride(), v, *v.stride(), w, *w.stride(), own, *own.stride(),
            state, cs, dt_eff, out, parts, to_end,
            batch, length, heads, groups, heads // groups, n_chunks, head_dim, state_dim,
            CHUNK=chunk, REVERSE=reverse, DT=dot_dtype, EMULATED=EMULATED,
            BLOCK_K=_padded(head_dim), BLOCK_O=block_n)

    ddt = torch.empty(batch, length, heads, **f32)
    dA_parts = torch.empty(batch, n_chunks, heads, **f32)
    dbias_parts = torch.empty_like(dA_parts)
    block_h = _cumsum_block_h(heads, chunk)
    _dt_cumsum_bwd_kernel[(n_chunks, batch, triton.cdiv(heads, block_h))](
        dt, *dt.stride(), A, dt if dt_bias is None else dt_bias, dt_eff,
        ddt_direct, dcs, 2 * n_cols, to_end, n_cols, dlast, n_blocks,
        ddt, dA_parts, dbias_parts,
        batch, length, heads, n_chunks,
        CHUNK=chunk, HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus, BLOCK_H=block_h)
    dA = dA_parts.sum(dim=(0, 1)).to(A.dtype)
    dbias = None if dt_bias is None else dbias_parts.sum(dim=(0, 1)).to(dt_bias.dtype)
    dinit = None if init is None else dinit.to(init.dtype)
    return dx, ddt.to(dt.dtype), dA, dB, dC, dD, dz, dbias, dinit


class _SSDFunction(torch.autograd.Function):
    """Autograd for the chunked scan. Saves only the inputs (and y before the gate when z is
    given); the backward recomputes the chunk states, which costs less than keeping them."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, z, dt_bias, initial_state, chunk_size, dt_softplus):
        keep_pre = any(ctx.needs_input_grad)
        init = None if initial_state is None else initial_state.float().contiguous()
        y, y_pre, final = _ssd_forward(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus,
                                       init, keep_pre)
        ctx.save_for_backward(x, dt, A, B, C, D, z, dt_bias, initial_state, y_pre)
        ctx.chunk_size = chunk_size
        ctx.dt_softplus = dt_softplus
        return y, final

    @staticmethod
    def backward(ctx, dy, dfinal):
        grads = _ssd_backward(ctx.saved_tensors, ctx.chunk_size, ctx.dt_softplus, dy, dfinal)
        grads = tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))
        return (*grads, None, None)


# ---------------------------------------------------------------------------------------------
# Public entry points (same arguments as the reference's; ``__init__.py`` dispatches to them).


def ssd_triton(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int = 64,
               D: Tensor | None = None, z: Tensor | None = None, dt_bias: Tensor | None = None,
               dt_softplus: bool = False, initial_state: Tensor | None = None,
               return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The SSD scan on the Triton kernels, differentiable in every tensor argument.

    Shapes and meaning as ``reference.ssd_ref``: x (b, L, H, P), dt (b, L, H), A (H,),
    B and C (b, L, G, N), D (H,) or (H, P), z (b, L, H, P), dt_bias (H,), initial_state
    (b, H, P, N). chunk_size: a power of two >= 16. x, B, C (and z) share one dtype: float32
    (products in tf32x3), bfloat16 or float16. Returns y (b, L, H, P) in x's dtype, and with
    ``return_final_state`` the final state (b, H, P, N) in fp32.
    """
    check_ssd_inputs("ssd_triton", x, dt, A, B, C, D, z, dt_bias, initial_state)
    problem = ssd_unsupported(x, dt, A, B, C, chunk_size, D, z, dt_bias, initial_state)
    if problem is not None:
        raise ValueError(f"ssd_triton: {problem}")
    y, final = _SSDFunction.apply(x, dt, A, B, C, D, z, dt_bias, initial_state, chunk_size,
                                  dt_softplus)
    return (y, final) if return_final_state else y


def ssd_state_update_triton(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                            C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                            dt_bias: Tensor | None = None, dt_softplus: bool = False) -> Tensor:
    """One decode step in one kernel; ``state`` (b, H, P, N) is updated in place.

    x, z (b, H, P); dt (b, H); B, C (b, G, N); the rest as ``ssd_triton``. Returns y (b, H, P)
    in x's dtype. Inference only: it has no backward, so no input may require grad (unless
    grad mode is off).
    """
    check_state_update_inputs("ssd_state_update_triton", state, x, dt, A, B, C, D, z, dt_bias)
    problem = state_update_unsupported(state, x, dt, A, B, C, D, z, dt_bias)
    if problem is not None:
        raise ValueError(f"ssd_state_update_triton: {problem}")
    batch, heads, head_dim = x.shape
    groups, state_dim = B.shape[1], B.shape[2]
    y = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    skip, s_d_h, s_d_p = _skip_strides(D, x)
    gate = x if z is None else z
    block_n = triton.next_power_of_2(state_dim)
    block_p = min(triton.next_power_of_2(head_dim), max(1, 4096 // block_n))
    _state_update_kernel[(triton.cdiv(head_dim, block_p), batch * heads)](
        state, *state.stride(), x, *x.stride(), dt, *dt.stride(), A,
        B, *B.stride(), C, *C.stride(), skip, s_d_h, s_d_p, gate, *gate.stride(),
        dt if dt_bias is None else dt_bias, y, heads, heads // groups, head_dim, state_dim,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=dt_bias is not None,
        SOFTPLUS=dt_softplus, EMULATED=EMULATED, BLOCK_P=block_p, BLOCK_N=block_n)
    return y


def ssd_unsupported(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                    D: Tensor | None = None, z: Tensor | None = None,
                    dt_bias: Tensor | None = None,
                    initial_state: Tensor | None = None) -> str | None:
    """Why ``ssd_triton`` cannot take these (shape-checked) inputs, or None if it can."""
    tensors = {"x": x, "dt": dt, "A": A, "B": B, "C": C, "D": D, "z": z, "dt_bias": dt_bias,
               "initial_state": initial_state}
    return _fast_path_problem(x, chunk_size, B.shape[-1], tensors)


def state_update_unsupported(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                             C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                             dt_bias: Tensor | None = None) -> str | None:
    """Why ``ssd_state_update_triton`` cannot take these inputs, or None if it can."""
    tensors = {"state": state, "x": x, "dt": dt, "A": A, "B": B, "C": C, "D": D, "z": z,
               "dt_bias": dt_bias}
    problem = _fast_path_problem(x, None, B.shape[-1], tensors)
    if problem is None and torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in tensors.values()):
        problem = ("the decode kernel has no backward; call it under torch.no_grad() or use "
                   "backend='reference'")
    return problem


def _fast_path_problem(x: Tensor, chunk_size: int | None, state_dim: int,
                       tensors: dict[str, Tensor | None]) -> str | None:
    """What the kernels cannot take, common to the scan and the decode step (chunk_size None)."""
    if x.dtype not in DOT_DTYPES:
        return (f"x must be float32, bfloat16 or float16, got {x.dtype} "
                f"(float64 runs on backend='reference')")
    for name in ("B", "C", "z"):
        if tensors.get(name) is not None and tensors[name].dtype != x.dtype:
            return f"{name} must have x's dtype {x.dtype}, got {tensors[name].dtype}"
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 16
                                   or chunk_size & (chunk_size - 1)):
        return f"chunk_size must be a power of two >= 16, got {chunk_size!r}"
    if x.shape[-1] > MAX_DIM or state_dim > MAX_DIM:
        return (f"head dim P={x.shape[-1]} (x.shape[-1]) and state size N={state_dim} "
                f"(B.shape[-1]) must each be <= {MAX_DIM}")
    for name, tensor in tensors.items():
        if tensor is not None and tensor.device != x.device:
            return f"{name} is on {tensor.device} but x is on {x.device}"
    if x.device.type != "cuda" and not (EMULATED and x.device.type == "cpu"):
        return (f"the Triton kernels need CUDA tensors (got {x.device}); CPU tensors run only "
                f"under TRITON_INTERPRET=1 set before tsssm is imported")
    return None
