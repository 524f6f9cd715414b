"""One decode step of a pre-norm Mamba-1 block, ``x + mixer(rmsnorm(x))``, fused into two
Triton kernels (``triton.py``).

The backend follows ``tsssm.kernels.dispatch``: ``"auto"`` takes the kernels for fp32/bf16/fp16
CUDA tensors, ``"triton"`` forces them (CPU tensors only under ``TRITON_INTERPRET=1``). The
reference is the eager step the block already has (``Block.step`` over ``Mamba.step``, composed
from the torch modules and the selective-scan step), which this op's tests compare with: where
the kernels do not run, ``mamba_block_step`` returns None and the caller steps eagerly.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

from torch import Tensor

from tsssm.kernels.dispatch import BACKENDS, triton_module


class MambaBlockWeights(NamedTuple):
    """A block's parameters in their modules' layouts (E inner channels, N states, R dt rank).

    norm_weight (d_model,), norm_eps (None: the dtype's machine epsilon, as ``nn.RMSNorm``);
    in_proj_weight (2E, d_model) [x rows, then z rows] and in_proj_bias (2E,) or None;
    conv_weight (E, 1, d_conv) oldest tap first, conv_bias (E,) or None;
    x_proj_weight (R + 2N, E) [dt, B, C rows]; dt_proj_weight (E, R), dt_proj_bias (E,);
    A_log (E, N) with A = -exp(A_log); D (E,); out_proj_weight (d_model, E), out_proj_bias
    (d_model,) or None.
    """

    norm_weight: Tensor
    norm_eps: float | None
    in_proj_weight: Tensor
    in_proj_bias: Tensor | None
    conv_weight: Tensor
    conv_bias: Tensor | None
    x_proj_weight: Tensor
    dt_proj_weight: Tensor
    dt_proj_bias: Tensor
    A_log: Tensor
    D: Tensor
    out_proj_weight: Tensor
    out_proj_bias: Tensor | None


def mamba_block_step(residual: Tensor, weights: MambaBlockWeights, conv_state: Tensor,
                     ssm_state: Tensor, backend: str = "auto") -> Tensor | None:
    """``residual + out_proj(scan step(conv step(in_proj(rmsnorm(residual)))))`` for one token,
    or None where the kernels do not run (``"auto"`` off CUDA or in float64, ``"reference"``).

    Args:
        residual: (batch, d_model) the block's input.
        weights: the block's parameters.
        conv_state: (batch, E, d_conv - 1) the last conv inputs, oldest first; updated in place.
        ssm_state: (batch, E, N) the scan state; updated in place.
        backend: "auto", "reference" or "triton".

    Returns:
        The block's output (batch, d_model) in residual's dtype, or None.
    """
    def unsupported(fast: ModuleType) -> str | None:
        return fast.mamba_block_step_unsupported(residual, weights, conv_state, ssm_state)

    fast = triton_module("mamba_block_step", backend, residual, __name__, unsupported)
    if fast is None:
        return None
    return fast.mamba_block_step_triton(residual, weights, conv_state, ssm_state)


__all__ = ["BACKENDS", "MambaBlockWeights", "mamba_block_step"]
