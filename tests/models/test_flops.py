"""Forward FLOPs per token: exact for known layers, growing with width, and with length for
attention only."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from tsssm.models.backbone import Backbone
from tsssm.mixers.attention import Attention
from tsssm.mixers.mamba import Mamba
from tsssm.mixers.rnn import RNN
from tsssm.mixers.s4 import S4
from tsssm.models.flops import forward_flops_per_token
from tsssm.models.language_model import LanguageModel


def test_known_layers_count_two_flops_per_multiply_add():
    assert forward_flops_per_token(nn.Linear(4, 8), torch.randn(3, 5, 4)) == 2 * 4 * 8
    lstm = RNN(6, kind="lstm")
    assert forward_flops_per_token(lstm, torch.randn(1, 7, 6)) == 2 * (4 * 6 * 6 + 4 * 6 * 6)
    # projections 2 * D * 4D, plus QK^T and PV over the full L x L matrix: 2 * 2 * L * D
    attention = Attention(8, n_heads=2)
    assert forward_flops_per_token(attention, torch.randn(1, 10, 8)) == 2 * 8 * 32 + 4 * 10 * 8


def test_mamba_is_charged_its_convolution_and_selective_scan():
    d_model, d_inner, d_state, d_conv, dt_rank = 16, 32, 4, 4, 1
    projections = 2 * (d_model * 2 * d_inner + d_inner * (dt_rank + 2 * d_state)
                       + dt_rank * d_inner + d_inner * d_model)
    convolution, scan = 2 * d_inner * d_conv, 9 * d_inner * d_state
    mamba = Mamba(d_model, d_state=d_state, d_conv=d_conv)
    assert forward_flops_per_token(mamba, torch.randn(2, 8, d_model)) == projections + convolution + scan


class RealFFT(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x, n=16), n=16)


def test_ffts_count_two_and_a_half_flops_per_point_and_level():
    # (1, 3, 5) padded to 16 points: one transform per position there and one back
    assert forward_flops_per_token(RealFFT(), torch.randn(1, 3, 5)) == 2 * 2.5 * 16 * 4


def test_s4_is_charged_its_fft_convolution():
    def per_token(length: int) -> float:
        return forward_flops_per_token(S4(16, d_state=8), torch.randn(1, length, 16))

    assert per_token(64) > per_token(8) > 2 * 16 * 16  # more than its output projection


def test_work_done_once_per_batch_is_shared_by_its_windows():
    s4 = S4(16, d_state=8)  # its convolution kernel is computed once for the whole batch
    assert forward_flops_per_token(s4, torch.randn(4, 8, 16)) < forward_flops_per_token(
        s4, torch.randn(1, 8, 16))


def mamba_language_model(d_model: int) -> LanguageModel:
    return LanguageModel(Backbone(d_model, 2, "m", {"m": partial(Mamba, d_state=4)}), 50)


def test_language_model_flops_are_positive_and_grow_with_width():
    ids = torch.zeros(1, 12, dtype=torch.long)
    narrow = forward_flops_per_token(mamba_language_model(16), ids)
    wide = forward_flops_per_token(mamba_language_model(32), ids)
    assert 0 < narrow < wide
    assert narrow >= 2 * 16 * 50  # at least the head


def test_ssm_flops_per_token_stay_flat_while_attention_grows_with_length():
    def per_token(pattern: str, length: int) -> float:
        mixers = {"m": partial(Mamba, d_state=4), "a": partial(Attention, n_heads=2)}
        model = LanguageModel(Backbone(16, 2, pattern, mixers), 50)
        return forward_flops_per_token(model, torch.zeros(1, length, dtype=torch.long))

    assert per_token("m", 8) == per_token("m", 64)
    assert per_token("a", 64) > per_token("a", 8)


def test_inputs_without_positions_are_refused():
    with pytest.raises(ValueError, match=r"inputs \(B, L, ...\) with B, L >= 1"):
        forward_flops_per_token(nn.Linear(4, 4), torch.zeros(1, 0, 4))
