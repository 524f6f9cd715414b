"""A stack of pre-norm residual blocks whose mixers follow a layer pattern.

``pattern`` names the mixer of each layer by letter and repeats to fill ``n_layers``: ``"m"`` is a
pure Mamba stack, ``"mmma"`` puts one attention layer after every three Mamba layers. The letters
are whatever keys ``mixers`` has, so a hybrid of any mixers is only a config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from tsssm.mixers.base import Mixer, State


def make_norm(kind: str, d_model: int) -> nn.Module:
    """``rmsnorm`` (Mamba style) or ``layernorm`` (Transformer style)."""
    if kind == "rmsnorm":
        return nn.RMSNorm(d_model, eps=1e-5)
    if kind == "layernorm":
        return nn.LayerNorm(d_model)
    raise ValueError(f"norm must be 'rmsnorm' or 'layernorm', got {kind!r}")


class MLP(nn.Module):
    """Position-wise feed-forward layer: ``(..., D) -> (..., D)`` through ``ratio * D`` GELU units."""

    def __init__(self, d_model: int, ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = max(1, int(round(ratio * d_model)))
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Block(nn.Module):
    """``x + mixer(norm(x))``, then ``x + mlp(norm(x))`` when the block carries an MLP."""

    def __init__(self, mixer: Mixer, mlp_ratio: float = 0.0, dropout: float = 0.0,
                 norm: str = "rmsnorm") -> None:
        super().__init__()
        d_model = mixer.d_model
        self.mixer = mixer
        self.norm_mixer = make_norm(norm, d_model)
        self.mlp = MLP(d_model, mlp_ratio, dropout) if mlp_ratio > 0 else None
        self.norm_mlp = make_norm(norm, d_model) if self.mlp is not None else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, L, D) -> (B, L, D)``."""
        return self._feed_forward(x + self.dropout(self.mixer(self.norm_mixer(x))))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``(B, D) -> (B, D)`` and the mixer's next state. The mixer half runs as the mixer's
        ``residual_step`` (fused kernels) where it offers one and dropout is off."""
        dropping = self.training and self.dropout.p > 0
        mixed = None if dropping else self.mixer.residual_step(x, state, self.norm_mixer)
        if mixed is None:
            y, state = self.mixer.step(self.norm_mixer(x), state)
            mixed = x + self.dropout(y)
        return self._feed_forward(mixed), state

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, State]:
        """``(B, L, D) -> (B, L, D)`` and the mixer's state after the last position, with room
        for ``capacity`` positions in all (see ``Mixer.prefill``)."""
        y, state = self.mixer.prefill(self.norm_mixer(x), capacity)
        return self._feed_forward(x + self.dropout(y)), state

    def _feed_forward(self, x: Tensor) -> Tensor:
        """The MLP half of the block (identity without an MLP): ``(..., D) -> (..., D)``."""
        if self.mlp is None:
            return x
        return x + self.dropout(self.mlp(self.norm_mlp(x)))


def expand_pattern(pattern: str, n_layers: int) -> str:
    """Repeat ``pattern`` to ``n_layers`` letters: ``expand_pattern("mma", 5) == "mmamm"``."""
    if not pattern:
        raise ValueError("pattern must name at least one mixer, got an empty string")
    if n_layers < len(pattern):
        raise ValueError(f"n_layers={n_layers} is fewer than the pattern {pattern!r} has letters: "
                         "some of its mixers would be silently left out")
    return (pattern * (n_layers // len(pattern) + 1))[:n_layers]


class Backbone(nn.Module):
    """Residual blocks over ``(B, L, D)``, one mixer per layer as ``pattern`` names, then a norm.

    ``mixers`` maps each letter to a factory called as ``factory(d_model=d_model)``; in configs
    these are Hydra partials (``_partial_: true``).
    """

    def __init__(self, d_model: int, n_layers: int, pattern: str,
                 mixers: Mapping[str, Callable[..., Mixer]], mlp_ratio: float = 0.0,
                 dropout: float = 0.0, norm: str = "rmsnorm") -> None:
        super().__init__()
        self.d_model = d_model
        self.layout = expand_pattern(pattern, n_layers)
        unknown = sorted(set(self.layout) - set(mixers))
        if unknown:
            raise ValueError(f"pattern {pattern!r} uses mixer letter(s) {unknown} but only "
                             f"{sorted(mixers)} are configured under 'mixers'")
        self.blocks = nn.ModuleList(
            Block(mixers[letter](d_model=d_model), mlp_ratio, dropout, norm) for letter in self.layout)
        self.norm = make_norm(norm, d_model)

    @property
    def causal(self) -> bool:
        return all(block.mixer.causal for block in self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> list[State]:
        """Each layer's state before the first token, with room for ``capacity`` steps."""
        return [block.mixer.init_state(batch, device, dtype, capacity) for block in self.blocks]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, list[State]]:
        """A prompt through every layer in parallel: ``(B, L, D) -> (B, L, D)`` as ``forward``,
        plus each layer's state after the last position, ready for ``step`` up to position
        ``capacity - 1`` (None: L, no room to step where a layer's state is sized by it)."""
        states = []
        for block in self.blocks:
            x, state = block.prefill(x, capacity)
            states.append(state)
        return self.norm(x), states

    def capacity(self, states: list[State]) -> int | None:
        """The most positions every layer's state can hold; None where all hold any number."""
        held = [c for block, state in zip(self.blocks, states)
                if (c := block.mixer.capacity(state)) is not None]
        return min(held, default=None)

    def scratch_states(self, states: list[State]) -> list[State]:
        """States to take throwaway steps from, leaving ``states`` as they are (``Mixer.scratch_state``)."""
        return [block.mixer.scratch_state(state) for block, state in zip(self.blocks, states)]

    def step(self, x: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One time step through every layer: ``(B, D) -> (B, D)``."""
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block.step(x, state)
            new_states.append(state)
        return self.norm(x), new_states
