"""Running the GPU scripts' shell (scripts/gpu/*.sh: the claims blocks and others) in tests, with
stand-ins."""

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


def recording_python(bin_dir: Path, calls: Path, record: str = "$*") -> None:
    """A stand-in ``python`` in ``bin_dir`` (created) that appends a line to ``calls`` and does
    nothing else: ``record``, its arguments by default (a shell word, so ``$PYTHONPATH|$*`` adds
    the path it was given)."""
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "{record}" >> {calls}\n')
    (bin_dir / "python").chmod(0o755)
