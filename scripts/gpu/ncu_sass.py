"""Where a kernel's instructions, shared-memory wavefronts and warp stalls sit, by SASS opcode:
one table per kernel launch of Nsight Compute's source pages (``NCU_SOURCE=1 bash
scripts/gpu/ncu_scan.sh``'s ``.sass.csv.gz``).

    python scripts/gpu/ncu_sass.py OUT/ncu/*.sass.csv.gz > sass.md

Per opcode (``SHFL.BFLY``, ``LDS.128``, ``RED.E.ADD.F32.FTZ.RN.STRONG.GPU``, … cut to their
first two parts): warp instructions executed, their share, the L1 shared-memory wavefronts they
cost (shuffles and ``LDGSTS`` included: the L1/TEX data pipe the scan backward saturates), and
the warp-stall samples on them (all samples, and the three reasons with most). Runs anywhere
(no GPU): it reads the CSV.
"""

from __future__ import annotations

import argparse
import csv
import gzip
from collections import defaultdict
from pathlib import Path

TOP_OPCODES = 14
TOP_REASONS = 3


def kernel_tables(path: Path) -> list[tuple[str, list[dict]]]:
    """Each launch's name and SASS rows (dicts keyed by the CSV header) in one source page."""
    tables: list[tuple[str, list[dict]]] = []
    header: list[str] | None = None
    with gzip.open(path, "rt", newline="") as handle:
        for fields in csv.reader(handle):
            if fields[:1] == ["Kernel Name"]:
                tables.append((fields[1], []))
                header = None
            elif tables and header is None:
                header = fields
            elif tables and len(fields) == len(header or ()):
                tables[-1][1].append(dict(zip(header, fields)))
    return tables


def opcode(source: str) -> str:
    """``SHFL.BFLY PT, R3, R2, 0x1, 0x1f`` → ``SHFL.BFLY``; predicates dropped."""
    words = source.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return ".".join(words[0].split(".")[:2]) if words else "?"


def number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def by_opcode(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Sums per opcode of instructions, shared wavefronts, stall samples and each stall reason."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        total = sums[opcode(row["Source"])]
        total["instructions"] += number(row["Instructions Executed"])
        total["wavefronts"] += number(row.get("L1 Wavefronts Shared", "0"))
        total["samples"] += number(row["Warp Stall Sampling (All Samples)"])
        for key, value in row.items():
            if key.startswith("stall_") and not key.endswith("(Not Issued)"):
                total[key[len("stall_"):]] += number(value)
    return sums


def table(name: str, rows: list[dict]) -> str:
    sums = by_opcode(rows)
    instructions = sum(s["instructions"] for s in sums.values()) or 1.0
    wavefronts = sum(s["wavefronts"] for s in sums.values()) or 1.0
    samples = sum(s["samples"] for s in sums.values()) or 1.0
    lines = [f"### {name}", "",
             f"{instructions:,.0f} warp instructions, {wavefronts:,.0f} L1 shared wavefronts, "
             f"{samples:,.0f} stall samples; the {TOP_OPCODES} opcodes with most samples:", "",
             "| opcode | instructions | % | shared wavefronts | % | stall samples | % "
             "| top reasons |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    ranked = sorted(sums.items(), key=lambda item: -item[1]["samples"])[:TOP_OPCODES]
    for op, s in ranked:
        reasons = sorted(((k, v) for k, v in s.items()
                          if k not in ("instructions", "wavefronts", "samples") and v),
                         key=lambda kv: -kv[1])[:TOP_REASONS]
        lines.append(f"| `{op}` | {s['instructions']:,.0f} | "
                     f"{100 * s['instructions'] / instructions:.1f} | {s['wavefronts']:,.0f} | "
                     f"{100 * s['wavefronts'] / wavefronts:.1f} | {s['samples']:,.0f} | "
                     f"{100 * s['samples'] / samples:.1f} | "
                     + ", ".join(f"{k} {100 * v / s['samples']:.0f}%" for k, v in reasons) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path, help="ncu_scan.sh's .sass.csv.gz files")
    args = parser.parse_args()
    for path in args.pages:
        print(f"## {path.name.removesuffix('.sass.csv.gz')}\n")
        for name, rows in kernel_tables(path):
            print(table(name, rows) + "\n")


if __name__ == "__main__":
    main()
