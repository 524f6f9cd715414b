"""Triton fast path of Mamba-1's selective scan: forward, backward and one decode step; the
autograd Function and the launchers (the device code: ``triton_forward.py``,
``triton_backward.py``, ``triton_segments.py``, ``triton_step.py``, their shared tile and chunk
helpers and block shapes in ``triton_tiles.py``; how a launch is issued:
``tsssm/kernels/triton_launch.py``).

The scan, per batch ``b``, channel ``d`` and state index ``n`` (channel ``d`` reads group
``g = d // (D / G)`` of ``B`` and ``C``)::

    Δ_t = softplus(δ_t + bias)             (or δ_t + bias, or δ_t)
    h_t = exp(Δ_t A[d, n]) h_{t-1} + Δ_t u_t B_t[g, n]
    y_t = Σ_n C_t[g, n] h_t + D u_t        (then y_t ← y_t · silu(z_t))

**Design.** The (step, channel, state) grid is B·L·D·N elements; each needs one exponential,
which with the bytes is the kernel's floor (``tsssm/benchmarks/floors.py``). A program owns one
batch row and ``BLOCK_D`` channels × all N states, and walks its segment of the sequence (the
whole sequence unless the grid is short: ``triton_segments``) once, ``CHUNK`` steps at a
time, carrying the fp32 state in registers (``triton_forward``). The tile layout
(``triton_tiles``) keeps each thread's ``CHUNK`` steps of ``N / N2`` states in its registers, so
the recurrence is a plain loop of fused multiply-adds, not a shuffle scan, and the loop over
chunks is software-pipelined (u, Δ, z, B, C tiles copied asynchronously into shared memory a
few chunks ahead). Bytes: u, Δ, z read once, y written once, B and C read once per channel block
(from L2 after the first); with a gradient due, also the state entering every chunk,
``N / CHUNK`` of u's elements in fp32 (as many as u's at N = CHUNK = 16), and with a gate y
before it (u's elements in u's dtype), which spares the backward a sum over the state.

The backward (``triton_backward``) walks the chunks in reverse, rebuilds each chunk's states
from its checkpoint and runs the adjoint scan over the same registers: one pass, every gradient
from tiles of the same step. ``dB`` and ``dC`` sum over the group's channels, which several
programs share: they are added atomically into fp32 buffers, so their last bits vary from run
to run (one zeroed buffer holds both). ``dA``, ``dD`` and ``ddelta_bias`` sum over the batch
and the sequence: each program writes its own partial sums into its row of one fp32 buffer and
a single torch sum adds the (batch row, segment) rows (none at one row).

**The host's share.** At batch 1 and a few thousand steps the kernels take tens of
microseconds, so the Python that issues a call counts as much: per call the launchers make the
torch ops they need and no more (B and C converted to fp32 once for both passes and kept for
the backward, not at all in calls too small for the conversion to pay: ``kernel_projection``;
no autograd Function when no gradient is due; the dispatcher's device check not repeated),
the shape's decisions come from a cache (``scan_plan``), and each kernel is launched with the
config recorded at the first call of its key straight into the launcher of the kernel Triton
compiled for its arguments' specialization (``triton_launch``).
``scripts/scan_host_cost.py`` times this path with the launchers stubbed.

**Where the time goes.** The forward is held back by its issue slots, its shared-memory reads
(each thread's copy of B, C, u, Δ) and its exponentials together, with B·D·N / 4 threads as all
the parallelism there is; the backward spends most of its instructions on five reductions over
lanes (three over the state, two over the channels for dB and dC). Timings and profiles:
``docs/benchmarks/`` (``python -m tsssm.bench kernels``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from tsssm.kernels.selective_scan import triton_segments
from tsssm.kernels.selective_scan.reference import check_scan_args, check_step_args
from tsssm.kernels.selective_scan.triton_backward import scan_bwd_kernel
from tsssm.kernels.selective_scan.triton_forward import scan_fwd_kernel
from tsssm.kernels.triton_launch import TunedLaunch
from tsssm.kernels.selective_scan.triton_segments import (ScanPlan, scan_plan,
                                                          segment_adjoints_kernel,
                                                          segment_ends_kernel)
from tsssm.kernels.selective_scan.triton_step import state_update_kernel
from tsssm.kernels.triton_common import (cdiv, gradient_due, next_power_of_2,
                                         or_stand_in as _or, tensors_problem)


LONG_CHUNK_ELEMENTS = 1 << 28
"""Forward-only calls of at least this many (batch, step, channel) elements take the longer
chunk: at D 1536 N 16 on an H100 the forward alone was faster in chunks of 16 than of 8 at B4 L64K
(4.0e8 elements) and B1 L64K, slower at every shorter shape; forward+backward was faster in chunks
of 8 at every shape, B4 L64K included (``docs/benchmarks/h100-2026-12-06-peers/chunks.md``), so a
call whose gradient is due keeps the short chunk whatever its size, at twice the long chunk's
checkpoint memory: N / 8 fp32 values per element, 8 bytes at N 16 (four times u's in bf16); a
caller short of memory passes ``chunk_size=16``."""


def chunk_len(dstate: int, elements: int, need_grad: bool) -> int:
    """Steps per chunk for a call of ``elements`` = batch · L · D: each thread holds
    ``CHUNK × N / N2`` values per live tile (64 at N = 16, N2 = 4, chunk 16: no spills in the
    forward; the backward can halve its tiles, ``SPLIT``), and the checkpoints a gradient needs
    cost ``N / CHUNK`` of u's elements in fp32. The chunk is halved with a gradient due or below
    ``LONG_CHUNK_ELEMENTS``: fewer registers a thread, so more warps an SM."""
    longest = 256 if elements >= LONG_CHUNK_ELEMENTS and not need_grad else 128
    return max(2, min(64, longest // next_power_of_2(dstate)))


# ------------------------------------------------------------------------------------------
# Launchers: outputs come preallocated, so the tests can poison them
# ------------------------------------------------------------------------------------------

_FORWARD = TunedLaunch(scan_fwd_kernel)
_BACKWARD = TunedLaunch(scan_bwd_kernel)
_ENDS = TunedLaunch(segment_ends_kernel)
_ADJOINTS = TunedLaunch(segment_adjoints_kernel)
_STEP = TunedLaunch(state_update_kernel)


def _grid(rows: int, groups: int, chans_per_group: int):
    """(batch rows × segments, channel blocks): axis 0 is ``b · S + s`` in the scan kernels."""
    return lambda meta: (rows, groups * cdiv(chans_per_group, meta["BLOCK_D"]))


def _strides(tensor: Tensor | None, rank: int) -> tuple[int, ...]:
    return (0,) * rank if tensor is None else tensor.stride()


HOST_BOUND_ELEMENTS = 1 << 23
"""Calls of fewer (batch, step, channel) elements than this take their kernels less time than
the host takes to issue them (B1 L2K D1536 against B1 L8K in ``docs/benchmarks/``): there each
torch op counts, and B and C reach the kernels in their own dtype (``kernel_projection``)."""


def kernel_projection(projection: Tensor, elements: int) -> Tensor:
    """B or C as the kernels read them in a call of ``elements`` = batch · L · D. In fp32 from
    ``HOST_BOUND_ELEMENTS`` on: every thread converts its own copy of them, so in bf16 the
    kernels spent ~3 instructions per element on conversions (and Triton 3.6 does not pipeline
    their 2-byte loads), while converted once here they cost ~1% of u's bytes. Below it, as
    they are: the conversion is a dispatch, an allocation and a launch on the host."""
    return projection.float() if elements >= HOST_BOUND_ELEMENTS else projection


def scan_forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                 z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
                 initial_state: Tensor | None, y: Tensor, final_state: Tensor | None,
                 checkpoints: Tensor | None, chunk: int, segments: int = 1, *,
                 y_pre: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run the forward kernel into ``y`` (batch, L, D) and, when given, ``final_state``
    (batch, D, N) fp32 contiguous, ``checkpoints`` (batch, cdiv(L, chunk), D, N) fp32
    contiguous, the state entering each chunk, and (with ``z``) ``y_pre`` (batch, L, D), y
    before the gate, which the backward reads. Any strides for the inputs, ``y`` and
    ``y_pre``. With ``segments`` > 1 (a count from ``triton_segments.segments_for``) a pre-pass
    scans the segments but the last from zero first. Returns B and C as the kernels read them
    (``kernel_projection``), for the backward to read alike."""
    batch, seqlen, dim = u.shape
    groups, dstate = B.shape[2], B.shape[3]
    chans = dim // groups
    per = cdiv(cdiv(seqlen, chunk), segments)
    flags = dict(HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus, DSTATE=dstate,
                 CHUNK=chunk, BLOCK_N=next_power_of_2(dstate))
    B, C = kernel_projection(B, u.numel()), kernel_projection(C, u.numel())
    ends = dsum = y
    if segments > 1:
        ends = torch.empty(batch, segments, dim, dstate, dtype=torch.float32, device=u.device)
        dsum = torch.empty(batch, segments, dim, dtype=torch.float32, device=u.device)
        _ENDS(_grid(batch * (segments - 1), groups, chans),
              (u, delta, A, B, _or(delta_bias, u), ends, dsum),
              (dim, chans, per, segments, *u.stride(), *delta.stride(), *A.stride(),
               *B.stride()), (dim, chans, segments), **flags)
    _FORWARD(_grid(batch * segments, groups, chans),
             (u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u), _or(initial_state, u),
              y, _or(y_pre, y), _or(final_state, y), _or(checkpoints, y), ends, dsum),
             (seqlen, dim, chans, per, segments, *u.stride(), *delta.stride(), *A.stride(),
              *B.stride(), *C.stride(), *_strides(z, 3), *_strides(initial_state, 3),
              *y.stride(), *_strides(y_pre, 3)), (dim, chans, segments),
             HAS_D=D is not None, HAS_Z=z is not None, HAS_H0=initial_state is not None,
             STORE_FINAL=final_state is not None, STORE_CKPT=checkpoints is not None,
             STORE_YPRE=y_pre is not None, **flags)
    return B, C


def scan_backward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                  z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
                  has_initial_state: bool, checkpoints: Tensor, dy: Tensor,
                  dfinal: Tensor | None, du: Tensor, ddelta: Tensor, dz: Tensor | None,
                  dB: Tensor, dC: Tensor, partials: Tensor, dinitial_state: Tensor | None,
                  chunk: int, segments: int = 1, *, y_pre: Tensor | None = None) -> None:
    """Run the backward kernel, ``chunk`` as in the forward that wrote ``checkpoints`` (and,
    with ``z``, ``y_pre``: required then); ``segments`` a count from
    ``triton_segments.segments_for`` (any: the checkpoints hold every chunk's state).

    ``dB``, ``dC`` (batch, L, G, N) fp32 contiguous must hold zeros (they are added into);
    ``partials`` (batch · segments, D·N + 2D) fp32 contiguous receives each (batch row,
    segment)'s partial sums: dA (D, N) flattened, then dD and ddelta_bias (D each; left
    unwritten without D or delta_bias); ``dinitial_state`` (batch, D, N) fp32 contiguous;
    ``dfinal`` (batch, D, N) fp32 contiguous or None; ``du``, ``ddelta``, ``dz`` any strides."""
    if z is not None and y_pre is None:
        raise ValueError("scan_backward: a gated scan's backward needs y_pre, y before the gate "
                         "as scan_forward wrote it")
    batch, seqlen, dim = u.shape
    groups, dstate = B.shape[2], B.shape[3]
    chans = dim // groups
    per = cdiv(cdiv(seqlen, chunk), segments)
    flags = dict(HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
                 DSTATE=dstate, CHUNK=chunk, BLOCK_N=next_power_of_2(dstate))
    B, C = kernel_projection(B, u.numel()), kernel_projection(C, u.numel())
    adj = dsum = partials
    if segments > 1:
        adj = torch.empty(batch, segments, dim, dstate, dtype=torch.float32, device=u.device)
        dsum = torch.empty(batch, segments, dim, dtype=torch.float32, device=u.device)
        _ADJOINTS(_grid(batch * (segments - 1), groups, chans),
                  (delta, A, C, _or(z, u), _or(delta_bias, u), dy, adj, dsum),
                  (seqlen, dim, chans, per, segments, *delta.stride(), *A.stride(),
                   *C.stride(), *_strides(z, 3), *dy.stride()), (dim, chans, segments), **flags)
    _BACKWARD(_grid(batch * segments, groups, chans),
              (u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u), checkpoints, dy,
               _or(dfinal, partials), adj, dsum, _or(y_pre, u), du, ddelta, _or(dz, du), dB, dC,
               partials, _or(dinitial_state, partials)),
              (seqlen, dim, chans, groups, per, segments, *u.stride(), *delta.stride(),
               *A.stride(), *B.stride(), *C.stride(), *_strides(z, 3), *dy.stride(),
               *du.stride(), *ddelta.stride(), *_strides(dz, 3), *_strides(y_pre, 3)),
              (dim, chans, segments),
              HAS_D=D is not None, HAS_H0=has_initial_state, HAS_DFINAL=dfinal is not None,
              **flags)


def state_update(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None, z: Tensor | None, dt_bias: Tensor | None, dt_softplus: bool,
                 y: Tensor) -> None:
    """Run the decode-step kernel: ``state`` (batch, D, N) updated in place, ``y`` (batch, D)."""
    batch, dim = x.shape
    groups, dstate = B.shape[1], B.shape[2]
    chans = dim // groups
    _STEP(_grid(batch, groups, chans),
          (state, x, dt, A, B, C, _or(D, x), _or(z, x), _or(dt_bias, x), y),
          (dim, chans, *state.stride(), *x.stride(), *dt.stride(), *A.stride(), *B.stride(),
           *C.stride(), *_strides(z, 2), *y.stride()), (dim, chans),
          HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=dt_bias is not None,
          SOFTPLUS=dt_softplus, DSTATE=dstate, BLOCK_N=next_power_of_2(dstate))


# ------------------------------------------------------------------------------------------
# Autograd and the public entry points
# ------------------------------------------------------------------------------------------


class _Options(NamedTuple):
    """A call's non-tensor arguments, one argument of the autograd Function."""

    delta_softplus: bool
    return_final_state: bool
    chunk: int
    plan: ScanPlan


def _forward(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
             z: Tensor | None, delta_bias: Tensor | None, initial_state: Tensor | None,
             options: _Options, need_grad: bool) -> tuple[Tensor, ...]:
    """(y, final state or None, checkpoints or None, y before the gate or None, B and C as the
    kernels read them): the forward pass, with the checkpoints and (given z) y before the gate
    only when a gradient is due; D and delta_bias contiguous."""
    batch, seqlen, dim = u.shape
    dstate = B.shape[3]
    y = torch.empty(batch, seqlen, dim, dtype=u.dtype, device=u.device)
    final_state = (torch.empty(batch, dim, dstate, dtype=torch.float32, device=u.device)
                   if options.return_final_state else None)
    checkpoints = (torch.empty(batch, cdiv(seqlen, options.chunk), dim, dstate,
                               dtype=torch.float32, device=u.device) if need_grad else None)
    y_pre = torch.empty_like(y) if need_grad and z is not None else None
    B, C = scan_forward(u, delta, A, B, C, D, z, delta_bias, options.delta_softplus,
                        initial_state, y, final_state, checkpoints, options.chunk,
                        options.plan.forward_segments, y_pre=y_pre)
    return y, final_state, checkpoints, y_pre, B, C


class _SelectiveScan(torch.autograd.Function):
    """The scan with its Triton backward. B and C are kept as the forward's kernels read them
    (``kernel_projection``; in fp32 ~1% of u's bytes at N = 16), so the backward does not
    convert them again; with a gate, y before it too (u's bytes again), so the backward need
    not rebuild it."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, initial_state, options):
        y, final_state, checkpoints, y_pre, B_read, C_read = _forward(
            u, delta, A, B, C, D, z, delta_bias, initial_state, options, True)
        ctx.save_for_backward(u, delta, A, B_read, C_read, D, z, delta_bias, initial_state,
                              checkpoints, y_pre)
        ctx.options = options
        ctx.dtypes = (B.dtype, C.dtype)
        ctx.set_materialize_grads(False)
        return (y, final_state) if options.return_final_state else y

    @staticmethod
    def backward(ctx, dy, dfinal=None):
        u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints, y_pre = ctx.saved_tensors
        options = ctx.options
        segments = options.plan.backward_segments
        batch, seqlen, dim = u.shape
        dstate = B.shape[3]
        device = u.device
        dy = torch.zeros_like(u) if dy is None else dy
        dfinal = None if dfinal is None else dfinal.to(torch.float32).contiguous()
        du = torch.empty(u.shape, dtype=u.dtype, device=device)
        ddelta = torch.empty(delta.shape, dtype=delta.dtype, device=device)
        dz = None if z is None else torch.empty(z.shape, dtype=z.dtype, device=device)
        dBC = torch.zeros((2, *B.shape), dtype=torch.float32, device=device)
        partials = torch.empty(batch * segments, dim * dstate + 2 * dim, dtype=torch.float32,
                               device=device)
        dinitial_state = (None if initial_state is None else
                          torch.empty(batch, dim, dstate, dtype=torch.float32, device=device))
        scan_backward(u, delta, A, B, C, D, z, delta_bias, options.delta_softplus,
                      initial_state is not None, checkpoints, dy, dfinal, du, ddelta, dz,
                      *dBC.unbind(0), partials, dinitial_state, options.chunk, segments,
                      y_pre=y_pre)
        sums = partials.sum(0) if batch * segments > 1 else partials.view(-1)
        dA, dD, dbias = sums.split((dim * dstate, dim, dim))
        B_dtype, C_dtype = ctx.dtypes
        dB, dC = (dBC.to(B_dtype) if B_dtype == C_dtype else dBC).unbind(0)
        return (du, ddelta, dA.view(dim, dstate).to(A.dtype), dB.to(B_dtype), dC.to(C_dtype),
                None if D is None else dD.to(D.dtype), dz,
                None if delta_bias is None else dbias.to(delta_bias.dtype),
                None if initial_state is None else dinitial_state.to(initial_state.dtype),
                None)


def selective_scan_triton(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                          D: Tensor | None = None, z: Tensor | None = None,
                          delta_bias: Tensor | None = None, delta_softplus: bool = False,
                          initial_state: Tensor | None = None, return_final_state: bool = False,
                          *, chunk_size: int | None = None,
                          segments: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan on the GPU, differentiable in every tensor argument.

    Args:
        u: (batch, L, D) inputs; delta: (batch, L, D) step sizes (before ``delta_bias`` and
            the optional softplus); z: (batch, L, D) gate. Any strides.
        A: (D, N) real decay rates. B, C: (batch, L, G, N), channel d reads group d // (D/G).
        D: (D,) skip; delta_bias: (D,); initial_state: (batch, D, N).
        return_final_state: also return the state after the last step.
        chunk_size: steps per chunk, a power of two (default ``chunk_len``); changes the
            cost and the checkpoint memory, not the result.
        segments: how many stretches of the sequence the forward and the backward each scan side
            by side (default: as many as a short grid needs, ``triton_segments``); changes the
            cost and the rounding, not the result.

    Returns:
        y (batch, L, D) in u's dtype, and with ``return_final_state`` the final state
        (batch, D, N) in fp32. State and arithmetic are fp32 for fp32, bf16 and fp16 inputs.
    """
    _check_runnable("selective_scan_triton",
                    (u, delta, A, B, C, D, z, delta_bias, initial_state))
    return run_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                              initial_state, return_final_state, chunk_size=chunk_size,
                              segments=segments)


def run_selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                       D: Tensor | None = None, z: Tensor | None = None,
                       delta_bias: Tensor | None = None, delta_softplus: bool = False,
                       initial_state: Tensor | None = None, return_final_state: bool = False,
                       *, chunk_size: int | None = None,
                       segments: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """``selective_scan_triton`` for tensors ``selective_scan_unsupported`` has accepted (the
    dispatcher's own check): the shapes and options are checked here, device and dtypes not."""
    fn = "selective_scan_triton"
    dims = check_scan_args(fn, u, delta, A, B, C, D, z, delta_bias, initial_state)
    need_grad = gradient_due((u, delta, A, B, C, D, z, delta_bias, initial_state))
    chunk = (chunk_len(dims.state, dims.batch * dims.length * dims.dim, need_grad)
             if chunk_size is None else chunk_size)
    if chunk < 1 or chunk & (chunk - 1):
        raise ValueError(f"{fn}: chunk_size must be a power of two, got {chunk_size}")
    if segments is not None and segments < 1:
        raise ValueError(f"{fn}: segments must be a positive int or None, got {segments}")
    plan = scan_plan(dims.batch, dims.dim, dims.length, chunk, segments,
                     (triton_segments.FORWARD, triton_segments.BACKWARD))
    options = _Options(bool(delta_softplus), bool(return_final_state), chunk, plan)
    D = None if D is None else D.contiguous()
    delta_bias = None if delta_bias is None else delta_bias.contiguous()
    if need_grad:
        return _SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, initial_state, options)
    y, final_state, *_ = _forward(u, delta, A, B, C, D, z, delta_bias, initial_state, options,
                                  False)
    return (y, final_state) if return_final_state else y


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


def selective_scan_unsupported(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                               D: Tensor | None = None, z: Tensor | None = None,
                               delta_bias: Tensor | None = None,
                               initial_state: Tensor | None = None) -> str | None:
    """Why the scan's kernels cannot take these tensors, or None."""
    return _unsupported((u, delta, A, B, C, D, z, delta_bias, initial_state))


def selective_state_update_unsupported(state: Tensor, x: Tensor, dt: Tensor, A: Tensor,
                                       B: Tensor, C: Tensor, D: Tensor | None = None,
                                       z: Tensor | None = None,
                                       dt_bias: Tensor | None = None) -> str | None:
    """Why the decode-step kernel cannot take these tensors, or None."""
    return _unsupported((state, x, dt, A, B, C, D, z, dt_bias))


def _unsupported(tensors: tuple[Tensor | None, ...]) -> str | None:
    """Why the kernels cannot take these tensors, or None (``tensors_problem``)."""
    return tensors_problem([t for t in tensors if t is not None])


def _check_runnable(where: str, tensors: tuple[Tensor | None, ...]) -> None:
    problem = _unsupported(tensors)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
