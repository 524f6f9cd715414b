"""``docs/reliability.md``: the reliability cases as a table, printed from ``cases.CASES``.

    python -m tests.reliability.table      # rewrites docs/reliability.md

``test_table.py`` fails when the committed file is not what this prints.
"""

from __future__ import annotations

from pathlib import Path

from tests.compose import FAST
from tests.reliability.cases import CASES, Case
from tests.reliability.launcher import command_line

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HEADER = """# Reliability: bad input, faults and hostile files

What each entry point does when given a bad file, a bad argument or a fault, as run by
`tests/reliability/` (every row is a test; this page is printed from the same list of cases by
`python -m tests.reliability.table`). Each case runs in a folder of its own, beside `trained.ckpt`
(a tiny DLinear trained on the embedded synthetic data) and its `mlflow.db`. An error is one line,
`error: <message>` on stderr, with exit status 2; `TSSSM_DEBUG=1` shows the traceback instead. In
commands, `…` stands for the tiny-run overrides of `tests/compose.py` (`FAST`).

| # | Kind | Case | Command | Result |
|---|------|------|---------|--------|
"""


def shown_command(case: Case) -> str:
    """The case's command line, its tiny-run overrides shown as ``…``."""
    args = [a for a in case.args if a not in FAST]
    return command_line(case.entry, args) + (" …" if len(args) < len(case.args) else "")


def shown_result(case: Case) -> str:
    """Exit status, the message it must carry, and what its check verifies."""
    where = "stdout has" if case.status == 0 else "stderr has"
    parts = [f"exit {case.status}; {where} `{case.says}`"]
    if case.check is not None:
        parts.append(case.check.__doc__.strip().splitlines()[0])
    return "; ".join(parts)


def markdown() -> str:
    """The whole page."""
    rows = []
    for number, case in enumerate(CASES, 1):
        command = f"`{shown_command(case)}`"
        if case.env:
            command = " ".join(f"`{k}={v}`" for k, v in case.env.items()) + " " + command
        if case.note:
            command += f" ({case.note})"
        cells = [str(number), case.kind, case.name, command, shown_result(case)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    DOC.write_text(markdown(), encoding="utf-8")
    print(f"wrote {DOC} ({len(CASES)} cases)")
