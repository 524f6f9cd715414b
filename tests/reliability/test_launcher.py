"""The launcher judges a run by the status it recorded on its way out; the forkserver's report
(255 when it lost the status) counts only for a run that never got that far."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.launcher import Launcher, output_files, status_file


class EndedProcess:
    """A started run that has already ended, with the exit code the forkserver reported."""

    def __init__(self, exitcode: int) -> None:
        self.exitcode = exitcode

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False


def ended_run(folder: Path, recorded: int | None) -> None:
    for path in output_files(folder, "run"):
        path.write_text("")
    if recorded is not None:
        status_file(folder, "run").write_text(str(recorded))


def test_a_run_that_recorded_its_status_ends_with_it(tmp_path):
    ended_run(tmp_path, recorded=2)
    assert Launcher.wait(EndedProcess(255), tmp_path).status == 2


def test_a_run_that_recorded_nothing_ends_as_the_forkserver_saw_it(tmp_path):
    ended_run(tmp_path, recorded=None)
    assert Launcher.wait(EndedProcess(-9), tmp_path).status == -9


def test_a_forked_run_records_the_status_it_exits_with(launcher, tmp_path):
    result = launcher.run("forecast", ["checkpoint=missing.ckpt", "input=missing.csv"], tmp_path)
    assert result.status == 2 == int(status_file(tmp_path, "run").read_text())
