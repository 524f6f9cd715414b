"""The short causal depthwise convolution Mamba and Mamba-2 put before their scan.

Each of C channels is convolved with its own kernel of ``d_conv`` taps over the current and the
``d_conv - 1`` previous inputs, so output t reads inputs ``t - d_conv + 1 .. t`` (zeros before
the sequence starts). Its decode state is those previous inputs: ``(B, C, d_conv - 1)``, oldest
first, so the step is ``window = [state, x]`` and the prefill state is the sequence's last
``d_conv - 1`` inputs (zero-padded on the left when the sequence is shorter). The whole-sequence
pass is ``tsssm.kernels.causal_conv.causal_conv1d`` (fused Triton kernels on CUDA, the SiLU that
follows in Mamba fused in), on the (B, L, C) layout as it comes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tsssm.kernels.causal_conv import causal_conv1d


class CausalDepthwiseConv(nn.Module):
    """``(B, L, C) -> (B, L, C)``, one ``d_conv``-tap causal filter per channel.

    ``weight`` (C, 1, d_conv) and ``bias`` (C,) have ``nn.Conv1d``'s names, shapes and init
    (uniform in ``±1/sqrt(d_conv)``), so a depthwise ``nn.Conv1d``'s state dict loads into it.
    """

    def __init__(self, channels: int, d_conv: int, bias: bool = True) -> None:
        super().__init__()
        if channels < 1 or d_conv < 1:
            raise ValueError(f"CausalDepthwiseConv: channels and d_conv must be positive, got "
                             f"channels={channels}, d_conv={d_conv}")
        self.channels, self.d_conv = channels, d_conv
        bound = 1 / math.sqrt(d_conv)
        self.weight = nn.Parameter(torch.empty(channels, 1, d_conv).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound)) if bias else None

    def forward(self, x: Tensor, activation: str | None = None) -> Tensor:
        """``x (B, L, C) -> act(conv(x)) (B, L, C)``; ``activation`` None or "silu", fused into
        the kernel."""
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"CausalDepthwiseConv: expected input (B, L, channels="
                             f"{self.channels}), got {tuple(x.shape)}")
        return causal_conv1d(x, self.weight[:, 0, :], self.bias, activation)

    def prefill(self, x: Tensor, activation: str | None = None) -> tuple[Tensor, Tensor]:
        """``x (B, L, C)`` -> ``forward``'s ``y (B, L, C)`` and the state after it,
        ``(B, C, d_conv - 1)``: the last inputs, zeros on the left when L < d_conv - 1."""
        y = self.forward(x, activation)
        keep = self.d_conv - 1
        last = x[:, max(x.shape[1] - keep, 0):].transpose(1, 2)  # (B, C, min(L, keep))
        state = x.new_zeros(x.shape[0], self.channels, keep)
        state[..., keep - last.shape[-1]:] = last
        return y, state

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> Tensor:
        """Zeros ``(batch, C, d_conv - 1)``; device and dtype default to the weight's."""
        return torch.zeros(batch, self.channels, self.d_conv - 1,
                           device=self.weight.device if device is None else device,
                           dtype=self.weight.dtype if dtype is None else dtype)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``x (B, C) -> y (B, C)``; ``state (B, C, d_conv - 1)`` is shifted in place and returned."""
        if x.dim() != 2 or x.shape[-1] != self.channels:
            raise ValueError(f"CausalDepthwiseConv.step: expected input (B, channels="
                             f"{self.channels}), got {tuple(x.shape)}")
        window = torch.cat([state, x.unsqueeze(-1)], dim=-1)  # (B, C, d_conv), oldest first
        state.copy_(window[..., 1:])
        y = (window * self.weight[:, 0]).sum(dim=-1)
        return (y if self.bias is None else y + self.bias), state

    def extra_repr(self) -> str:
        return f"channels={self.channels}, d_conv={self.d_conv}, bias={self.bias is not None}"
