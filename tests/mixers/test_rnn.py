"""LSTM/GRU mixers: step loop = forward, a constant-size state, causality, gradients, errors."""

from __future__ import annotations

import pytest
import torch

from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.rnn import RNN

B, L, D = 2, 37, 8


def _rnn(kind: str, n_layers: int = 1) -> RNN:
    torch.manual_seed(0)
    return RNN(D, kind=kind, n_layers=n_layers).double().eval()


def _x() -> torch.Tensor:
    return torch.randn(B, L, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_step_loop_matches_forward(kind: str, n_layers: int) -> None:
    rnn, x = _rnn(kind, n_layers), _x()
    with torch.no_grad():
        stepped, _ = step_through(rnn, x)
        assert (stepped - rnn(x)).abs().max().item() <= 1e-10


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_state_has_torch_layout_and_constant_size(kind: str) -> None:
    rnn = _rnn(kind, n_layers=2)
    state = rnn.init_state(B)
    tensors = state if kind == "lstm" else (state,)
    assert len(tensors) == (2 if kind == "lstm" else 1)
    assert all(t.shape == (2, B, D) and t.dtype == torch.float64 for t in tensors)
    expected = len(tensors) * 2 * B * D * 8
    with torch.no_grad():
        for _ in range(50):
            assert state_nbytes(state) == expected
            _, state = rnn.step(torch.randn(B, D, dtype=torch.float64), state)
    assert state_nbytes(state) == expected


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_is_causal(kind: str) -> None:
    rnn, x = _rnn(kind), _x()
    changed = x.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        assert rnn.causal
        torch.testing.assert_close(rnn(changed)[:, :-1], rnn(x)[:, :-1], rtol=0, atol=0)
        assert (rnn(changed)[:, -1] - rnn(x)[:, -1]).abs().max() > 1e-6


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradients_reach_every_parameter(kind: str) -> None:
    rnn = _rnn(kind, n_layers=2).train()
    rnn(_x()).square().sum().backward()
    for name, param in rnn.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(kind="transformer"), r"kind must be one of \['gru', 'lstm'\], got 'transformer'"),
    (dict(n_layers=0), "n_layers must be >= 1, got 0"),
    (dict(dropout=1.0, n_layers=2), r"dropout must be in \[0, 1\)"),
    (dict(dropout=0.1), "needs n_layers > 1"),
])
def test_bad_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RNN(D, **kwargs)


def test_bad_shapes_are_refused() -> None:
    rnn = _rnn("gru")
    with pytest.raises(ValueError, match=r"expects \(B, L, d_model=8\)"):
        rnn(torch.randn(B, D, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"expects \(B, d_model=8\)"):
        rnn.step(torch.randn(B, 1, D, dtype=torch.float64), rnn.init_state(B))
