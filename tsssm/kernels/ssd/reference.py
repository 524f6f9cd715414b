"""Mamba-2's state-space duality (SSD) in plain torch: the chunked algorithm and its oracle.

The scan is, per head ``h`` (scalar decay ``A_h < 0``) and time step ``t``::

    h_t = exp(dt_t A_h) h_{t-1} + dt_t x_t ⊗ B_t        (state: head dim P × state dim N)
    y_t = h_t C_t + D x_t                               (then y_t ← y_t · silu(z_t) when gated)

``ssd_ref`` computes it in chunks of ``chunk_size`` steps: inside a chunk the scan is a masked
attention-like matmul (quadratic in the chunk, linear in the sequence), and only one state per chunk
is passed along the sequence. ``ssd_loop`` runs the recurrence literally, one step at a time, and is
the oracle the chunked form is tested against. ``ssd_state_update_ref`` is one decode step.

Shapes: batch ``b``, length ``L``, heads ``H`` of head dim ``P``, ``G`` groups of ``B``/``C`` with
state dim ``N``; head ``h`` reads group ``h // (H // G)``. Arithmetic runs in fp32 for
fp32/bf16/fp16 inputs and in float64 for float64 inputs; outputs come back in ``x``'s dtype,
states in the arithmetic dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def ssd_ref(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int = 64,
            D: Tensor | None = None, z: Tensor | None = None, dt_bias: Tensor | None = None,
            dt_softplus: bool = False, initial_state: Tensor | None = None,
            return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The SSD scan by chunks, in four steps; any length (the last chunk is padded).

    Args:
        x: (b, L, H, P) inputs per head.
        dt: (b, L, H) step sizes (raw when ``dt_softplus``: ``softplus(dt + dt_bias)`` is used).
        A: (H,) negative decay rate per head.
        B: (b, L, G, N) input projections; C: (b, L, G, N) output projections.
        chunk_size: steps per chunk; changes the cost, never the result.
        D: (H,) or (H, P) skip connection, ``y += D x``.
        z: (b, L, H, P) gate, ``y ← y · silu(z)``.
        dt_bias: (H,) added to ``dt`` before the optional softplus.
        initial_state: (b, H, P, N) state before the first step (zeros when None).
        return_final_state: also return the state after the last step.

    Returns:
        y: (b, L, H, P) in ``x``'s dtype; with ``return_final_state`` also the final state
        (b, H, P, N) in the arithmetic dtype (fp32, or float64 for float64 inputs).
    """
    check_ssd_inputs("ssd_ref", x, dt, A, B, C, D, z, dt_bias, initial_state)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"ssd_ref: chunk_size must be a positive int, got {chunk_size!r}")
    batch, length, heads, head_dim = x.shape
    dtype = _arithmetic_dtype(x)
    dt = _step_sizes(dt.to(dtype), dt_bias, dt_softplus)
    u = x.to(dtype) * dt[..., None]                           # (b, L, H, P): dt_t x_t
    B = _per_head(B.to(dtype), heads)                         # (b, L, H, N)
    C = _per_head(C.to(dtype), heads)

    # Zero-pad to whole chunks. A padded step has dt = 0: decay exp(0) = 1 and input 0, so it
    # leaves the state exactly as it was, and the final state is that of the last real step.
    # A sequence shorter than a chunk is one chunk of its own length (no (T, T) pairs of padding).
    chunk_size = min(chunk_size, length)
    n_chunks = -(-length // chunk_size)
    pad = n_chunks * chunk_size - length
    u, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (u, B, C))
    log_decay = F.pad(dt * A.to(dtype), (0, 0, 0, pad))       # (b, L', H): dt_t A_h (<= 0)
    u, B, C = (t.unflatten(1, (n_chunks, chunk_size)) for t in (u, B, C))  # (b, c, l, H, ·)
    log_decay = log_decay.unflatten(1, (n_chunks, chunk_size)).permute(0, 3, 1, 2)  # (b, H, c, l)
    log_decay_to = log_decay.cumsum(dim=-1)                   # decay from chunk start to step l

    # 1. Inside each chunk: y_l = sum_{s <= l} (C_l · B_s) exp(sum_{s < k <= l} dt_k A) u_s.
    decay_mask = torch.exp(segment_sum(log_decay))            # (b, H, c, l, s), zero above diagonal
    scores = torch.einsum("bclhn,bcshn->bhcls", C, B) * decay_mask
    y_intra = torch.einsum("bhcls,bcshp->bclhp", scores, u)

    # 2. The state each chunk builds from its own inputs, starting from zero.
    decay_to_end = torch.exp(log_decay_to[..., -1:] - log_decay_to)  # (b, H, c, l)
    chunk_states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_to_end, u)

    # 3. Pass the state along the chunks: the state entering chunk c decays through it and adds
    # what chunk c built. One step per chunk, so this loop is L / chunk_size long.
    state = (x.new_zeros(batch, heads, head_dim, B.shape[-1], dtype=dtype)
             if initial_state is None else initial_state.to(dtype))
    chunk_decay = torch.exp(log_decay_to[..., -1])            # (b, H, c)
    entering = []
    for c in range(n_chunks):
        entering.append(state)
        state = chunk_decay[:, :, c, None, None] * state + chunk_states[:, c]
    entering_states = torch.stack(entering, dim=1)            # (b, c, H, P, N)

    # 4. What the entering state contributes to each output of its chunk.
    y_inter = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, entering_states, torch.exp(log_decay_to))

    y = (y_intra + y_inter).flatten(1, 2)[:, :length]
    y = _skip_and_gate(y, x.to(dtype), D, z).to(x.dtype)
    return (y, state) if return_final_state else y


def segment_sum(a: Tensor) -> Tensor:
    """``(..., T) -> (..., T, T)``: ``out[i, j] = a[j+1] + ... + a[i]`` if ``i >= j``, else -inf.

    Summing the masked terms directly, rather than subtracting two running sums, avoids the
    cancellation that makes ``cumsum[i] - cumsum[j]`` inaccurate when the sums grow large.
    """
    steps = a.shape[-1]
    ones = torch.ones(steps, steps, dtype=torch.bool, device=a.device)
    terms = a[..., :, None].expand(*a.shape, steps)           # terms[..., k, j] = a[k]
    sums = terms.masked_fill(~ones.tril(-1), 0).cumsum(dim=-2)  # keep k > j, sum k <= i
    return sums.masked_fill(~ones.tril(0), float("-inf"))


def ssd_loop(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
             z: Tensor | None = None, dt_bias: Tensor | None = None, dt_softplus: bool = False,
             initial_state: Tensor | None = None,
             return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The same scan as ``ssd_ref``, one step at a time (the test oracle; O(L) Python steps).

    Arguments and returns are those of ``ssd_ref`` without ``chunk_size``.
    """
    check_ssd_inputs("ssd_loop", x, dt, A, B, C, D, z, dt_bias, initial_state)
    batch, length, heads, head_dim = x.shape
    dtype = _arithmetic_dtype(x)
    dt = _step_sizes(dt.to(dtype), dt_bias, dt_softplus)
    B = _per_head(B.to(dtype), heads)
    C = _per_head(C.to(dtype), heads)
    state = (x.new_zeros(batch, heads, head_dim, B.shape[-1], dtype=dtype)
             if initial_state is None else initial_state.to(dtype))
    A = A.to(dtype)
    outputs = []
    for t in range(length):
        state, y_t = _recurrence_step(state, x[:, t].to(dtype), dt[:, t], A, B[:, t], C[:, t])
        outputs.append(y_t)
    y = _skip_and_gate(torch.stack(outputs, dim=1), x.to(dtype), D, z).to(x.dtype)
    return (y, state) if return_final_state else y


def ssd_state_update_ref(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                         D: Tensor | None = None, z: Tensor | None = None,
                         dt_bias: Tensor | None = None, dt_softplus: bool = False) -> Tensor:
    """One decode step of the scan; ``state`` is updated in place (constant memory per token).

    Args:
        state: (b, H, P, N) the state after the previous step; overwritten with the new one.
        x: (b, H, P); dt: (b, H); A: (H,); B, C: (b, G, N); D: (H,) or (H, P); z: (b, H, P);
        dt_bias: (H,). Same meaning as in ``ssd_ref``.

    Returns:
        y: (b, H, P) in ``x``'s dtype.
    """
    check_state_update_inputs("ssd_state_update_ref", state, x, dt, A, B, C, D, z, dt_bias)
    dtype = _arithmetic_dtype(x)
    heads = x.shape[1]
    dt = _step_sizes(dt.to(dtype), dt_bias, dt_softplus)
    new_state, y = _recurrence_step(state.to(dtype), x.to(dtype), dt, A.to(dtype),
                                    _per_head(B.to(dtype), heads), _per_head(C.to(dtype), heads))
    state.copy_(new_state)
    return _skip_and_gate(y, x.to(dtype), D, z).to(x.dtype)


def _recurrence_step(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                     C: Tensor) -> tuple[Tensor, Tensor]:
    """``h = exp(dt A) h + dt x ⊗ B``, ``y = h C``; state (b, H, P, N), x (b, H, P), dt (b, H),
    B and C per head (b, H, N). Returns the new state and y (b, H, P), without D or gate."""
    decay = torch.exp(dt * A)[..., None, None]
    state = decay * state + (dt[..., None] * x)[..., None] * B[:, :, None, :]
    return state, torch.einsum("bhpn,bhn->bhp", state, C)


def _arithmetic_dtype(x: Tensor) -> torch.dtype:
    """fp32 for fp32 and lower precisions, float64 for float64."""
    return torch.promote_types(x.dtype, torch.float32)


def _step_sizes(dt: Tensor, dt_bias: Tensor | None, dt_softplus: bool) -> Tensor:
    """``softplus(dt + dt_bias)`` with the bias and the softplus each optional; dt (..., H)."""
    if dt_bias is not None:
        dt = dt + dt_bias.to(dt.dtype)
    return F.softplus(dt) if dt_softplus else dt


def _per_head(groups: Tensor, heads: int) -> Tensor:
    """(..., G, N) -> (..., H, N): head h reads group h // (H // G)."""
    return groups.repeat_interleave(heads // groups.shape[-2], dim=-2)


def _skip_and_gate(y: Tensor, x: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """``y + D x`` then ``· silu(z)``, each optional; y, x, z: (..., H, P), D: (H,) or (H, P)."""
    if D is not None:
        y = y + x * (D[:, None] if D.dim() == 1 else D).to(y.dtype)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y


def check_ssd_inputs(where: str, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                     D: Tensor | None, z: Tensor | None, dt_bias: Tensor | None,
                     initial_state: Tensor | None) -> None:
    """Raise a ValueError naming the argument whose shape does not fit the scan's layout."""
    _expect_rank(where, "x", x, "(batch, L, H, P)")
    batch, length, heads, head_dim = x.shape
    if length == 0:
        raise ValueError(f"{where}: x has no time steps (shape {tuple(x.shape)})")
    _expect_rank(where, "B", B, "(batch, L, G, N)")
    groups, state_dim = B.shape[2], B.shape[3]
    _expect_shape(where, "B", B, (batch, length, groups, state_dim), "(batch, L, G, N)")
    _expect_shape(where, "C", C, (batch, length, groups, state_dim), "(batch, L, G, N) like B")
    _expect_shape(where, "dt", dt, (batch, length, heads), "(batch, L, H)")
    _expect_shared(where, x, A, D, z, dt_bias, groups, heads, head_dim)
    if z is not None:
        _expect_shape(where, "z", z, tuple(x.shape), "(batch, L, H, P) like x")
    if initial_state is not None:
        _expect_shape(where, "initial_state", initial_state, (batch, heads, head_dim, state_dim),
                      "(batch, H, P, N)")


def check_state_update_inputs(where: str, state: Tensor, x: Tensor, dt: Tensor, A: Tensor,
                              B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
                              dt_bias: Tensor | None) -> None:
    """Raise a ValueError naming the argument whose shape does not fit one decode step."""
    _expect_rank(where, "x", x, "(batch, H, P)", rank=3)
    batch, heads, head_dim = x.shape
    _expect_rank(where, "B", B, "(batch, G, N)", rank=3)
    groups, state_dim = B.shape[1], B.shape[2]
    _expect_shape(where, "B", B, (batch, groups, state_dim), "(batch, G, N)")
    _expect_shape(where, "C", C, (batch, groups, state_dim), "(batch, G, N) like B")
    _expect_shape(where, "dt", dt, (batch, heads), "(batch, H)")
    _expect_shape(where, "state", state, (batch, heads, head_dim, state_dim), "(batch, H, P, N)")
    _expect_shared(where, x, A, D, z, dt_bias, groups, heads, head_dim)
    if z is not None:
        _expect_shape(where, "z", z, tuple(x.shape), "(batch, H, P) like x")


def _expect_shared(where: str, x: Tensor, A: Tensor, D: Tensor | None, z: Tensor | None,
                   dt_bias: Tensor | None, groups: int, heads: int, head_dim: int) -> None:
    """Checks common to the scan and the decode step: groups, A, D, dt_bias and dtypes."""
    if groups == 0 or heads % groups:
        raise ValueError(f"{where}: the number of heads H={heads} (x.shape[-2]) must be a multiple "
                         f"of the number of groups G={groups} (B.shape[-2])")
    _expect_shape(where, "A", A, (heads,), "(H,)")
    if dt_bias is not None:
        _expect_shape(where, "dt_bias", dt_bias, (heads,), "(H,)")
    if D is not None and tuple(D.shape) not in ((heads,), (heads, head_dim)):
        raise ValueError(f"{where}: D must have shape (H,) = ({heads},) or (H, P) = "
                         f"({heads}, {head_dim}), got {tuple(D.shape)}")
    for name, tensor in (("x", x), ("z", z)):
        if tensor is not None and not tensor.is_floating_point():
            raise ValueError(f"{where}: {name} must be a floating-point tensor, got {tensor.dtype}")


def _expect_rank(where: str, name: str, tensor: Tensor, layout: str, rank: int = 4) -> None:
    if tensor.dim() != rank:
        raise ValueError(f"{where}: {name} must have {rank} dims {layout}, "
                         f"got shape {tuple(tensor.shape)}")


def _expect_shape(where: str, name: str, tensor: Tensor, shape: tuple[int, ...],
                  layout: str) -> None:
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{where}: {name} must have shape {layout} = {shape}, "
                         f"got {tuple(tensor.shape)}")
