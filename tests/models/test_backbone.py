"""Backbone with a hybrid pattern: step loop = forward, pattern expansion, letter errors, causality."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tests.mixers.stepping import step_through
from tsssm.models.backbone import Backbone, expand_pattern
from tsssm.mixers.attention import Attention
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.rnn import RNN

B, L, D = 2, 37, 8
MIXERS = {"r": partial(RNN, kind="gru"), "a": partial(Attention, n_heads=2)}


def _backbone(pattern: str = "ra", n_layers: int = 4, mixers: dict = MIXERS, **kwargs) -> Backbone:
    torch.manual_seed(0)
    return Backbone(D, n_layers, pattern, mixers, **kwargs).double().eval()


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
@pytest.mark.parametrize("mlp_ratio", [0.0, 2.0])
def test_hybrid_step_loop_matches_forward(norm: str, mlp_ratio: float) -> None:
    mixers = {"r": partial(RNN, kind="lstm"), "a": partial(Attention, n_heads=2)}
    backbone = _backbone(mixers=mixers, mlp_ratio=mlp_ratio, norm=norm)
    assert [type(block.mixer) for block in backbone.blocks] == [RNN, Attention, RNN, Attention]
    x = torch.randn(B, L, D, dtype=torch.float64)
    with torch.no_grad():
        stepped, _ = step_through(backbone, x)
        assert (stepped - backbone(x)).abs().max().item() <= 1e-10


def test_hybrid_state_grows_only_through_its_attention_layers() -> None:
    def nbytes_after(backbone: Backbone, steps: int) -> int:
        with torch.no_grad():
            _, state = step_through(backbone, torch.randn(B, steps, D, dtype=torch.float64))
        return state_nbytes(state)

    recurrent = _backbone(pattern="r")
    assert nbytes_after(recurrent, 4) == nbytes_after(recurrent, 64) == 4 * B * D * 8
    hybrid = _backbone(pattern="ra")
    assert nbytes_after(hybrid, 64) - nbytes_after(hybrid, 4) == 2 * 2 * (64 - 4) * B * D * 8


@pytest.mark.parametrize(("pattern", "n_layers", "layout"), [
    ("mma", 5, "mmamm"), ("a", 3, "aaa"), ("ra", 2, "ra"), ("ra", 4, "rara"),
])
def test_expand_pattern(pattern: str, n_layers: int, layout: str) -> None:
    assert expand_pattern(pattern, n_layers) == layout


def test_expand_pattern_refuses_empty_pattern_and_too_few_layers() -> None:
    with pytest.raises(ValueError, match="empty string"):
        expand_pattern("", 2)
    with pytest.raises(ValueError, match="n_layers=1 is fewer than the pattern 'ra' has letters"):
        expand_pattern("ra", 1)


def test_unknown_letter_names_it_and_the_configured_ones() -> None:
    with pytest.raises(ValueError, match=r"\['x'\] but only \['a', 'r'\] are configured"):
        _backbone(pattern="rxa")


def test_causal_only_if_every_mixer_is() -> None:
    mixers = {"r": RNN, "a": partial(Attention, n_heads=2, causal=False)}
    assert _backbone(pattern="r", mixers=mixers).causal
    bidirectional = _backbone(pattern="ra", mixers=mixers)
    assert not bidirectional.causal
    with pytest.raises(NotImplementedError, match="causal=False"):
        bidirectional.init_state(B)
