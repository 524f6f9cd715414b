"""One decode step of the SSD scan: the state updated in place, one token's output."""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.ssd.triton_tiles import cast_nearest
from tsssm.kernels.triton_common import fast_exp, sigmoid, softplus


@triton.jit
def state_update_kernel(state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                        y_ptr, s_s_b, s_s_h, s_s_p, s_s_n, s_x_b, s_x_h, s_x_p, s_dt_b, s_dt_h,
                        s_B_b, s_B_g, s_B_n, s_C_b, s_C_g, s_C_n, s_D_h, s_D_p,
                        s_z_b, s_z_h, s_z_p, H, heads_per_group, P, N,
                        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                        SOFTPLUS: tl.constexpr, INTERPRETED: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr):
    """h = exp(dt A) h + dt x ⊗ B in place, y = h C (+ D x, · silu(z)) for BLOCK_P rows of
    one (batch, head). y: (b, H, P) contiguous in x's dtype."""
    b = (tl.program_id(1) // H).to(tl.int64)
    h = tl.program_id(1) % H
    g = h // heads_per_group
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    p_ok = offs_p < P
    n_ok = offs_n < N
    ok = p_ok[:, None] & n_ok[None, :]
    dt = tl.load(dt_ptr + b * s_dt_b + h * s_dt_h).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + h).to(tl.float32)
    if SOFTPLUS:
        dt = softplus(dt)
    decay = fast_exp(dt * tl.load(A_ptr + h).to(tl.float32))
    x = tl.load(x_ptr + b * s_x_b + h * s_x_h + offs_p * s_x_p, mask=p_ok, other=0.0)
    x = x.to(tl.float32)
    Bv = tl.load(B_ptr + b * s_B_b + g * s_B_g + offs_n * s_B_n, mask=n_ok, other=0.0)
    Cv = tl.load(C_ptr + b * s_C_b + g * s_C_g + offs_n * s_C_n, mask=n_ok, other=0.0)
    state_at = state_ptr + b * s_s_b + h * s_s_h + offs_p[:, None] * s_s_p + offs_n[None, :] * s_s_n
    state = tl.load(state_at, mask=ok, other=0.0).to(tl.float32)
    state = decay * state + (dt * x)[:, None] * Bv.to(tl.float32)[None, :]
    tl.store(state_at, cast_nearest(state, state_ptr.dtype.element_ty, INTERPRETED), mask=ok)
    y = tl.sum(state * Cv.to(tl.float32)[None, :], axis=1)
    if HAS_D:
        y += x * tl.load(D_ptr + h * s_D_h + offs_p * s_D_p, mask=p_ok, other=0.0).to(tl.float32)
    if HAS_Z:
        z = tl.load(z_ptr + b * s_z_b + h * s_z_h + offs_p * s_z_p, mask=p_ok, other=0.0)
        z = z.to(tl.float32)
        y *= z * sigmoid(z)
    tl.store(y_ptr + (b * H + h) * P + offs_p, cast_nearest(y, y_ptr.dtype.element_ty, INTERPRETED),
             mask=p_ok)
