"""S4's kernels: the Vandermonde sum (S4D) and the Cauchy sum (S4's DPLR generating function),
one public function each, picking a backend.

The backend follows ``tsssm.kernels.dispatch``: ``"auto"`` takes the Triton kernels
(``triton.py``: no (H, N, L) tensor, fp32) for complex64 CUDA tensors they can take, the plain
torch reference (``reference.py``, the oracle the kernels are tested against) otherwise,
complex128 included; ``"reference"`` and ``"triton"`` force one (CPU tensors run the kernels only
under ``TRITON_INTERPRET=1``). ``triton.py`` is imported on the first call that may use it, never
by CPU-only users.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from tsssm.kernels.dispatch import BACKENDS, triton_module
from tsssm.kernels.s4.reference import (cauchy_kernel_ref, check_cauchy_inputs,
                                        check_vandermonde_inputs, vandermonde_kernel_ref)

__all__ = ["BACKENDS", "cauchy_kernel", "vandermonde_kernel"]


def vandermonde_kernel(c: Tensor, dt_a: Tensor, length: int, backend: str = "auto") -> Tensor:
    """``K[..., h, l] = 2 Re sum_n c[..., h, n] * exp(dt_a[h, n] * l)``, ``0 <= l < length``.

    Args:
        c: (H, N) or (R, H, N) complex mode weights.
        dt_a: (H, N) complex step size times eigenvalue.
        length: L, the number of taps.
        backend: "auto", "reference" or "triton".

    Returns:
        (H, L) or (R, H, L) real kernel.
    """
    check_vandermonde_inputs(c, dt_a, length)

    def unsupported(fast: ModuleType) -> str | None:
        return fast.vandermonde_kernel_unsupported(c, dt_a)

    fast = triton_module("vandermonde_kernel", backend, c, __name__, unsupported)
    if fast is not None:
        return fast.vandermonde_kernel_triton(c, dt_a, length)
    return vandermonde_kernel_ref(c, dt_a, length)


def cauchy_kernel(v: Tensor, z: Tensor, w: Tensor, backend: str = "auto") -> Tensor:
    """``out[..., h, l] = sum_n v[..., h, n] / (z[l] - w[..., h, n])``.

    Args:
        v: (H, N) or (R, H, N) complex numerators.
        z: (L,) complex evaluation points (no gradient on the Triton backend: "auto" sends a z
            that requires grad to the reference).
        w: (H, N) or (R, H, N) complex poles, broadcastable to v.
        backend: "auto", "reference" or "triton".

    Returns:
        (H, L) or (R, H, L) complex.
    """
    check_cauchy_inputs(v, z, w)

    def unsupported(fast: ModuleType) -> str | None:
        return fast.cauchy_kernel_unsupported(v, z, w)

    fast = triton_module("cauchy_kernel", backend, v, __name__, unsupported)
    if fast is not None:
        return fast.cauchy_kernel_triton(v, z, w)
    return cauchy_kernel_ref(v, z, w)
