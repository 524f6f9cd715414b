"""mamba_ssm's kernels, loaded from a source folder for side-by-side timing.

mamba_ssm is the yardstick tsssm's scan and SSD are measured against, never a part of tsssm: the
benchmark is given a folder with its sources (``csrc/selective_scan`` and ``mamba_ssm/ops``),
compiles the CUDA selective scan there for the GPU present with ``torch.utils.cpp_extension.load``
(minutes on first use), and imports the Triton SSD from the same folder. The compiled scan is kept
in the folder's ``build/``, named by GPU arch, torch version and a digest of the sources it was
built from, and imported from there while all three match: a fresh machine given the folder
back skips the compile. ``mamba_ssm``'s own ``__init__`` pulls in modules and packages the
kernels do not need, so the folder is mounted as a bare namespace package instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import shutil
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
class PeerKernel:
    """One of mamba_ssm's kernels: its public function, how long loading it took, from where."""

    fn: Callable[..., torch.Tensor]
    load_s: float
    source: str


def _mount(root: Path) -> None:
    """Make ``import mamba_ssm.ops...`` read ``root/mamba_ssm`` without running its ``__init__``."""
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root / PACKAGE)]
    sys.modules[PACKAGE] = package


def _compiled_name(sources: list[Path], arch: str) -> str:
    """The compiled scan's file name: the arch, torch's version (its ``+`` as ``_``, so the name
    is letters, digits, ``.``, ``_`` and ``-`` alone) and the sources' digest."""
    digest = hashlib.sha256()
    for unit in sorted(sources):
        digest.update(unit.name.encode() + b"\0" + unit.read_bytes())
    version = torch.__version__.replace("+", "_")
    return f"{EXTENSION}-sm{arch}-torch{version}-{digest.hexdigest()[:16]}.so"


def _import_compiled(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(EXTENSION, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build_scan(root: Path) -> None:
    """Compile the CUDA scan for the present GPU (or import the one ``build/`` keeps for it) and
    register it under the name mamba_ssm imports; a new build is copied to ``build/`` if the
    folder is writable."""
    from torch.utils.cpp_extension import load

    sources = root / SCAN_SOURCES
    units = [sources / "selective_scan.cpp"] + sorted(sources.glob("*.cu"))
    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    kept = root / "build" / _compiled_name([p for p in sources.iterdir() if p.is_file()], arch)
    if kept.exists():
        sys.modules[EXTENSION] = _import_compiled(kept)
        return
    module = load(name=EXTENSION, sources=[str(unit) for unit in units],
                  extra_cflags=["-O3", "-std=c++17"],
                  extra_cuda_cflags=NVCC_FLAGS + [f"-gencode=arch=compute_{arch},code=sm_{arch}"],
                  verbose=False)
    sys.modules[EXTENSION] = module
    try:
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(module.__file__, kept)
    except OSError:
        pass  # a read-only folder: the next machine compiles again


def _checked(root: Path, needed: Path) -> Path:
    """``root`` resolved, once it holds ``needed`` and a CUDA GPU is present."""
    root = root.resolve()
    if not (root / needed).exists():
        raise PeerUnavailable(f"peer folder {root}: {needed} is missing; expected a mamba_ssm "
                              "source checkout")
    if not torch.cuda.is_available():
        raise PeerUnavailable("the peer's kernels need a CUDA GPU")
    return root


def _load(root: Path, build: Callable[[Path], None], module: str, name: str) -> PeerKernel:
    """Run ``build`` (if any work is needed), then import ``name`` from ``module`` under the peer's
    package; any failure becomes one ``PeerUnavailable`` line."""
    started = time.monotonic()
    try:
        _mount(root)
        build(root)
        fn = getattr(importlib.import_module(f"{PACKAGE}.{module}"), name)
    except Exception as error:  # a compiler or import failure becomes one line in the report
        first = str(error).strip().splitlines()
        raise PeerUnavailable(f"peer folder {root} did not build or import {name}: "
                              f"{type(error).__name__}: {first[0][:200] if first else ''}") from error
    return PeerKernel(fn, time.monotonic() - started, str(root))


def load_peer_scan(root: Path) -> PeerKernel:
    """mamba_ssm's CUDA selective scan (``selective_scan_fn``), compiled from ``root`` first."""
    root = _checked(root, SCAN_SOURCES / "selective_scan.cpp")
    return _load(root, _build_scan, "ops.selective_scan_interface", "selective_scan_fn")


def load_peer_ssd(root: Path) -> PeerKernel:
    """mamba_ssm's Triton SSD (``mamba_chunk_scan_combined``) from ``root``; nothing to build."""
    root = _checked(root, Path(PACKAGE) / "ops" / "triton" / "ssd_combined.py")
    return _load(root, lambda _: None, "ops.triton.ssd_combined", "mamba_chunk_scan_combined")
