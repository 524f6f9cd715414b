"""Section ``attention``: bare causal SDPA flash attention at the mixers' width (16 heads × 64,
bf16, batch 1), the kernel an attention layer spends its time in. Flash attention is bound by
matmuls, not bytes: the note gives its TFLOP/s."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from tsssm.benchmarks.cases import (ATTENTION_HEADS, ATTENTION_MAX_LENGTH, MIXER_WIDTH, sdpa_label,
                                    sweep_lengths)
from tsssm.benchmarks.floors import attention_bytes, causal_attention_flops
from tsssm.benchmarks.results import Row
from tsssm.benchmarks.timing import Bench, Timed, timed_pass

MODES = ("fwd", "fwd+bwd")
HEAD_DIM = MIXER_WIDTH // ATTENTION_HEADS


def flash(fn: Callable[[], Tensor]) -> Callable[[], Tensor]:
    """``fn`` with SDPA restricted to the flash backend (an error rather than a silent fallback)."""

    def run() -> Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return fn()

    return run


def _setup(length: int, mode: str) -> Callable[[], Timed]:
    def setup() -> Timed:
        q, k, v = (torch.randn(1, ATTENTION_HEADS, length, HEAD_DIM, device="cuda",
                               dtype=torch.bfloat16, requires_grad=mode == "fwd+bwd")
                   for _ in range(3))
        fast = flash(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
        return timed_pass(mode, fast, [q, k, v], torch.randn_like(q))

    return setup


def run(bench: Bench) -> None:
    for length in sweep_lengths(bench.quick):
        for mode in MODES:
            backward = mode == "fwd+bwd"
            row = Row("attention", sdpa_label(length), "bf16", mode, length,
                      {"batch": 1, "length": length, "heads": ATTENTION_HEADS,
                       "head_dim": HEAD_DIM},
                      nbytes=attention_bytes(1, ATTENTION_HEADS, length, length, HEAD_DIM, 2,
                                             backward))
            if length > ATTENTION_MAX_LENGTH:
                row.note = f"not run: quadratic, beyond L {ATTENTION_MAX_LENGTH}"
                bench.time(row, None)
                continue
            bench.time(row, _setup(length, mode))
            if row.time_ms is not None:
                flops = causal_attention_flops(1, ATTENTION_HEADS, length, HEAD_DIM, backward)
                row.note = f"{flops / (row.time_ms * 1e-3) / 1e12:.0f} TFLOP/s"
