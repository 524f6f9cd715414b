"""Launcher of the fused Mamba-1 block step: two kernels (``triton_kernels.py``) per layer and
token, where the eager step launches some fifteen to twenty.

At decoding's batch sizes a layer's step moves a few hundred kilobytes of weights, so its time
is the launches' (each a node of the model's CUDA graph), not the bytes: the fusion keeps one
launch for everything up to ``x_proj``'s output, which needs all E channels, and one for the
rest, which needs all of that output.

The x_proj output is summed over channel blocks by atomic adds into a workspace that must be
zero when the first kernel starts; the second kernel's last program zeroes it again. One
workspace per (device, size) serves every layer: layers run one after another on a stream, so
none reads it while another adds into it. Two steps on different streams at once would share it
wrongly; decoding runs one stream.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tsssm.kernels.mamba_step.triton_kernels import step_in_kernel, step_out_kernel
from tsssm.kernels.triton_common import (INTERPRETED, cdiv, next_power_of_2,
                                         or_stand_in as _or, tensors_problem)
from tsssm.kernels.triton_launch import TunedLaunch

PRODUCT_TILE = 4096
"""fp32 products in a program's (batch, rows, reduction) tile: 32 per thread at 4 warps."""
NUM_WARPS = 4
CHANNELS_PER_PROGRAM = 4

_STEP_IN = TunedLaunch(step_in_kernel)
_STEP_OUT = TunedLaunch(step_out_kernel)
"""Plain JIT functions: ``TunedLaunch`` only spares them Triton's binding (no key)."""

_workspaces: dict[tuple[str, int], tuple[Tensor, Tensor]] = {}


def workspace(device: torch.device, size: int) -> tuple[Tensor, Tensor]:
    """The zeroed fp32 x_proj accumulator of ``size`` elements on ``device`` and the int32
    counter of the programs done with it; made once, so a CUDA graph keeps their addresses
    (graphs capture after eager warm-up steps, which make them)."""
    key = (str(device), size)
    if key not in _workspaces:
        _workspaces[key] = (torch.zeros(size, dtype=torch.float32, device=device),
                            torch.zeros(1, dtype=torch.int32, device=device))
    return _workspaces[key]


def block_sizes(batch: int, d_model: int, d_inner: int, dt_rank: int, n_proj: int,
                d_state: int) -> dict[str, int]:
    """The kernels' block sizes: all the batch (up to 16 rows) per program, 4 channels, and
    reduction blocks that keep the product tile at ``PRODUCT_TILE``; under the interpreter,
    blocks of a few elements, so small test shapes cross every block boundary."""
    if INTERPRETED:
        return dict(BLOCK_B=2, BLOCK_E=4, BLOCK_K=8, BLOCK_J=8, BLOCK_R=2, BLOCK_M=8,
                    BLOCK_ZERO=16, BLOCK_N=next_power_of_2(d_state))
    block_b = min(16, next_power_of_2(batch))
    block_e = CHANNELS_PER_PROGRAM
    reduction = max(16, PRODUCT_TILE // (block_b * block_e))

    def fit(n: int) -> int:
        return min(reduction, next_power_of_2(n))

    return dict(BLOCK_B=block_b, BLOCK_E=block_e, BLOCK_K=fit(d_model), BLOCK_J=fit(n_proj),
                BLOCK_R=fit(dt_rank), BLOCK_M=fit(d_model), BLOCK_ZERO=1024,
                BLOCK_N=next_power_of_2(d_state))


def mamba_block_step_triton(residual: Tensor, weights, conv_state: Tensor,
                            ssm_state: Tensor) -> Tensor:
    """``residual + mixer(rmsnorm(residual))`` for one token in two kernels; ``conv_state``
    (batch, E, d_conv - 1) and ``ssm_state`` (batch, E, N) are updated in place.

    Args:
        residual: (batch, d_model), any strides.
        weights: a ``MambaBlockWeights``.

    Returns:
        (batch, d_model) in residual's dtype (accumulated in fp32).
    """
    check_block_step_args(residual, weights, conv_state, ssm_state)
    batch, d_model = residual.shape
    d_inner, d_state = weights.A_log.shape
    dt_rank = weights.dt_proj_weight.shape[1]
    n_proj = dt_rank + 2 * d_state
    device = residual.device
    blocks = block_sizes(batch, d_model, d_inner, dt_rank, n_proj, d_state)
    x = torch.empty(batch, d_inner, dtype=torch.float32, device=device)
    z = torch.empty(batch, d_inner, dtype=torch.float32, device=device)
    out = torch.empty(batch, d_model, dtype=torch.float32, device=device)
    xp, count = workspace(device, batch * n_proj)
    eps = torch.finfo(residual.dtype).eps if weights.norm_eps is None else weights.norm_eps
    conv_w = weights.conv_weight
    grid = (cdiv(d_inner, blocks["BLOCK_E"]), cdiv(batch, blocks["BLOCK_B"]))
    _STEP_IN(
        grid, (residual, weights.norm_weight, weights.in_proj_weight,
               _or(weights.in_proj_bias, xp), conv_w, _or(weights.conv_bias, xp), conv_state,
               weights.x_proj_weight, _or(weights.out_proj_bias, xp), x, z, xp, out),
        (batch, d_model, d_inner, n_proj, float(eps), *residual.stride(),
         *weights.in_proj_weight.stride(), conv_w.stride(0), conv_w.stride(2),
         *conv_state.stride(), *weights.x_proj_weight.stride()), (),
        HAS_IN_BIAS=weights.in_proj_bias is not None, HAS_CONV_BIAS=weights.conv_bias is not None,
        HAS_OUT_BIAS=weights.out_proj_bias is not None, D_CONV=conv_w.shape[2],
        WINDOW=next_power_of_2(conv_w.shape[2]),
        BLOCK_B=blocks["BLOCK_B"], BLOCK_E=blocks["BLOCK_E"], BLOCK_K=blocks["BLOCK_K"],
        BLOCK_J=blocks["BLOCK_J"], num_warps=NUM_WARPS)
    _STEP_OUT(
        grid, (xp, count, x, z, weights.dt_proj_weight, weights.dt_proj_bias, weights.A_log,
               weights.D, ssm_state, weights.out_proj_weight, out),
        (batch, d_model, d_inner, dt_rank, n_proj, *weights.dt_proj_weight.stride(),
         *weights.A_log.stride(), *ssm_state.stride(), *weights.out_proj_weight.stride()), (),
        DSTATE=d_state, BLOCK_N=blocks["BLOCK_N"], BLOCK_B=blocks["BLOCK_B"],
        BLOCK_E=blocks["BLOCK_E"], BLOCK_R=blocks["BLOCK_R"], BLOCK_M=blocks["BLOCK_M"],
        BLOCK_ZERO=blocks["BLOCK_ZERO"], num_warps=NUM_WARPS)
    return out if residual.dtype == torch.float32 else out.to(residual.dtype)


def check_block_step_args(residual: Tensor, weights, conv_state: Tensor,
                          ssm_state: Tensor) -> None:
    """One-line errors for shapes that do not fit together (names as in ``MambaBlockWeights``)."""
    if residual.dim() != 2:
        raise ValueError(f"mamba_block_step: residual must be (batch, d_model), got "
                         f"{tuple(residual.shape)}")
    batch, d_model = residual.shape
    d_inner, d_state = weights.A_log.shape
    d_conv = weights.conv_weight.shape[-1]
    dt_rank = weights.dt_proj_weight.shape[-1]
    expected = {
        "norm_weight": (d_model,), "in_proj_weight": (2 * d_inner, d_model),
        "in_proj_bias": (2 * d_inner,), "conv_weight": (d_inner, 1, d_conv),
        "conv_bias": (d_inner,), "x_proj_weight": (dt_rank + 2 * d_state, d_inner),
        "dt_proj_weight": (d_inner, dt_rank), "dt_proj_bias": (d_inner,), "D": (d_inner,),
        "out_proj_weight": (d_model, d_inner), "out_proj_bias": (d_model,),
        "conv_state": (batch, d_inner, d_conv - 1), "ssm_state": (batch, d_inner, d_state)}
    given = {**weights._asdict(), "conv_state": conv_state, "ssm_state": ssm_state}
    for name, shape in expected.items():
        tensor = given[name]
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"mamba_block_step: {name} must have shape {shape} (residual "
                             f"{tuple(residual.shape)}, A_log {tuple(weights.A_log.shape)}), got "
                             f"{tuple(tensor.shape)}")


def mamba_block_step_unsupported(residual: Tensor, weights, conv_state: Tensor,
                                 ssm_state: Tensor) -> str | None:
    """Why the kernels cannot take these tensors, or None: fp32/bf16/fp16 tensors of one CUDA
    device (or of the CPU, interpreted)."""
    return tensors_problem([t for t in (residual, *weights, conv_state, ssm_state)
                            if isinstance(t, Tensor)])
