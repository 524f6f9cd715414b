"""Errors as one line: ``error: <message>`` on stderr and exit status 2, never a traceback.

The entry points refuse bad input with messages that name the file, field or value and what was
expected; those messages are the whole report. An error is *expected* when it is one of tsssm's
(``CheckpointError``, ``DataFileError``, ``RunLookupError``, and the ``ValueError``s raised on bad
values) or one a library raises on bad input (an ``OSError`` such as a missing file or a denied
permission, a config Hydra or OmegaConf cannot compose, an MLflow store that refuses or is not a
database, a Lightning misconfiguration): exit status 2. Anything else is a fault of tsssm itself:
the same one line with the error's type, a pointer to the traceback, and exit status 1.

``TSSSM_DEBUG=1`` (or Hydra's own ``HYDRA_FULL_ERROR=1``) lets every error through with its
traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

DEBUG_VARIABLES = ("TSSSM_DEBUG", "HYDRA_FULL_ERROR")
EXPECTED_STATUS, FAULT_STATUS = 2, 1
# Expected error classes outside the standard library, by module; looked up only in modules already
# imported (an error of a module never imported cannot have been raised), so that reporting an
# error imports nothing: compare runs without torch.
EXPECTED_CLASSES = {
    "tsssm.run.safe_load": "CheckpointError",
    "tsssm.data.files": "DataFileError",
    "tsssm.run.tracking": "RunLookupError",
    "hydra.errors": "HydraException",
    "omegaconf.errors": "OmegaConfBaseException",
    "mlflow.exceptions": "MlflowException",
    "sqlalchemy.exc": "SQLAlchemyError",
    "lightning.fabric.utilities.exceptions": "MisconfigurationException",
}

Function = TypeVar("Function", bound=Callable[..., Any])


def debug_requested() -> bool:
    """Whether the user asked for full tracebacks (``TSSSM_DEBUG=1`` or ``HYDRA_FULL_ERROR=1``)."""
    return any(os.environ.get(name) == "1" for name in DEBUG_VARIABLES)


def is_expected(error: BaseException) -> bool:
    """An error of bad input (module docstring), as opposed to a fault of tsssm."""
    classes: list[type] = [ValueError, OSError]
    classes += [getattr(sys.modules[module], name) for module, name in EXPECTED_CLASSES.items()
                if module in sys.modules]
    return isinstance(error, tuple(classes))


def root_cause(error: BaseException) -> BaseException:
    """The error under Hydra's ``InstantiationException`` wrappers: the one a constructor raised."""
    while type(error).__name__ == "InstantiationException" and error.__cause__ is not None:
        error = error.__cause__
    return error


def one_line(error: BaseException) -> str:
    """The error's message on one line: the cause's message for an error raised while Hydra built
    an object; the type first for a fault, whose message alone may say little."""
    cause = root_cause(error)
    message = " ".join(str(cause).split()) or type(cause).__name__
    if is_expected(error) or is_expected(cause):
        return message
    return (f"{type(cause).__name__}: {message} (an unexpected error in tsssm; run again with "
            "TSSSM_DEBUG=1 for the traceback)")


def exit_status(error: BaseException) -> int:
    """2 for an expected error, 1 for a fault (module docstring)."""
    return EXPECTED_STATUS if is_expected(error) or is_expected(root_cause(error)) else FAULT_STATUS


def report(error: BaseException, where: str = "") -> int:
    """Print ``error: <where><one line>`` to stderr; returns the error's exit status."""
    print(f"error: {where}{one_line(error)}", file=sys.stderr, flush=True)
    return exit_status(error)


def exit_with(error: BaseException) -> NoReturn:
    """Print ``error: <one line>`` to stderr and exit with the error's status."""
    sys.exit(report(error))


def reported(function: Function) -> Function:
    """``function`` with its errors reported in one line (``exit_with``) unless debugging."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if debug_requested():
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        except Exception as error:
            exit_with(error)

    return run  # type: ignore[return-value]
