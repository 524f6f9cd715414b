"""Choosing the next token from a model's logits: greedy, temperature, and nucleus (top-p) sampling.

Temperature divides the logits (below 1 sharpens the distribution, above 1 flattens it; 0 means
greedy, the argmax). Top-p (Holtzman et al., 2020) then keeps only the nucleus: the fewest most
probable tokens whose probabilities add up to ``top_p``, cutting off the long tail of unlikely
tokens that makes pure sampling wander.
"""

from __future__ import annotations

import torch
from torch import Tensor


def nucleus(probs: Tensor, top_p: float) -> Tensor:
    """Bool mask ``(B, V)`` of each row's nucleus: a token is kept when the probability of the
    tokens more probable than it is still below ``top_p``, so the most probable one always is."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    keep_sorted = mass_before < top_p
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def sample_next(logits: Tensor, temperature: float = 1.0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> Tensor:
    """Next token ids ``(B,)`` long from ``logits (B, V)``.

    ``temperature`` 0 is greedy (argmax, no randomness); ``top_p`` in (0, 1], 1 keeps every token.
    ``generator`` (on the logits' device) makes the draw reproducible.
    """
    if logits.dim() != 2:
        raise ValueError(f"sample_next expects logits (B, V), got shape {tuple(logits.shape)}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1:
        probs = probs.masked_fill(~nucleus(probs, top_p), 0.0)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
