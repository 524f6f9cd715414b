"""LanguageModel: next-token prediction over mu-law audio samples, bytes or BPE tokens.

``ids (B, L) -> logits (B, L, V)``: a token embedding, a causal backbone (which ends with its own
norm), and a linear head back to the vocabulary, optionally sharing the embedding's weights.

Generation runs the prompt through the backbone in parallel (``prefill``), then one ``step`` per new
token. An SSM's state is fixed in size, while attention's KV cache holds every position: it is
allocated at the prefill for the prompt plus the tokens to generate (``capacity``), and
``state_nbytes`` reports it. Every state thus keeps its size while decoding, so on CUDA the step
is replayed from a CUDA graph (``graphed_step``) and decoding does not wait on Python's kernel
launches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsssm.mixers.base import State, state_nbytes
from tsssm.models.backbone import Backbone
from tsssm.models.bounded_step import BoundedStep
from tsssm.models.graphed_step import WARMUP_STEPS, GraphedStep
from tsssm.models.sampling import LogitsCheck, sample_next


class LanguageModel(nn.Module):
    """Embedding -> causal ``backbone`` -> head; see the module docstring.

    ``tie_embeddings`` makes the head reuse the embedding matrix (V x D parameters fewer), as GPT-2
    does. Embeddings start at N(0, 0.02^2), small next to the unit-RMS normalised features, so
    initial predictions are near uniform.
    """

    def __init__(self, backbone: Backbone, vocab_size: int, tie_embeddings: bool = False) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"LanguageModel: vocab_size must be at least 2, got {vocab_size}")
        if not backbone.causal:
            raise ValueError(f"LanguageModel needs a causal backbone (each position may only see "
                             f"earlier ones), but the layers {backbone.layout!r} include a "
                             f"non-causal mixer: build attention with causal=true and S4 with "
                             f"bidirectional=false")
        self.vocab_size = vocab_size
        self.backbone = backbone
        self.embed = nn.Embedding(vocab_size, backbone.d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.head = nn.Linear(backbone.d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    def _check_ids(self, ids: Tensor, shape: str, dims: int) -> None:
        if ids.dim() != dims or ids.dtype != torch.long:
            raise ValueError(f"LanguageModel expects long token ids {shape}, got {ids.dtype} "
                             f"of shape {tuple(ids.shape)}")

    def forward(self, ids: Tensor, positions: Tensor | None = None) -> Tensor:
        """``ids (B, L)`` long -> ``logits (B, L, V)``; position t sees ids[:, :t + 1].

        With ``positions (B, K)`` long, the logits at those positions of each row only, ``(B, K,
        V)``: a task that scores a few positions (recall's answers, K of L) skips the head's
        matmul and the softmax at the others, most of a small model's step at a large
        vocabulary."""
        self._check_ids(ids, "(B, L)", 2)
        features = self.backbone(self.embed(ids))
        if positions is not None:
            index = positions.unsqueeze(-1).expand(-1, -1, features.shape[-1])
            features = features.gather(1, index)
        return self.head(features)

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> list[State]:
        """The backbone's states before the first token, one per layer, with room for
        ``capacity`` steps (attention's KV cache; None: none)."""
        return self.backbone.init_state(batch, device, dtype, capacity)

    def step(self, ids: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One token per sequence: ``ids (B,)`` -> next-token ``logits (B, V)``, new states."""
        self._check_ids(ids, "(B,)", 1)
        features, states = self.backbone.step(self.embed(ids), states)
        return self.head(features), states

    def prefill(self, ids: Tensor, capacity: int | None = None) -> tuple[Tensor, list[State]]:
        """A prompt ``ids (B, P)``, P >= 1, in parallel -> the logits after its last token
        ``(B, V)`` and the states to ``step`` on from, with room for ``capacity`` positions in
        all, the prompt's included (None: P, no room for attention's KV cache to step)."""
        self._check_ids(ids, "(B, P)", 2)
        if ids.shape[1] == 0:
            raise ValueError("LanguageModel.prefill: the prompt is empty; give at least one token "
                             "(a start token when there is nothing to continue)")
        features, states = self.backbone.prefill(self.embed(ids), capacity)
        return self.head(features[:, -1]), states

    @torch.no_grad()
    def generate(self, prompt: Tensor, n_new: int, temperature: float = 1.0, top_p: float = 1.0,
                 generator: torch.Generator | None = None, cuda_graph: bool = True) -> Tensor:
        """``prompt (B, P)`` long, P >= 1 -> ``(B, P + n_new)``: the prompt and ``n_new`` sampled
        tokens (``temperature`` 0: greedy; ``top_p`` < 1: nucleus sampling, see models/sampling).
        ``cuda_graph``: replay the step from a CUDA graph where the model allows it.

        Call ``eval()`` first: in training mode dropout would perturb every step.
        """
        return self.generate_with_states(prompt, n_new, temperature, top_p, generator,
                                         cuda_graph)[0]

    @torch.no_grad()
    def generate_with_states(self, prompt: Tensor, n_new: int, temperature: float = 1.0,
                             top_p: float = 1.0, generator: torch.Generator | None = None,
                             cuda_graph: bool = True) -> tuple[Tensor, list[State]]:
        """``generate``, and the decoding states the last token was sampled from (the buffers the
        decoding actually held: fixed for SSMs; for attention, a KV cache of the P + n_new - 1
        positions that were stepped through, the last sampled token never being one)."""
        if n_new < 0:
            raise ValueError(f"LanguageModel.generate: n_new must be >= 0, got {n_new}")
        length = prompt.shape[-1]
        logits, states = self.prefill(prompt, capacity=length + max(n_new - 1, 0))
        tokens = [prompt]
        step = None
        check = LogitsCheck()
        for i in range(n_new):
            check.see(logits)
            next_ids = sample_next(logits, temperature, top_p, generator)
            tokens.append(next_ids.unsqueeze(1))
            if i + 1 == n_new:
                break
            step = step or self.decoder(next_ids, states, length, cuda_graph)
            logits, states = step(next_ids, states)
        check.raise_if_not_finite("LanguageModel.generate")
        return torch.cat(tokens, dim=1), states

    def decoder(self, ids: Tensor, states: list[State], position: int,
                cuda_graph: bool = True) -> BoundedStep:
        """The step function to decode with from ``states``, which hold ``position`` positions
        (the prompt's length after a prefill): a ``GraphedStep`` captured on them when
        ``cuda_graph`` and ``ids (B,)`` are on CUDA, else ``step`` itself, either counted on the
        host so that a step past the states' capacity raises instead of writing past it."""
        bounded = BoundedStep(self.step, position, self.backbone.capacity(states))
        room = bounded.room
        if cuda_graph and ids.is_cuda and room != 0:
            warmup_steps = WARMUP_STEPS if room is None else min(room, WARMUP_STEPS)
            bounded.step = GraphedStep(self.step, ids, states, self.backbone.scratch_states(states),
                                       warmup_steps)
        return bounded

    @staticmethod
    def state_nbytes(states: list[State]) -> int:
        """Bytes held by the decoding states (fixed for SSMs; attention's KV cache: its capacity)."""
        return state_nbytes(states)
