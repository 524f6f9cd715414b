"""Section ``mixer``: a whole Mamba layer against a whole attention layer of equal width
(d_model 1024; attention 16 heads × 64 with rotary positions and SDPA), bf16, batch 1.

Each layer's forward (inference) and forward+backward (gradients of the input and every
parameter) at the sweep's lengths, each launched from Python as training runs them; and the
forward+backward replayed from a CUDA graph (``fwd+bwd-graph``), the GPU's time alone: below ~8K
tokens a batch-1 layer waits on Python's launches, and the graph rows say how the layers' kernels
compare there. Attention is not run past 64K: it is quadratic; nor are the graph rows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tsssm.benchmarks.cases import (ATTENTION_HEADS, ATTENTION_MAX_LENGTH, MIXER_WIDTH, TUNE_SHAPE,
                                    mixer_label, sweep_lengths)
from tsssm.benchmarks.results import Row
from tsssm.benchmarks.timing import Bench, Timed, timed_pass
from tsssm.mixers.attention import Attention
from tsssm.mixers.base import Mixer
from tsssm.mixers.mamba import Mamba

MODES = ("fwd", "fwd+bwd", "fwd+bwd-graph")
GRAPH = "-graph"


def layers() -> dict[str, Mixer]:
    """The two layers, on the GPU in bf16."""
    built = {"mamba": Mamba(MIXER_WIDTH),
             "attention": Attention(MIXER_WIDTH, ATTENTION_HEADS, causal=True)}
    return {kind: layer.to(device="cuda", dtype=torch.bfloat16) for kind, layer in built.items()}


def _setup(layer: Mixer, length: int, mode: str) -> Callable[[], Timed]:
    def setup() -> Timed:
        x = torch.randn(1, length, MIXER_WIDTH, device="cuda", dtype=torch.bfloat16,
                        requires_grad=mode != "fwd")
        timed = timed_pass(mode.removesuffix(GRAPH), lambda: layer(x), [x, *layer.parameters()],
                           torch.randn_like(x))
        timed.graph = mode.endswith(GRAPH)
        return timed

    return setup


def run(bench: Bench) -> None:
    built = layers()
    tune_length = TUNE_SHAPE[1]
    if not bench.tune("mixer mamba", [_setup(built["mamba"], tune_length, mode)
                                      for mode in MODES if not mode.endswith(GRAPH)]):
        bench.log("mixer: Mamba failed at the tuning length; its rows will say why")
    for length in sweep_lengths(bench.quick):
        for kind, layer in built.items():
            for mode in MODES:
                row = Row("mixer", mixer_label(kind, length), "bf16", mode, length,
                          {"batch": 1, "length": length, "d_model": MIXER_WIDTH})
                if kind == "attention" and length > ATTENTION_MAX_LENGTH:
                    row.note = f"not run: quadratic, beyond L {ATTENTION_MAX_LENGTH}"
                    bench.time(row, None)
                elif mode.endswith(GRAPH) and length > ATTENTION_MAX_LENGTH:
                    row.note = f"not run: graph rows stop at L {ATTENTION_MAX_LENGTH}"
                    bench.time(row, None)
                else:
                    bench.time(row, _setup(layer, length, mode))
        for layer in built.values():
            layer.zero_grad(set_to_none=True)
