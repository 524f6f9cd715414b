"""Mamba-2's SSD scan as Triton kernels on tensor cores: forward, backward, and one decode step;
the autograd Function and the launchers (the device code: ``triton_cumsum.py``,
``triton_states.py``, ``triton_gram.py``, ``triton_chunk_scan.py``, ``triton_pairs.py``,
``triton_chunk_dbc.py``, ``triton_step.py``, their shared helpers in ``triton_tiles.py``; how a
launch is issued: ``tsssm/kernels/triton_launch.py``, as the selective scan's).

The chunked algorithm of ``reference.py``, per (batch, head), chunk ``c`` of Q steps, local steps
``i, j`` and the log-decay running sum ``cs_i = sum_{k <= i} dt_k A`` inside the chunk::

    S_c = sum_j exp(cs_last - cs_j) dt_j x_j ⊗ B_j                      (chunk state, P × N)
    h_c = exp(cs_last) h_{c-1} + S_c                                    (state leaving chunk c)
    y_i = sum_{j <= i} exp(cs_i - cs_j) dt_j (C_i · B_j) x_j + exp(cs_i) h_{c-1} C_i + D x_i

Kernels, forward (4 launches, 5 from N = GRAM_MIN_STATE), and their grids (``b·nc·tiles·H``:
one dimension, heads fastest):
  ``dt_cumsum_fwd``  dt -> softplus(dt + bias) and its running sum cs     (nc, b, H/BLOCK_H)
  ``chunk_outer``    S_c = (x · w)^T B, one (P, N) tile per program         (b·nc·tiles·H)
  ``pass_states``    h_c along the chunks, from S_c into x's dtype            (PN/BLOCK, b·H)
  ``chunk_gram``     C_i · B_j (j <= i) once per group, from N = GRAM_MIN_STATE (b·nc·tiles·G)
  ``chunk_scan_fwd`` y, BLOCK_M rows × all P of k heads of a group   (b·nc·tiles·G·⌈H/(G·k)⌉)
From CHAIN_MIN_SEQUENCES (b·H) on, ``chain_states`` stands in for ``chunk_outer`` and
``pass_states``: S_c summed and passed on in one program along the chunks     (tiles, b·H)
Backward (states recomputed, not stored; 10 launches, one more with z, one with ``chunk_gram``):
``dt_cumsum_fwd``, ``chunk_outer``, ``pass_states`` (or ``chain_states``) again; ``gate_bwd``
(only with z); ``chunk_outer`` for the gradient reaching h_{c-1} from chunk c's outputs;
``pass_states_bwd``; ``chunk_gram``; ``chunk_scan_dx`` (dx, the direct part of ddt, dD);
``chunk_pairs`` (a tile pair per program, b·nc·tiles²·G: each head's decayed dy·x^T summed
over the group, and the decay gradient's pair terms); ``chunk_scan_dbc`` twice (dC, then dB,
from those sums and the states; BLOCK_M rows, all N per program, b·nc·tiles·G);
``dt_cumsum_bwd`` (ddt, dA, dt_bias).
With z, the forward also stores y before the gate (for dz); nothing else is kept.

The decay's gradient. With a_k = dt_k A and M_ij = (dy_i · x_j)(C_i · B_j) exp(cs_i - cs_j) dt_j
(j <= i), the gradient of a_k, for k in chunk c, is a sum of terms that do not cancel::

    sum_{i >= k > j} M_ij                   intra-chunk pairs the step k lies between
  + sum_{i >= k} dy_i · exp(cs_i) h_{c-1} C_i       the entering state's decay to step i
  + sum_{j < k} exp(cs_last - cs_j) dt_j x_j · (dh_c B_j)   the decay from step j to the end
  + sum(dh_c ⊙ exp(cs_last) h_{c-1})                 the entering state's decay to the end
The first is computed as a reverse running sum of (row sums - column sums) of M, both taken in
fp32 from the same tile of M in one program (``triton_pairs.py``), so their cancellation costs
only fp32 rounding. (Summing C·dC - B·dB instead, where dC and dB went through low-precision
products, turned bf16 rounding into 5-7% errors in dA.)

Precision: matmul operands in x's dtype, states, decays and running sums in fp32
(``triton_tiles.py``); the forward stores the states entering the chunks, and the backward
their gradients dh_c and the head-summed pair tiles of dB and dC, in x's dtype, to which the
products that read them round them anyway (the backward's entering states stay fp32: its decay
gradient reads them outside a product).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.ssd.reference import check_ssd_inputs, check_state_update_inputs
from tsssm.kernels.ssd.triton_chunk_dbc import chunk_scan_dbc_kernel
from tsssm.kernels.ssd.triton_chunk_scan import (SMALLEST_BLOCK_M, chunk_scan_dx_kernel,
                                                 chunk_scan_fwd_kernel, gate_bwd_kernel)
from tsssm.kernels.ssd.triton_cumsum import dt_cumsum_bwd_kernel, dt_cumsum_fwd_kernel
from tsssm.kernels.ssd.triton_gram import chunk_products
from tsssm.kernels.ssd.triton_pairs import chunk_pairs, pair_slots
from tsssm.kernels.ssd.triton_states import (chain_states_kernel, chunk_outer_kernel,
                                             pass_states_bwd_kernel, pass_states_kernel)
from tsssm.kernels.ssd.triton_step import state_update_kernel
from tsssm.kernels.ssd.triton_tiles import MIN_LOOP_WIDTH, whole_chunks
from tsssm.kernels.triton_common import (INTERPRETED, cdiv, device_problem, dot_width, gradient_due,
                                         next_power_of_2)
from tsssm.kernels.triton_launch import TunedLaunch

DOT_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}
MAX_DIM = 256  # the scan kernels hold all of P and N in one tile; wider would need splitting.
GRAM_MIN_STATE = 64
"""From this state size N on, y and dx read C·B from ``chunk_gram_kernel`` (once per group)
instead of multiplying C and B in every head: below it that product (K = N) costs less than
reading its fp32 result."""


# ---------------------------------------------------------------------------------------------
# Launches, through ``triton_launch``: each kernel's config is recorded at the first launch of
# its key, later ones launch directly. The plain JIT functions take an empty key, the autotuned
# ones P and N, the chunk scans also the heads a group has (their pruner caps HEADS_PER_PROGRAM
# by it); the rest of what their autotuners and pruners read are constexprs, which it adds.

_CUMSUM_FWD = TunedLaunch(dt_cumsum_fwd_kernel)
_CUMSUM_BWD = TunedLaunch(dt_cumsum_bwd_kernel)
_OUTER = TunedLaunch(chunk_outer_kernel)
_PASS = TunedLaunch(pass_states_kernel)
_PASS_BWD = TunedLaunch(pass_states_bwd_kernel)
_CHAIN = TunedLaunch(chain_states_kernel)
_GATE_BWD = TunedLaunch(gate_bwd_kernel)
_SCAN_FWD = TunedLaunch(chunk_scan_fwd_kernel)
_SCAN_DX = TunedLaunch(chunk_scan_dx_kernel)
_DBC = TunedLaunch(chunk_scan_dbc_kernel)
_STEP = TunedLaunch(state_update_kernel)


def _skip(D: Tensor | None, like: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """D as (pointer, (head stride, P stride)): a (H,) D reads one value per head (P stride 0)."""
    if D is None:
        return like, (0, 0)
    return D, ((D.stride(0), 0) if D.dim() == 1 else D.stride())


def _dt_cumsum(dt: Tensor, A: Tensor, dt_bias: Tensor | None, dt_softplus: bool,
               chunk: int) -> tuple[Tensor, Tensor]:
    """(dt_eff, cs), each (b, H, nc, chunk) fp32."""
    batch, length, heads = dt.shape
    n_chunks = cdiv(length, chunk)
    dt_eff = torch.empty(batch, heads, n_chunks, chunk, device=dt.device, dtype=torch.float32)
    cs = torch.empty_like(dt_eff)
    block_h = _cumsum_block_h(heads, chunk)
    _CUMSUM_FWD((n_chunks, batch, cdiv(heads, block_h)),
                (dt, A, dt if dt_bias is None else dt_bias, dt_eff, cs),
                (*dt.stride(), length, heads, n_chunks), (),
                CHUNK=chunk, HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus, BLOCK_H=block_h)
    return dt_eff, cs


def _cumsum_block_h(heads: int, chunk: int) -> int:
    """Heads per program of the step-size kernels: about 1024 values per program (more spill
    registers in the backward one)."""
    return min(next_power_of_2(heads), max(1, 1024 // chunk))


def _chunk_outer(a: Tensor, b: Tensor, cs: Tensor, dt_eff: Tensor, out: Tensor,
                 for_states: bool) -> None:
    """out (nc, batch, H, P, N) fp32 <- per chunk sum_t a_t ⊗ w_t b_t (see the kernel)."""
    batch, length, heads, head_dim = a.shape
    groups, state_dim = b.shape[2], b.shape[3]
    n_chunks, chunk = cs.shape[2], cs.shape[3]

    def grid(meta):
        tiles = cdiv(head_dim, meta["BLOCK_P"]) * cdiv(state_dim, meta["BLOCK_N"])
        return (tiles * n_chunks * batch * heads,)

    _OUTER(grid, (a, b, cs, dt_eff, out),
           (*a.stride(), *b.stride(), batch, length, heads, heads // groups, n_chunks, head_dim,
            state_dim), (head_dim, state_dim),
           CHUNK=chunk, FOR_STATES=for_states, DT=DOT_DTYPES[a.dtype], INTERPRETED=INTERPRETED,
           WHOLE=whole_chunks(length, chunk))


def _gram(B: Tensor, C: Tensor, n_chunks: int, chunk: int) -> Tensor | None:
    """``triton_gram.chunk_products`` from ``GRAM_MIN_STATE`` on, else None."""
    if B.shape[-1] < GRAM_MIN_STATE:
        return None
    return chunk_products(B, C, n_chunks, chunk, DOT_DTYPES[B.dtype])


PASS_GROUP = 8
"""Chunks the state passes load at once (``pass_states_kernel``)."""
PASS_WARPS = 1
"""Warps of a state-pass program. One warp spreads a (PASS_GROUP, 256) tile's columns over its
lanes and keeps every row of a column in one thread, so the scan along the chunks runs in
registers; with four, Triton splits the rows over the warps and each group's scan went through
shared memory (the passes then ran at 8-30% of DRAM bandwidth, ``ncu_scan.sh``)."""


def _pass_block(pn: int) -> int:
    """Elements of the state per program of the state passes: 256, a (PASS_GROUP, 256) tile
    at 8 columns a lane of one warp."""
    return min(256, next_power_of_2(pn))


def _pass_states(states: Tensor, cs: Tensor, init: Tensor | None, final: Tensor,
                 entering: Tensor | None = None) -> Tensor:
    """The states entering each chunk, h_{c-1} for c < nc (the chunks of cs), from states[c] =
    S_c: into ``entering`` (same shape, any of the kernels' dtypes) or, when None, in place over
    ``states``; returns them. final <- h_{nc-1}.

    states (>= nc, b, H, P, N) fp32; init and final (b, H, P, N) fp32, contiguous."""
    _, batch, heads, head_dim, state_dim = states.shape
    entering = states if entering is None else entering
    n_chunks = cs.shape[2]
    pn = head_dim * state_dim
    block = _pass_block(pn)
    _PASS((cdiv(pn, block), batch * heads),
          (states, entering, cs, final if init is None else init, final),
          (batch, heads, n_chunks, pn), (),
          CHUNK=cs.shape[3], HAS_INIT=init is not None, INTERPRETED=INTERPRETED, BLOCK=block,
          GROUP=PASS_GROUP, num_warps=PASS_WARPS)
    return entering


CHAIN_MIN_SEQUENCES = 128
"""From this many sequences (batch · heads) on, the entering states come from one kernel that
runs along the chunks (``chain_states_kernel``), its tiles · batch · heads programs enough to
fill the GPU; below, from ``chunk_outer_kernel``'s per-chunk programs and the state pass, at
the cost of writing and reading each chunk's fp32 state once more (at batch 8, 24 heads × 64,
N 128, length 8K: 201 MB each way). Set between the counts measured slower and faster chained
(``docs/benchmarks/h200-2026-12-07-ssd-chain/``)."""


def _chained(x: Tensor) -> bool:
    """Whether x's (b, L, H, P) batch · heads reach ``CHAIN_MIN_SEQUENCES``: decided once a
    forward, so its backward recomputes the states the same way."""
    return x.shape[0] * x.shape[2] >= CHAIN_MIN_SEQUENCES


def _entering_states(x: Tensor, B: Tensor, cs: Tensor, dt_eff: Tensor, init: Tensor | None,
                     final: Tensor, dtype: torch.dtype, chained: bool) -> Tensor:
    """The states entering each chunk, h_{c-1} (nc, b, H, P, N) in ``dtype`` (rounded to
    nearest from the fp32 running state); final <- h_{nc-1} (b, H, P, N) fp32.

    x (b, L, H, P), B (b, L, G, N), cs and dt_eff (b, H, nc, chunk) fp32, init (b, H, P, N)
    fp32 contiguous or None. ``chained``: from ``chain_states_kernel`` (``_chained``), else from
    ``chunk_outer_kernel`` and the state pass."""
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2], B.shape[3]
    n_chunks, chunk = cs.shape[2], cs.shape[3]
    shape = (n_chunks, batch, heads, head_dim, state_dim)
    if not chained:
        states = torch.empty(shape, device=x.device, dtype=torch.float32)
        _chunk_outer(x, B, cs, dt_eff, states, for_states=True)
        into = None if dtype == torch.float32 else torch.empty(shape, device=x.device,
                                                                dtype=dtype)
        return _pass_states(states, cs, init, final, into)
    entering = torch.empty(shape, device=x.device, dtype=dtype)

    def grid(meta):
        return (cdiv(head_dim, meta["BLOCK_P"]) * cdiv(state_dim, meta["BLOCK_N"]),
                batch * heads)

    _CHAIN(grid, (x, B, cs, dt_eff, final if init is None else init, entering, final),
           (*x.stride(), *B.stride(), batch, length, heads, heads // groups, n_chunks, head_dim,
            state_dim), (head_dim, state_dim),
           CHUNK=chunk, HAS_INIT=init is not None, DT=DOT_DTYPES[x.dtype],
           INTERPRETED=INTERPRETED, WHOLE=whole_chunks(length, chunk))
    return entering


def _scan_grid(chunk: int, n_chunks: int, programs: int, heads_per_group: int = 1):
    """Grid of the chunk-scan kernels: row tiles × chunks × programs (batch · groups or heads)
    × the blocks of HEADS_PER_PROGRAM heads a group splits into, in one dimension
    (``triton_tiles.chunk_program``, ``head_block_program``)."""
    return lambda meta: (cdiv(chunk, meta["BLOCK_M"]) * n_chunks * programs
                         * cdiv(heads_per_group, meta.get("HEADS_PER_PROGRAM", 1)),)


def _chunk_scan(launch: TunedLaunch, x: Tensor, B: Tensor, C: Tensor, w: Tensor,
                D: Tensor | None, cs: Tensor, dt_eff: Tensor, states: Tensor,
                gram: Tensor | None, outputs: tuple[Tensor, ...], **flags) -> dict:
    """Launch a chunk scan over x (b, L, H, P), B and C (b, L, G, N), the row operand w (b, L,
    H, P; z for y, dy for dx), cs and dt_eff (b, H, nc, chunk) fp32, the states (nc, b, H, P, N)
    and gram (``_gram``), into ``outputs`` (``_SCAN_FWD``: y, y_pre; ``_SCAN_DX``: dx,
    ddt_direct, dD's parts) with the kernel's own ``flags``; return the meta-parameters it ran
    with (its BLOCK_M sets how many of dD's slots dx wrote)."""
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2], B.shape[3]
    n_chunks, chunk = cs.shape[2], cs.shape[3]
    per_group = heads // groups
    skip, skip_strides = _skip(D, x)
    return launch(_scan_grid(chunk, n_chunks, batch * groups, per_group),
                  (x, B, C, w, skip, cs, dt_eff, states, x if gram is None else gram, *outputs),
                  (*x.stride(), *B.stride(), *C.stride(), *w.stride(), *skip_strides,
                   batch, length, heads, per_group, n_chunks, head_dim, state_dim),
                  (head_dim, state_dim, per_group),
                  CHUNK=chunk, HAS_D=D is not None, HAS_GRAM=gram is not None, **flags,
                  DT=DOT_DTYPES[x.dtype], INTERPRETED=INTERPRETED,
                  WHOLE=whole_chunks(length, chunk), BLOCK_K=dot_width(state_dim),
                  BLOCK_O=dot_width(head_dim))


def _ssd_forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int,
                 D: Tensor | None, z: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool,
                 init: Tensor | None, keep_pre: bool,
                 chained: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    """y (b, L, H, P) in x's dtype, y before the gate (if keep_pre and z), final state fp32."""
    batch, _, heads, head_dim = x.shape
    state_dim = B.shape[3]
    dt_eff, cs = _dt_cumsum(dt, A, dt_bias, dt_softplus, chunk)
    n_chunks = cs.shape[2]
    final = torch.empty(batch, heads, head_dim, state_dim, device=x.device, dtype=torch.float32)
    # The scan rounds the entering states to x's dtype for its products: stored so, they cost
    # half the bytes (bf16) to write and to read.
    states = _entering_states(x, B, cs, dt_eff, init, final, x.dtype, chained)
    y = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    y_pre = torch.empty_like(y) if keep_pre and z is not None else None
    _chunk_scan(_SCAN_FWD, x, B, C, x if z is None else z, D, cs, dt_eff, states,
                _gram(B, C, n_chunks, chunk), (y, y if y_pre is None else y_pre),
                HAS_Z=z is not None, STORE_PRE=y_pre is not None)
    return y, y_pre, final


def _gate_bwd(dout: Tensor, z: Tensor, y_pre: Tensor) -> tuple[Tensor, Tensor]:
    """(dy before the gate, dz), both (b, L, H, P) contiguous in y_pre's / z's dtype."""
    batch, length, heads, head_dim = z.shape
    dy = torch.empty(z.shape, device=z.device, dtype=y_pre.dtype)
    dz = torch.empty(z.shape, device=z.device, dtype=z.dtype)
    n_rows = batch * length * heads
    block_p = next_power_of_2(head_dim)
    block_r = max(1, 2048 // block_p)
    _GATE_BWD((cdiv(n_rows, block_r),), (dout, z, y_pre, dy, dz),
              (*dout.stride(), *z.stride(), n_rows, length, heads, head_dim), (),
              INTERPRETED=INTERPRETED, BLOCK_R=block_r, BLOCK_P=block_p)
    return dy, dz


def _ssd_backward(saved: tuple, chunk: int, dt_softplus: bool, chained: bool, dout: Tensor,
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
    states = _entering_states(x, B, cs, dt_eff,
                              None if init is None else init.float().contiguous(),
                              torch.empty(batch, heads, head_dim, state_dim, **f32),
                              torch.float32, chained)

    dy, dz = (dout, None) if z is None else _gate_bwd(dout, z, y_pre)
    dstates = torch.empty_like(states)
    _chunk_outer(dy, C, cs, dt_eff, dstates, for_states=False)
    pn = head_dim * state_dim
    block = _pass_block(pn)
    n_blocks = cdiv(pn, block)
    dinit = torch.empty(batch, heads, head_dim, state_dim, **f32)
    dlast = torch.empty(n_blocks, batch, heads, n_chunks, **f32)
    dh = torch.empty(states.shape, device=x.device, dtype=x.dtype)  # read only by products
    _PASS_BWD((n_blocks, batch * heads),
              (dstates, dh, states, cs, dfinal.float().contiguous(), dinit, dlast),
              (batch, heads, n_chunks, pn), (),
              CHUNK=chunk, INTERPRETED=INTERPRETED, BLOCK=block, GROUP=PASS_GROUP,
              num_warps=PASS_WARPS)
    del dstates

    dx = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    ddt_direct = torch.empty_like(cs)
    slots = cdiv(chunk, SMALLEST_BLOCK_M)
    dD_parts = (ddt_direct if D is None  # not written without D
                else torch.empty(slots, batch, n_chunks, heads, head_dim, **f32))
    gram = _gram(B, C, n_chunks, chunk)
    meta = _chunk_scan(_SCAN_DX, x, B, C, dy, D, cs, dt_eff, dh, gram, (dx, ddt_direct, dD_parts))
    dD = None
    if D is not None:
        used = cdiv(chunk, meta["BLOCK_M"])
        dD = dD_parts[:used].sum(dim=(0, 1, 2))
        dD = (dD.sum(dim=-1) if D.dim() == 1 else dD).to(D.dtype)

    # The decay gradient's terms summed from each step on: dC's via-state ones, the pairs' slots.
    dcs = torch.empty(1 + pair_slots(chunk), *cs.shape, **f32)
    pairs, n_pair_parts = chunk_pairs(dy, x, B, C, cs, dt_eff, gram, dcs[1:], dot_dtype)
    to_end = torch.empty_like(cs)
    dB = torch.empty(B.shape, device=B.device, dtype=B.dtype)
    dC = torch.empty(C.shape, device=C.device, dtype=C.dtype)
    for out, (u, w, own, state, via_state, reverse) in (
            (dC, (dy, B, C, states, dcs[0], False)), (dB, (x, C, B, dh, to_end, True))):
        _DBC(_scan_grid(chunk, n_chunks, batch * groups),
             (out, via_state, u, w, own, state, cs, dt_eff, pairs),
             (*u.stride(), *w.stride(), *own.stride(),
              batch, length, heads, groups, heads // groups, n_chunks, head_dim, state_dim),
             (head_dim, state_dim),
             CHUNK=chunk, REVERSE=reverse, DT=dot_dtype, INTERPRETED=INTERPRETED,
             WHOLE=whole_chunks(length, chunk), BLOCK_K=dot_width(head_dim),
             BLOCK_N=max(dot_width(state_dim), MIN_LOOP_WIDTH))

    ddt = torch.empty(batch, length, heads, **f32)
    dA_parts = torch.empty(batch, n_chunks, heads, **f32)
    dbias_parts = torch.empty_like(dA_parts)
    block_h = _cumsum_block_h(heads, chunk)
    _CUMSUM_BWD((n_chunks, batch, cdiv(heads, block_h)),
                (dt, A, dt if dt_bias is None else dt_bias, dt_eff, ddt_direct, dcs, to_end,
                 dlast, ddt, dA_parts, dbias_parts),
                (*dt.stride(), 1 + n_pair_parts, n_blocks, batch, length, heads, n_chunks), (),
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
        ctx.chained = _chained(x)
        y, y_pre, final = _ssd_forward(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus,
                                       init, keep_pre, ctx.chained)
        ctx.save_for_backward(x, dt, A, B, C, D, z, dt_bias, initial_state, y_pre)
        ctx.chunk_size = chunk_size
        ctx.dt_softplus = dt_softplus
        return y, final

    @staticmethod
    def backward(ctx, dy, dfinal):
        grads = _ssd_backward(ctx.saved_tensors, ctx.chunk_size, ctx.dt_softplus, ctx.chained,
                              dy, dfinal)
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
    problem = ssd_state_update_unsupported(state, x, dt, A, B, C, D, z, dt_bias)
    if problem is not None:
        raise ValueError(f"ssd_state_update_triton: {problem}")
    batch, heads, head_dim = x.shape
    groups, state_dim = B.shape[1], B.shape[2]
    y = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    skip, skip_strides = _skip(D, x)
    gate = x if z is None else z
    block_n = next_power_of_2(state_dim)
    block_p = min(next_power_of_2(head_dim), max(1, 4096 // block_n))
    _STEP((cdiv(head_dim, block_p), batch * heads),
          (state, x, dt, A, B, C, skip, gate, dt if dt_bias is None else dt_bias, y),
          (*state.stride(), *x.stride(), *dt.stride(), *B.stride(), *C.stride(), *skip_strides,
           *gate.stride(), heads, heads // groups, head_dim, state_dim), (),
          HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=dt_bias is not None,
          SOFTPLUS=dt_softplus, INTERPRETED=INTERPRETED, BLOCK_P=block_p, BLOCK_N=block_n)
    return y


def ssd_unsupported(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                    D: Tensor | None = None, z: Tensor | None = None,
                    dt_bias: Tensor | None = None,
                    initial_state: Tensor | None = None) -> str | None:
    """Why ``ssd_triton`` cannot take these (shape-checked) inputs, or None if it can."""
    tensors = {"x": x, "dt": dt, "A": A, "B": B, "C": C, "D": D, "z": z, "dt_bias": dt_bias,
               "initial_state": initial_state}
    return _fast_path_problem(x, chunk_size, B.shape[-1], tensors)


def ssd_state_update_unsupported(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                                 C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                                 dt_bias: Tensor | None = None) -> str | None:
    """Why ``ssd_state_update_triton`` cannot take these inputs, or None if it can."""
    tensors = {"state": state, "x": x, "dt": dt, "A": A, "B": B, "C": C, "D": D, "z": z,
               "dt_bias": dt_bias}
    problem = _fast_path_problem(x, None, B.shape[-1], tensors)
    if problem is None and gradient_due(tensors.values()):
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
    return device_problem(x.device)
