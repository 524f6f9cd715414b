"""What the Triton kernels of every op share: the interpreter flag, device arithmetic, the host's
integer helpers, tile sizes, autotuning and the devices and dtypes the kernels take.

Imported only by the ops' ``triton*.py`` modules, never by their ``__init__.py``: Triton decides
whether a kernel is compiled or interpreted when the kernel's module is imported, and CPU-only
users never need Triton at all.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

INTERPRETED = bool(triton.knobs.runtime.interpret)
"""True when Triton runs the kernels through its CPU interpreter (``TRITON_INTERPRET=1`` set
before the kernel modules are imported; Triton reads it when a kernel is decorated). The tests
use it where there is no GPU."""


def cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ints, on the host: Triton's own ``cdiv`` and
    ``next_power_of_2`` are constexpr functions, which unwrap their arguments on every call,
    and a kernel call's host code makes dozens (``docs/benchmarks/``)."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two ``>= n`` (1 for n <= 1), on the host (``cdiv``)."""
    return 1 << max(0, n - 1).bit_length()


LOG2E = tl.constexpr(1.4426950408889634)  # exp(v) = exp2(v · log2 e): exp2 is the native unit
LN2 = tl.constexpr(0.6931471805599453)
# The SFU approximations (lg2.approx, div.approx), which the interpreter lacks: tl.log2 is a
# 15-step polynomial and the division tl.sigmoid uses adds range checks.
APPROX_UNITS = tl.constexpr(not INTERPRETED)

KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
"""The dtypes the real-valued kernels read; they compute in fp32."""


@triton.jit
def softplus(v):
    """torch's softplus: ``log(1 + e^v)``, and ``v`` itself above 20 where they agree in fp32."""
    one_plus = 1.0 + fast_exp(v)
    if APPROX_UNITS:
        log2 = libdevice.fast_log2f(one_plus)
    else:
        log2 = tl.log2(one_plus)
    return tl.where(v <= 20.0, log2 * LN2, v)


@triton.jit
def fast_exp(v):
    """e^v as ``ex2.approx.ftz`` of v · log2 e: two instructions where ``tl.exp`` takes five to
    keep results below 2^-126 as denormals, which no decay or gate here needs."""
    return tl.exp2(v * LOG2E)


@triton.jit
def sigmoid(v):
    """``1 / (1 + e^-v)`` through the approximate exp and division (2 ulp): four instructions
    where ``tl.sigmoid`` takes ten. Gates run once per element, so their count matters."""
    denominator = 1.0 + fast_exp(-v)
    if APPROX_UNITS:
        return libdevice.fast_dividef(1.0, denominator)
    return 1.0 / denominator


@triton.jit
def compose(a_first, x_first, a_then, x_then):
    """Two consecutive steps ``h ↦ a h + x`` as one: ``(a_first, x_first)`` acts first (the
    combine of ``tl.associative_scan`` over a linear recurrence)."""
    return a_first * a_then, a_then * x_first + x_then


@triton.jit
def load_complex(ptr, offsets, mask):
    """(re, im) fp32 tiles of the complex elements ``offsets`` of an interleaved (..., 2) view
    (``torch.view_as_real``: Triton has no complex type); zero where masked."""
    return (tl.load(ptr + 2 * offsets, mask=mask, other=0.0),
            tl.load(ptr + 2 * offsets + 1, mask=mask, other=0.0))


@triton.jit
def store_complex(ptr, offsets, re, im, mask):
    """Store (re, im) tiles as the complex elements ``offsets`` of an interleaved view."""
    tl.store(ptr + 2 * offsets, re, mask=mask)
    tl.store(ptr + 2 * offsets + 1, im, mask=mask)


def dot_width(n: int) -> int:
    """A tile side for a dimension of ``n``: a power of two, at least 16 (``tl.dot``'s smallest)."""
    return max(16, next_power_of_2(n))


def kept_autotune(configs: list[triton.Config], key: list[str], **kwargs):
    """``triton.autotune`` whose choice per key is kept in Triton's cache folder: a process that
    meets a key tuned before on the same GPU kind, Triton and kernel source reads the choice back
    instead of timing every config again (the SSD kernels' first tuning takes minutes, and every
    fit process, side-by-side search trial and benchmark would pay it)."""
    return triton.autotune(configs, key=key, cache_results=True, **kwargs)


def autotune(configs: list[triton.Config], interpreted: triton.Config, key: list[str],
             prune):
    """``kept_autotune`` over ``configs`` on the GPU (keyed on ``key``), each call's list first
    passed through ``prune(configs, named_args, **kwargs)``; under the interpreter only the one
    small ``interpreted`` config, so the tests cross block boundaries at tiny shapes."""
    return kept_autotune([interpreted] if INTERPRETED else list(configs), key,
                         prune_configs_by={"early_config_prune": prune})


def device_problem(device: torch.device) -> str | None:
    """Why the kernels cannot run on ``device``, or None: CUDA, or the CPU under the
    interpreter."""
    if device.type == "cuda" or (device.type == "cpu" and INTERPRETED):
        return None
    return (f"the Triton kernels need CUDA tensors, got {device} (CPU tensors run only under "
            f"Triton's interpreter, TRITON_INTERPRET=1 set before tsssm's kernels are imported)")


def tensors_problem(tensors: list[torch.Tensor]) -> str | None:
    """Why the kernels cannot take ``tensors``, or None: fp32/bf16/fp16 tensors of one CUDA
    device (or of the CPU, interpreted)."""
    devices = sorted({str(t.device) for t in tensors})
    if len(devices) > 1:
        return f"all tensors must be on one device, got {devices}"
    wrong = sorted({str(t.dtype) for t in tensors if t.dtype not in KERNEL_DTYPES})
    return device_problem(tensors[0].device) or (
        f"the kernels compute in fp32 and read {KERNEL_DTYPES}; got {', '.join(wrong)} "
        "(float64 runs on backend='reference')" if wrong else None)


def gradient_due(tensors: Iterable[torch.Tensor | None]) -> bool:
    """Whether autograd will want gradients of a call on ``tensors`` (None: absent inputs)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def or_stand_in(tensor: torch.Tensor | None, stand_in: torch.Tensor) -> torch.Tensor:
    """A pointer for an absent optional input; the kernel's flag keeps it from reading it."""
    return stand_in if tensor is None else tensor
