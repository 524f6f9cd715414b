"""One table of the kernels in Nsight Compute's text reports (``ncu_scan.sh``'s), a row per
kernel launch, so the launches of a training call can be read side by side.

    python scripts/gpu/ncu_summary.py OUT/ncu/*.txt > summary.md

Columns: the report's duration (µs; clocks as the machine ran them), the throughput of DRAM,
L1/TEX and the SMs against each one's peak, the share of cycles a scheduler issued, achieved
warps per SM and what limits the blocks an SM holds (the smallest of its block limits),
registers per thread, executed instructions, and the three stall reasons with the most warps
stalled per issued instruction (where the report holds them). Runs anywhere (no GPU): it reads
text.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

KERNEL = re.compile(r"^  (\w+) \((\d+), (\d+), (\d+)\)x\((\d+), \d+, \d+\)")
METRICS = {"DRAM Throughput": "dram %", "L1/TEX Cache Throughput": "l1 %",
           "Compute (SM) Throughput": "sm %", "Issue Slots Busy": "issue %",
           "Achieved Active Warps Per SM": "warps/SM", "Registers Per Thread": "regs",
           "Executed Instructions": "instructions"}
DURATION = re.compile(r"^\s+Duration\s+(ms|us|ns)\s+([\d.,]+)$")
TO_US = {"ms": 1e3, "us": 1.0, "ns": 1e-3}
BLOCK_LIMIT = re.compile(r"^\s+Block Limit ([\w ]+?)\s+block\s+(\d+)$")
STALL = re.compile(r"^\s+smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio"
                   r"(?:\s+\S+)*?\s+([\d.,]+)$")
TOP_STALLS = 3


def launches(text: str) -> list[dict]:
    """Each kernel launch of a report: its name, grid and block, and the ``METRICS`` found."""
    rows: list[dict] = []
    for line in text.splitlines():
        kernel = KERNEL.match(line)
        if kernel:
            name, gx, gy, gz, block = kernel.groups()
            rows.append({"kernel": name, "grid": f"{gx}×{gy}×{gz}", "block": block})
            continue
        if not rows:
            continue
        row = rows[-1]
        for metric, column in METRICS.items():
            if line.strip().startswith(metric + " ") and column not in row:
                row[column] = line.split()[-1]
        duration = DURATION.match(line)
        if duration:
            value = float(duration.group(2).replace(",", "")) * TO_US[duration.group(1)]
            row["µs"] = f"{value:.1f}"
        stall = STALL.match(line)
        if stall:
            row.setdefault("_stalls", {})[stall.group(1)] = float(stall.group(2).replace(",", ""))
        limit = BLOCK_LIMIT.match(line)
        if limit:
            blocks, name = int(limit.group(2)), limit.group(1)
            if blocks < row.get("_fewest", 1 << 30):
                row["_fewest"], row["blocks/SM limited by"] = blocks, f"{name} ({blocks})"
            elif blocks == row["_fewest"]:
                row["blocks/SM limited by"] = f"{name}, {row['blocks/SM limited by']}"
    for row in rows:
        stalls = sorted(row.pop("_stalls", {}).items(), key=lambda item: -item[1])[:TOP_STALLS]
        if stalls:
            row["top stalls"] = ", ".join(f"{reason} {value:.2f}" for reason, value in stalls)
    return rows


def table(path: Path) -> list[str]:
    """Markdown lines: the report's name, then one row per launch."""
    columns = ["kernel", "grid", "block", "µs", *METRICS.values(), "blocks/SM limited by",
               "top stalls"]
    lines = [f"## {path.stem}", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for row in launches(path.read_text()):
        lines.append("| " + " | ".join(str(row.get(column, "—")) for column in columns) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    for path in parser.parse_args().reports:
        print("\n".join(table(path)))


if __name__ == "__main__":
    main()
