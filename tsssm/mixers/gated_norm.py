"""RMSNorm of a gated signal, ``norm(y · silu(z)) · weight``, as Mamba-2 applies before out_proj.

Gating before normalising keeps the output scale independent of how strongly the gate opens.
With ``group_size`` smaller than the width, each group of channels is normalised on its own
(Mamba-2 uses one group per B/C group, so the norm never mixes heads that read different groups).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GatedRMSNorm(nn.Module):
    """``(..., dim), (..., dim) -> (..., dim)``: RMS-normalise ``y · silu(z)`` per group, scale."""

    def __init__(self, dim: int, group_size: int | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        group_size = dim if group_size is None else group_size
        if group_size <= 0 or dim % group_size:
            raise ValueError(f"GatedRMSNorm: group_size={group_size} must be positive and divide "
                             f"dim={dim}")
        self.group_size = group_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, y: Tensor, z: Tensor) -> Tensor:
        if y.shape != z.shape or y.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"GatedRMSNorm: y and z must both have shape "
                             f"(..., {self.weight.shape[0]}), got {tuple(y.shape)} and "
                             f"{tuple(z.shape)}")
        dtype = torch.promote_types(y.dtype, torch.float32)  # statistics in fp32 at least
        gated = (y.to(dtype) * F.silu(z.to(dtype))).unflatten(-1, (-1, self.group_size))
        normed = gated * torch.rsqrt(gated.square().mean(dim=-1, keepdim=True) + self.eps)
        return (normed.flatten(-2) * self.weight.to(dtype)).to(y.dtype)
