"""Session set-up of the reliability cases: one launcher, one trained checkpoint, every case run once.

The cases are many short processes: they run two at a time (a CI machine has two cores) when the
first case's result is asked for, and each test then checks its own.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.cases import CASES, Case, tiny
from tests.reliability.files import TRAINED
from tests.reliability.launcher import Launcher, Result

WORKERS = 2


@pytest.fixture(scope="session")
def launcher() -> Launcher:
    return Launcher()


@pytest.fixture(scope="session")
def trained(launcher: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``trained.ckpt`` (a tiny DLinear) and the ``mlflow.db`` of its run."""
    folder = tmp_path_factory.mktemp("trained")
    result = launcher.run("fit", [*tiny(), "hydra.run.dir=run"], folder)
    assert result.status == 0, result.stderr[-3000:]
    shutil.copy(folder / "run" / "checkpoints" / "best.ckpt", folder / TRAINED)
    return folder


def run_case(launcher: Launcher, trained: Path, folder: Path, case: Case) -> Result:
    """``case`` in ``folder``: the session's files it copies, the files it prepares, its command."""
    folder.mkdir(parents=True)
    for name in case.copies:
        shutil.copy(trained / name, folder / name)
    for prepare in case.prepare:
        prepare(folder)
    if case.driver is not None:
        return case.driver(launcher, folder, case)
    return launcher.run(case.entry, list(case.args), folder, case.env)


@pytest.fixture(scope="session")
def outcomes(launcher: Launcher, trained: Path,
             tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Result | Exception]]:
    """Every case's folder and result (or the error that stopped it), in ``CASES`` order."""
    root = tmp_path_factory.mktemp("cases")

    def outcome(numbered: tuple[int, Case]) -> tuple[Path, Result | Exception]:
        folder = root / f"case{numbered[0]:02d}"
        try:
            return folder, run_case(launcher, trained, folder, numbered[1])
        except Exception as error:  # reported by the case's own test
            return folder, error

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(outcome, enumerate(CASES, 1)))
