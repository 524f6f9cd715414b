"""Running tsssm's entry points as a user does (``python -m tsssm.<entry> ARGS`` in a folder), many
times, in separate processes, without paying for the imports each time.

Importing torch, Lightning and MLflow takes several seconds on a CI core; the reliability cases
are many short runs. So every run is a process forked from one server that has imported the entry
points once (``multiprocessing``'s forkserver, preloaded). The forked process moves to its folder,
takes its environment and command line, points its stdout and stderr at files, and runs the
entry point's module as ``__main__`` (``runpy``), exactly what ``python -m`` does; its exit status
is that of the process (a ``SystemExit`` code, 1 for an uncaught exception, minus the signal for a
killed one). The forked process records that status in a file of its folder as its last act: the
forkserver's own report of it can be lost when many processes end at once (the parent then reads
255), and a run that ended is judged by how it ended. A process that never got that far (killed,
crashed) has the status the forkserver reports. ``tests/reliability/test_table.py`` checks that a
case gives the same result through ``python -m`` itself.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import shlex
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from tests.cli import subprocess_env
from tsssm.data.atomic import write_text_atomically

ENTRY_POINTS = ("fit", "evaluate", "forecast", "backtest", "generate", "compare")
TIMEOUT_S = 300


@dataclass(frozen=True)
class Result:
    """How a run ended: its exit status and what it printed."""

    status: int
    stdout: str
    stderr: str


def command_line(entry: str, args: tuple[str, ...] | list[str]) -> str:
    """``python -m tsssm.<entry> ARGS``, quoted as a shell would need."""
    return shlex.join(["python", "-m", f"tsssm.{entry}", *args])


def output_files(folder: Path, label: str) -> tuple[Path, Path]:
    """Where run ``label`` in ``folder`` prints: ``.<label>.stdout`` and ``.<label>.stderr``."""
    return folder / f".{label}.stdout", folder / f".{label}.stderr"


def status_file(folder: Path, label: str) -> Path:
    """Where run ``label`` in ``folder`` records the status it exits with: ``.<label>.status``."""
    return folder / f".{label}.status"


def exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives the interpreter: 0 for None, the int, else 1 (the code
    printed to stderr)."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def run_as_main(entry: str, args: list[str], folder: str, label: str, env: dict[str, str]) -> None:
    """The body of a forked run: ``python -m tsssm.<entry> ARGS`` in ``folder`` (module docstring)."""
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in zip((1, 2), output_files(Path(folder), label)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own stream
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.argv = [entry, *args]
    sys.modules.pop(f"tsssm.{entry}")  # preloaded; ``python -m`` runs it as __main__ only
    status = 0
    try:
        runpy.run_module(f"tsssm.{entry}", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        status = exit_status(exit_.code)
    except BaseException:  # as the interpreter does: the traceback, then status 1
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    write_text_atomically(status_file(Path(folder), label), str(status))
    os._exit(status)


class Launcher:
    """Starts runs as processes forked from a server that imported the entry points once."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([f"tsssm.{entry}" for entry in ENTRY_POINTS])

    def start(self, entry: str, args: list[str], folder: Path, env: dict[str, str] | None = None,
              label: str = "run") -> BaseProcess:
        """``python -m tsssm.<entry> ARGS`` started in ``folder`` with this environment plus
        ``env``; ``label`` names its output files (``output_files``)."""
        process = self.context.Process(target=run_as_main, args=(
            entry, list(args), str(folder), label, subprocess_env(**(env or {}))))
        process.start()
        return process

    @staticmethod
    def wait(process: BaseProcess, folder: Path, label: str = "run",
             timeout: float = TIMEOUT_S) -> Result:
        """The result of a started run; one that outlives ``timeout`` is killed. Its status is the
        one it recorded, else the forkserver's (module docstring)."""
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
        stdout, stderr = (path.read_text(errors="replace") for path in output_files(folder, label))
        recorded = status_file(folder, label)
        status = int(recorded.read_text()) if recorded.exists() else process.exitcode
        return Result(status, stdout, stderr)

    def run(self, entry: str, args: list[str], folder: Path,
            env: dict[str, str] | None = None) -> Result:
        """Run ``python -m tsssm.<entry> ARGS`` in ``folder`` to its end."""
        return self.wait(self.start(entry, args, folder, env), folder)
