"""Causal depthwise convolution (+ optional SiLU), the short filter Mamba and Mamba-2 put before
their scan: one public function picking a backend.

The backend follows ``tsssm.kernels.dispatch``: ``"auto"`` takes the Triton kernels
(``triton.py``) for CUDA tensors they can take (not float64), the plain torch reference
(``reference.py``, the oracle the kernels are tested against) otherwise; ``"reference"`` and
``"triton"`` force one (CPU tensors run the kernels only under ``TRITON_INTERPRET=1``).
``triton.py`` is imported on the first call that may use it, never by CPU-only users.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from tsssm.kernels.causal_conv.reference import check_causal_conv_args, causal_conv1d_ref
from tsssm.kernels.dispatch import BACKENDS, triton_module


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  activation: str | None = None, backend: str = "auto") -> Tensor:
    """``y[b, t, c] = act(bias[c] + Σ_{k<K} weight[c, k] · x[b, t - K + 1 + k, c])``, zeros
    before the sequence starts.

    Args:
        x: (batch, L, C) inputs, any strides.
        weight: (C, K) one filter per channel, oldest tap first (``weight[:, -1]`` multiplies
            the current step).
        bias: (C,) or None.
        activation: None or "silu".
        backend: "auto", "reference" or "triton".

    Returns:
        y (batch, L, C) in x's dtype, differentiable in x, weight and bias.
    """
    def unsupported(fast: ModuleType) -> str | None:
        check_causal_conv_args("causal_conv1d", x, weight, bias, activation)
        return fast.causal_conv1d_unsupported(x, weight, bias)

    fast = triton_module("causal_conv1d", backend, x, __name__, unsupported)
    if fast is not None:
        return fast.causal_conv1d_triton(x, weight, bias, activation)
    return causal_conv1d_ref(x, weight, bias, activation)


__all__ = ["BACKENDS", "causal_conv1d"]
