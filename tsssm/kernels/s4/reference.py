"""The two kernels behind S4, in plain torch: the oracle the fast paths are tested against.

Both materialise an ``(..., N, L)`` tensor of terms and sum it; that is the readable form, and the
memory a fused kernel avoids.
"""

from __future__ import annotations

import torch
from torch import Tensor


def vandermonde_kernel_ref(c: Tensor, dt_a: Tensor, length: int) -> Tensor:
    """``K[..., h, l] = 2 Re sum_n c[..., h, n] * exp(dt_a[h, n] * l)`` for ``l < length``.

    S4D's convolution kernel: a diagonal SSM's impulse response is a sum of decaying complex
    exponentials, one per mode; the factor 2 and the real part add each mode's conjugate twin.

    Args:
        c: (H, N) or (R, H, N) complex mode weights (C times the discretised B).
        dt_a: (H, N) complex, the step size times the eigenvalues.
        length: L, the number of kernel taps.

    Returns:
        (H, L) or (R, H, L) real kernel in c's real dtype.
    """
    check_vandermonde_inputs(c, dt_a, length)
    positions = torch.arange(length, device=dt_a.device, dtype=dt_a.real.dtype)
    powers = torch.exp(dt_a.unsqueeze(-1) * positions)  # (H, N, L)
    return 2 * (c.unsqueeze(-2) @ powers).squeeze(-2).real


def cauchy_kernel_ref(v: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """``out[..., h, l] = sum_n v[..., h, n] / (z[l] - w[..., h, n])``.

    S4 evaluates its generating function at the roots of unity through this sum: the resolvent
    of a diagonal matrix, contracted with two vectors, at many points at once.

    Args:
        v: (H, N) or (R, H, N) complex numerators.
        z: (L,) complex evaluation points.
        w: (H, N) or (R, H, N) complex poles, broadcastable to v's shape.

    Returns:
        (H, L) or (R, H, L) complex (the broadcast of v's and w's leading dimensions).
    """
    check_cauchy_inputs(v, z, w)
    return (v.unsqueeze(-1) / (z - w.unsqueeze(-1))).sum(-2)


def check_vandermonde_inputs(c: Tensor, dt_a: Tensor, length: int) -> None:
    """Shared by every backend, so bad input gets the same error whichever one runs."""
    _check_complex("vandermonde_kernel", c=c, dt_a=dt_a)
    if c.shape[-2:] != dt_a.shape:
        raise ValueError(f"vandermonde_kernel: c must end in dt_a's shape {tuple(dt_a.shape)} "
                         f"(H, N), got c of shape {tuple(c.shape)}")
    _check_length("vandermonde_kernel", length)


def check_cauchy_inputs(v: Tensor, z: Tensor, w: Tensor) -> None:
    """Shared by every backend, so bad input gets the same error whichever one runs."""
    _check_complex("cauchy_kernel", v=v, z=z, w=w)
    if z.dim() != 1:
        raise ValueError(f"cauchy_kernel: z must be 1-D (L,), got shape {tuple(z.shape)}")
    if v.dim() < 2 or w.dim() < 2:
        raise ValueError(f"cauchy_kernel: v and w must be (H, N) or (R, H, N), got shapes "
                         f"{tuple(v.shape)} and {tuple(w.shape)}")
    try:
        torch.broadcast_shapes(v.shape, w.shape)
    except RuntimeError:
        raise ValueError(f"cauchy_kernel: v {tuple(v.shape)} and w {tuple(w.shape)} do not "
                         "broadcast to one (..., H, N) shape") from None


def _check_complex(kernel: str, **tensors: Tensor) -> None:
    for name, tensor in tensors.items():
        if not tensor.is_complex():
            raise TypeError(f"{kernel}: {name} must be a complex tensor, got {tensor.dtype}")


def _check_length(kernel: str, length: int) -> None:
    if length < 1:
        raise ValueError(f"{kernel}: length must be a positive number of taps, got {length}")
