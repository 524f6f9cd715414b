"""Reversible instance normalisation (Kim et al., 2022).

Each input window is standardised by its own mean and standard deviation over time before the
network sees it, and the forecast is mapped back with the same statistics. This removes the level
shifts between train and test periods that otherwise dominate LTSF errors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """``normalize`` then ``denormalize`` with the statistics of the last normalised batch.

    Statistics are per sample and channel over the time axis of ``(B, L, C)``; an optional learned
    affine map per channel follows the standardisation.
    """

    def __init__(self, n_channels: int, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x (B, L, C)`` -> normalised ``x`` and the ``(mean, std)`` of shape ``(B, 1, C)``."""
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.affine:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        """``y (B, H, C)`` back to the input's scale."""
        mean, std = stats
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps * self.eps)
        return y * std + mean
