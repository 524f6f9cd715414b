"""Causal depthwise convolution in plain torch: the oracle the Triton kernels are tested against.

Each channel ``c`` of ``x`` (batch, L, C) is convolved with its own ``K``-tap filter over the
current and the ``K - 1`` previous steps, zeros before the sequence starts::

    y[b, t, c] = act(bias[c] + Σ_{k<K} weight[c, k] · x[b, t - K + 1 + k, c])

so ``weight[c, K - 1]`` multiplies the current input (``nn.Conv1d``'s tap order with left
padding). Arithmetic runs in float32 (float64 for float64 inputs) whatever the dtype of ``x``,
``weight`` or ``bias``; ``y`` comes back in ``x``'s dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ACTIVATIONS = (None, "silu")


def causal_conv1d_ref(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                      activation: str | None = None) -> Tensor:
    """The convolution as a sum of ``K`` shifted copies of ``x``; differentiable by autograd.

    Args:
        x: (batch, L, C) inputs, any strides.
        weight: (C, K) one filter per channel, oldest tap first.
        bias: (C,) or None.
        activation: None or "silu", applied to the biased sum.

    Returns:
        y (batch, L, C) in x's dtype.
    """
    check_causal_conv_args("causal_conv1d_ref", x, weight, bias, activation)
    length, taps = x.shape[1], weight.shape[1]
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    padded = F.pad(x.to(dtype), (0, 0, taps - 1, 0))          # (batch, K - 1 + L, C)
    weight = weight.to(dtype)
    y = 0.0 if bias is None else bias.to(dtype)
    for k in range(taps):
        y = y + weight[:, k] * padded[:, k:k + length]
    if activation == "silu":
        y = F.silu(y)
    return y.to(x.dtype)


def check_causal_conv_args(where: str, x: Tensor, weight: Tensor, bias: Tensor | None,
                           activation: str | None) -> None:
    """Raise a ValueError naming ``where`` and the argument that does not fit the convolution."""
    for name, tensor in (("x", x), ("weight", weight), ("bias", bias)):
        if tensor is not None and not tensor.is_floating_point():
            raise ValueError(f"{where}: {name} must be a real floating-point tensor, "
                             f"got {tensor.dtype}")
    if x.dim() != 3 or x.shape[1] == 0:
        raise ValueError(f"{where}: x must have shape (batch, L, C) with L >= 1, "
                         f"got {tuple(x.shape)}")
    channels = x.shape[2]
    if weight.dim() != 2 or weight.shape[0] != channels or weight.shape[1] == 0:
        raise ValueError(f"{where}: weight must have shape (C, K) = ({channels}, K) with K >= 1, "
                         f"got {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"{where}: bias must have shape (C,) = ({channels},), "
                         f"got {tuple(bias.shape)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{where}: activation must be one of {ACTIVATIONS}, got {activation!r}")
