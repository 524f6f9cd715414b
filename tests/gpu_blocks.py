"""Running the GPU claims blocks' shell (scripts/gpu/claims_*.sh) in tests, with stand-ins."""

from __future__ import annotations

import os
from pathlib import Path


def block_env(tmp_path: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a block runs in here: its work folder in ``tmp_path``, ``bin_dir``'s
    stand-ins first on the PATH, the GPU in time slices (no MPS daemon, whatever this machine
    has), and Triton's cache and carried archives in empty folders of its own, so that none of a
    checkout's ``.carry/triton`` is restored or handed back."""
    return {**os.environ, "WORK": str(tmp_path / "work"), "GPU_SHARING": "slices",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "TSSSM_TRITON_CACHE": str(tmp_path / "triton"),
            "TRITON_CARRIED": str(tmp_path / "carried"), **extra}
