"""Rotary position embeddings (RoPE, Su et al. 2021) for attention heads.

RoPE rotates each pair of channels of a query or key by an angle proportional to its position, so the
dot product of a query at position ``m`` with a key at position ``n`` depends only on ``m - n``. That
is why decoding one step at position ``t`` only needs the angles of row ``t``: ``offset`` says where a
chunk of positions starts, an int, or a device tensor when a CUDA graph replays the step at a position
the host does not know.

Channels are paired by halves (``x[..., i]`` with ``x[..., i + head_dim // 2]``), the GPT-NeoX layout.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Rotates ``(B, heads, L, head_dim)`` queries or keys by their positions ``offset .. offset + L - 1``.

    The cos/sin tables are computed in float64 (angles at position 1e5 would lose ~1e-2 rad in float32)
    and cached per device, growing by doubling, so sequences of growing length compute them O(log L)
    times. They are plain attributes, not buffers: ``model.to(bfloat16)`` must not round the angles, and
    checkpoints need not carry what a formula gives. A decoding step, at a tensor position, computes
    its one row instead.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be a positive even number, got {head_dim}")
        if base <= 1:
            raise ValueError(f"RotaryEmbedding: base must be greater than 1, got {base}")
        self.head_dim = head_dim
        self.base = base
        self._cos: Tensor | None = None  # (capacity, head_dim // 2), float64
        self._sin: Tensor | None = None

    def _angles(self, positions: Tensor) -> Tensor:
        """``positions (L,)`` float64 -> their angles ``(L, head_dim // 2)``, float64."""
        half = self.head_dim // 2
        inv_freq = self.base ** (-torch.arange(half, dtype=torch.float64, device=positions.device) / half)
        return torch.outer(positions, inv_freq)

    def _tables(self, end: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos and sin of the angles for positions ``0 .. end - 1`` (at least), each ``(>= end, head_dim // 2)``."""
        if self._cos is None or self._cos.device != device or self._cos.shape[0] < end:
            capacity = 1 << max(end - 1, 0).bit_length()
            angles = self._angles(torch.arange(capacity, dtype=torch.float64, device=device))
            self._cos, self._sin = angles.cos(), angles.sin()
        return self._cos, self._sin

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        """``x (B, heads, L, head_dim)`` at positions ``offset + [0, L)`` -> rotated, same shape and dtype.

        A tensor ``offset`` (one element, on ``x``'s device) computes the angles from it on the
        device, the same float64 products the tables hold: no host read, no table that a later,
        longer call would replace under a captured graph.
        """
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"RotaryEmbedding: expected last dim head_dim={self.head_dim}, "
                             f"got shape {tuple(x.shape)}")
        length = x.shape[-2]
        if isinstance(offset, Tensor):
            angles = self._angles(offset + torch.arange(length, dtype=torch.float64, device=x.device))
            cos, sin = angles.cos(), angles.sin()
        else:
            if offset < 0:
                raise ValueError(f"RotaryEmbedding: offset must be >= 0, got {offset}")
            cos, sin = self._tables(offset + length, x.device)
            cos, sin = cos[offset:offset + length], sin[offset:offset + length]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base}"
