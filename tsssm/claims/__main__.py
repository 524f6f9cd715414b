"""``python -m tsssm.claims``: the verdict on every claim made for state-space models, from the runs.

    python -m tsssm.claims --output docs/claims [--tracking-uri sqlite:///mlflow.db] [--claims C1,C3]
        [--runs docs/claims/runs] [--readme README.md]

Reads each claim's studies from the MLflow store (``tsssm.claims.catalogue`` says which experiments,
tags and metrics) and, with ``--runs``, the runs an earlier report exported (a stored run supersedes
an exported one of the same entity, conditions and seed; ``--runs`` without ``--tracking-uri``
reads the exports alone), and writes ``claims.md`` (summary first), one CSV per claim and the plots under
``--output``. A store without runs gives a report that says so for every claim. ``--readme``
quotes the report's summary in a Markdown file, between its ``<!-- claims summary -->`` markers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tsssm.claims.assess import assess_claim
from tsssm.claims.catalogue import CLAIMS
from tsssm.claims.exported_runs import ExportError
from tsssm.claims.markdown import summary_line
from tsssm.claims.readme import QuoteError, summary_slot
from tsssm.claims.runs import StoreError, resolve_store
from tsssm.claims.write import write_report

DEFAULT_OUTPUT = Path("docs/claims")


class ArgumentParser(argparse.ArgumentParser):
    """Bad arguments end in one line, ``error: ...``, and exit status 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"error: {message}\n")


def claim_list(text: str) -> list[str]:
    """``"C1,c3"`` -> ``["C1", "C3"]``, in the catalogue's order; unknown ids are an error."""
    ids = [item.strip().upper() for item in text.split(",") if item.strip()]
    unknown = [item for item in ids if item not in CLAIMS]
    if unknown or not ids:
        raise argparse.ArgumentTypeError(f"unknown claim(s) {unknown or [text]} in --claims; "
                                         f"choose from {','.join(CLAIMS)}")
    return [claim for claim in CLAIMS if claim in ids]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m tsssm.claims",
                            description="The verdict on every claim made for state-space models, "
                                        "from the tracked runs.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder for claims.md, the CSVs and plots (default {DEFAULT_OUTPUT})")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: sqlite ./mlflow.db, which must exist; "
                             "none with --runs alone)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="a folder of runs an earlier report exported (e.g. docs/claims/runs), "
                             "counted with the store's; a stored run supersedes an exported one "
                             "of the same model, conditions and seed")
    parser.add_argument("--claims", type=claim_list, default=list(CLAIMS),
                        help=f"comma-separated claim ids (default all: {','.join(CLAIMS)})")
    parser.add_argument("--readme", type=Path, default=None,
                        help="a Markdown file whose '<!-- claims summary -->' block is replaced "
                             "with the report's summary (e.g. README.md)")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    """One line on stderr, exit status 2: what went wrong and with what."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        uri = None if args.runs and not args.tracking_uri else resolve_store(args.tracking_uri)
        if args.runs is not None and not args.runs.is_dir():
            raise ExportError(f"--runs {args.runs} is not a folder; expected the runs/ folder of "
                              "an earlier report")
        slot = None if args.readme is None else summary_slot(args.readme)
        results = [assess_claim(CLAIMS[claim], uri, args.runs) for claim in args.claims]
        paths = write_report(results, args.output)
        if slot is not None:
            slot.fill([summary_line(result) for result in results])
    except (StoreError, ExportError, QuoteError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write the report under {args.output}: {error}")
    for result in results:
        print(f"{result.claim.id} {result.claim.title}: {result.verdict.line()}")
    print(f"wrote {len(paths)} file(s) under {args.output}: {', '.join(p.name for p in paths)}"
          + ("" if args.readme is None else f"; the summary into {args.readme}"))


if __name__ == "__main__":
    main()
