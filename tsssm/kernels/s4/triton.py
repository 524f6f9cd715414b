"""Triton fast paths of S4's two kernels, forward and backward, in O(H·N + H·L) memory: the
autograd Functions and their launchers. The device code is in ``triton_vandermonde.py`` (S4D's
Vandermonde sum) and ``triton_cauchy.py`` (S4's Cauchy sum).

Both kernels are sums over N modes of one term per (h, n, l). The reference builds that
``(..., N, L)`` tensor and sums it; here each program makes a tile of terms in registers and
reduces it at once, so nothing of size H·N·L ever reaches memory. Triton has no complex type:
complex tensors travel as interleaved (re, im) fp32 pairs (``torch.view_as_real``) and the
arithmetic is written out in fp32, except the phases of the Vandermonde powers.

**Backward.** PyTorch's convention for complex gradients is ``∂loss/∂Re + i ∂loss/∂Im``, so a
holomorphic ``f`` sends back ``conj(f') ·`` the incoming gradient. Each gradient is a sum over l:
one program per (row, block of modes, span of taps) loops over its span; spans split long
sequences so a small H still fills the GPU, and torch adds the spans' partial sums (and the
rows' for da). z gets no gradient: S4 evaluates at fixed roots of unity, and a z that requires
grad is refused (``cauchy_kernel_unsupported``), so "auto" sends it to the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from tsssm.kernels.s4.triton_cauchy import cauchy_bwd_kernel, cauchy_fwd_kernel
from tsssm.kernels.s4.triton_vandermonde import vandermonde_bwd_kernel, vandermonde_fwd_kernel
from tsssm.kernels.triton_common import (INTERPRETED, cdiv, device_problem, dot_width,
                                         next_power_of_2)
from tsssm.kernels.triton_launch import TunedLaunch

_VANDERMONDE_FWD = TunedLaunch(vandermonde_fwd_kernel)
_VANDERMONDE_BWD = TunedLaunch(vandermonde_bwd_kernel)
_CAUCHY_FWD = TunedLaunch(cauchy_fwd_kernel)
_CAUCHY_BWD = TunedLaunch(cauchy_bwd_kernel)
"""Plain JIT functions: ``TunedLaunch`` only spares them Triton's binding (no key)."""


@dataclass(frozen=True)
class Tiles:
    """Block sizes. Vandermonde: at most ``*_modes`` modes per program (at least 16, a dot's
    smallest side; more modes go to other programs), BLOCK_L = ``taps``, STEPS = ``*_steps``
    (a chunk is STEPS × BLOCK_L taps), and at least ``min_chunks`` chunks per span so the
    per-program tables stay cheap. Cauchy: ``rows`` of v per program, sharing each reciprocal,
    ``modes`` per step, ``tile``/``bwd_tile`` terms held per program (each backward term keeps
    four running sums). ``programs_per_sm`` sets how many spans long sequences are cut into.
    """

    vandermonde_modes: int
    vandermonde_bwd_modes: int
    taps: int
    steps: int
    bwd_steps: int
    min_chunks: int
    cauchy_rows: int
    cauchy_modes: int
    tile: int
    bwd_tile: int
    min_steps: int
    programs_per_sm: int


# Sized so that ptxas (sm_90) reports no spills at 4 warps (8 for the Vandermonde forward with
# 64 modes). In the interpreter numpy runs each tile op; small tiles make the tests' short
# sequences cross block, chunk, row-block and span boundaries.
# row-block and span boundaries.
TILES = (Tiles(vandermonde_modes=16, vandermonde_bwd_modes=16, taps=16, steps=16,
               bwd_steps=16, min_chunks=1, cauchy_rows=2, cauchy_modes=4, tile=64,
               bwd_tile=64, min_steps=1, programs_per_sm=8)
         if INTERPRETED else
         Tiles(vandermonde_modes=64, vandermonde_bwd_modes=16, taps=64, steps=32,
               bwd_steps=16, min_chunks=8, cauchy_rows=8, cauchy_modes=16, tile=2048,
               bwd_tile=1024, min_steps=16, programs_per_sm=2))
NUM_WARPS = 4


def _vandermonde_blocks(modes: int, most: int, steps: int) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_L, taps per chunk) for ``modes`` modes, at most ``most`` per program;
    every side of a dot is at least 16, tl.dot's smallest."""
    block_n = min(dot_width(modes), most)
    return block_n, TILES.taps, TILES.taps * steps


def _vandermonde_forward(c: Tensor, dt_a: Tensor, length: int) -> Tensor:
    """c (R, H, N), dt_a (H, N) complex64 contiguous -> K (R, H, L) fp32."""
    rows, modes = c.shape[0] * c.shape[1], c.shape[2]
    block_n, block_l, chunk = _vandermonde_blocks(modes, TILES.vandermonde_modes, TILES.steps)
    mode_chunks = cdiv(modes, block_n)
    span = _span(length, rows * mode_chunks, chunk, TILES.min_chunks, c.device)
    out = torch.empty(mode_chunks, *c.shape[:2], length, dtype=torch.float32, device=c.device)
    grid = (rows, cdiv(length, span), mode_chunks)
    _VANDERMONDE_FWD(grid, (torch.view_as_real(c), torch.view_as_real(dt_a), out),
                     (c.shape[1], modes, length, span), (), BLOCK_N=block_n, BLOCK_L=block_l,
                     STEPS=TILES.steps,
                     num_warps=NUM_WARPS if block_n <= 32 else 2 * NUM_WARPS)
    return out[0] if mode_chunks == 1 else out.sum(0)


def _vandermonde_backward(c: Tensor, dt_a: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """grad (R, H, L) fp32 contiguous -> dc (R, H, N), da (H, N) complex64."""
    rows, modes, length = c.shape[0] * c.shape[1], c.shape[2], grad.shape[-1]
    block_n, block_l, chunk = _vandermonde_blocks(modes, TILES.vandermonde_bwd_modes,
                                                  TILES.bwd_steps)
    mode_blocks = cdiv(modes, block_n)
    span = _span(length, rows * mode_blocks, chunk, TILES.min_chunks, c.device)
    spans = cdiv(length, span)
    dc = torch.empty(spans, *c.shape, 2, dtype=torch.float32, device=c.device)
    da = torch.empty_like(dc)
    _VANDERMONDE_BWD((rows, mode_blocks, spans),
                     (torch.view_as_real(c), torch.view_as_real(dt_a), grad, dc, da),
                     (c.shape[1], modes, length, span), (), BLOCK_N=block_n, BLOCK_L=block_l,
                     STEPS=TILES.bwd_steps, num_warps=NUM_WARPS)
    return torch.view_as_complex(dc).sum(0), torch.view_as_complex(da).sum((0, 1))


class _Vandermonde(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c: Tensor, dt_a: Tensor, length: int) -> Tensor:
        ctx.save_for_backward(c, dt_a)
        return _vandermonde_forward(c, dt_a, length)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        c, dt_a = ctx.saved_tensors
        dc, da = _vandermonde_backward(c, dt_a, grad.contiguous())
        return (dc if ctx.needs_input_grad[0] else None,
                da if ctx.needs_input_grad[1] else None, None)


def vandermonde_kernel_triton(c: Tensor, dt_a: Tensor, length: int) -> Tensor:
    """``K[..., h, l] = 2 Re Σ_n c[..., h, n] exp(dt_a[h, n] l)``; differentiable in c and dt_a.

    Args:
        c: (H, N) or (R, H, N) complex64 mode weights.
        dt_a: (H, N) complex64 exponents.
        length: L, the number of taps.

    Returns:
        (H, L) or (R, H, L) fp32.
    """
    problem = vandermonde_kernel_unsupported(c, dt_a)
    if problem is not None:
        raise ValueError(f"vandermonde_kernel_triton: {problem}")
    lead, (heads, modes) = c.shape[:-2], dt_a.shape
    rows = c.resolve_conj().reshape(-1, heads, modes).contiguous()
    kernel = _Vandermonde.apply(rows, dt_a.resolve_conj().contiguous(), length)
    return kernel.reshape(*lead, heads, length)


def _cauchy_layout(v: Tensor, w: Tensor) -> tuple[int, int, int, int]:
    """(rows of v per pole row, block of rows, row blocks, block of modes)."""
    rows = v.shape[0] // w.shape[0]
    block_r = min(next_power_of_2(rows), TILES.cauchy_rows)
    block_n = min(next_power_of_2(v.shape[2]), TILES.cauchy_modes)
    return rows, block_r, cdiv(rows, block_r), block_n


def _cauchy_forward(v: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """v (R, H, N), z (L,), w (R or 1, H, N) complex64 contiguous -> (R, H, L) complex64."""
    heads, modes, length = v.shape[1], v.shape[2], z.shape[0]
    rows, block_r, row_blocks, block_n = _cauchy_layout(v, w)
    block_l = max(16, TILES.tile // (block_r * block_n))
    out = torch.empty(*v.shape[:2], length, 2, dtype=torch.float32, device=v.device)
    grid = (w.shape[0] * heads * row_blocks, cdiv(length, block_l))
    _CAUCHY_FWD(grid,
                (torch.view_as_real(v), torch.view_as_real(z), torch.view_as_real(w), out),
                (heads, modes, length, rows, row_blocks), (), BLOCK_R=block_r, BLOCK_N=block_n,
                BLOCK_L=block_l, num_warps=NUM_WARPS)
    return torch.view_as_complex(out)


def _cauchy_backward(v: Tensor, z: Tensor, w: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """grad (R, H, L) complex64 contiguous -> dv (R, H, N), dw (R or 1, H, N) complex64."""
    heads, modes, length = v.shape[1], v.shape[2], z.shape[0]
    rows, block_r, row_blocks, block_n = _cauchy_layout(v, w)
    block_l = max(16, TILES.bwd_tile // (block_r * block_n))
    groups, mode_blocks = w.shape[0] * heads * row_blocks, cdiv(modes, block_n)
    span = _span(length, groups * mode_blocks, block_l, TILES.min_steps, v.device)
    spans = cdiv(length, span)
    dv = torch.empty(spans, *v.shape, 2, dtype=torch.float32, device=v.device)
    dw = torch.empty(spans * row_blocks, *w.shape, 2, dtype=torch.float32, device=v.device)
    _CAUCHY_BWD((groups, mode_blocks, spans),
                (torch.view_as_real(v), torch.view_as_real(z), torch.view_as_real(w),
                 torch.view_as_real(grad), dv, dw),
                (heads, modes, length, rows, row_blocks, span), (), BLOCK_R=block_r,
                BLOCK_N=block_n, BLOCK_L=block_l, num_warps=NUM_WARPS)
    return torch.view_as_complex(dv).sum(0), torch.view_as_complex(dw).sum(0)


class _Cauchy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, z: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(v, z, w)
        return _cauchy_forward(v, z, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
        v, z, w = ctx.saved_tensors
        dv, dw = _cauchy_backward(v, z, w, grad.resolve_conj().contiguous())
        return (dv if ctx.needs_input_grad[0] else None, None,
                dw if ctx.needs_input_grad[2] else None)


def cauchy_kernel_triton(v: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """``out[..., h, l] = Σ_n v[..., h, n] / (z[l] - w[..., h, n])``; differentiable in v and w.

    Args:
        v: (H, N) or (R, H, N) complex64 numerators.
        z: (L,) complex64 points; must not require grad.
        w: (H, N) or (R, H, N) complex64 poles, broadcastable to v. Poles shared by all rows
            (no leading dimension, or 1) are loaded once per row block.

    Returns:
        (H, L) or (R, H, L) complex64.
    """
    problem = cauchy_kernel_unsupported(v, z, w)
    if problem is not None:
        raise ValueError(f"cauchy_kernel_triton: {problem}")
    shape = torch.broadcast_shapes(v.shape, w.shape)
    lead, (heads, modes) = shape[:-2], shape[-2:]
    rows = v.resolve_conj().expand(shape).reshape(-1, heads, modes)
    if math.prod(w.shape[:-2]) == 1:
        poles = w.resolve_conj().reshape(w.shape[-2:]).expand(heads, modes)[None]
    else:
        poles = w.resolve_conj().expand(shape).reshape(-1, heads, modes)
    out = _Cauchy.apply(rows.contiguous(), z.resolve_conj().contiguous(), poles.contiguous())
    return out.reshape(*lead, heads, z.shape[0])


def vandermonde_kernel_unsupported(c: Tensor, dt_a: Tensor) -> str | None:
    """Why the Triton Vandermonde kernel cannot take these (checked) inputs, or None."""
    return _unsupported({"c": c, "dt_a": dt_a})


def cauchy_kernel_unsupported(v: Tensor, z: Tensor, w: Tensor) -> str | None:
    """Why the Triton Cauchy kernel cannot take these (checked) inputs, or None."""
    if z.requires_grad:
        return ("z requires grad, and the Triton Cauchy kernel gives no gradient for the "
                "evaluation points (S4's are fixed roots of unity)")
    return _unsupported({"v": v, "z": z, "w": w})


def _unsupported(tensors: dict[str, Tensor]) -> str | None:
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        return f"all inputs must be on one device, got {sorted(map(str, devices))}"
    problem = device_problem(devices.pop())
    if problem is not None:
        return problem
    for name, tensor in tensors.items():
        if tensor.dtype != torch.complex64:
            return (f"the Triton kernels compute in fp32 and take complex64, got {name} of dtype "
                    f"{tensor.dtype} (complex128 runs on backend='reference')")
        if tensor.numel() == 0:
            return f"{name} is empty (shape {tuple(tensor.shape)})"
    return None


def _span(length: int, programs: int, unit: int, min_units: int, device: torch.device) -> int:
    """Taps per span, a multiple of ``unit`` (the taps a program takes per loop step): enough
    spans that ``programs`` rows of work fill the device, each at least ``min_units`` steps."""
    target = TILES.programs_per_sm * _multiprocessors(device)
    most = max(1, length // (min_units * unit))
    spans = max(1, min(cdiv(target, programs), most))
    return cdiv(cdiv(length, spans), unit) * unit


@lru_cache(maxsize=None)
def _multiprocessors(device: torch.device) -> int:
    if device.type != "cuda":
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count
