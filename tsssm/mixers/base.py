"""The mixer contract every sequence mixer keeps.

A mixer maps a sequence ``(B, L, D) -> (B, L, D)``. Causal mixers can also run one step at a time
with an explicit state, which is how models generate, and ``prefill`` a prompt: the parallel
forward that also returns the state after its last position, so generation continues from there
without stepping through the prompt token by token. The state's size is the point of the project:
an SSM's state is fixed (``B x D x N``) whatever the length, attention's KV cache grows with it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

State = Any
"""A tensor, or a tuple/list/dict of tensors; each mixer documents its own layout."""


class Mixer(nn.Module, ABC):
    """Base class: ``forward`` in parallel over the sequence, ``step`` for one time step,
    ``prefill`` for both at once.

    Subclasses set ``causal`` and take ``d_model`` as their first constructor argument, so the
    backbone can build any mixer from a partial config: ``factory(d_model=...)``.
    """

    causal: bool = True
    fixed_state: bool = True
    """Whether the state keeps one size whatever the length (SSMs, RNNs); attention's KV cache
    grows. Decoding replays a CUDA graph only over fixed states."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        self.d_model = d_model

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Whole sequence, parallel mode: ``(B, L, D) -> (B, L, D)``."""

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> State:
        """The state before the first token; only causal mixers have one."""
        raise NotImplementedError(f"{type(self).__name__} is not causal and cannot be stepped")

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: ``x (B, D) -> y (B, D)`` and the next state."""
        raise NotImplementedError(f"{type(self).__name__} is not causal and cannot be stepped")

    def residual_step(self, x: Tensor, state: State, norm: nn.Module) -> Tensor | None:
        """A pre-norm block's whole step, ``x + step(norm(x))`` for ``x (B, D)``, with ``state``
        updated in place, where the mixer has a fused way to run it on these inputs; None
        otherwise, and the block runs ``norm`` and ``step`` itself. This default has none."""
        return None

    def prefill(self, x: Tensor) -> tuple[Tensor, State]:
        """``x (B, L, D)`` -> ``forward``'s ``y (B, L, D)`` and the state after position L - 1,
        ready for ``step`` to continue from.

        This default steps from ``init_state`` through the sequence: always right, O(L) sequential
        steps. Mixers with a parallel way to the final state override it.
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model or x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}.prefill: expected input (B, L >= 1, "
                             f"d_model={self.d_model}), got {tuple(x.shape)}")
        state = self.init_state(x.shape[0], x.device, x.dtype)
        ys = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, dim=1), state


def state_nbytes(state: State) -> int:
    """Bytes held by a state (tensors anywhere inside tuples, lists or dicts)."""
    if state is None:
        return 0
    if isinstance(state, Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(state_nbytes(v) for v in state.values())
    if isinstance(state, (tuple, list)):
        return sum(state_nbytes(v) for v in state)
    return 0
