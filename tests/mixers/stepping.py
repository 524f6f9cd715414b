"""Drive a causal mixer (or a Backbone) one step at a time, as generation does."""

from __future__ import annotations

import torch
from torch import Tensor


def step_through(module: torch.nn.Module, x: Tensor, state: object = None) -> tuple[Tensor, object]:
    """``x (B, L, D)`` fed step by step from ``state`` (when None, ``init_state`` with room for
    the L steps) -> ``(y (B, L, D), final state)``."""
    if state is None:
        state = module.init_state(x.shape[0], x.device, x.dtype, capacity=x.shape[1])
    ys = []
    for t in range(x.shape[1]):
        y, state = module.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, dim=1), state
