"""Mamba-2's SSD scan: one public entry for the whole sequence and one for a decode step.

The backend follows ``tsssm.kernels.dispatch``: ``"auto"`` takes the Triton kernels
(``triton.py``) for CUDA tensors they can take (not float64), the plain torch reference
(``reference.py``, the oracle every fast path is tested against) otherwise; ``"reference"`` and
``"triton"`` force one (CPU tensors run the kernels only under ``TRITON_INTERPRET=1``).
``triton.py`` is imported on the first call that may use it, never by CPU-only users.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from tsssm.kernels.dispatch import BACKENDS, triton_module
from tsssm.kernels.ssd.reference import (check_ssd_inputs, check_state_update_inputs, ssd_ref,
                                         ssd_state_update_ref)


def ssd(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int = 64,
        D: Tensor | None = None, z: Tensor | None = None, dt_bias: Tensor | None = None,
        dt_softplus: bool = False, initial_state: Tensor | None = None,
        return_final_state: bool = False,
        backend: str = "auto") -> Tensor | tuple[Tensor, Tensor]:
    """The SSD scan ``h_t = exp(dt_t A) h_{t-1} + dt_t x_t ⊗ B_t``, ``y_t = h_t C_t + D x_t``.

    Args:
        x: (batch, L, H, P) inputs, H heads of head dim P.
        dt: (batch, L, H) step sizes; ``softplus(dt + dt_bias)`` when ``dt_softplus``.
        A: (H,) negative decay rate per head.
        B: (batch, L, G, N) and C: (batch, L, G, N), G groups dividing H (head h uses group
            h // (H // G)), N the state size.
        chunk_size: steps per chunk of the chunked algorithm; does not change the result.
        D: (H,) or (H, P) skip, ``y += D x``.
        z: (batch, L, H, P) gate, ``y ← y · silu(z)``.
        dt_bias: (H,) added to dt.
        initial_state: (batch, H, P, N) state before the first step, zeros when None.
        return_final_state: also return the state after the last step.
        backend: "auto", "reference" or "triton".

    Returns:
        y: (batch, L, H, P) in x's dtype, and with ``return_final_state`` the final state
        (batch, H, P, N) in fp32 (float64 for float64 inputs).
    """
    def unsupported(fast: ModuleType) -> str | None:
        check_ssd_inputs("ssd", x, dt, A, B, C, D, z, dt_bias, initial_state)
        return fast.ssd_unsupported(x, dt, A, B, C, chunk_size, D, z, dt_bias, initial_state)

    fast = triton_module("ssd", backend, x, __name__, unsupported)
    if fast is not None:
        return fast.ssd_triton(x, dt, A, B, C, chunk_size, D=D, z=z, dt_bias=dt_bias,
                               dt_softplus=dt_softplus, initial_state=initial_state,
                               return_final_state=return_final_state)
    return ssd_ref(x, dt, A, B, C, chunk_size, D=D, z=z, dt_bias=dt_bias, dt_softplus=dt_softplus,
                   initial_state=initial_state, return_final_state=return_final_state)


def ssd_state_update(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                     D: Tensor | None = None, z: Tensor | None = None,
                     dt_bias: Tensor | None = None, dt_softplus: bool = False,
                     backend: str = "auto") -> Tensor:
    """One decode step of the scan; ``state`` is updated in place.

    Args:
        state: (batch, H, P, N) state after the previous step; overwritten with the new one.
        x: (batch, H, P); dt: (batch, H); A: (H,); B, C: (batch, G, N); D: (H,) or (H, P);
        z: (batch, H, P); dt_bias: (H,); meanings as in ``ssd``.
        backend: "auto", "reference" or "triton".

    Returns:
        y: (batch, H, P) in x's dtype.
    """
    def unsupported(fast: ModuleType) -> str | None:
        check_state_update_inputs("ssd_state_update", state, x, dt, A, B, C, D, z, dt_bias)
        return fast.ssd_state_update_unsupported(state, x, dt, A, B, C, D, z, dt_bias)

    fast = triton_module("ssd_state_update", backend, x, __name__, unsupported)
    if fast is not None:
        return fast.ssd_state_update_triton(state, x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias,
                                            dt_softplus=dt_softplus)
    return ssd_state_update_ref(state, x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias,
                                dt_softplus=dt_softplus)


__all__ = ["BACKENDS", "ssd", "ssd_state_update"]
