"""The committed table is the case list's, and the launcher runs a case as ``python -m`` does."""

from __future__ import annotations

import shutil

from tests import cli
from tests.reliability.cases import CASES
from tests.reliability.conftest import run_case
from tests.reliability.table import DOC, markdown


def test_docs_reliability_md_is_printed_from_the_cases() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/reliability.md is stale: run python -m tests.reliability.table")


def test_a_case_ends_the_same_through_python_m(launcher, trained, tmp_path) -> None:
    case = next(c for c in CASES if c.entry == "forecast" and c.kind == "hostile checkpoint")
    forked = run_case(launcher, trained, tmp_path / "forked", case)
    shutil.copytree(tmp_path / "forked", tmp_path / "python-m")
    real = cli.run_module(f"tsssm.{case.entry}", list(case.args), tmp_path / "python-m")
    assert real.returncode == forked.status == case.status
    assert real.stderr.strip().splitlines()[-1] == forked.stderr.strip().splitlines()[-1]
