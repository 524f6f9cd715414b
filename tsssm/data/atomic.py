"""Writing files so that a reader (or a crash) never sees half of one.

Every output tsssm writes (tables, reports, samples, caches, predictions) goes to a temporary file in
the target's folder and is then renamed over the target, which is atomic on one filesystem. The
temporary file is named by the writing process (``.<stem>.<pid>.tmp<suffix>``): a process killed
while writing leaves it behind, and the next write of the same target removes it once that process
no longer runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(temporary path)`` beside ``path``, then rename it to ``path``; returns ``path``.

    The temporary name keeps the suffix, as writers that pick the format by suffix need; it is
    removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by writers that no longer run; returns them."""
    name = re.compile(rf"\.{re.escape(path.stem)}\.(\d+)\.tmp{re.escape(path.suffix)}")
    stale = [sibling for sibling in path.parent.iterdir()
             if (found := name.fullmatch(sibling.name)) and not process_runs(int(found.group(1)))]
    for sibling in stale:
        sibling.unlink(missing_ok=True)
    return stale


def process_runs(pid: int) -> bool:
    """Whether a process of this id runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except PermissionError:  # it runs, as another user
        return True
    except (ProcessLookupError, OverflowError):
        return False
    return True


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """``text`` as UTF-8 at ``path``, atomically."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
