"""Feature maps of linear attention: ``φ`` such that ``φ(q) · φ(k)`` stands in for ``exp(q · k)``.

Both maps give positive features, so every score ``φ(q_t) · φ(k_s)`` is positive and the
normalising denominator ``Σ_s φ(q_t) · φ(k_s)`` never crosses zero:

- ``"elu"`` (Katharopoulos et al., 2020): ``φ(x) = elu(x) + 1``, no parameters, ``N = d_k``.
- ``"hedgehog"`` (Zhang et al., 2024): ``φ(x) = [softmax(W x), softmax(-W x)]`` with a learned
  ``d_k × d_k`` map W per head, ``N = 2 d_k``. Chosen over a learned map followed by elu+1
  because each softmax half sums to one, so ``0 < φ(q) · φ(k) <= 2`` whatever the weights: the
  scores stay bounded as W learns (the chunked kernel has no running maximum to subtract, as
  softmax attention has), and softmax's exponential keeps the spiky, monotone weighting that
  Hedgehog found elu+1 lacks. W starts as the identity; q and k share it, so the scores are a
  symmetric kernel of q and k as ``exp(q · k)`` is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURE_MAPS = ("elu", "hedgehog")


class EluFeatureMap(nn.Module):
    """``(..., H, d_k) -> (..., H, d_k)``: ``elu(x) + 1``, positive everywhere."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.dim = head_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x) + 1


class HedgehogFeatureMap(nn.Module):
    """``(..., H, d_k) -> (..., H, 2 d_k)``: ``[softmax(W_h x), softmax(-W_h x)]`` per head h.

    ``weight`` (H, d_k, d_k) starts as H identities.
    """

    def __init__(self, n_heads: int, head_dim: int) -> None:
        super().__init__()
        self.dim = 2 * head_dim
        self.weight = nn.Parameter(torch.eye(head_dim).repeat(n_heads, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        projected = torch.einsum("...hi,hij->...hj", x, self.weight)
        return torch.cat([projected.softmax(dim=-1), (-projected).softmax(dim=-1)], dim=-1)


def make_feature_map(kind: str, n_heads: int, head_dim: int) -> nn.Module:
    """The feature map named ``kind`` (one of ``FEATURE_MAPS``); its ``dim`` is N."""
    if kind == "elu":
        return EluFeatureMap(head_dim)
    if kind == "hedgehog":
        return HedgehogFeatureMap(n_heads, head_dim)
    raise ValueError(f"feature_map must be one of {FEATURE_MAPS}, got {kind!r}")
