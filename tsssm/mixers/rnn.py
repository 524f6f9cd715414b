"""Classic recurrent mixers (LSTM, GRU): the non-linear recurrent baseline beside the linear SSMs.

An RNN has what an SSM has at inference, a fixed-size state and O(1) work per step, but its recurrence
is non-linear, so training cannot run it as a convolution or a parallel scan: it is sequential in L.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsssm.mixers.base import Mixer, State

_KINDS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}


class RNN(Mixer):
    """A ``torch.nn.LSTM`` or ``GRU`` of hidden size ``d_model``: ``(B, L, D) -> (B, L, D)``, causal.

    The state is what torch gives: ``h`` for a GRU, ``(h, c)`` for an LSTM, each ``(n_layers, B, D)``.
    ``dropout`` applies between stacked layers (torch's meaning), so it needs ``n_layers > 1``.
    """

    def __init__(self, d_model: int, kind: str = "lstm", n_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__(d_model)
        if kind not in _KINDS:
            raise ValueError(f"RNN: kind must be one of {sorted(_KINDS)}, got {kind!r}")
        if n_layers < 1:
            raise ValueError(f"RNN: n_layers must be >= 1, got {n_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"RNN: dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and n_layers == 1:
            raise ValueError(f"RNN: dropout={dropout} acts between stacked layers, so it needs "
                             f"n_layers > 1 (got n_layers=1)")
        self.kind = kind
        self.n_layers = n_layers
        self.rnn = _KINDS[kind](d_model, d_model, num_layers=n_layers, dropout=dropout, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self._parallel(x, "forward")[0]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, State]:
        """``x (B, L, D)`` -> ``forward``'s output and torch's final state (``init_state``'s layout)."""
        return self._parallel(x, "prefill")

    def _parallel(self, x: Tensor, caller: str) -> tuple[Tensor, State]:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"RNN.{caller} expects (B, L, d_model={self.d_model}), got {tuple(x.shape)}")
        return self.rnn(x)

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> State:
        """Zeros, as ``forward`` starts from; device and dtype default to the weights'."""
        weight = self.rnn.weight_ih_l0
        h = torch.zeros(self.n_layers, batch, self.d_model,
                        device=weight.device if device is None else device,
                        dtype=weight.dtype if dtype is None else dtype)
        return (h, torch.zeros_like(h)) if self.kind == "lstm" else h

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``x (B, D)`` -> ``y (B, D)``: the same torch module on a length-1 sequence."""
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"RNN.step expects (B, d_model={self.d_model}), got {tuple(x.shape)}")
        y, state = self.rnn(x.unsqueeze(1), state)
        return y.squeeze(1), state

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
