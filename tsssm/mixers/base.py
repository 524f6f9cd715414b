"""The mixer contract every sequence mixer keeps.

A mixer maps a sequence ``(B, L, D) -> (B, L, D)``. Causal mixers can also run one step at a time
with an explicit state, which is how models generate, and ``prefill`` a prompt: the parallel
forward that also returns the state after its last position, so generation continues from there
without stepping through the prompt token by token. The state's size is the point of the project:
an SSM's state is fixed (``B x D x N``) whatever the length, attention's KV cache holds every
position. Both keep one size while decoding, so a whole model's step can be replayed from a CUDA
graph: attention allocates its cache once, for the ``capacity`` that ``init_state`` and ``prefill``
are given (the prompt plus the tokens to generate), and mixers of fixed-size states ignore it.
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

    def __init__(self, d_model: int) -> None:
        super().__init__()
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        self.d_model = d_model

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Whole sequence, parallel mode: ``(B, L, D) -> (B, L, D)``."""

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> State:
        """The state before the first token, with room for ``capacity`` steps where its size
        depends on them (None: none); only causal mixers have one."""
        raise NotImplementedError(f"{type(self).__name__} is not causal and cannot be stepped")

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: ``x (B, D) -> y (B, D)`` and the next state."""
        raise NotImplementedError(f"{type(self).__name__} is not causal and cannot be stepped")

    def capacity(self, state: State) -> int | None:
        """The most positions ``state`` can hold, prompt included; None where it holds any
        number (a fixed-size state)."""
        return None

    def scratch_state(self, state: State) -> State:
        """A state to take throwaway steps from (a CUDA graph's warm-up) that leaves ``state``
        as the next real step needs it. This default copies it."""
        return clone_state(state)

    def residual_step(self, x: Tensor, state: State, norm: nn.Module) -> Tensor | None:
        """A pre-norm block's whole step, ``x + step(norm(x))`` for ``x (B, D)``, with ``state``
        updated in place, where the mixer has a fused way to run it on these inputs; None
        otherwise, and the block runs ``norm`` and ``step`` itself. This default has none."""
        return None

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, State]:
        """``x (B, L, D)`` -> ``forward``'s ``y (B, L, D)`` and the state after position L - 1,
        ready for ``step`` to continue from, up to position ``capacity - 1`` where the state's
        size depends on it (None: L, the prompt alone).

        This default steps from ``init_state`` through the sequence: always right, O(L) sequential
        steps. Mixers with a parallel way to the final state override it.
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model or x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}.prefill: expected input (B, L >= 1, "
                             f"d_model={self.d_model}), got {tuple(x.shape)}")
        state = self.init_state(x.shape[0], x.device, x.dtype,
                                x.shape[1] if capacity is None else capacity)
        ys = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, dim=1), state


def clone_state(state: State) -> State:
    """A deep copy of a state's tensors, same structure."""
    if isinstance(state, Tensor):
        return state.clone()
    if isinstance(state, dict):
        return {key: clone_state(value) for key, value in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(clone_state(item) for item in state))
    if isinstance(state, (tuple, list)):
        return type(state)(clone_state(item) for item in state)
    return state


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
