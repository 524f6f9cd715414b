"""A decoding step that refuses to run past the positions its states were allocated for.

Attention's KV cache holds a fixed number of positions (``capacity``) and counts its fill on the
device, where a step writes without checking: reading the count back would stall every token,
and a CUDA graph cannot raise. So the host counts instead: it knows how many positions the states
held when decoding started and how many steps it has issued since.
"""

from __future__ import annotations

from torch import Tensor

from tsssm.mixers.base import State
from tsssm.models.graphed_step import StepFn


class BoundedStep:
    """``step`` (eager, or a ``GraphedStep``) from states holding ``position`` positions, at most
    ``capacity`` in all (None: any number); a step past it raises before anything runs."""

    def __init__(self, step: StepFn, position: int, capacity: int | None) -> None:
        if capacity is not None and not 0 <= position <= capacity:
            raise ValueError(f"decoding from position {position}: the states hold {capacity} "
                             f"positions, expected a position in [0, {capacity}]")
        self.step = step
        self.position = position
        self.capacity = capacity

    @property
    def room(self) -> int | None:
        """Steps left before the states are full; None when they never are."""
        return None if self.capacity is None else self.capacity - self.position

    def __call__(self, ids: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        if self.room == 0:
            raise ValueError(f"decoding past capacity: the states hold {self.capacity} positions "
                             f"and all are filled; prefill with a capacity of the prompt's length "
                             f"plus the steps to take")
        self.position += 1
        return self.step(ids, states)
