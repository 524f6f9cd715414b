"""Running tsssm's command lines from tests, as a user would (``python -m tsssm.X``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH (keeping what was there: the GPU
    machine installs hydra and mlflow into a folder on PYTHONPATH)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def run_module(module: str, args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in ``cwd``; its output is captured, its exit status not checked."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)
