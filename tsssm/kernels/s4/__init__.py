"""S4's kernels: the Vandermonde sum (S4D) and the Cauchy sum (S4's DPLR generating function).

``backend="auto"`` picks the fastest implementation available for the inputs (today the
reference); ``"reference"`` forces the plain torch oracle in ``reference.py``.
"""

from __future__ import annotations

from torch import Tensor

from tsssm.kernels.s4.reference import cauchy_kernel_ref, vandermonde_kernel_ref

BACKENDS = ("auto", "reference", "triton")


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
    _check_backend(backend)
    return vandermonde_kernel_ref(c, dt_a, length)


def cauchy_kernel(v: Tensor, z: Tensor, w: Tensor, backend: str = "auto") -> Tensor:
    """``out[..., h, l] = sum_n v[..., h, n] / (z[l] - w[..., h, n])``.

    Args:
        v: (H, N) or (R, H, N) complex numerators.
        z: (L,) complex evaluation points.
        w: (H, N) or (R, H, N) complex poles, broadcastable to v.
        backend: "auto", "reference" or "triton".

    Returns:
        (H, L) or (R, H, L) complex.
    """
    _check_backend(backend)
    return cauchy_kernel_ref(v, z, w)


def _check_backend(backend: str) -> None:
    """Only the reference exists so far: "auto" runs it, "triton" says it is not there."""
    if backend not in BACKENDS:
        raise ValueError(f"tsssm.kernels.s4: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "triton":
        raise NotImplementedError("tsssm.kernels.s4: the Triton backend "
                                  "(tsssm/kernels/s4/triton.py) is not available yet; "
                                  "use backend='reference' or 'auto'")
