"""The mixer contract, checked for every causal mixer the same way: inside a two-layer Backbone
(pre-norm, residual, MLP), stepping token by token from ``init_state`` reproduces the parallel
``forward`` to 1e-10 in float64, and the state's size is fixed for SSMs and RNNs while attention's
KV cache grows with the sequence."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tests.mixers.stepping import step_through
from tsssm.backbone import Backbone
from tsssm.mixers.attention import Attention
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.mamba import Mamba
from tsssm.mixers.mamba2 import Mamba2
from tsssm.mixers.rnn import RNN
from tsssm.mixers.s4 import S4

CAUSAL_MIXERS = {
    "s4d": partial(S4, d_state=8, mode="diag"),
    "s4": partial(S4, d_state=8, mode="dplr"),
    "mamba": partial(Mamba, d_state=4, d_conv=3, expand=2),
    "mamba2": partial(Mamba2, d_state=8, d_conv=3, expand=2, headdim=8, chunk_size=4),
    "attention": partial(Attention, n_heads=2, causal=True),
    "lstm": partial(RNN, kind="lstm"),
    "gru": partial(RNN, kind="gru"),
}
FIXED_STATE = {"s4d", "s4", "mamba", "mamba2", "lstm", "gru"}


@pytest.mark.parametrize("name", sorted(CAUSAL_MIXERS))
def test_backbone_steps_exactly_like_it_runs(name):
    torch.manual_seed(0)
    backbone = Backbone(16, 2, "x", {"x": CAUSAL_MIXERS[name]}, mlp_ratio=2).double().eval()
    x = torch.randn(2, 13, 16, dtype=torch.float64)
    with torch.no_grad():
        y = backbone(x)
        y_steps, _ = step_through(backbone, x)
    assert (y_steps - y).abs().max().item() <= 1e-10


@pytest.mark.parametrize("name", sorted(CAUSAL_MIXERS))
def test_state_is_fixed_for_ssms_and_grows_for_attention(name):
    torch.manual_seed(0)
    mixer = CAUSAL_MIXERS[name](d_model=16).double().eval()
    sizes = []
    with torch.no_grad():
        for length in (4, 64):
            _, state = step_through(mixer, torch.randn(1, length, 16, dtype=torch.float64))
            sizes.append(state_nbytes(state))
    if name in FIXED_STATE:
        assert sizes[0] == sizes[1] > 0
    else:
        assert sizes[1] >= 8 * sizes[0] > 0
