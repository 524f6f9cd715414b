"""Where a job may write, checked before it does any work: never over its inputs, only where it can.

A forecast written over the series it read, predictions written into the data folder they came
from, samples written over the checkpoint: each would lose a user's file without a word. So an
output that resolves (through ``..`` and symbolic links) to one of the job's inputs, or lies inside
an input folder, is refused, and so is a location the job cannot write in, before any work is done.
The write itself is atomic (``tsssm.data.atomic``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tsssm.run.record import DATA_LOCATIONS


def check_destination(output: Path, inputs: Iterable[Path], role: str = "output",
                      folder: bool = False) -> None:
    """Refuse ``output`` (a file, or with ``folder`` a folder of files) if it is one of ``inputs``,
    lies inside an input folder, is the other kind of thing, or cannot be written."""
    check_not_an_input(output, inputs, role)
    check_writable(output, role, folder)


def check_not_an_input(output: Path, inputs: Iterable[Path], role: str = "output") -> None:
    """``output`` is none of ``inputs`` and lies inside none of the input folders."""
    target = output.resolve()
    for source in inputs:
        resolved = source.resolve()
        if target == resolved:
            raise ValueError(f"{role} {output} is the input {source}: writing it would replace "
                             "what the job reads; choose another path")
        if resolved.is_dir() and target.is_relative_to(resolved):
            raise ValueError(f"{role} {output} lies inside the input folder {source}: the job "
                             "would write among the files it reads; choose a path outside it")


def check_writable(output: Path, role: str = "output", folder: bool = False) -> None:
    """``output`` is (or can become) a file, or with ``folder`` a folder, that this process can
    write: its nearest existing folder accepts a new file (probed with a nameless temporary one)."""
    kind, other = ("folder", "file") if folder else ("file", "folder")
    if output.exists() and output.is_dir() != folder:
        raise ValueError(f"{role} {output} is a {other}; expected the path of a {kind}")
    location = output if folder and output.is_dir() else output.parent
    while not location.exists():
        location = location.parent
    try:
        with tempfile.TemporaryFile(dir=location):
            pass
    except OSError as error:
        raise PermissionError(f"{role} {output}: cannot write in {location} "
                              f"({error.strerror or error}); choose a writable location") from error


def data_locations(config: Mapping[str, Any]) -> list[Path]:
    """The data file and folder a run's config names (``data.path``, ``data.root``), as inputs."""
    data = config.get("data") or {}
    return [Path(str(data[field])) for field in DATA_LOCATIONS if data.get(field)]
