"""One rule for choosing a kernel backend, shared by every op in ``tsssm/kernels``.

- ``"reference"`` runs the plain torch oracle (``<op>/reference.py``).
- ``"auto"`` runs the Triton kernels for CUDA tensors they can take, except float64 and
  complex128, which ask for exactness the fp32 kernels do not give; the reference otherwise.
- ``"triton"`` runs the Triton kernels, or raises saying why they cannot take the inputs (CPU
  tensors, for one, run them only under Triton's interpreter, ``TRITON_INTERPRET=1``).

Every op's public function goes through ``triton_module``: it returns the op's ``triton.py``
module when the call runs on the kernels (its ``<function>_triton``), None when it runs on the
reference (``<function>_ref``). The module is imported only when Triton is considered: CPU-only
users never need it, and Triton decides compiled-or-interpreted when it is imported. What the
kernels cannot take, the module says through its ``<function>_unsupported``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor

BACKENDS = ("auto", "reference", "triton")
EXACT_DTYPES = (torch.float64, torch.complex128)


def pick_backend(op: str, backend: str, probe: Tensor,
                 unsupported: Callable[[], str | None]) -> str:
    """``"reference"`` or ``"triton"`` for a call of ``op``.

    Args:
        op: the public function's name, for error messages.
        backend: what the caller asked for, one of ``BACKENDS``.
        probe: the op's main input; its device and dtype decide ``"auto"``.
        unsupported: returns why the Triton kernels cannot take this call's inputs (device,
            dtypes, shapes), or None when they can.
    """
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "reference":
        return "reference"
    if backend == "auto" and (not probe.is_cuda or probe.dtype in EXACT_DTYPES):
        return "reference"
    problem = unsupported()
    if problem is None:
        return "triton"
    if backend == "triton":
        raise ValueError(f"{op}: backend='triton' cannot run these inputs: {problem}")
    return "reference"


def triton_module(op: str, backend: str, probe: Tensor, package: str,
                  unsupported: Callable[[ModuleType], str | None]) -> ModuleType | None:
    """``<package>.triton`` when this call of ``op`` runs on the Triton kernels, else None.

    Args:
        op, backend, probe: as ``pick_backend``'s.
        package: the op's package (its ``__name__``), whose ``triton`` module holds the kernels.
        unsupported: given that module, returns why its kernels cannot take this call's inputs,
            or None when they can; called only when Triton is considered.
    """
    def problem() -> str | None:
        return unsupported(importlib.import_module(f"{package}.triton"))

    if pick_backend(op, backend, probe, problem) == "reference":
        return None
    return importlib.import_module(f"{package}.triton")
