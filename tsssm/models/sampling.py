"""Choosing the next token from a model's logits: greedy, temperature, and nucleus (top-p) sampling.

Temperature divides the logits (below 1 sharpens the distribution, above 1 flattens it; 0 means
greedy, the argmax). Top-p (Holtzman et al., 2020) then keeps only the nucleus: the fewest most
probable tokens whose probabilities add up to ``top_p``, cutting off the long tail of unlikely
tokens that makes pure sampling wander.

A draw is the exponential race: ``argmax(p / q)`` with ``q ~ Exp(1)`` per token picks token ``i``
with probability ``p_i``. It is ``torch.multinomial``'s own draw of one sample (the same ids from
the same generator), without the checks of ``p`` that multinomial reads back on the host: on CUDA
those wait for the GPU at every token, and decoding can no longer queue work ahead of it. The
checks belong to the caller instead (``LogitsCheck``), once per generation.
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
    race = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / race).argmax(dim=-1)


class LogitsCheck:
    """Whether every row of logits seen had a finite maximum (no NaN, no +inf, not all -inf: the
    rows a softmax is defined on; -inf alone masks a token), kept on their device, so that
    checking each token costs no wait for the GPU; ``raise_if_not_finite`` reads it once, at the
    end.

    Other logits (an overflow, weights that diverged) would otherwise still yield ids, as argmax
    picks NaN, and the samples would look like any others.
    """

    def __init__(self) -> None:
        self.finite: Tensor | None = None

    def see(self, logits: Tensor) -> None:
        """Fold ``logits (B, V)`` into the flag, on their device (no host read)."""
        finite = torch.isfinite(logits.amax(dim=-1)).all()
        self.finite = finite if self.finite is None else self.finite & finite

    def raise_if_not_finite(self, what: str) -> None:
        """Read the flag (one wait for the device); a ValueError naming ``what`` if any logits
        seen had no finite maximum."""
        if self.finite is not None and not bool(self.finite):
            raise ValueError(f"{what}: the model's logits held NaN or +inf, or a row all -inf, "
                             f"so the tokens sampled from them mean nothing; check the "
                             f"checkpoint's weights and the precision it runs in")
