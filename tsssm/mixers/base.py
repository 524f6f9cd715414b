"""The mixer contract every sequence mixer keeps.

A mixer maps a sequence ``(B, L, D) -> (B, L, D)``. Causal mixers can also run one step at a time
with an explicit state, which is how models generate. The state's size is the point of the project:
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
    """Base class: ``forward`` in parallel over the sequence, ``step`` for one time step.

    Subclasses set ``causal`` and take ``d_model`` as their first constructor argument, so the
    backbone can build any mixer from a partial config: ``factory(d_model=...)``.
    """

    causal: bool = True

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
