"""What a benchmark run records, and the Markdown table and JSON file it writes.

One ``Row`` per timed (case, mode): raw numbers in the JSON, rounded ones in the table. A row that
could not be timed keeps ``time_ms = None`` and says why in ``note`` (OOM, an error, the time
budget, a length the kernel is not run at).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tsssm.data.atomic import write_text_atomically

MISSING = "—"


@dataclass
class Row:
    """One timing. ``floor_ms`` is the forward's floor for forward+backward rows too (the targets
    compare with it); ``nbytes`` and ``copy_fraction`` are for the row's own mode."""

    section: str
    case: str
    dtype: str
    mode: str  # "fwd", "fwd+bwd", "step" (one call from Python) or "step-graph" (CUDA graph replay)
    tokens: int
    shape: dict[str, int] = field(default_factory=dict)
    time_ms: float | None = None
    spread_ms: list[float] | None = None  # 20th and 80th percentile of the repeats
    ref_ms: float | None = None
    floor_ms: float | None = None
    floor_bound: str | None = None
    nbytes: int | None = None
    copy_fraction: float | None = None
    first_call_s: float | None = None
    note: str = ""

    @property
    def times_floor(self) -> float | None:
        if self.time_ms is None or not self.floor_ms:
            return None
        return self.time_ms / self.floor_ms


@dataclass
class Check:
    """A fast kernel against the float64 reference at one small shape: ‖out − ref‖ / ‖ref‖."""

    kernel: str
    shape: str
    errors: dict[str, float]
    tolerance: float

    @property
    def passed(self) -> bool:
        return all(error <= self.tolerance for error in self.errors.values())  # NaN fails

    def line(self) -> str:
        worst = max(self.errors, key=lambda name: _nan_last(self.errors[name]))
        values = " ".join(f"{name} {error:.1e}" for name, error in self.errors.items())
        verdict = "ok" if self.passed else f"FAIL ({worst} over {self.tolerance:.0e})"
        return f"check {self.kernel} {self.shape}: {values} -> {verdict}"


def _nan_last(error: float) -> float:
    return math.inf if math.isnan(error) else error


@dataclass
class Report:
    """Everything one run writes: ``meta`` (device, versions, command, date, ceilings), the rows,
    the correctness checks, the target lines and the errors of sections that stopped."""

    meta: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def format_ms(ms: float | None) -> str:
    """Three significant figures without exponents: 0.00412, 0.412, 4.12, 41.2, 412."""
    if ms is None:
        return MISSING
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3g}"


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return MISSING
    return f"{fraction:.1%}" if fraction < 0.1 else f"{fraction:.0%}"


def _floor_cell(row: Row) -> str:
    if row.floor_ms is None:
        return MISSING
    return f"{format_ms(row.floor_ms)} {'mem' if row.floor_bound == 'memory' else row.floor_bound}"


def _times_cell(row: Row) -> str:
    ratio = row.times_floor
    return MISSING if ratio is None else f"{ratio:.1f}"


TABLE_HEADER = ("| section | case | dtype | mode | ms | ref ms | floor ms | × floor | % copy BW "
                "| note |\n|---|---|---|---|---:|---:|---:|---:|---:|---|")


def markdown_table(rows: list[Row]) -> str:
    """The rows as a Markdown table; "—" where a number was not measured or does not apply."""
    lines = [TABLE_HEADER]
    for row in rows:
        cells = (row.section, row.case, row.dtype, row.mode, format_ms(row.time_ms),
                 format_ms(row.ref_ms), _floor_cell(row), _times_cell(row),
                 _percent(row.copy_fraction), row.note.replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The whole page: how it was measured, the table, the checks, the targets and any errors."""
    meta = report.meta
    parts = [
        "# Kernel benchmarks",
        "",
        f"- device: {meta.get('device')}",
        f"- torch {meta.get('torch')}, triton {meta.get('triton')}; {meta.get('date')}",
        f"- command: `{meta.get('command')}`",
        f"- copy bandwidth (read + write, {meta.get('copy_gib')} GiB buffer): "
        f"{_tb_per_s(meta.get('copy_bytes_per_s'))}",
        f"- exp rate: {_exp_rate(meta.get('exp_per_s'))} ({meta.get('exp_rate_source')})",
        "- times: `triton.testing.do_bench` median (L2 flushed before each repeat); "
        "`step-graph`: `do_bench_cudagraph` median, no Python launch cost; ref ms: the plain-torch "
        "reference, median of 3 calls after a warm-up, \"—\" where it would take too long",
        "- floor: the larger of the minimal bytes at the copy bandwidth and, for the scan, the "
        "B·L·D·N exponentials at the exp rate; forward+backward rows show the forward's floor. "
        "% copy BW: the row's minimal bytes (forward+backward: 3 × inputs + 2 × outputs) over "
        "its time, as a fraction of the copy. SSD counts bytes only (its matmuls are not a floor "
        "here).",
        "",
        markdown_table(report.rows),
        "",
        "## Correctness (fast kernel vs float64 reference, ‖out − ref‖ / ‖ref‖)",
        "",
        *[f"- {check.line()}" for check in report.checks],
        "",
        "## Targets",
        "",
        *[f"- {line}" for line in report.targets],
    ]
    if meta.get("kept_configs"):
        parts += ["", "## Configs the autotuners kept", "",
                  "Per kernel, each config its launches ran with and for how many keys (shapes, "
                  "flags and dtypes); `kernels.json` has every key.", "",
                  *config_lines(meta["kept_configs"])]
    if report.errors:
        parts += ["", "## Errors", "", *[f"- {error}" for error in report.errors]]
    return "\n".join(parts) + "\n"


def config_lines(kept: list[dict]) -> list[str]:
    """``- kernel: config (n keys); config (n keys)`` per kernel, from ``kept_configs()``."""
    by_kernel: dict[str, Counter] = {}
    for entry in kept:
        config = ", ".join(f"{name} {value}" for name, value in entry["config"].items())
        by_kernel.setdefault(entry["kernel"], Counter())[config] += 1
    return [f"- `{kernel}`: " + "; ".join(f"{config} ({count} key{'s' * (count > 1)})"
                                          for config, count in configs.items())
            for kernel, configs in by_kernel.items()]


def _tb_per_s(bytes_per_s: object) -> str:
    return f"{bytes_per_s / 1e12:.2f} TB/s" if isinstance(bytes_per_s, float) else MISSING


def _exp_rate(per_s: object) -> str:
    return f"{per_s:.3g}/s" if isinstance(per_s, float) else MISSING


def report_json(report: Report) -> dict[str, object]:
    """Raw numbers of every row and check (plus each row's ratio to its floor)."""
    return {
        "meta": report.meta,
        "rows": [{**asdict(row), "times_floor": row.times_floor} for row in report.rows],
        "checks": [{**asdict(check), "passed": check.passed} for check in report.checks],
        "targets": report.targets,
        "errors": report.errors,
    }


def write_report(report: Report, out_dir: Path, stem: str = "kernels") -> tuple[Path, Path]:
    """Write ``{stem}.md`` and ``{stem}.json`` under ``out_dir``, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    write_text_atomically(md, render_markdown(report))
    write_text_atomically(js, json.dumps(report_json(report), indent=1, allow_nan=True) + "\n")
    return md, js
