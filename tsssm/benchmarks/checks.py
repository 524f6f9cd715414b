"""Correctness before speed: a fast kernel against its reference in float64, on one small shape.

The reference runs on float64 copies of the same random inputs, so the error is the fast
kernel's own (its fp32 arithmetic and, for bf16, its rounded outputs). Gradients are compared for
the same random output gradient. NaN anywhere makes the error NaN, which fails the check.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tsssm.benchmarks.results import Check

TOLERANCE = {"fp32": 1e-4, "bf16": 1e-2}


def relative_error(out: Tensor, ref: Tensor) -> float:
    """‖out − ref‖ / ‖ref‖ in float64."""
    out, ref = out.detach().double(), ref.detach().double()
    return (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref)).item()


def check_against_reference(kernel: str, shape: str, dtype: str, inputs: dict[str, Tensor],
                            fast: Callable[[dict[str, Tensor]], Tensor],
                            reference: Callable[[dict[str, Tensor]], Tensor]) -> Check:
    """Output and the gradient of every input of ``fast(inputs)`` against ``reference`` on
    float64 copies of ``inputs``."""
    wide = {name: t.detach().double().requires_grad_() for name, t in inputs.items()}
    leaves = {name: t.detach().clone().requires_grad_() for name, t in inputs.items()}
    out = fast(leaves)
    ref = reference(wide)
    grad_out = torch.randn_like(ref)
    grads = torch.autograd.grad(out, list(leaves.values()), grad_out.to(out.dtype))
    ref_grads = torch.autograd.grad(ref, list(wide.values()), grad_out)
    errors = {"y": relative_error(out, ref)}
    errors.update({f"d{name}": relative_error(g, r)
                   for name, g, r in zip(leaves, grads, ref_grads)})
    return Check(kernel, shape, errors, TOLERANCE[dtype])
