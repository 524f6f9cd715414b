"""Mamba-1 selective scan in plain torch: the oracle every fast path is tested against.

The recurrence, per batch element, channel d and state index n (zero-order-hold discretisation)::

    delta_t = softplus(delta_t + delta_bias)          # when asked
    h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t     = <C_t, h_t> + D * u_t
    y_t     = y_t * silu(z_t)                         # when z is given

B and C are shared by groups of channels: with G groups, channel d reads group d // (D // G).
Everything is computed in float32 (float64 for float64 inputs) whatever the input dtype, because the
state accumulates over thousands of steps and bf16 cannot hold that sum.

Three functions:
- ``selective_scan_ref``: the scan used on the CPU. It works chunk by chunk (T steps at a time):
  the discretised decays ``exp(delta A)`` and drives ``delta B u`` of a chunk are built in one
  vectorised pass, the recurrence itself is one fused multiply-add per step (and its adjoint one
  per step on the way back, written out in ``_ChunkRecurrence`` rather than recorded step by
  step by autograd), and the readout ``<C, h>`` is again one pass per chunk. Memory is
  O(batch * T * D * N) per chunk. T is picked so that a chunk's (batch, T, D, N) tensors stay
  about ``CHUNK_BYTES`` (``chunk_steps``): a CPU's time here goes to moving those tensors, which
  a chunk that fits in its caches moves far less, while a longer chunk makes fewer torch calls
  where the state is small. A fully parallel chunk (pairwise ``exp(S_t - S_s)`` from cumulative
  log-decays, or a log-step doubling scan) avoids the per-step Python call but does T or log T
  times more arithmetic, and measured slower on the CPU both forward and backward.
- ``selective_scan_loop``: the same scan as a plain loop of decode steps; slow, obviously right.
- ``selective_state_update_ref``: one decode step, updating the state in place.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class ScanDims(NamedTuple):
    """Sizes of a selective scan: ``batch``, ``length`` L, ``dim`` D, ``groups`` G, ``state`` N."""

    batch: int
    length: int
    dim: int
    groups: int
    state: int


def compute_dtype(x: Tensor) -> torch.dtype:
    """float64 for float64 inputs, float32 for everything else (fp32, fp16, bf16)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _expect_shape(fn: str, name: str, tensor: Tensor, shape: tuple[int, ...],
                  axes: str) -> None:
    """Raise a ValueError naming ``fn``, the argument and the expected ``shape``, its axes
    named by the words of ``axes``. Positional, no dict: it runs on every kernel call."""
    if tensor.shape != shape:
        spec = ", ".join(f"{k}={v}" for k, v in zip(axes.split(), shape))
        raise ValueError(f"{fn}: {name} must have shape ({spec}), got {tuple(tensor.shape)}")


def _expect_float(fn: str, **tensors: Tensor | None) -> None:
    for name, tensor in tensors.items():
        if tensor is not None and not tensor.is_floating_point():
            raise TypeError(f"{fn}: {name} must be a real floating-point tensor, "
                            f"got {tensor.dtype}")


def _state_size(fn: str, A: Tensor, dim: int) -> int:
    """N from A (D, N), which must be real: complex A (S4D-style) is a different kernel."""
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"{fn}: A must have shape (D={dim}, N), got {tuple(A.shape)}")
    return A.shape[1]


def _group_count(fn: str, B: Tensor, dim: int, group_axis: int) -> int:
    groups = B.shape[group_axis]
    if groups == 0 or dim % groups != 0:
        raise ValueError(f"{fn}: the channel count D={dim} must be divisible by the number of "
                         f"B/C groups G={groups} (B has shape {tuple(B.shape)})")
    return groups


def check_scan_args(fn: str, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                    D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None,
                    initial_state: Tensor | None) -> ScanDims:
    """Validate the arguments of a whole-sequence scan; errors name ``fn`` and the argument."""
    _expect_float(fn, u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias,
                  initial_state=initial_state)
    if u.dim() != 3 or u.shape[1] == 0:
        raise ValueError(f"{fn}: u must have shape (batch, L, D) with L >= 1, got {tuple(u.shape)}")
    batch, length, dim = u.shape
    n = _state_size(fn, A, dim)
    if B.dim() != 4:
        raise ValueError(f"{fn}: B must have shape (batch, L, G, N), got {tuple(B.shape)}")
    groups = _group_count(fn, B, dim, group_axis=2)
    _expect_shape(fn, "delta", delta, (batch, length, dim), "batch L D")
    _expect_shape(fn, "B", B, (batch, length, groups, n), "batch L G N")
    _expect_shape(fn, "C", C, (batch, length, groups, n), "batch L G N")
    if z is not None:
        _expect_shape(fn, "z", z, (batch, length, dim), "batch L D")
    if D is not None:
        _expect_shape(fn, "D", D, (dim,), "D")
    if delta_bias is not None:
        _expect_shape(fn, "delta_bias", delta_bias, (dim,), "D")
    if initial_state is not None:
        _expect_shape(fn, "initial_state", initial_state, (batch, dim, n), "batch D N")
    return ScanDims(batch, length, dim, groups, n)


def check_step_args(fn: str, state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                    C: Tensor, D: Tensor | None, z: Tensor | None,
                    dt_bias: Tensor | None) -> ScanDims:
    """Validate the arguments of one decode step (``length`` is 1)."""
    _expect_float(fn, state=state, x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dt_bias=dt_bias)
    if x.dim() != 2:
        raise ValueError(f"{fn}: x must have shape (batch, D), got {tuple(x.shape)}")
    batch, dim = x.shape
    n = _state_size(fn, A, dim)
    if B.dim() != 3:
        raise ValueError(f"{fn}: B must have shape (batch, G, N), got {tuple(B.shape)}")
    groups = _group_count(fn, B, dim, group_axis=1)
    _expect_shape(fn, "state", state, (batch, dim, n), "batch D N")
    _expect_shape(fn, "dt", dt, (batch, dim), "batch D")
    _expect_shape(fn, "B", B, (batch, groups, n), "batch G N")
    _expect_shape(fn, "C", C, (batch, groups, n), "batch G N")
    if z is not None:
        _expect_shape(fn, "z", z, (batch, dim), "batch D")
    if D is not None:
        _expect_shape(fn, "D", D, (dim,), "D")
    if dt_bias is not None:
        _expect_shape(fn, "dt_bias", dt_bias, (dim,), "D")
    return ScanDims(batch, 1, dim, groups, n)


def expand_groups(BC: Tensor, dim: int) -> Tensor:
    """Give every channel its group's vector: ``(..., G, N) -> (..., D, N)``."""
    *lead, groups, n = BC.shape
    per_group = dim // groups
    return BC.unsqueeze(-2).expand(*lead, groups, per_group, n).reshape(*lead, dim, n)


def _step_sizes(delta: Tensor, bias: Tensor | None, softplus: bool) -> Tensor:
    """The discretisation step: ``softplus(delta + bias)``, each part only when asked."""
    if bias is not None:
        delta = delta + bias
    return F.softplus(delta) if softplus else delta


def _skip_and_gate(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """``(y + D u) * silu(z)``, each part only when given; any shape ending in D."""
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * F.silu(z)
    return y


CHUNK_BYTES = 2 << 20
"""What one of a chunk's (batch, T, D, N) tensors may hold: about a CPU's L2 cache or a share of
its L3 (docs/benchmarks/cpu-2026-12-04-reference-chunks/)."""
MAX_CHUNK = 64


def chunk_steps(batch: int, dim: int, state: int, dtype: torch.dtype) -> int:
    """Steps per chunk of ``selective_scan_ref``: the largest power of two (1 to ``MAX_CHUNK``)
    whose (batch, T, D, N) tensor of ``dtype`` stays within ``CHUNK_BYTES``."""
    state_bytes = batch * dim * state * torch.finfo(dtype).bits // 8
    steps = max(1, CHUNK_BYTES // max(state_bytes, 1))
    return min(MAX_CHUNK, 1 << (steps.bit_length() - 1))


class _ChunkRecurrence(torch.autograd.Function):
    """One chunk's recurrence ``h_t = decay_t h_{t-1} + drive_t`` and readout ``y_t = Σ_n C_t h_t``
    with a written-out backward: the adjoint ``λ_t = gy_t C_t + decay_{t+1} λ_{t+1}`` is one
    in-place multiply-add a step, where autograd through the forward's loop recorded a node a
    step and ran several ops for each on the way back.

    decay, drive, C: (b, T, D, N); h0: (b, D, N). Returns y (b, T, D) and h_T (b, D, N)."""

    @staticmethod
    def forward(ctx, decay: Tensor, drive: Tensor, C: Tensor, h0: Tensor):
        states = torch.empty_like(drive)
        h = h0
        for t in range(drive.shape[1]):
            h = torch.addcmul(drive[:, t], decay[:, t], h, out=states[:, t])
        ctx.save_for_backward(decay, C, h0, states)
        return (states * C).sum(-1), states[:, -1].clone()

    @staticmethod
    def backward(ctx, gy: Tensor, gh: Tensor):
        decay, C, h0, states = ctx.saved_tensors
        lam = gy.unsqueeze(-1) * C                                   # gy_t C_t, then λ_t
        lam[:, -1] += gh
        for t in range(lam.shape[1] - 2, -1, -1):
            lam[:, t].addcmul_(decay[:, t + 1], lam[:, t + 1])
        grad_decay = torch.empty_like(lam)                           # λ_t h_{t-1}
        torch.mul(lam[:, 1:], states[:, :-1], out=grad_decay[:, 1:])
        torch.mul(lam[:, 0], h0, out=grad_decay[:, 0])
        return grad_decay, lam, gy.unsqueeze(-1) * states, decay[:, 0] * lam[:, 0]


def selective_scan_ref(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                       D: Tensor | None = None, z: Tensor | None = None,
                       delta_bias: Tensor | None = None, delta_softplus: bool = False,
                       initial_state: Tensor | None = None, return_final_state: bool = False,
                       chunk_size: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan over a whole sequence, chunk by chunk (see the module docstring).

    Args:
        u: (batch, L, D) input.
        delta: (batch, L, D) step sizes (before ``delta_bias`` and softplus).
        A: (D, N) real state matrix diagonal (negative for a stable scan).
        B, C: (batch, L, G, N) input and output projections; D must be divisible by G.
        D: (D,) skip connection, or None.
        z: (batch, L, D) gate, applied as ``y * silu(z)``, or None.
        delta_bias: (D,) added to ``delta``, or None.
        delta_softplus: apply softplus to ``delta + delta_bias``.
        initial_state: (batch, D, N) state before the first step, or None for zeros.
        return_final_state: also return the state after the last step.
        chunk_size: steps discretised together; bounds memory at O(batch * chunk_size * D * N).
            None: ``chunk_steps``'s choice. It changes the cost, never the result.

    Returns:
        y (batch, L, D) in u's dtype, and with ``return_final_state`` the final state
        (batch, D, N) in float32 (float64 for float64 inputs).
    """
    fn = "selective_scan_ref"
    dims = check_scan_args(fn, u, delta, A, B, C, D, z, delta_bias, initial_state)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"{fn}: chunk_size must be positive, got {chunk_size}")
    dtype = compute_dtype(u)
    batch, _, dim, _, n = dims
    chunk_size = chunk_size or chunk_steps(batch, dim, n, dtype)
    u_c, A_c, B_c, C_c = (t.to(dtype) for t in (u, A, B, C))
    bias_c = None if delta_bias is None else delta_bias.to(dtype)
    delta_c = _step_sizes(delta.to(dtype), bias_c, delta_softplus)
    h = u_c.new_zeros(batch, dim, n) if initial_state is None else initial_state.to(dtype)

    # Readouts are products and sums, not einsum/matmul, so autocast cannot drop them to bf16.
    outputs = []
    for u_k, delta_k, B_k, C_k in zip(u_c.split(chunk_size, 1), delta_c.split(chunk_size, 1),
                                      B_c.split(chunk_size, 1), C_c.split(chunk_size, 1)):
        decay = torch.exp(delta_k.unsqueeze(-1) * A_c)                          # (b, T, D, N)
        drive = (delta_k * u_k).unsqueeze(-1) * expand_groups(B_k, dim)          # (b, T, D, N)
        y_k, h = _ChunkRecurrence.apply(decay, drive, expand_groups(C_k, dim), h)
        outputs.append(y_k)                                                      # (b, T, D)

    y = torch.cat(outputs, 1)
    y = _skip_and_gate(y, u_c, None if D is None else D.to(dtype),
                       None if z is None else z.to(dtype)).to(u.dtype)
    return (y, h) if return_final_state else y


def selective_state_update_ref(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                               C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                               dt_bias: Tensor | None = None, dt_softplus: bool = False) -> Tensor:
    """One decode step of the selective scan; ``state`` is overwritten with the next state.

    Updating in place keeps generation at constant memory; it also means the step cannot be
    back-propagated through repeatedly (train with the whole-sequence scan).

    Args:
        state: (batch, D, N) state before the step, updated in place (any float dtype; the
            arithmetic is float32, or float64 for float64 ``x``).
        x: (batch, D) input; dt: (batch, D) step size (before ``dt_bias`` and softplus).
        A: (D, N); B, C: (batch, G, N) with D divisible by G.
        D: (D,) skip, or None; z: (batch, D) gate, or None; dt_bias: (D,), or None.

    Returns:
        y (batch, D) in x's dtype.
    """
    fn = "selective_state_update_ref"
    dims = check_step_args(fn, state, x, dt, A, B, C, D, z, dt_bias)
    dtype = compute_dtype(x)
    x_c = x.to(dtype)
    bias_c = None if dt_bias is None else dt_bias.to(dtype)
    dt_c = _step_sizes(dt.to(dtype), bias_c, dt_softplus)
    h = (torch.exp(dt_c.unsqueeze(-1) * A.to(dtype)) * state.to(dtype)
         + (dt_c * x_c).unsqueeze(-1) * expand_groups(B.to(dtype), dims.dim))
    state.copy_(h)
    y = (h * expand_groups(C.to(dtype), dims.dim)).sum(-1)
    y = _skip_and_gate(y, x_c, None if D is None else D.to(dtype),
                       None if z is None else z.to(dtype))
    return y.to(x.dtype)


def selective_scan_loop(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                        D: Tensor | None = None, z: Tensor | None = None,
                        delta_bias: Tensor | None = None, delta_softplus: bool = False,
                        initial_state: Tensor | None = None, return_final_state: bool = False
                        ) -> Tensor | tuple[Tensor, Tensor]:
    """The scan as L decode steps, one Python iteration each: the oracle for the tests.

    Same arguments, shapes and results as ``selective_scan_ref``. Not differentiable (each step
    updates the state in place).
    """
    fn = "selective_scan_loop"
    batch, length, dim, _, n = check_scan_args(fn, u, delta, A, B, C, D, z, delta_bias,
                                               initial_state)
    dtype = compute_dtype(u)
    h = (torch.zeros(batch, dim, n, dtype=dtype, device=u.device) if initial_state is None
         else initial_state.to(dtype).clone())
    ys = [selective_state_update_ref(h, u[:, t], delta[:, t], A, B[:, t], C[:, t], D,
                                     None if z is None else z[:, t], delta_bias, delta_softplus)
          for t in range(length)]
    y = torch.stack(ys, 1)
    return (y, h) if return_final_state else y
