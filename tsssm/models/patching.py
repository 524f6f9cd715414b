"""Patching is tokenisation for continuous signals: windows of ``patch_len`` samples become tokens.

``patch_len = stride = 1`` is the token-free, point-wise embedding; ``patch_len=16, stride=8`` is
PatchTST's. The series is padded at its end by repeating the last value just enough that the last
patch ends on the last sample, so no sample is dropped and no padding-only patch is made.
"""

from __future__ import annotations

from torch import Tensor, nn
import torch.nn.functional as F


def n_patches(length: int, patch_len: int, stride: int) -> int:
    """How many tokens a series of ``length`` samples becomes."""
    if patch_len <= 0 or stride <= 0:
        raise ValueError(f"patch_len and stride must be positive, got {patch_len} and {stride}")
    if patch_len > length:
        raise ValueError(f"patch_len={patch_len} is longer than the input length {length}")
    return -(-(length - patch_len) // stride) + 1


class PatchEmbedding(nn.Module):
    """``(N, L, F)`` -> ``(N, T, d_model)``: unfold time into patches, project each to ``d_model``.

    ``F`` features per time step (1 for channel-independent series, C when channels are mixed)
    are flattened with the ``patch_len`` samples of a patch into one vector of ``patch_len * F``.
    """

    def __init__(self, length: int, n_features: int, d_model: int, patch_len: int,
                 stride: int) -> None:
        super().__init__()
        self.patch_len = patch_len
        self.stride = stride
        self.n_tokens = n_patches(length, patch_len, stride)
        self.pad = (self.n_tokens - 1) * stride + patch_len - length
        self.proj = nn.Linear(patch_len * n_features, d_model)

    def forward(self, x: Tensor) -> Tensor:
        if self.pad:
            x = F.pad(x.transpose(1, 2), (0, self.pad), mode="replicate").transpose(1, 2)
        patches = x.unfold(1, self.patch_len, self.stride)
        return self.proj(patches.flatten(2))
