"""Section ``peer-linear``: the linear-attention scan against flash-linear-attention's kernels.

tsssm runs causal linear attention on its SSD kernel (``tsssm.mixers.linear_attention``): the
values are the scan's x, the key and query features its B and C, ``dt = 1`` and ``A = log γ`` per
head. Two settings, each against the fla kernel written for it, on the same tensors:
- ``linear attention``: no decay, normalised by ``φ(q)·Σφ(k)`` — tsssm appends a column of ones to
  the values so the normaliser comes out of the same scan (P = d_v + 1); fla's
  ``chunk_linear_attn(normalize=True)`` keeps it apart;
- ``retention``: RetNet's fixed decay per head, no normaliser; fla's ``chunk_simple_gla`` with
  ``g_gamma``.
fla (the ``fla-core`` package) must be importable; otherwise the section records why and stops.
The speeds are reported side by side (no target).
"""

from __future__ import annotations

import torch
from torch import Tensor

from tsssm.benchmarks.cases import (FLA, LINEAR_CHUNK, LINEAR_HEAD_DIM, LINEAR_HEADS,
                                    LINEAR_SECTION, K, PairCase, linear_cases)
from tsssm.benchmarks.peer_library import PeerUnavailable
from tsssm.benchmarks.peers import Call, Comparison, Inputs, compare, loaded
from tsssm.benchmarks.timing import Bench
from tsssm.kernels.ssd import ssd
from tsssm.mixers.linear_attention import retnet_decay_rates

CHECK_SHAPE = (1, 2 * K)


def linear_inputs(case: PairCase, grad: bool) -> tuple[Inputs, Inputs]:
    """q, k (B, L, H, N) positive features (elu + 1 of normal values) and v (B, L, H, d_v) in
    bf16, shared by both libraries."""
    shape = (case.batch, case.length, LINEAR_HEADS, LINEAR_HEAD_DIM)

    def features() -> Tensor:
        return (torch.nn.functional.elu(torch.randn(*shape, device="cuda")) + 1).bfloat16()

    inputs = {"q": features(), "k": features(),
              "v": torch.randn(*shape, device="cuda").bfloat16()}
    for tensor in inputs.values():
        tensor.requires_grad_(grad)
    return inputs, inputs


def log_decay(kernel: str) -> Tensor:
    """``log γ`` per head (H,): RetNet's rates for ``retention``, zeros for linear attention."""
    if kernel == "retention":
        return -retnet_decay_rates(LINEAR_HEADS).float().cuda()
    return torch.zeros(LINEAR_HEADS, device="cuda")


def ours(kernel: str) -> Call:
    """tsssm's SSD scan in the setting of ``kernel``."""
    A = log_decay(kernel)

    def call(t: Inputs) -> Tensor:
        v = t["v"]
        if kernel == "linear attention":
            v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1)
        y = ssd(v, v.new_ones(v.shape[:-1]), A, t["k"], t["q"], LINEAR_CHUNK, backend="triton")
        return y[..., :-1] / y[..., -1:] if kernel == "linear attention" else y

    return call


def theirs(kernel: str) -> Call:
    """fla's chunked kernel for ``kernel``, scores unscaled as tsssm's are."""
    try:
        from fla.ops.linear_attn import chunk_linear_attn
        from fla.ops.simple_gla import chunk_simple_gla
    except ImportError as error:
        raise PeerUnavailable(f"flash-linear-attention is not importable ({error}); "
                              "pip install fla-core") from error
    if kernel == "linear attention":
        return lambda t: chunk_linear_attn(t["q"], t["k"], t["v"], scale=1.0, normalize=True)[0]
    A = log_decay(kernel)
    return lambda t: chunk_simple_gla(t["q"], t["k"], t["v"], g_gamma=A, scale=1.0)[0]


def run(bench: Bench) -> None:
    for kernel in ("linear attention", "retention"):
        peer = loaded(bench, "peer-linear", lambda: theirs(kernel))
        if peer is None:
            return
        comparison = Comparison(LINEAR_SECTION, FLA, ours(kernel), peer, linear_inputs)
        compare(bench, comparison, [c for c in linear_cases() if c.kernel == kernel], CHECK_SHAPE)
