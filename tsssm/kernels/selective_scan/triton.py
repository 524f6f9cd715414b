"""Triton fast path of Mamba-1's selective scan: forward, backward and one decode step.

The scan, per batch ``b``, channel ``d`` and state index ``n`` (channel ``d`` reads group
``g = d // (D / G)`` of ``B`` and ``C``)::

    Δ_t = softplus(δ_t + bias)             (or δ_t + bias, or δ_t)
    h_t = exp(Δ_t A[d, n]) h_{t-1} + Δ_t u_t B_t[g, n]
    y_t = Σ_n C_t[g, n] h_t + D u_t        (then y_t ← y_t · silu(z_t))

**Layout of the work.** One program owns one batch row and a block of ``BLOCK_D`` channels of
one group, and walks the sequence once, ``CHUNK`` steps at a time, carrying the state
(``BLOCK_D × N``, fp32) in registers from chunk to chunk. Inside a chunk the ``CHUNK × BLOCK_D ×
N`` recurrence is one ``tl.associative_scan`` over time on (decay, input) pairs: each element is
the affine map ``h ↦ a h + x`` and the scan composes them. Each (t, d, n) needs one exponential,
which is the kernel's second floor besides the bytes (``anchors.md``); nothing is evaluated
twice in the forward.

**What the backward needs.** When a gradient is due, the forward writes the state entering
every chunk (fp32, ``N / CHUNK`` of ``u``'s elements); the backward rebuilds everything else. It
walks the chunks in reverse and visits each twice: in time order to rebuild the states from the
checkpoint (the forward scan again), and in reverse time order, through reversed offsets, to run
the adjoint ``λ_t = ∂loss/∂h_t = gy_t C_t + a_{t+1} λ_{t+1}`` — also a forward scan in that row
order. No ``reverse=True`` scan is used: Triton 3.6 lowers it by flipping every value across the
lanes and back (a version of this backward with one had 576 shuffles per thread per chunk in its
sm_90 SASS, this one 352), and it has had ordering bugs (triton-lang/triton#4362). The price is a
second exponential per element. The two visits exchange only (CHUNK, BLOCK_D) tiles
(``tl.flip``), never a (CHUNK, BLOCK_D, N) one; ``_scan_bwd_kernel`` gives the identity that
makes this possible.

``dB`` and ``dC`` sum over the channels of a group, which several programs share: they are added
atomically into fp32 buffers, so their last bits vary from run to run. ``dA``, ``dD`` and
``ddelta_bias`` sum over the batch and the sequence: each program writes its own partial sum and
torch adds the batch rows.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.selective_scan.reference import check_scan_args, check_step_args

LOG2E = tl.constexpr(1.4426950408889634)  # exp(v) = exp2(v · log2 e): exp2 is the native unit

# Triton's interpreter (TRITON_INTERPRET=1, read when a kernel is decorated) runs the kernels on
# CPU tensors; the tests use it where there is no GPU.
INTERPRETED = bool(triton.knobs.runtime.interpret)


def chunk_len(dstate: int) -> int:
    """Steps per chunk: the checkpoints cost N / CHUNK of u's bytes, registers cap the chunk.

    A chunk holds ``CHUNK × BLOCK_D × next_pow2(N)`` fp32 values per live tensor; 4096 of them
    (BLOCK_D = 4, 8 warps: 16 per thread) keep the backward at ~240 registers without spills
    (ptxas, sm_90).
    """
    return max(16, min(64, 1024 // triton.next_power_of_2(dstate)))


# ------------------------------------------------------------------------------------------
# Device helpers
# ------------------------------------------------------------------------------------------


@triton.jit
def _compose_forward(a_first, x_first, a_then, x_then):
    """Two consecutive steps ``h ↦ a h + x`` as one: ``(a_first, x_first)`` acts first."""
    return a_first * a_then, a_then * x_first + x_then


@triton.jit
def _softplus(v):
    """torch's softplus: ``log(1 + e^v)``, and ``v`` itself above 20 where they agree in fp32."""
    return tl.where(v <= 20.0, tl.log(1.0 + tl.exp(v)), v)


@triton.jit
def _channel_block(chans_per_group, BLOCK_D: tl.constexpr):
    """This program's group and channels: (g, d (BLOCK_D,), d_mask); blocks never span groups."""
    blocks_per_group = tl.cdiv(chans_per_group, BLOCK_D)
    pid = tl.program_id(1)
    g = pid // blocks_per_group
    in_group = (pid % blocks_per_group) * BLOCK_D + tl.arange(0, BLOCK_D)
    return g, g * chans_per_group + in_group, in_group < chans_per_group


@triton.jit
def _load_td(base, t, s_l, d, s_d, mask):
    """A (CHUNK, BLOCK_D) tile of a (L, D) slice, in fp32, zero where masked."""
    return tl.load(base + t[:, None] * s_l + d[None, :] * s_d, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _load_tn(base, t, s_l, n, s_n, mask):
    """A (CHUNK, BLOCK_N) tile of a (L, N) slice of B or C, in fp32, zero where masked."""
    return tl.load(base + t[:, None] * s_l + n[None, :] * s_n, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _store_td(base, t, s_l, d, s_d, value, mask):
    """Store a (CHUNK, BLOCK_D) tile into a (L, D) slice, cast to its dtype."""
    tl.store(base + t[:, None] * s_l + d[None, :] * s_d, value.to(base.dtype.element_ty), mask=mask)


@triton.jit
def _step_sizes(v, bias, mask, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(Δ, δ + bias) for raw step sizes ``v`` of any shape: Δ = 0 where masked (a no-op step)."""
    if HAS_BIAS:
        v += bias
    dt = v
    if SOFTPLUS:
        dt = _softplus(v)
    return tl.where(mask, dt, 0.0), v


@triton.jit
def _chunk_states(dt, u, A2, Bt, h_prev):
    """The chunk's inputs x and states h, each (CHUNK, BLOCK_D, BLOCK_N).

    ``h_t = (Π_{s<=t} a_s) h_prev + (scanned inputs)_t``; masked steps have Δ = 0, so a = 1 and
    x = 0 and they leave the state as it was.
    """
    a = tl.exp2(dt[:, :, None] * A2[None, :, :])
    x = (dt * u)[:, :, None] * Bt[:, None, :]
    decay, h = tl.associative_scan((a, x), 0, _compose_forward)
    return x, h + decay * h_prev[None, :, :]


@triton.jit
def _row(x, rows, index):
    """Row ``index`` of a (CHUNK, BLOCK_D, BLOCK_N) tile, as a (BLOCK_D, BLOCK_N) tensor."""
    return tl.sum(tl.where(rows[:, None, None] == index, x, 0.0), axis=0)


# ------------------------------------------------------------------------------------------
# Kernels
# ------------------------------------------------------------------------------------------


def _scan_configs() -> list[triton.Config]:
    return [triton.Config({"BLOCK_D": bd}, num_warps=w) for bd in (4, 8, 16, 32)
            for w in (2, 4, 8, 16)]


def _prune_for(max_per_thread: int):
    """Drop configs whose chunk tile would not fit in registers or would leave lanes idle."""

    def prune(configs, named_args, **kwargs):
        chans = triton.next_power_of_2(named_args["chans_per_group"])
        tile = kwargs["CHUNK"] * kwargs["BLOCK_N"]
        kept = [c for c in configs
                if c.kwargs["BLOCK_D"] <= max(4, chans)
                and 4 <= tile * c.kwargs["BLOCK_D"] // (32 * c.num_warps) <= max_per_thread]
        return kept or configs[:1]

    return prune


def _tuned(max_per_thread: int, key: list[str], **kwargs):
    """Autotune BLOCK_D and num_warps on GPUs; under the interpreter one block size does."""
    if INTERPRETED:
        return triton.heuristics({"BLOCK_D": lambda args: 4})
    return triton.autotune(_scan_configs(), key=key,
                           prune_configs_by={"early_config_prune": _prune_for(max_per_thread)},
                           **kwargs)


_SCAN_KEY = ["dim", "DSTATE", "chans_per_group", "HAS_D", "HAS_Z", "HAS_BIAS", "SOFTPLUS",
             "HAS_H0", "CHUNK"]


@_tuned(32, _SCAN_KEY + ["STORE_CKPT"])
@triton.jit
def _scan_fwd_kernel(
        u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, h0_ptr,
        y_ptr, final_ptr, ckpt_ptr,
        seqlen, dim, chans_per_group,
        s_u_b, s_u_l, s_u_d, s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
        s_z_b, s_z_l, s_z_d, s_h0_b, s_h0_d, s_h0_n, s_y_b, s_y_l, s_y_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, HAS_H0: tl.constexpr, STORE_FINAL: tl.constexpr,
        STORE_CKPT: tl.constexpr, DSTATE: tl.constexpr, CHUNK: tl.constexpr,
        BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Grid (batch, G · cdiv(D/G, BLOCK_D)). Writes y; the final state and the per-chunk
    checkpoints (batch, n_chunks, D, N) fp32 when asked."""
    b = tl.program_id(0).to(tl.int64)
    g, d, d_mask = _channel_block(chans_per_group, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    dn_mask = d_mask[:, None] & (n < DSTATE)[None, :]
    dn_offs = d[:, None] * DSTATE + n[None, :]
    rows = tl.arange(0, CHUNK)

    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=dn_mask, other=0.0)
    A2 = A.to(tl.float32) * LOG2E
    skip = tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    if HAS_H0:
        h = tl.load(h0_ptr + b * s_h0_b + d[:, None] * s_h0_d + n[None, :] * s_h0_n,
                    mask=dn_mask, other=0.0).to(tl.float32)
    else:
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)

    n_chunks = (seqlen + CHUNK - 1) // CHUNK
    for c in range(n_chunks):
        t0 = tl.cast(c, tl.int64) * CHUNK
        if STORE_CKPT:
            tl.store(ckpt_ptr + ((b * n_chunks + c) * dim) * DSTATE + dn_offs, h, mask=dn_mask)
        t_mask = rows < seqlen - t0
        td_mask = t_mask[:, None] & d_mask[None, :]
        tn_mask = t_mask[:, None] & (n < DSTATE)[None, :]
        u = _load_td(u_ptr + b * s_u_b + t0 * s_u_l, rows, s_u_l, d, s_u_d, td_mask)
        dt, _ = _step_sizes(_load_td(dt_ptr + b * s_dt_b + t0 * s_dt_l, rows, s_dt_l, d, s_dt_d,
                                     td_mask), bias, td_mask, HAS_BIAS, SOFTPLUS)
        Bt = _load_tn(B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, rows, s_B_l, n, s_B_n, tn_mask)
        Ct = _load_tn(C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, rows, s_C_l, n, s_C_n, tn_mask)

        _, hs = _chunk_states(dt, u, A2, Bt, h)
        y = tl.sum(hs * Ct[:, None, :], axis=2)
        if HAS_D:
            y += skip[None, :] * u
        if HAS_Z:
            z = _load_td(z_ptr + b * s_z_b + t0 * s_z_l, rows, s_z_l, d, s_z_d, td_mask)
            y *= z * tl.sigmoid(z)
        _store_td(y_ptr + b * s_y_b + t0 * s_y_l, rows, s_y_l, d, s_y_d, y, td_mask)
        h = _row(hs, rows, CHUNK - 1)

    if STORE_FINAL:
        tl.store(final_ptr + b * dim * DSTATE + dn_offs, h, mask=dn_mask)


@_tuned(16, _SCAN_KEY + ["HAS_DFINAL"], reset_to_zero=["dB_ptr", "dC_ptr"])
@triton.jit
def _scan_bwd_kernel(
        u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr, dy_ptr, dfinal_ptr,
        du_ptr, ddt_ptr, dz_ptr, dB_ptr, dC_ptr, dA_ptr, dD_ptr, dbias_ptr, dh0_ptr,
        seqlen, dim, chans_per_group, groups,
        s_u_b, s_u_l, s_u_d, s_dt_b, s_dt_l, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
        s_z_b, s_z_l, s_z_d, s_dy_b, s_dy_l, s_dy_d,
        s_du_b, s_du_l, s_du_d, s_ddt_b, s_ddt_l, s_ddt_d, s_dz_b, s_dz_l, s_dz_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, HAS_H0: tl.constexpr, HAS_DFINAL: tl.constexpr,
        DSTATE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr):
    """Grid as the forward. Writes du, ddelta, dz; adds into dB, dC (batch, L, G, N) fp32;
    writes per-batch partial sums dA (batch, D, N), dD, ddelta_bias (batch, D) and dh0.

    Each chunk [t0, t1] is visited twice. In time order (row i is step t0 + i) the states are
    rebuilt from the checkpoint. In reverse time order (row i is step t1 - i) the adjoint
    ``λ_t = q_t + a_{t+1} λ_{t+1}`` (``q_t = gy_t C_t``) is a forward scan over the rows, each
    row paired with the decay of the step after it (a second exponential).

    The decay's gradient ``∂loss/∂(Δ_t A) = a_t h_{t-1} λ_t`` needs h and λ of the same step,
    which live in different row orders. Unrolling ``ψ_t = h_t λ_t`` gives instead

        a_t h_{t-1} λ_t = Σ_{s=t}^{t1} (q_s a_s h_{s-1} − x_s a_{s+1} λ_{s+1})
                          + h_{t1} a_{t1+1} λ_{t1+1},

    a reverse running sum over one term from each visit (``q (h − x)`` and ``x (λ − q)``, with
    the common ``q_s x_s`` cancelled exactly rather than in rounding). Summed against A over n
    and against Δ over t, these need only (CHUNK, BLOCK_D) tiles to cross between the visits.
    The rounding of the running sums makes dA and ddelta_bias ~10× less accurate than a direct
    product would (about 3e-6 relative in fp32 at Δ ~ 0.7 in the tests), well inside fp32 needs.
    """
    b = tl.program_id(0).to(tl.int64)
    g, d, d_mask = _channel_block(chans_per_group, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    n_mask = n < DSTATE
    dn_mask = d_mask[:, None] & n_mask[None, :]
    dn_offs = d[:, None] * DSTATE + n[None, :]
    rows = tl.arange(0, CHUNK)
    back = CHUNK - 1 - rows

    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=dn_mask,
                other=0.0).to(tl.float32)
    A2 = A * LOG2E
    skip = tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32) if HAS_BIAS else 0.0
    u_b = u_ptr + b * s_u_b
    dt_b = dt_ptr + b * s_dt_b
    B_b = B_ptr + b * s_B_b + g * s_B_g
    C_b = C_ptr + b * s_C_b + g * s_C_g
    z_b = z_ptr + b * s_z_b
    dy_b = dy_ptr + b * s_dy_b
    # λ of the step after the current chunk (after the last step: the final state's gradient)
    if HAS_DFINAL:
        carry = tl.load(dfinal_ptr + b * dim * DSTATE + dn_offs, mask=dn_mask,
                        other=0.0).to(tl.float32)
    else:
        carry = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dA_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)

    n_chunks = (seqlen + CHUNK - 1) // CHUNK
    for i in range(n_chunks):
        c = n_chunks - 1 - i
        t0 = tl.cast(c, tl.int64) * CHUNK
        left = seqlen - t0

        # In time order: the states h_t, y, dz, dC and the first term of the decay gradient.
        td_mask = (rows < left)[:, None] & d_mask[None, :]
        tn_mask = (rows < left)[:, None] & n_mask[None, :]
        h_prev = tl.load(ckpt_ptr + ((b * n_chunks + c) * dim) * DSTATE + dn_offs, mask=dn_mask,
                         other=0.0)
        u = _load_td(u_b + t0 * s_u_l, rows, s_u_l, d, s_u_d, td_mask)
        dt, _ = _step_sizes(_load_td(dt_b + t0 * s_dt_l, rows, s_dt_l, d, s_dt_d, td_mask), bias,
                            td_mask, HAS_BIAS, SOFTPLUS)
        Bt = _load_tn(B_b + t0 * s_B_l, rows, s_B_l, n, s_B_n, tn_mask)
        Ct = _load_tn(C_b + t0 * s_C_l, rows, s_C_l, n, s_C_n, tn_mask)
        gy = _load_td(dy_b + t0 * s_dy_l, rows, s_dy_l, d, s_dy_d, td_mask)
        x, hs = _chunk_states(dt, u, A2, Bt, h_prev)
        if HAS_Z:
            y = tl.sum(hs * Ct[:, None, :], axis=2)
            if HAS_D:
                y += skip[None, :] * u
            z = _load_td(z_b + t0 * s_z_l, rows, s_z_l, d, s_z_d, td_mask)
            sig = tl.sigmoid(z)
            _store_td(dz_ptr + b * s_dz_b + t0 * s_dz_l, rows, s_dz_l, d, s_dz_d,
                      gy * y * sig * (1.0 + z * (1.0 - sig)), td_mask)
            gy = gy * z * sig
        if HAS_D:
            dD_acc += tl.sum(gy * u, axis=0)
        # dC_t = Σ_{d in group} gy_t h_t, shared by the programs of the group: atomic.
        bgtn = ((b * seqlen + t0 + rows[:, None]) * groups + g) * DSTATE + n[None, :]
        tl.atomic_add(dC_ptr + bgtn, tl.sum(gy[:, :, None] * hs, axis=1), mask=tn_mask,
                      sem="relaxed")
        decayed = gy[:, :, None] * Ct[:, None, :] * (hs - x)       # q_t a_t h_{t-1}
        from_states = tl.flip(tl.sum(decayed * A[None, :, :], axis=2), 0)
        dt_upto = tl.cumsum(dt, 0)                                # Σ_{s<=t} Δ_s in the chunk
        dA_acc += tl.sum(decayed * dt_upto[:, :, None], axis=0)
        dt_upto = tl.flip(dt_upto, 0)
        h_last = _row(hs, rows, CHUNK - 1)
        dt_sum = tl.sum(dt, axis=0)

        # In reverse time order: λ, du, ddelta, dB and the second term.
        td_mask = (back < left)[:, None] & d_mask[None, :]
        tn_mask = (back < left)[:, None] & n_mask[None, :]
        u = _load_td(u_b + t0 * s_u_l, back, s_u_l, d, s_u_d, td_mask)
        dt, v = _step_sizes(_load_td(dt_b + t0 * s_dt_l, back, s_dt_l, d, s_dt_d, td_mask), bias,
                            td_mask, HAS_BIAS, SOFTPLUS)
        next_mask = (back + 1 < left)[:, None] & d_mask[None, :]
        dt_next, _ = _step_sizes(_load_td(dt_b + t0 * s_dt_l, back + 1, s_dt_l, d, s_dt_d,
                                          next_mask), bias, next_mask, HAS_BIAS, SOFTPLUS)
        Bt = _load_tn(B_b + t0 * s_B_l, back, s_B_l, n, s_B_n, tn_mask)
        Ct = _load_tn(C_b + t0 * s_C_l, back, s_C_l, n, s_C_n, tn_mask)
        gy = _load_td(dy_b + t0 * s_dy_l, back, s_dy_l, d, s_dy_d, td_mask)
        if HAS_Z:
            z = _load_td(z_b + t0 * s_z_l, back, s_z_l, d, s_z_d, td_mask)
            gy = gy * z * tl.sigmoid(z)
        q = gy[:, :, None] * Ct[:, None, :]
        decay, lam = tl.associative_scan((tl.exp2(dt_next[:, :, None] * A2[None, :, :]), q), 0,
                                         _compose_forward)
        lam += decay * carry[None, :, :]
        after_mask = (CHUNK < left) & d_mask
        dt_after, _ = _step_sizes(tl.load(dt_b + (t0 + CHUNK) * s_dt_l + d * s_dt_d,
                                          mask=after_mask, other=0.0).to(tl.float32),
                                  bias, after_mask, HAS_BIAS, SOFTPLUS)
        boundary = h_last * tl.exp2(dt_after[:, None] * A2) * carry   # h_{t1} a_{t1+1} λ_{t1+1}
        dtu = dt * u
        bgtn = ((b * seqlen + t0 + back[:, None]) * groups + g) * DSTATE + n[None, :]
        tl.atomic_add(dB_ptr + bgtn, tl.sum(lam * dtu[:, :, None], axis=1), mask=tn_mask,
                      sem="relaxed")
        s = tl.sum(lam * Bt[:, None, :], axis=2)
        decayed = (lam - q) * Bt[:, None, :]                       # a_{t+1} λ_{t+1} B_t
        from_decay = tl.cumsum(from_states - dtu * tl.sum(decayed * A[None, :, :], axis=2), 0)
        dA_acc += dt_sum[:, None] * boundary - tl.sum(decayed * (dtu * dt_upto)[:, :, None], axis=0)
        ddt = u * s + from_decay + tl.sum(boundary * A, axis=1)[None, :]
        du = dt * s
        if HAS_D:
            du += skip[None, :] * gy
        _store_td(du_ptr + b * s_du_b + t0 * s_du_l, back, s_du_l, d, s_du_d, du, td_mask)
        if SOFTPLUS:
            ddt *= tl.sigmoid(v)
        ddt = tl.where(td_mask, ddt, 0.0)
        if HAS_BIAS:
            dbias_acc += tl.sum(ddt, axis=0)
        _store_td(ddt_ptr + b * s_ddt_b + t0 * s_ddt_l, back, s_ddt_l, d, s_ddt_d, ddt, td_mask)
        carry = _row(lam, rows, CHUNK - 1)

    tl.store(dA_ptr + b * dim * DSTATE + dn_offs, dA_acc, mask=dn_mask)
    if HAS_D:
        tl.store(dD_ptr + b * dim + d, dD_acc, mask=d_mask)
    if HAS_BIAS:
        tl.store(dbias_ptr + b * dim + d, dbias_acc, mask=d_mask)
    if HAS_H0:
        first_mask = (seqlen > 0) & d_mask
        dt_first, _ = _step_sizes(tl.load(dt_b + d * s_dt_d, mask=first_mask,
                                          other=0.0).to(tl.float32),
                                  bias, first_mask, HAS_BIAS, SOFTPLUS)
        tl.store(dh0_ptr + b * dim * DSTATE + dn_offs, tl.exp2(dt_first[:, None] * A2) * carry,
                 mask=dn_mask)


def _state_update_configs() -> list[triton.Config]:
    return [triton.Config({"BLOCK_D": bd}, num_warps=w) for bd in (4, 16, 64) for w in (1, 4)]


def _tuned_state_update():
    """The step is a few microseconds; tuning restores the state it updates in place."""
    if INTERPRETED:
        return triton.heuristics({"BLOCK_D": lambda args: 4})
    return triton.autotune(_state_update_configs(), key=["dim", "DSTATE", "HAS_Z"],
                           restore_value=["state_ptr"])


@_tuned_state_update()
@triton.jit
def _state_update_kernel(
        state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, y_ptr,
        dim, chans_per_group,
        s_st_b, s_st_d, s_st_n, s_x_b, s_x_d, s_dt_b, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_g, s_B_n, s_C_b, s_C_g, s_C_n, s_z_b, s_z_d, s_y_b, s_y_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr):
    """Grid (batch, G · cdiv(D/G, BLOCK_D)): one token; the program's state block stays in
    registers between its load and its store."""
    b = tl.program_id(0).to(tl.int64)
    g, d, d_mask = _channel_block(chans_per_group, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    n_mask = n < DSTATE
    dn_mask = d_mask[:, None] & n_mask[None, :]

    state_at = state_ptr + b * s_st_b + d[:, None] * s_st_d + n[None, :] * s_st_n
    state = tl.load(state_at, mask=dn_mask, other=0.0).to(tl.float32)
    x = tl.load(x_ptr + b * s_x_b + d * s_x_d, mask=d_mask, other=0.0).to(tl.float32)
    dt = tl.load(dt_ptr + b * s_dt_b + d * s_dt_d, mask=d_mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32)
    if SOFTPLUS:
        dt = _softplus(dt)
    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=dn_mask,
                other=0.0).to(tl.float32)
    Bg = tl.load(B_ptr + b * s_B_b + g * s_B_g + n * s_B_n, mask=n_mask, other=0.0).to(tl.float32)
    Cg = tl.load(C_ptr + b * s_C_b + g * s_C_g + n * s_C_n, mask=n_mask, other=0.0).to(tl.float32)

    state = tl.exp2(dt[:, None] * A * LOG2E) * state + (dt * x)[:, None] * Bg[None, :]
    tl.store(state_at, state.to(state_ptr.dtype.element_ty), mask=dn_mask)
    y = tl.sum(state * Cg[None, :], axis=1)
    if HAS_D:
        y += tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) * x
    if HAS_Z:
        z = tl.load(z_ptr + b * s_z_b + d * s_z_d, mask=d_mask, other=0.0).to(tl.float32)
        y *= z * tl.sigmoid(z)
    tl.store(y_ptr + b * s_y_b + d * s_y_d, y.to(y_ptr.dtype.element_ty), mask=d_mask)


# ------------------------------------------------------------------------------------------
# Launchers: outputs come preallocated, so the tests can poison them
# ------------------------------------------------------------------------------------------


def _grid(batch: int, groups: int, chans_per_group: int):
    return lambda meta: (batch, groups * triton.cdiv(chans_per_group, meta["BLOCK_D"]))


def _strides(tensor: Tensor | None, rank: int) -> tuple[int, ...]:
    return (0,) * rank if tensor is None else tuple(tensor.stride())


def scan_forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                 z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
                 initial_state: Tensor | None, y: Tensor, final_state: Tensor | None,
                 checkpoints: Tensor | None, chunk: int) -> None:
    """Run the forward kernel into ``y`` (batch, L, D) and, when given, ``final_state``
    (batch, D, N) fp32 contiguous and ``checkpoints`` (batch, cdiv(L, chunk), D, N) fp32
    contiguous, the state entering each chunk. Any strides for the inputs and ``y``."""
    batch, seqlen, dim = u.shape
    groups, dstate = B.shape[2], B.shape[3]
    _scan_fwd_kernel[_grid(batch, groups, dim // groups)](
        u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u), _or(initial_state, u),
        y, _or(final_state, y), _or(checkpoints, y),
        seqlen, dim, dim // groups,
        *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *_strides(z, 3),
        *_strides(initial_state, 3), *y.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
        SOFTPLUS=delta_softplus, HAS_H0=initial_state is not None,
        STORE_FINAL=final_state is not None, STORE_CKPT=checkpoints is not None,
        DSTATE=dstate, CHUNK=chunk, BLOCK_N=triton.next_power_of_2(dstate))


def scan_backward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                  z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
                  has_initial_state: bool, checkpoints: Tensor, dy: Tensor,
                  dfinal: Tensor | None, du: Tensor, ddelta: Tensor, dz: Tensor | None,
                  dB: Tensor, dC: Tensor, dA: Tensor, dD: Tensor | None,
                  ddelta_bias: Tensor | None, dinitial_state: Tensor | None, chunk: int) -> None:
    """Run the backward kernel, ``chunk`` as in the forward that wrote ``checkpoints``.

    ``dB``, ``dC`` (batch, L, G, N) fp32 contiguous must hold zeros (they are added into);
    ``dA`` (batch, D, N), ``dD``, ``ddelta_bias`` (batch, D) fp32 contiguous receive per-batch
    partial sums; ``dinitial_state`` (batch, D, N) fp32 contiguous; ``dfinal`` (batch, D, N) fp32
    contiguous or None; ``du``, ``ddelta``, ``dz`` any strides."""
    batch, seqlen, dim = u.shape
    groups, dstate = B.shape[2], B.shape[3]
    _scan_bwd_kernel[_grid(batch, groups, dim // groups)](
        u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u), checkpoints, dy,
        _or(dfinal, dA), du, ddelta, _or(dz, du), dB, dC, dA, _or(dD, dA), _or(ddelta_bias, dA),
        _or(dinitial_state, dA),
        seqlen, dim, dim // groups, groups,
        *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *_strides(z, 3),
        *dy.stride(), *du.stride(), *ddelta.stride(), *_strides(dz, 3),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
        SOFTPLUS=delta_softplus, HAS_H0=has_initial_state, HAS_DFINAL=dfinal is not None,
        DSTATE=dstate, CHUNK=chunk, BLOCK_N=triton.next_power_of_2(dstate))


def state_update(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None, z: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool,
                 y: Tensor) -> None:
    """Run the decode-step kernel: ``state`` (batch, D, N) updated in place, ``y`` (batch, D)."""
    batch, dim = x.shape
    groups, dstate = B.shape[1], B.shape[2]
    _state_update_kernel[_grid(batch, groups, dim // groups)](
        state, x, dt, A, B, C, _or(D, x), _or(z, x), _or(dt_bias, x), y,
        dim, dim // groups,
        *state.stride(), *x.stride(), *dt.stride(), *A.stride(), *B.stride(), *C.stride(),
        *_strides(z, 2), *y.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=dt_bias is not None,
        SOFTPLUS=dt_softplus, DSTATE=dstate, BLOCK_N=triton.next_power_of_2(dstate))


def _or(tensor: Tensor | None, stand_in: Tensor) -> Tensor:
    """A pointer for an absent optional input; its flag keeps the kernel from reading it."""
    return stand_in if tensor is None else tensor


# ------------------------------------------------------------------------------------------
# Autograd and the public entry points
# ------------------------------------------------------------------------------------------


class _SelectiveScan(torch.autograd.Function):
    """The scan with its Triton backward; checkpoints are written only when a gradient is due."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
                return_final_state, need_grad, chunk):
        batch, seqlen, dim = u.shape
        dstate = B.shape[3]
        D = None if D is None else D.contiguous()
        delta_bias = None if delta_bias is None else delta_bias.contiguous()
        y = torch.empty(batch, seqlen, dim, dtype=u.dtype, device=u.device)
        final_state = (torch.empty(batch, dim, dstate, dtype=torch.float32, device=u.device)
                       if return_final_state else None)
        checkpoints = (torch.empty(batch, triton.cdiv(seqlen, chunk), dim, dstate,
                                   dtype=torch.float32, device=u.device) if need_grad else None)
        scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, y,
                     final_state, checkpoints, chunk)
        if need_grad:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints)
            ctx.delta_softplus = delta_softplus
            ctx.chunk = chunk
        ctx.set_materialize_grads(False)
        return (y, final_state) if return_final_state else y

    @staticmethod
    def backward(ctx, dy, dfinal=None):
        u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints = ctx.saved_tensors
        batch, seqlen, dim = u.shape
        dstate = B.shape[3]

        def fp32(*shape: int) -> Tensor:
            return torch.empty(*shape, dtype=torch.float32, device=u.device)

        dy = torch.zeros_like(u) if dy is None else dy
        dfinal = None if dfinal is None else dfinal.to(torch.float32).contiguous()
        du = torch.empty(u.shape, dtype=u.dtype, device=u.device)
        ddelta = torch.empty(delta.shape, dtype=delta.dtype, device=u.device)
        dz = None if z is None else torch.empty(z.shape, dtype=z.dtype, device=u.device)
        dB = torch.zeros(B.shape, dtype=torch.float32, device=u.device)
        dC = torch.zeros(C.shape, dtype=torch.float32, device=u.device)
        dA = fp32(batch, dim, dstate)
        dD = None if D is None else fp32(batch, dim)
        ddelta_bias = None if delta_bias is None else fp32(batch, dim)
        dinitial_state = None if initial_state is None else fp32(batch, dim, dstate)
        scan_backward(u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus,
                      initial_state is not None, checkpoints, dy, dfinal, du, ddelta, dz, dB, dC,
                      dA, dD, ddelta_bias, dinitial_state, ctx.chunk)
        return (du, ddelta, dA.sum(0).to(A.dtype), dB.to(B.dtype), dC.to(C.dtype),
                None if D is None else dD.sum(0).to(D.dtype), dz,
                None if delta_bias is None else ddelta_bias.sum(0).to(delta_bias.dtype), None,
                None if initial_state is None else dinitial_state.to(initial_state.dtype),
                None, None, None)


def selective_scan_triton(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                          D: Tensor | None = None, z: Tensor | None = None,
                          delta_bias: Tensor | None = None, delta_softplus: bool = False,
                          initial_state: Tensor | None = None, return_final_state: bool = False,
                          *, chunk_size: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan on the GPU, differentiable in every tensor argument.

    Args:
        u: (batch, L, D) inputs; delta: (batch, L, D) step sizes (before ``delta_bias`` and
            the optional softplus); z: (batch, L, D) gate. Any strides.
        A: (D, N) real decay rates. B, C: (batch, L, G, N), channel d reads group d // (D/G).
        D: (D,) skip; delta_bias: (D,); initial_state: (batch, D, N).
        return_final_state: also return the state after the last step.
        chunk_size: steps per chunk, a power of two (default ``chunk_len(N)``); changes the
            cost and the checkpoint memory, not the result.

    Returns:
        y (batch, L, D) in u's dtype, and with ``return_final_state`` the final state
        (batch, D, N) in fp32. State and arithmetic are fp32 for fp32, bf16 and fp16 inputs.
    """
    fn = "selective_scan_triton"
    dims = check_scan_args(fn, u, delta, A, B, C, D, z, delta_bias, initial_state)
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state)
    _check_runnable(fn, tensors)
    chunk = chunk_len(dims.state) if chunk_size is None else chunk_size
    if chunk < 1 or chunk & (chunk - 1):
        raise ValueError(f"{fn}: chunk_size must be a power of two, got {chunk_size}")
    need_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return _SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus),
                                initial_state, bool(return_final_state), need_grad, chunk)


def selective_state_update_triton(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                                  C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                                  dt_bias: Tensor | None = None,
                                  dt_softplus: bool = False) -> Tensor:
    """One decode step in one kernel; ``state`` (batch, D, N) is updated in place.

    Args:
        x, dt, z: (batch, D); A: (D, N); B, C: (batch, G, N); D, dt_bias: (D,).

    Returns:
        y (batch, D) in x's dtype.
    """
    fn = "selective_state_update_triton"
    check_step_args(fn, state, x, dt, A, B, C, D, z, dt_bias)
    _check_runnable(fn, (state, x, dt, A, B, C, D, z, dt_bias))
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    state_update(state, x, dt, A, B, C, None if D is None else D.contiguous(), z,
                 None if dt_bias is None else dt_bias.contiguous(), bool(dt_softplus), y)
    return y


_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def unsupported(tensors: tuple[Tensor | None, ...]) -> str | None:
    """Why the kernels cannot take these tensors, or None: they read fp32/bf16/fp16 tensors of
    one CUDA device (or of the CPU, interpreted)."""
    present = [t for t in tensors if t is not None]
    device = present[0].device
    if any(t.device != device for t in present):
        return f"all tensors must be on one device, got {sorted({str(t.device) for t in present})}"
    if device.type == "cpu" and not INTERPRETED:
        return ("the kernels need CUDA tensors; on the CPU they run only under Triton's "
                "interpreter (set TRITON_INTERPRET=1 before tsssm.kernels.selective_scan.triton "
                "is imported)")
    if device.type not in ("cuda", "cpu"):
        return f"the kernels run on CUDA tensors, got {device}"
    for t in present:
        if t.dtype not in _KERNEL_DTYPES:
            return (f"the kernels compute in fp32 and read {_KERNEL_DTYPES}; got {t.dtype} "
                    "(float64 runs on backend='reference')")
    return None


def _check_runnable(where: str, tensors: tuple[Tensor | None, ...]) -> None:
    problem = unsupported(tensors)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
