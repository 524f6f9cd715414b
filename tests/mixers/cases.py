"""Tiny instances of every causal mixer, shared by the contract tests and the model tests: one
factory per mixer, called as ``factory(d_model=...)``, as the Backbone calls its mixers."""

from __future__ import annotations

from functools import partial

from tsssm.mixers.attention import Attention
from tsssm.mixers.gss import GSS
from tsssm.mixers.linear_attention import LinearAttention
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
    "linear_attention": partial(LinearAttention, n_heads=2, chunk_size=4),
    "retention": partial(LinearAttention, n_heads=2, feature_map="hedgehog", decay="learned",
                         normalization="groupnorm", chunk_size=4),
    "gss": partial(GSS, d_state=8),
    "lstm": partial(RNN, kind="lstm"),
    "gru": partial(RNN, kind="gru"),
}
FIXED_STATE = {"s4d", "s4", "mamba", "mamba2", "linear_attention", "retention", "gss", "lstm",
               "gru"}
"""The mixers whose state has one size whatever the length (all but attention's KV cache)."""
