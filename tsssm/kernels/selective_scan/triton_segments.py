"""Parallelism over time for the scan: the sequence cut into segments scanned side by side.

A program of the forward or backward walks its whole span of chunks one after another, so the
grid is B · D / BLOCK_D programs: at batch 1 that is a few hundred warps for the 528 warp
schedulers of an H100, and a batch-1 element costs several times what it costs at batch 4.
With ``S`` segments of whole chunks the grid is ``S`` times taller, and what a segment needs
from the others is small, (B, S, D, N):

- forward: each segment but the last first scans its steps from a zero state (a pre-pass,
  ``segment_ends_kernel``) and keeps its end state ``e_s`` and ``Σ Δ`` over its steps; the state
  entering segment ``s`` is then ``H_s = exp(A Σ_s' Δ) H_{s-1} + e_{s-1}`` folded over the
  segments before it (``fold_ends``), and the main pass runs from it.
- backward: each segment but the first runs the adjoint alone from zero over its steps,
  last step first (``segment_adjoints_kernel``): the adjoint it passes to the left with nothing
  entering from the right, ``m_s``, and its ``Σ Δ``; the adjoint entering segment ``s`` from
  the right is ``μ_s = m_{s+1} + exp(A Σ_{s+1} Δ) μ_{s+1}``, from ``dfinal`` at the end
  (``fold_adjoints``).

The pre-passes cost a second exponential per element over ``(S-1)/S`` of the sequence in the
forward, and one more launch per pass; in the backward they are light next to its gradients.
So each pass has its ``SegmentPolicy``: cut a grid only when it is short, as many segments as
fill the GPU, none shorter than ``min_chunks`` chunks (the fold over the segments before a
program grows with their count) and at least ``min_segments`` of them or none. Its numbers come
from GPU time alone (the kernels replayed from a CUDA graph: the host's launch costs are
``triton_launch``'s business), measured per forced count by ``scripts/gpu/segment_sweep.py``,
which prints the policies its table implies; the policies are in ``scan_plan``'s key, so
setting ``FORWARD`` or ``BACKWARD`` here takes effect on the next call.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import triton
import triton.language as tl

from tsssm.kernels.selective_scan.triton_tiles import (FORWARD_CONFIGS, SEGMENT_ARGS, adjoint_scan,
                                                       advance, channel_block, chunk_steps,
                                                       load_proj, load_state, load_steps, proj4,
                                                       row, scan_tuning, state_index,
                                                       steps4)
from tsssm.kernels.triton_common import LOG2E, cdiv, sigmoid


class SegmentPolicy(NamedTuple):
    """Cut a pass's grid of ``rows`` = batch · D channel rows into segments when it has fewer
    than ``below_rows``: as many as make ``wanted_rows``, each of at least ``min_chunks``
    chunks, and at least ``min_segments`` of them or none."""

    wanted_rows: int
    below_rows: int
    min_chunks: int
    min_segments: int


FORWARD = SegmentPolicy(wanted_rows=49152, below_rows=4096, min_chunks=16, min_segments=8)
BACKWARD = SegmentPolicy(wanted_rows=24576, below_rows=16384, min_chunks=8, min_segments=2)


def segment_count(rows: int, n_chunks: int, policy: SegmentPolicy) -> int:
    """Segments for a grid of ``rows`` channel rows over ``n_chunks`` chunks (1: none)."""
    if rows >= policy.below_rows:
        return 1
    count = min(policy.wanted_rows // max(rows, 1), n_chunks // policy.min_chunks)
    return count if count >= policy.min_segments else 1


def segment_chunks(n_chunks: int, segments: int) -> tuple[int, int]:
    """(chunks per segment, segments): whole chunks, none empty, the last possibly shorter."""
    per = cdiv(n_chunks, max(1, min(segments, n_chunks)))
    return per, cdiv(n_chunks, per)


def segments_for(batch: int, dim: int, seqlen: int, chunk: int, policy: SegmentPolicy,
                 forced: int | None = None) -> int:
    """How many segments of whole chunks a pass runs side by side: ``forced`` (capped at the
    chunk count) or as the pass's ``policy`` says."""
    n_chunks = cdiv(seqlen, chunk)
    wanted = segment_count(batch * dim, n_chunks, policy) if forced is None else forced
    return segment_chunks(n_chunks, wanted)[1]


class ScanPlan(NamedTuple):
    """The segments of each pass for a call's sizes, worked out once per sizes
    (``scan_plan``)."""

    forward_segments: int
    backward_segments: int


@lru_cache(maxsize=1024)
def scan_plan(batch: int, dim: int, seqlen: int, chunk: int, forced: int | None,
              policies: tuple[SegmentPolicy, SegmentPolicy]) -> ScanPlan:
    """The plan of a call (``forced``: the ``segments`` argument); ``policies`` (forward,
    backward) are in the key, so plans made under other policies are not reused."""
    return ScanPlan(*(segments_for(batch, dim, seqlen, chunk, policy, forced)
                      for policy in policies))


@triton.jit
def segment_offsets(b, s, n_segments, dim, DSTATE: tl.constexpr):
    """Element offsets of segment ``s`` of batch row ``b`` in the (B, S, D, N) and (B, S, D)
    buffers."""
    index = b * n_segments + s
    return index * dim * DSTATE, index * dim


@triton.jit
def fold_ends(h, ends_ptr, dsum_ptr, b, s, n_segments, dim, d, d_mask, state_offs, dn_mask, A2,
              DSTATE: tl.constexpr):
    """The state entering segment ``s`` from ``h``, the state before the sequence."""
    for i in range(0, s):
        state_at, chan_at = segment_offsets(b, i, n_segments, dim, DSTATE)
        dsum = tl.load(dsum_ptr + chan_at + d, mask=d_mask, other=0.0)
        end = tl.load(ends_ptr + state_at + state_offs, mask=dn_mask, other=0.0)
        h = tl.exp2(A2 * dsum[None, :, None]) * h + end
    return h


@triton.jit
def fold_adjoints(carry, adj_ptr, dsum_ptr, b, s, n_segments, dim, d, d_mask, state_offs,
                  dn_mask, A2, DSTATE: tl.constexpr):
    """The adjoint entering segment ``s`` from the right, from ``carry`` (dfinal or zeros)."""
    for j in range(0, n_segments - 1 - s):
        state_at, chan_at = segment_offsets(b, n_segments - 1 - j, n_segments, dim, DSTATE)
        dsum = tl.load(dsum_ptr + chan_at + d, mask=d_mask, other=0.0)
        leaving = tl.load(adj_ptr + state_at + state_offs, mask=dn_mask, other=0.0)
        carry = leaving + tl.exp2(A2 * dsum[None, :, None]) * carry
    return carry


@scan_tuning(FORWARD_CONFIGS, key_extra=["n_segments"])
@triton.jit(do_not_specialize=SEGMENT_ARGS)
def segment_ends_kernel(
        u_ptr, dt_ptr, A_ptr, B_ptr, bias_ptr, ends_ptr, dsum_ptr,
        dim, chans_per_group, seg_chunks, n_segments,
        s_u_b, s_u_l, s_u_d, s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n, s_B_b, s_B_l, s_B_g, s_B_n,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
        CHUNK: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, N2: tl.constexpr,
        STAGES: tl.constexpr, EVEN_D: tl.constexpr, VECTOR_STEPS: tl.constexpr):
    """Grid (batch · (S - 1), channel blocks): segment ``s < S - 1`` of batch row ``b`` from a
    zero state. Writes its end state into ``ends`` (B, S, D, N) and its Σ Δ into ``dsum``
    (B, S, D), fp32 contiguous. Every chunk of these segments is whole (the ragged last chunk
    is in the last segment)."""
    N1: tl.constexpr = BLOCK_N // N2
    row_id, g, d, d_mask = channel_block(chans_per_group, BLOCK_D, EVEN_D, VECTOR_STEPS)
    b, s = row_id // (n_segments - 1), row_id % (n_segments - 1)
    n, dn_mask = state_index(d, d_mask, DSTATE, N1, N2)
    rows = tl.arange(0, CHUNK)
    A2 = load_state(A_ptr, s_A_d, s_A_n, d, n, dn_mask) * LOG2E
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    steps = (u_ptr + b * s_u_b, dt_ptr + b * s_dt_b)
    proj = (B_ptr + b * s_B_b + g * s_B_g,)
    h = tl.zeros((N1, BLOCK_D, N2), dtype=tl.float32)
    dsum = tl.zeros((BLOCK_D,), dtype=tl.float32)
    c_begin = s * seg_chunks
    for c in tl.range(c_begin, c_begin + seg_chunks, num_stages=STAGES):
        h, part = advance(steps, (s_u_l, s_dt_l), (s_u_d, s_dt_d), proj, (s_B_l,), (s_B_n,),
                          tl.cast(c, tl.int64) * CHUNK, h, rows, CHUNK, d, d_mask, n, A2, bias,
                          HAS_BIAS, SOFTPLUS, DSTATE, CHUNK, FULL=True)
        dsum += part
    state_at, chan_at = segment_offsets(b, s, n_segments, dim, DSTATE)
    tl.store(ends_ptr + state_at + d[None, :, None] * DSTATE + n[:, None, :], h, mask=dn_mask)
    tl.store(dsum_ptr + chan_at + d, dsum, mask=d_mask)


@triton.jit
def chunk_adjoint(dt_ptr, s_dt_l, s_dt_d, C_ptr, s_C_l, s_C_n, z_ptr, s_z_l, s_z_d, dy_ptr,
                  s_dy_l, s_dy_d, t0, carry, rows, left, d, d_mask, n, A2, bias,
                  HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                  DSTATE: tl.constexpr, CHUNK: tl.constexpr, FULL: tl.constexpr):
    """The adjoint leaving the chunk from ``t0`` to the left, from ``carry`` entering it from the
    right, and the chunk's Σ Δ (BLOCK_D,): the backward's reverse scan without its gradients.
    Steps past the sequence have Δ = 0 and no output gradient, so ``carry`` enters at the last
    row and crosses them unchanged."""
    t_mask, td_mask, dt, _ = chunk_steps(dt_ptr, s_dt_l, s_dt_d, t0, rows, left, d, d_mask, bias,
                                         HAS_BIAS, SOFTPLUS, FULL)
    gy = load_steps(dy_ptr + t0 * s_dy_l, rows, s_dy_l, d, s_dy_d, td_mask)
    if HAS_Z:
        z = load_steps(z_ptr + t0 * s_z_l, rows, s_z_l, d, s_z_d, td_mask)
        gy = gy * z * sigmoid(z)
    Ct = load_proj(C_ptr + t0 * s_C_l, rows, s_C_l, n, s_C_n, t_mask, DSTATE)
    a = tl.exp2(steps4(dt) * A2[None, :, :, :])
    q = steps4(gy) * proj4(Ct)
    q = tl.where((rows == CHUNK - 1)[:, None, None, None], q + carry[None, :, :, :], q)
    lam = adjoint_scan(q, a)
    return row(a * lam, rows, 0), tl.sum(dt, axis=0)


@scan_tuning(FORWARD_CONFIGS, key_extra=["n_segments", "HAS_Z"])
@triton.jit(do_not_specialize=SEGMENT_ARGS)
def segment_adjoints_kernel(
        dt_ptr, A_ptr, C_ptr, z_ptr, bias_ptr, dy_ptr, adj_ptr, dsum_ptr,
        seqlen, dim, chans_per_group, seg_chunks, n_segments,
        s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n, s_C_b, s_C_l, s_C_g, s_C_n,
        s_z_b, s_z_l, s_z_d, s_dy_b, s_dy_l, s_dy_d,
        HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
        DSTATE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
        N2: tl.constexpr, STAGES: tl.constexpr, EVEN_D: tl.constexpr,
        VECTOR_STEPS: tl.constexpr):
    """Grid (batch · (S - 1), channel blocks): segment ``s ≥ 1`` of batch row ``b``, last step
    first, from a zero adjoint. Writes the adjoint it leaves to the left, ``a_t0 λ_t0``, into
    ``adj`` (B, S, D, N) and its Σ Δ into ``dsum`` (B, S, D), fp32 contiguous."""
    N1: tl.constexpr = BLOCK_N // N2
    row_id, g, d, d_mask = channel_block(chans_per_group, BLOCK_D, EVEN_D, VECTOR_STEPS)
    b, s = row_id // (n_segments - 1), row_id % (n_segments - 1) + 1
    n, dn_mask = state_index(d, d_mask, DSTATE, N1, N2)
    rows = tl.arange(0, CHUNK)
    A2 = load_state(A_ptr, s_A_d, s_A_n, d, n, dn_mask) * LOG2E
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    dt_b, C_b, z_b, dy_b = (dt_ptr + b * s_dt_b, C_ptr + b * s_C_b + g * s_C_g, z_ptr + b * s_z_b,
                            dy_ptr + b * s_dy_b)
    carry = tl.zeros((N1, BLOCK_D, N2), dtype=tl.float32)
    dsum = tl.zeros((BLOCK_D,), dtype=tl.float32)
    c_begin = s * seg_chunks
    c_end = tl.minimum(c_begin + seg_chunks, seqlen // CHUNK)
    if (s == n_segments - 1) & (seqlen % CHUNK != 0):
        t0 = tl.cast(c_end, tl.int64) * CHUNK
        carry, part = chunk_adjoint(dt_b, s_dt_l, s_dt_d, C_b, s_C_l, s_C_n, z_b, s_z_l, s_z_d,
                                    dy_b, s_dy_l, s_dy_d, t0, carry, rows, seqlen - t0, d, d_mask,
                                    n, A2, bias, HAS_Z, HAS_BIAS, SOFTPLUS, DSTATE, CHUNK,
                                    FULL=False)
        dsum += part
    for i in tl.range(0, c_end - c_begin, num_stages=STAGES):
        t0 = tl.cast(c_end - 1 - i, tl.int64) * CHUNK
        carry, part = chunk_adjoint(dt_b, s_dt_l, s_dt_d, C_b, s_C_l, s_C_n, z_b, s_z_l, s_z_d,
                                    dy_b, s_dy_l, s_dy_d, t0, carry, rows, CHUNK, d, d_mask, n,
                                    A2, bias, HAS_Z, HAS_BIAS, SOFTPLUS, DSTATE, CHUNK, FULL=True)
        dsum += part
    state_at, chan_at = segment_offsets(b, s, n_segments, dim, DSTATE)
    tl.store(adj_ptr + state_at + d[None, :, None] * DSTATE + n[:, None, :], carry, mask=dn_mask)
    tl.store(dsum_ptr + chan_at + d, dsum, mask=d_mask)
