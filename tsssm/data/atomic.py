"""Writing files so that a reader (or a crash) never sees half of one.

Every output tsssm writes (tables, reports, samples, caches, predictions) goes to a temporary file in
the target's folder and is then renamed over the target, which is atomic on one filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(temporary path)`` beside ``path``, then rename it to ``path``; returns ``path``.

    The temporary name keeps the suffix, as writers that pick the format by suffix need; it is
    removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """``text`` as UTF-8 at ``path``, atomically."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
