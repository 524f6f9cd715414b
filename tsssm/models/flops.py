"""Forward FLOPs per token, counted by PyTorch's ``FlopCounterMode`` on one forward pass, plus
what its table misses, so that state-space models are charged their recurrences too.

Counted: matrix products (``mm``, ``bmm``, ``addmm``, ...), convolutions, scaled dot-product
attention, and, added here, the ops PyTorch's table leaves out:

- attention's CPU kernel and the CPU LSTM/GRU layer (2 FLOPs per multiply-add, as PyTorch counts);
- FFTs (S4's long convolution and its kernel): 2.5 n log2 n per real transform of n points,
  5 n log2 n per complex one;
- the causal depthwise convolution of Mamba and Mamba-2: 2 x d_conv per channel and position;
- Mamba's selective scan: 9 FLOPs per position, channel and state (discretise, update, read out).

Mamba-2's chunked SSD is mostly matrix products and so counted as those; its elementwise decays
are not, nor is any other elementwise work (norms, activations, gates).

Attention is counted over the full L x L score matrix (PyTorch's formula ignores the causal mask),
so its count per token grows linearly with L while an SSM's stays flat.

On the GPU, Triton kernels and cuDNN RNNs are invisible to the counter: run it on a CPU model for
counts that compare across mixers (the count depends on shapes, not on speed).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from tsssm.mixers.conv import CausalDepthwiseConv
from tsssm.mixers.mamba import Mamba

aten = torch.ops.aten
SCAN_FLOPS = 9  # per position, channel and state: exp(dt A), dt B u, A h + B u, <C, h>


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_rnn_layer_flops(input_shape, input_weight_shape, hidden_weight_shape, *args,
                         **kwargs) -> int:
    """Every step multiplies its input and its previous hidden state by the gates' weights."""
    positions = input_shape.numel() // input_shape[-1]
    return 2 * positions * (input_weight_shape.numel() + hidden_weight_shape.numel())


def _fft_flops(input_shape, dim, points: int, per_point_log: float) -> int:
    """``per_point_log x n log2 n`` for each of the transforms of ``points`` points in a tensor of
    ``input_shape`` transformed over ``dim``."""
    transformed = math.prod(input_shape[d] for d in dim)
    transforms = math.prod(input_shape) // transformed
    return round(transforms * per_point_log * points * math.log2(max(points, 2)))


def _rfft_flops(input_shape, dim, *args, **kwargs) -> int:
    return _fft_flops(input_shape, dim, math.prod(input_shape[d] for d in dim), 2.5)


def _irfft_flops(input_shape, dim, normalization, last_dim_size, *args, **kwargs) -> int:
    points = math.prod(input_shape[d] for d in dim[:-1]) * last_dim_size
    return _fft_flops(input_shape, dim, points, 2.5)


def _fft_complex_flops(input_shape, dim, *args, **kwargs) -> int:
    return _fft_flops(input_shape, dim, math.prod(input_shape[d] for d in dim), 5.0)


CPU_FORMULAS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
                aten.mkldnn_rnn_layer: _cpu_rnn_layer_flops,
                aten._fft_r2c: _rfft_flops, aten._fft_c2r: _irfft_flops,
                aten._fft_c2c: _fft_complex_flops}


def _conv_flops(conv: CausalDepthwiseConv, positions: int) -> int:
    return 2 * positions * conv.channels * conv.d_conv


def _scan_flops(mamba: Mamba, positions: int) -> int:
    return SCAN_FLOPS * positions * mamba.d_inner * mamba.d_state


# Modules whose elementwise kernels the counter cannot see, and their FLOPs over ``positions``.
MODULE_FORMULAS = {CausalDepthwiseConv: _conv_flops, Mamba: _scan_flops}


def forward_flops_per_token(model: nn.Module, inputs: Tensor) -> float:
    """FLOPs of ``model(inputs)`` (no gradients) divided by the ``B * L`` positions of
    ``inputs (B, L, ...)``; for a language model, ``inputs`` is ids ``(batch, L)``."""
    if inputs.dim() < 2 or inputs.shape[0] * inputs.shape[1] == 0:
        raise ValueError(f"forward_flops_per_token expects inputs (B, L, ...) with B, L >= 1, "
                         f"got shape {tuple(inputs.shape)}")
    counter = FlopCounterMode(display=False, custom_mapping=CPU_FORMULAS)
    elementwise = []

    def count(module: nn.Module, args: tuple) -> None:  # args[0]: its input (..., features)
        positions = args[0].numel() // args[0].shape[-1]
        elementwise.append(MODULE_FORMULAS[type(module)](module, positions))

    hooks = [module.register_forward_pre_hook(count) for module in model.modules()
             if type(module) in MODULE_FORMULAS]
    try:
        with torch.no_grad(), counter:
            model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    total = counter.get_total_flops() + sum(elementwise)
    return total / (inputs.shape[0] * inputs.shape[1])
