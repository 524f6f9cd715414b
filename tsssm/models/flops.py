"""Forward FLOPs per token, counted by PyTorch's ``FlopCounterMode`` on one forward pass.

What is counted: matrix products (``mm``, ``bmm``, ``addmm``, ...), convolutions, scaled dot-product
attention, and, added here, the same for the two ops that PyTorch's table misses on the CPU:
attention's CPU kernel and the CPU LSTM/GRU layer (2 FLOPs per multiply-add, as PyTorch counts).
What is not: elementwise work, including the selective scans of Mamba and the state updates of
every recurrence, and FFTs (S4's long convolution). So an SSM's count is its projections plus
whatever of its recurrence is written as matrix products (Mamba-2's chunked SSD is), not the full
arithmetic it does.

Attention is counted over the full L x L score matrix (PyTorch's formula ignores the causal mask),
so its count per token grows linearly with L while an SSM's stays flat.

On the GPU, Triton kernels and cuDNN RNNs are invisible to the counter: run it on a CPU model for
counts that compare across mixers (the count depends on shapes, not on speed).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_rnn_layer_flops(input_shape, input_weight_shape, hidden_weight_shape, *args,
                         **kwargs) -> int:
    """Every step multiplies its input and its previous hidden state by the gates' weights."""
    positions = input_shape.numel() // input_shape[-1]
    return 2 * positions * (input_weight_shape.numel() + hidden_weight_shape.numel())


CPU_FORMULAS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
                aten.mkldnn_rnn_layer: _cpu_rnn_layer_flops}


def forward_flops_per_token(model: nn.Module, inputs: Tensor) -> float:
    """FLOPs of ``model(inputs)`` (no gradients) divided by the ``B * L`` positions of
    ``inputs (B, L, ...)``; for a language model, ``inputs`` is ids ``(1, L)``."""
    if inputs.dim() < 2 or inputs.shape[0] * inputs.shape[1] == 0:
        raise ValueError(f"forward_flops_per_token expects inputs (B, L, ...) with B, L >= 1, "
                         f"got shape {tuple(inputs.shape)}")
    counter = FlopCounterMode(display=False, custom_mapping=CPU_FORMULAS)
    with torch.no_grad(), counter:
        model(inputs)
    return counter.get_total_flops() / (inputs.shape[0] * inputs.shape[1])
