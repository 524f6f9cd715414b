import os
import subprocess
import sys

import pytest

from tsssm.data.atomic import write_atomically, write_text_atomically


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(tmp_path / "out" / "table.csv", fail)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_write_replaces_the_target_whole_keeping_the_suffix_for_the_writer(tmp_path):
    target = write_text_atomically(tmp_path / "report.md", "old")
    suffixes = []
    write_atomically(target, lambda tmp: (suffixes.append(tmp.suffix), tmp.write_text("new")))
    assert target.read_text() == "new" and suffixes == [".md"]
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]



def test_a_write_removes_temporaries_of_killed_writers_and_keeps_those_of_running_ones(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = tmp_path / f".forecast.{finished.pid}.tmp.parquet"
    running = tmp_path / f".forecast.{os.getppid()}.tmp.parquet"
    other_target = tmp_path / ".other.1.tmp.parquet"
    for leftover in (dead, running, other_target):
        leftover.write_text("half")
    write_text_atomically(tmp_path / "forecast.parquet", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, other_target.name, "forecast.parquet"])
