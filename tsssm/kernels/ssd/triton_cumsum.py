"""The step sizes of the SSD scan and the running sum of the log-decay inside each chunk
(``cs_i = sum_{k <= i} dt_k A``), and their backward: the gradients of dt, A and dt_bias, both
directly and through the decay (``triton.py`` gives the decay's gradient term by term).
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.triton_common import sigmoid, softplus


@triton.jit
def dt_cumsum_fwd_kernel(dt_ptr, A_ptr, bias_ptr, dt_out_ptr, cs_ptr,
                         s_dt_b, s_dt_l, s_dt_h, L, H, n_chunks,
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
        v = softplus(v)
    v = tl.where(ok, v, 0.0)
    a = tl.load(A_ptr + heads, mask=h_ok, other=0.0).to(tl.float32)
    cs = tl.cumsum(v * a[None, :], axis=0)
    out = ((b * H + heads[None, :]) * n_chunks + c) * CHUNK + steps[:, None]
    tl.store(dt_out_ptr + out, v, mask=h_ok[None, :])
    tl.store(cs_ptr + out, cs, mask=h_ok[None, :])


@triton.jit
def dt_cumsum_bwd_kernel(dt_ptr, A_ptr, bias_ptr, dt_eff_ptr, ddt_direct_ptr, dcs_ptr,
                         to_end_ptr, dlast_ptr, ddt_ptr, dA_part_ptr, dbias_part_ptr,
                         s_dt_b, s_dt_l, s_dt_h, n_dcs_parts, n_dlast_parts,
                         batch, L, H, n_chunks,
                         CHUNK: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                         BLOCK_H: tl.constexpr):
    """Gradients of the step sizes: direct (ddt_direct) and through the decay a_k = dt_k A.

    d a_k = sum_{i >= k} dcs_i + sum_{j < k} to_end_j + dlast (see the module docstring):
    dcs (parts, b, H, nc, CHUNK), its parts added (dC's via-state terms, then the slots of pair
    terms, ``triton_pairs.py``), to_end (b, H, nc, CHUNK), dlast (parts, b, H, nc) per chunk.
    Writes ddt (b, L, H) fp32 and per (b, chunk, head) partial sums of dA and d(dt_bias),
    (b, nc, H) fp32."""
    c = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    heads = tl.program_id(2) * BLOCK_H + tl.arange(0, BLOCK_H)
    steps = tl.arange(0, CHUNK)
    t = c * CHUNK + steps
    h_ok = heads < H
    ok = (t < L)[:, None] & h_ok[None, :]
    seg = ((b * H + heads[None, :]) * n_chunks + c) * CHUNK + steps[:, None]
    dcs = tl.zeros((CHUNK, BLOCK_H), dtype=tl.float32)
    for k in range(n_dcs_parts):
        dcs += tl.load(dcs_ptr + (((k * batch + b) * H + heads[None, :]) * n_chunks + c) * CHUNK
                       + steps[:, None], mask=h_ok[None, :], other=0.0)
    dlast = tl.zeros((BLOCK_H,), dtype=tl.float32)
    for k in range(n_dlast_parts):
        dlast += tl.load(dlast_ptr + ((k * batch + b) * H + heads) * n_chunks + c, mask=h_ok,
                         other=0.0)
    to_end = tl.load(to_end_ptr + seg, mask=h_ok[None, :], other=0.0)
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
        ddt *= sigmoid(v)
    ddt = tl.where(ok, ddt, 0.0)
    tl.store(ddt_ptr + (b * L + t[:, None]) * H + heads[None, :], ddt, mask=ok)
    if HAS_BIAS:
        tl.store(dbias_part_ptr + (b * n_chunks + c) * H + heads, tl.sum(ddt, axis=0), mask=h_ok)
