"""The mixer contract, checked for every causal mixer the same way, in float64 to 1e-10: inside a
two-layer Backbone (pre-norm, residual, MLP), stepping token by token from ``init_state``
reproduces the parallel ``forward``; ``prefill`` of a prompt gives ``forward``'s output and a state
from which ``step`` carries on exactly as ``forward`` does over the whole sequence (alone, and in a
hybrid Backbone of every mixer); the state's size is fixed for SSMs and RNNs while attention's KV
cache grows with the positions it is given room for, whether reached by steps or by prefill."""

from __future__ import annotations

import pytest
import torch

from tests.mixers.cases import CAUSAL_MIXERS, FIXED_STATE
from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.models.backbone import Backbone

PROMPT_LENGTHS = (1, 2, 7)  # below, at and above Mamba's d_conv - 1 = 2; 7 ends in a ragged chunk


def _prefill_then_step(module, x, prompt_length):
    """``module.prefill`` over the first ``prompt_length`` positions, with room for all of
    ``x``, ``step`` over the rest: ``(y of the prompt, y of the steps)``."""
    y_prompt, state = module.prefill(x[:, :prompt_length], capacity=x.shape[1])
    y_steps, _ = step_through(module, x[:, prompt_length:], state)
    return y_prompt, y_steps


@pytest.mark.parametrize("prompt_length", PROMPT_LENGTHS)
@pytest.mark.parametrize("name", sorted(CAUSAL_MIXERS))
def test_prefill_then_step_matches_forward(name, prompt_length):
    torch.manual_seed(0)
    mixer = CAUSAL_MIXERS[name](d_model=16).double().eval()
    x = torch.randn(2, 10, 16, dtype=torch.float64)
    with torch.no_grad():
        y = mixer(x)
        y_prompt, y_steps = _prefill_then_step(mixer, x, prompt_length)
    assert (y_prompt - y[:, :prompt_length]).abs().max().item() <= 1e-10
    assert (y_steps - y[:, prompt_length:]).abs().max().item() <= 1e-10


@pytest.mark.parametrize("prompt_length", PROMPT_LENGTHS)
def test_hybrid_backbone_prefill_then_step_matches_forward(prompt_length):
    torch.manual_seed(0)
    letters = {chr(ord("a") + i): factory for i, factory in enumerate(CAUSAL_MIXERS.values())}
    backbone = Backbone(16, len(letters), "".join(letters), letters, mlp_ratio=2).double().eval()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        y = backbone(x)
        y_prompt, y_steps = _prefill_then_step(backbone, x, prompt_length)
    assert (y_prompt - y[:, :prompt_length]).abs().max().item() <= 1e-10
    assert (y_steps - y[:, prompt_length:]).abs().max().item() <= 1e-10


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
    sizes, prefill_sizes = [], []
    with torch.no_grad():
        for length in (4, 64):
            x = torch.randn(1, length, 16, dtype=torch.float64)
            sizes.append(state_nbytes(step_through(mixer, x)[1]))
            prefill_sizes.append(state_nbytes(mixer.prefill(x)[1]))
    if name in FIXED_STATE:
        assert sizes[0] == sizes[1] == prefill_sizes[0] == prefill_sizes[1] > 0
    else:
        assert sizes[1] >= 8 * sizes[0] > 0
        assert prefill_sizes[1] >= 8 * prefill_sizes[0] > 0
