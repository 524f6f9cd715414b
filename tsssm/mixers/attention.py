"""Multi-head self-attention, the Transformer's mixer, with rotary positions and a KV cache.

Attention is the project's foil to the SSMs: in parallel mode every position looks at every (earlier)
position, O(L^2) work; when decoding, its state is the keys and values of all past steps, a cache as
long as the sequence where an SSM's state stays fixed. ``state_nbytes`` of the cache shows it.

The cache is static, as serving stacks keep it: allocated once for the positions decoding will
reach (``capacity``), its fill a device tensor. A step then has fixed shapes and no host read, so a
whole model's step can be captured in a CUDA graph and replayed per token.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsssm.mixers.base import Mixer
from tsssm.mixers.rotary import RotaryEmbedding


class KVCache(NamedTuple):
    """Attention's decoding state: keys and values of the first ``length`` positions.

    ``keys`` and ``values`` are ``(B, heads, capacity, head_dim)`` buffers, zeros beyond the
    filled positions ``[0, length)``; ``length`` is a ``(1,)`` long tensor on their device. A step
    writes its key and value at ``length`` and advances it, all in place, so the cache keeps its
    addresses (a CUDA graph replays them) and ``state_nbytes`` counts the whole capacity.

    A step past the capacity is not checked here (the device's ``length`` is not read back): the
    host that issues the steps checks, see ``LanguageModel.decoder``. Step a cache once (clone its
    tensors to branch), and decode under ``torch.no_grad()`` (autograd refuses to backpropagate
    through overwritten buffers).
    """

    keys: Tensor
    values: Tensor
    length: Tensor


class Attention(Mixer):
    """Multi-head self-attention: ``(B, L, D) -> (B, L, D)``.

    A fused QKV projection, rotary positions on queries and keys (``rotary=False``: no positional
    information at all, so non-causal attention is permutation-equivariant), PyTorch's
    ``scaled_dot_product_attention`` (flash/memory-efficient kernels where available), and an output
    projection. ``dropout`` drops attention probabilities while training.
    """

    def __init__(self, d_model: int, n_heads: int = 4, causal: bool = True, rotary: bool = True,
                 dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__(d_model)
        if n_heads <= 0 or d_model % n_heads:
            raise ValueError(f"Attention: d_model={d_model} must be divisible by n_heads={n_heads} "
                             f"(a positive number of heads)")
        head_dim = d_model // n_heads
        if rotary and head_dim % 2:
            raise ValueError(f"Attention: rotary positions need an even head_dim, got "
                             f"d_model / n_heads = {d_model} / {n_heads} = {head_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Attention: dropout must be in [0, 1), got {dropout}")
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.causal = causal
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.rotary = RotaryEmbedding(head_dim) if rotary else None

    def _heads(self, x: Tensor, offset: int | Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (B, L, D)`` at positions ``offset + [0, L)`` -> q, k, v, each ``(B, heads, L, head_dim)``."""
        batch, length, _ = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.rotary is not None:
            q, k = self.rotary(q, offset), self.rotary(k, offset)
        return q, k, v

    def _merge(self, y: Tensor) -> Tensor:
        """``(B, heads, L, head_dim) -> (B, L, D)`` through the output projection."""
        batch, _, length, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(batch, length, self.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self._parallel(x, "forward")[0]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, KVCache]:
        """``x (B, L, D)`` -> ``forward``'s output and a cache of ``capacity`` positions (None: L)
        holding its L keys and values; stepping continues at position L."""
        self._require_causal()
        y, k, v = self._parallel(x, "prefill")
        cache = self._empty_cache(x.shape[0], x.device, k.dtype,
                                  x.shape[1] if capacity is None else capacity, x.shape[1])
        cache.keys[:, :, :x.shape[1]] = k
        cache.values[:, :, :x.shape[1]] = v
        return y, cache

    def _parallel(self, x: Tensor, caller: str) -> tuple[Tensor, Tensor, Tensor]:
        """The whole-sequence pass: output ``(B, L, D)`` and keys, values ``(B, heads, L, head_dim)``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"Attention.{caller} expects (B, L, d_model={self.d_model}), got {tuple(x.shape)}")
        q, k, v = self._heads(x, offset=0)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal)
        return self._merge(y), k, v

    def _require_causal(self) -> None:
        if not self.causal:
            raise NotImplementedError("Attention(causal=False) attends to future positions, so it cannot "
                                      "be stepped; build it with causal=True to decode")

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> KVCache:
        """An empty cache of ``capacity`` positions (None: 0) for ``batch`` sequences; device
        and dtype default to the weights'."""
        self._require_causal()
        weight = self.qkv.weight
        return self._empty_cache(batch, weight.device if device is None else device,
                                 weight.dtype if dtype is None else dtype,
                                 0 if capacity is None else capacity, 0)

    def _empty_cache(self, batch: int, device: torch.device | str, dtype: torch.dtype,
                     capacity: int, length: int) -> KVCache:
        """Zero buffers of ``capacity`` positions, ``length`` of them counted as filled."""
        if capacity < length:
            raise ValueError(f"Attention: a KV cache of capacity={capacity} cannot hold the "
                             f"prompt's {length} positions; expected capacity >= {length}")
        keys = torch.zeros(batch, self.n_heads, capacity, self.head_dim, device=device, dtype=dtype)
        return KVCache(keys, torch.zeros_like(keys),
                       torch.full((1,), length, dtype=torch.long, device=device))

    def capacity(self, state: KVCache) -> int:
        return state.keys.shape[2]

    def scratch_state(self, state: KVCache) -> KVCache:
        """The same buffers with a length of its own: a throwaway step writes only positions at
        or past ``length``, which the real step at each position overwrites before it reads."""
        return state._replace(length=state.length.clone())

    def step(self, x: Tensor, state: KVCache) -> tuple[Tensor, KVCache]:
        """``x (B, D)`` at position ``state.length``: write its key and value there, advance the
        length and attend over the filled positions; ``state`` is updated in place and returned."""
        self._require_causal()
        keys, values, length = state
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"Attention.step expects (B, d_model={self.d_model}), got {tuple(x.shape)}")
        if x.shape[0] != keys.shape[0]:
            raise ValueError(f"Attention.step: input batch {x.shape[0]} != cache batch {keys.shape[0]}")
        q, k, v = self._heads(x.unsqueeze(1), offset=length)
        keys.index_copy_(2, length, k)
        values.index_copy_(2, length, v)
        length.add_(1)
        filled = torch.arange(keys.shape[2], device=length.device) < length
        return self._merge(self._attend_one(q, keys, values, filled)).squeeze(1), state

    def _attend_one(self, q: Tensor, keys: Tensor, values: Tensor, filled: Tensor) -> Tensor:
        """One query per sequence ``q (B, heads, 1, head_dim)`` over the ``filled (C,)``
        positions of ``keys``, ``values`` ``(B, heads, C, head_dim)``, as two matrix-vector
        products and a softmax, each parallel over C. SDPA's fused kernels parallelise over
        queries and heads, so with the one query of a step a handful of thread blocks would each
        read a whole head's cache in turn."""
        scores = (q @ keys.transpose(-1, -2)) * self.head_dim ** -0.5
        scores = scores.masked_fill(~filled, float("-inf"))
        probs = scores.softmax(dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
        probs = F.dropout(probs, self.dropout, self.training)
        return probs.to(values.dtype) @ values

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}, dropout={self.dropout}"

