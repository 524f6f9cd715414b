"""Every reliability case ends as it must: its exit status, its message (one line on stderr for an
error, no traceback unless asked for), and its check (``cases.py``, ``checks.py``)."""

from __future__ import annotations

import re

import pytest

from tests.reliability.cases import CASES, Case
from tsssm.run.errors import DEBUG_VARIABLES


def case_id(case: Case) -> str:
    return re.sub(r"\W+", "-", f"{case.kind} {case.entry} {case.name}").strip("-")


def asks_for_tracebacks(case: Case) -> bool:
    return any(case.env.get(name) == "1" for name in DEBUG_VARIABLES)


@pytest.mark.parametrize("number", range(len(CASES)), ids=[case_id(c) for c in CASES])
def test_case(outcomes, number: int) -> None:
    case = CASES[number]
    folder, result = outcomes[number]
    if isinstance(result, Exception):
        raise result
    shown = f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.status == case.status, shown
    if case.status == 0:
        assert case.says in result.stdout, shown
    elif asks_for_tracebacks(case):
        assert case.says in result.stderr, shown
    else:
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and case.says in last, shown
        assert "Traceback" not in result.stderr, shown
    if case.check is not None:
        case.check(folder, result)


def test_there_are_forty_cases_or_more_of_every_kind() -> None:
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 40 and len(kinds) == 7
