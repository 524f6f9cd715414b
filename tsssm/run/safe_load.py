"""Reading a checkpoint file without ever running code from it.

A ``.ckpt`` is a pickle, and a pickle can name any callable to be called while it is read (a
``__reduce__`` that returns ``(os.system, ("...",))``). Every checkpoint tsssm reads (evaluate,
forecast, generate, and ``fit resume=`` before Lightning opens it) goes through
``torch.load(weights_only=True)``, whose unpickler builds only tensors and plain containers and
values; anything else in the pickle is refused before it is built.

What tsssm.fit and Lightning put in a checkpoint needs nothing more: weights, optimizer and
scheduler states, loop progress and callback states (tensors, numbers, strings, lists, dicts), the
data module's hyperparameters (converted to plain containers by ``_convert_: all``) and the run
record (``tsssm.run.checkpoint.RunRecord``: plain values). So no global is registered with
``torch.serialization.add_safe_globals``.

Failures are one line naming the file: missing, a folder, no permission, refused (the object the
pickle wanted, e.g. ``posix.system``), or not a checkpoint at all / cut short (bytes the unpickler
cannot parse, which includes pickles in a protocol torch's unpickler does not read).
"""

from __future__ import annotations

import errno
import pickle
import re
from pathlib import Path
from typing import Any

import torch

REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")  # how torch's weights-only unpickler names a callable
UNPICKLER_ERROR = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")  # bytes it cannot parse


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, unreadable, refused, not written by tsssm.fit, or
    not of the kind of task asked for."""


def load_checkpoint_file(path: str | Path) -> Any:
    """The unpickled contents of ``path``, read on the CPU with ``torch.load(weights_only=True)``;
    a ``CheckpointError`` naming the file otherwise."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointError(access_problem(path, error)) from error
    except pickle.UnpicklingError as error:
        refused = REFUSED_GLOBAL.search(str(error))
        if refused is None:
            raise CheckpointError(not_a_checkpoint(path, error)) from error
        raise CheckpointError(refusal(path, refused.group(1))) from error
    except Exception as error:  # torch.load's errors on foreign bytes have no common class
        raise CheckpointError(not_a_checkpoint(path, error)) from error


def access_problem(path: Path, error: OSError) -> str:
    """Why the file could not be opened, or (any other OS error) that its bytes are not a checkpoint."""
    if error.errno == errno.ENOENT:
        return f"checkpoint {path} does not exist"
    if error.errno == errno.EISDIR:
        return f"checkpoint {path} is a folder; expected a .ckpt file written by tsssm.fit"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"checkpoint {path} cannot be read: permission denied"
    return not_a_checkpoint(path, error)


def not_a_checkpoint(path: Path, error: Exception) -> str:
    """Bytes ``torch.load`` cannot parse: another kind of file, or a checkpoint cut short."""
    unpickler = UNPICKLER_ERROR.search(str(error))
    message = unpickler.group(1).strip() if unpickler else " ".join(str(error).split())[:160]
    detail = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return (f"checkpoint {path} is not a tsssm checkpoint or is truncated ({detail}); "
            "expected a complete .ckpt file written by tsssm.fit")


def refusal(path: Path, name: str) -> str:
    """A pickle that calls or builds ``name``, which is neither weights nor a plain value."""
    return (f"checkpoint {path} refused: its pickle holds the object {name}, not only weights and plain "
            "values, and reading it could run code; tsssm reads checkpoints with "
            "torch.load(weights_only=True): use a checkpoint written by tsssm.fit")
