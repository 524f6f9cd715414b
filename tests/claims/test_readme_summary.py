"""The README's claims summary is the committed report's summary, line for line."""

from __future__ import annotations

from pathlib import Path

from tsssm.claims.readme import CLOSE, OPEN

ROOT = Path(__file__).resolve().parents[2]


def test_readme_summary_is_the_report_summary() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count(OPEN) == 1 and readme.count(CLOSE) == 1
    quoted = readme.split(OPEN, 1)[1].split(CLOSE, 1)[0]
    report = (ROOT / "docs" / "claims" / "claims.md").read_text()
    summary = report.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0]
    assert quoted == summary
