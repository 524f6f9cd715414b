"""Mamba-2's SSD scan: one public entry for the whole sequence and one for a decode step.

``backend="auto"`` picks the fastest available implementation for the inputs; ``"reference"``
forces the plain torch one (``reference.py``), the oracle every fast path is tested against.
"""

from __future__ import annotations

from torch import Tensor

from tsssm.kernels.ssd.reference import ssd_ref, ssd_state_update_ref

BACKENDS = ("auto", "reference", "triton")


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
    _check_backend(backend)
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
    _check_backend(backend)
    return ssd_state_update_ref(state, x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias,
                                dt_softplus=dt_softplus)


def _check_backend(backend: str) -> None:
    """Only the reference exists so far: "auto" runs it, "triton" says it is not there."""
    if backend not in BACKENDS:
        raise ValueError(f"tsssm.kernels.ssd: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "triton":
        raise NotImplementedError("tsssm.kernels.ssd: the Triton backend "
                                  "(tsssm/kernels/ssd/triton.py) is not available yet; "
                                  "use backend='reference' or 'auto'")
