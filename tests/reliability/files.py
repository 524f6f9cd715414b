"""The files a reliability case hands to an entry point: hostile, broken and faulty checkpoints,
series with a flaw each, and the good ones they are made from.

Every function writes one file (or folder) in a case's folder, which holds the trained checkpoint
(``TRAINED``) that the checkpoints are made from. A hostile checkpoint is a real one with one more
object in its pickle, whose ``__reduce__`` asks the reader to call a function that creates a marker
file: a reader that runs pickled code leaves the marker behind.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsssm.data.synthetic import synthetic_frame
from tsssm.run.record import RECORD_KEY
from tsssm.tasks.language_model import LanguageModelTask

TRAINED = "trained.ckpt"  # the trained checkpoint, copied into every case's folder
MARKER = "PAYLOAD_RAN"  # the file a hostile checkpoint's payload creates in the case's folder
SERIES = synthetic_frame(n_rows=200)  # the channels x0..x3 of the trained checkpoint's data


class CreatesFile:
    """Unpickled by a reader that runs code, it opens (creates) ``path`` for writing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


class RunsShellCommand:
    """Unpickled by a reader that runs code, it runs ``touch path`` in a shell."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def trained_contents(folder: Path) -> dict:
    """The trained checkpoint, read back (it is ours: plain values and tensors)."""
    return torch.load(folder / TRAINED, map_location="cpu", weights_only=True)


def hostile(folder: Path, name: str = "hostile.ckpt", shell: bool = False,
            legacy: bool = False) -> Path:
    """The trained checkpoint plus a payload (``CreatesFile`` or ``RunsShellCommand``), saved in
    torch's zip format or (``legacy``) its older plain pickle."""
    contents = trained_contents(folder)
    payload = (RunsShellCommand if shell else CreatesFile)((folder / MARKER).absolute())
    contents["callbacks"]["Payload"] = payload
    torch.save(contents, folder / name, _use_new_zipfile_serialization=not legacy)
    return folder / name


def bare_pickle(folder: Path, name: str = "pickled.ckpt") -> Path:
    """A plain ``pickle.dump`` (not ``torch.save``) of a payload."""
    with open(folder / name, "wb") as file:
        pickle.dump({"state_dict": {}, RECORD_KEY: CreatesFile((folder / MARKER).absolute())}, file)
    return folder / name


def truncated(folder: Path, name: str, keep: float | int) -> Path:
    """The trained checkpoint cut after ``keep`` bytes (an int) or that fraction of them."""
    data = (folder / TRAINED).read_bytes()
    size = keep if isinstance(keep, int) else int(len(data) * keep)
    (folder / name).write_bytes(data[:size])
    return folder / name


def garbage(folder: Path, name: str, size: int = 4096) -> Path:
    """Random bytes (seeded) under a checkpoint's name."""
    (folder / name).write_bytes(np.random.default_rng(0).bytes(size))
    return folder / name


def of_a_sequence_model(folder: Path, name: str = "sequence.ckpt") -> Path:
    """The trained checkpoint recorded as a sequence model's (its task replaced)."""
    contents = trained_contents(folder)
    contents[RECORD_KEY]["config"]["task"]["_target_"] = (f"{LanguageModelTask.__module__}."
                                                          f"{LanguageModelTask.__qualname__}")
    torch.save(contents, folder / name)
    return folder / name


def with_data_here(folder: Path, name: str = "local.ckpt") -> Path:
    """The trained checkpoint with its recorded data folder moved to ``data/`` of the case."""
    contents = trained_contents(folder)
    (folder / "data").mkdir()
    contents[RECORD_KEY]["config"]["data"]["root"] = str((folder / "data").absolute())
    torch.save(contents, folder / name)
    return folder / name


def weights_only_checkpoint(folder: Path, name: str = "weights.ckpt") -> Path:
    """The trained weights alone, without tsssm's record (a checkpoint from elsewhere)."""
    torch.save({"state_dict": trained_contents(folder)["state_dict"]}, folder / name)
    return folder / name


def series(folder: Path, name: str = "series.csv", frame: pd.DataFrame | None = None) -> Path:
    """A wide table of the trained channels (CSV or Parquet by suffix), 200 hourly rows."""
    frame = SERIES if frame is None else frame
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def series_with(folder: Path, name: str, flaw: str) -> Path:
    """``series`` with one flaw: ``inf`` (row 190 of x2), ``duplicate`` (row 120's date repeated),
    ``unsorted`` (rows 100 and 101 swapped), ``no_x3`` (a channel missing)."""
    frame = SERIES.copy()
    if flaw == "inf":
        frame.loc[190, "x2"] = np.inf
    elif flaw == "duplicate":
        frame.loc[120, "date"] = frame.loc[119, "date"]
    elif flaw == "unsorted":
        frame = frame.iloc[[*range(100), 101, 100, *range(102, len(frame))]]
    elif flaw == "no_x3":
        frame = frame.drop(columns="x3")
    else:
        raise ValueError(f"unknown flaw {flaw!r}")
    return series(folder, name, frame)


def header_only(folder: Path, name: str = "header.csv") -> Path:
    """A CSV with its header line and no rows."""
    (folder / name).write_text(",".join(SERIES.columns) + "\n")
    return folder / name


def empty(folder: Path, name: str) -> Path:
    """A file of 0 bytes."""
    (folder / name).write_bytes(b"")
    return folder / name


def corrupt_parquet(folder: Path, name: str = "corrupt.parquet") -> Path:
    """A Parquet file cut in half."""
    whole = series(folder, f"whole_{name}")
    data = whole.read_bytes()
    whole.unlink()
    (folder / name).write_bytes(data[: len(data) // 2])
    return folder / name


def stale_temporary(folder: Path, target: str = "forecast.csv") -> Path:
    """The temporary file a writer of ``target`` killed mid-write leaves (named by its process id:
    ``tsssm.data.atomic``), from a process that has exited."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    stem, suffix = target.rsplit(".", 1)
    path = folder / f".{stem}.{finished.pid}.tmp.{suffix}"
    path.write_text("half a table")
    return path
