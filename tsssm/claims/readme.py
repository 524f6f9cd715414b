"""The report's summary quoted in another Markdown file (the project's README) between the markers
``<!-- claims summary -->`` and ``<!-- /claims summary -->``, so the file says no more and no less
than the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from tsssm.data.atomic import write_atomically

OPEN = "<!-- claims summary -->\n"
CLOSE = "\n<!-- /claims summary -->"


class QuoteError(ValueError):
    """The file cannot take the summary: it is unreadable, or its markers are not one pair."""


class SummarySlot(NamedTuple):
    """A Markdown file cut at its summary block: the text up to the opening marker and from the
    closing one on, kept byte for byte."""

    path: Path
    head: str
    tail: str

    def fill(self, summary: Sequence[str]) -> Path:
        """Write the file back with ``summary`` (one line each) between its markers."""
        try:
            text = self.head + "\n".join(summary) + self.tail
            return write_atomically(self.path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))
        except OSError as error:
            raise QuoteError(f"cannot write {self.path}: {error.strerror or error}") from None


def summary_slot(path: Path) -> SummarySlot:
    """Read ``path`` and find its one pair of markers (checked before any report is written)."""
    try:
        text = path.read_bytes().decode("utf-8")  # no newline translation: CRLF files stay so
    except OSError as error:
        raise QuoteError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise QuoteError(f"{path} is not UTF-8 text") from None
    if text.count(OPEN) != 1 or text.count(CLOSE) != 1 or text.index(OPEN) > text.index(CLOSE):
        raise QuoteError(f"{path} must hold one '{OPEN.strip()}' line and, after it, one "
                         f"'{CLOSE.strip()}' line, between which the summary goes")
    head, rest = text.split(OPEN, 1)
    return SummarySlot(path, head + OPEN, CLOSE + rest.split(CLOSE, 1)[1])
