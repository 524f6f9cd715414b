"""Mamba-1 selective scan: ``selective_scan`` runs a whole sequence (training, prefill),
``selective_state_update`` one decode step; each picks a backend.

The backend follows ``tsssm.kernels.dispatch``: ``"auto"`` takes the Triton kernels
(``triton.py``) for fp32/bf16/fp16 CUDA tensors, the plain torch reference (``reference.py``, the
oracle the kernels are tested against) otherwise; ``"reference"`` and ``"triton"`` force one (CPU
tensors run the kernels only under ``TRITON_INTERPRET=1``). ``triton.py`` is imported on the
first call that may use it, never by CPU-only users.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from tsssm.kernels.dispatch import BACKENDS, triton_module
from tsssm.kernels.selective_scan.reference import (selective_scan_ref,
                                                    selective_state_update_ref)


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                   D: Tensor | None = None, z: Tensor | None = None,
                   delta_bias: Tensor | None = None, delta_softplus: bool = False,
                   initial_state: Tensor | None = None, return_final_state: bool = False,
                   backend: str = "auto") -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan over a whole sequence (training, prefill).

    ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``; ``y_t = (<C_t, h_t> + D u_t) silu(z_t)``.

    Args:
        u: (batch, L, D) input.
        delta: (batch, L, D) step sizes; softplus(delta + delta_bias) when ``delta_softplus``.
        A: (D, N) real, negative.
        B, C: (batch, L, G, N); channel d uses group d // (D // G).
        D: (D,) skip, or None.
        z: (batch, L, D) gate, output multiplied by silu(z), or None.
        delta_bias: (D,), or None.
        delta_softplus: apply softplus to the biased step size.
        initial_state: (batch, D, N), or None for zeros.
        return_final_state: also return the (batch, D, N) state after the last step.
        backend: "auto", "reference" or "triton".

    Returns:
        y (batch, L, D) in u's dtype; with ``return_final_state`` also the final state
        (batch, D, N) in float32 (float64 for float64 inputs).
    """
    def unsupported(fast: ModuleType) -> str | None:
        return fast.selective_scan_unsupported(u, delta, A, B, C, D, z, delta_bias, initial_state)

    fast = triton_module("selective_scan", backend, u, __name__, unsupported)
    if fast is not None:
        return fast.run_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                       initial_state, return_final_state)
    return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                              initial_state, return_final_state)


def selective_state_update(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor,
                           C: Tensor, D: Tensor | None = None, z: Tensor | None = None,
                           dt_bias: Tensor | None = None, dt_softplus: bool = False,
                           backend: str = "auto") -> Tensor:
    """One decode step of the selective scan; ``state`` is updated in place.

    Args:
        state: (batch, D, N) state, overwritten with the next one.
        x: (batch, D) input; dt: (batch, D) step size (before dt_bias / softplus).
        A: (D, N); B, C: (batch, G, N); D: (D,) or None; z: (batch, D) or None;
        dt_bias: (D,) or None; dt_softplus: apply softplus to the biased step size.
        backend: "auto", "reference" or "triton".

    Returns:
        y (batch, D) in x's dtype.
    """
    def unsupported(fast: ModuleType) -> str | None:
        return fast.selective_state_update_unsupported(state, x, dt, A, B, C, D, z, dt_bias)

    fast = triton_module("selective_state_update", backend, x, __name__, unsupported)
    if fast is not None:
        return fast.selective_state_update_triton(state, x, dt, A, B, C, D, z, dt_bias,
                                                  dt_softplus)
    return selective_state_update_ref(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)


__all__ = ["BACKENDS", "selective_scan", "selective_state_update"]
