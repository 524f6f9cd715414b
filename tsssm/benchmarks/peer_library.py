"""mamba_ssm's kernels, loaded from a source folder for side-by-side timing.

mamba_ssm is the yardstick tsssm's scan and SSD are measured against, never a part of tsssm: the
benchmark is given a folder with its sources (``csrc/selective_scan`` and ``mamba_ssm/ops``),
compiles the CUDA selective scan there for the GPU present with ``torch.utils.cpp_extension.load``
(minutes on first use, then cached by torch under ``TORCH_EXTENSIONS_DIR``), and imports the
Triton SSD from the same folder. ``mamba_ssm``'s own ``__init__`` pulls in modules and packages the
kernels do not need, so the folder is mounted as a bare namespace package instead.
"""

from __future__ import annotations

import importlib
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

SCAN_SOURCES = Path("csrc") / "selective_scan"
PACKAGE = "mamba_ssm"
EXTENSION = "selective_scan_cuda"

NVCC_FLAGS = ["-O3", "-std=c++17", "--use_fast_math", "--expt-relaxed-constexpr",
              "--expt-extended-lambda", "--threads", "4",
              "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__"]
"""The flags mamba_ssm's own build passes to nvcc for the scan (its setup.py), for one GPU arch."""


class PeerUnavailable(RuntimeError):
    """The peer's sources are missing or would not build; the message says which and why."""


@dataclass
class PeerKernels:
    """mamba_ssm's selective scan (``(B, D, L)`` layout) and chunked SSD (``(B, L, H, P)``)."""

    selective_scan: Callable[..., torch.Tensor]
    chunk_scan: Callable[..., torch.Tensor]
    build_s: float
    source: str


def _mount(root: Path) -> None:
    """Make ``import mamba_ssm.ops...`` read ``root/mamba_ssm`` without running its ``__init__``."""
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root / PACKAGE)]
    sys.modules[PACKAGE] = package


def _build_scan(root: Path) -> None:
    """Compile the CUDA scan for the present GPU and register it under the name mamba_ssm imports."""
    from torch.utils.cpp_extension import load

    sources = root / SCAN_SOURCES
    units = [sources / "selective_scan.cpp"] + sorted(sources.glob("*.cu"))
    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    module = load(name=EXTENSION, sources=[str(unit) for unit in units],
                  extra_cflags=["-O3", "-std=c++17"],
                  extra_cuda_cflags=NVCC_FLAGS + [f"-gencode=arch=compute_{arch},code=sm_{arch}"],
                  verbose=False)
    sys.modules[EXTENSION] = module


def load_peer(root: Path) -> PeerKernels:
    """Build and import mamba_ssm's kernels from the source folder ``root``."""
    root = root.resolve()
    for needed in (root / SCAN_SOURCES / "selective_scan.cpp", root / PACKAGE / "ops"):
        if not needed.exists():
            raise PeerUnavailable(f"peer folder {root}: {needed.relative_to(root)} is missing; "
                                  "expected a mamba_ssm source checkout")
    if not torch.cuda.is_available():
        raise PeerUnavailable("the peer's kernels need a CUDA GPU")
    started = time.monotonic()
    try:
        _mount(root)
        _build_scan(root)
        scan = importlib.import_module(f"{PACKAGE}.ops.selective_scan_interface")
        ssd = importlib.import_module(f"{PACKAGE}.ops.triton.ssd_combined")
    except Exception as error:  # a compiler or import failure becomes one line in the report
        first = str(error).strip().splitlines()
        raise PeerUnavailable(f"peer folder {root} did not build or import: "
                              f"{type(error).__name__}: {first[0][:200] if first else ''}") from error
    return PeerKernels(scan.selective_scan_fn, ssd.mamba_chunk_scan_combined,
                       time.monotonic() - started, str(root))
