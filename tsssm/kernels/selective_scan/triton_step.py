"""The decode step of the selective scan: one token, the state updated in place."""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.selective_scan.triton_tiles import channel_block
from tsssm.kernels.triton_common import (INTERPRETED, fast_exp, kept_autotune, sigmoid,
                                         softplus)


def _state_update_configs() -> list[triton.Config]:
    return [triton.Config({"BLOCK_D": bd}, num_warps=w) for bd in (4, 16, 64) for w in (1, 4)]


def _tuned_state_update():
    """The step is a few microseconds; tuning restores the state it updates in place."""
    if INTERPRETED:
        return triton.heuristics({"BLOCK_D": lambda args: 4})
    return kept_autotune(_state_update_configs(), ["dim", "DSTATE", "HAS_Z"],
                         restore_value=["state_ptr"])


@_tuned_state_update()
@triton.heuristics({"EVEN_D": lambda args: args["chans_per_group"] % args["BLOCK_D"] == 0})
@triton.jit
def state_update_kernel(
        state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, y_ptr,
        dim, chans_per_group,
        s_st_b, s_st_d, s_st_n, s_x_b, s_x_d, s_dt_b, s_dt_d, s_A_d, s_A_n,
        s_B_b, s_B_g, s_B_n, s_C_b, s_C_g, s_C_n, s_z_b, s_z_d, s_y_b, s_y_d,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr, EVEN_D: tl.constexpr):
    """Grid (batch, G · cdiv(D/G, BLOCK_D)): one token; the program's state block stays in
    registers between its load and its store."""
    b, g, d, d_mask = channel_block(chans_per_group, BLOCK_D, EVEN_D, True)
    n = tl.arange(0, BLOCK_N)
    n_mask = n < DSTATE
    dn_mask = d_mask[:, None] & n_mask[None, :]

    state_at = state_ptr + b * s_st_b + d[:, None] * s_st_d + n[None, :] * s_st_n
    state = tl.load(state_at, mask=dn_mask, other=0.0).to(tl.float32)
    x = tl.load(x_ptr + b * s_x_b + d * s_x_d, mask=d_mask, other=0.0).to(tl.float32)
    dt = tl.load(dt_ptr + b * s_dt_b + d * s_dt_d, mask=d_mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32)
    if SOFTPLUS:
        dt = softplus(dt)
    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=dn_mask,
                other=0.0).to(tl.float32)
    Bg = tl.load(B_ptr + b * s_B_b + g * s_B_g + n * s_B_n, mask=n_mask, other=0.0).to(tl.float32)
    Cg = tl.load(C_ptr + b * s_C_b + g * s_C_g + n * s_C_n, mask=n_mask, other=0.0).to(tl.float32)

    state = fast_exp(dt[:, None] * A) * state + (dt * x)[:, None] * Bg[None, :]
    tl.store(state_at, state.to(state_ptr.dtype.element_ty), mask=dn_mask)
    y = tl.sum(state * Cg[None, :], axis=1)
    if HAS_D:
        y += tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32) * x
    if HAS_Z:
        z = tl.load(z_ptr + b * s_z_b + d * s_z_d, mask=d_mask, other=0.0).to(tl.float32)
        y *= z * sigmoid(z)
    tl.store(y_ptr + b * s_y_b + d * s_y_d, y.to(y_ptr.dtype.element_ty), mask=d_mask)
