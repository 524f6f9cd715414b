"""One rule for choosing a kernel backend, shared by every op in ``tsssm/kernels``.

- ``"reference"`` runs the plain torch oracle (``<op>/reference.py``).
- ``"auto"`` runs the Triton kernels for CUDA tensors they can take, except float64 and
  complex128, which ask for exactness the fp32 kernels do not give; the reference otherwise.
- ``"triton"`` runs the Triton kernels, or raises saying why they cannot take the inputs (CPU
  tensors, for one, run them only under Triton's interpreter, ``TRITON_INTERPRET=1``).

Each op says what its kernels cannot take through ``unsupported``, a callable called only when
Triton is considered: it usually imports the op's ``triton.py``, which CPU-only users never need
(and Triton decides compiled-or-interpreted when that module is imported).
"""

from __future__ import annotations

from collections.abc import Callable

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
