"""The benchmark's speed targets, read off the rows as PASS / MISS lines with the measured ratio.

A target whose rows were not measured (section not selected, OOM, error, time budget) is
"NOT RUN" with the reason; lines marked INFO state a ratio that has no target (attention's decode
is expected to slow down with context: that is the point of the comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tsssm.benchmarks.cases import (OURS, PEER_SECTION, SCAN_ANCHORS, SSD_ANCHORS, STEP_CONTEXTS,
                                    THEIRS, ScanCase, SSDCase, length_label, mixer_label,
                                    pair_cases, peer_row_case, step_label)
from tsssm.benchmarks.results import Row, format_ms

SCAN_MIN_COPY_FRACTION = 0.70
SCAN_MAX_BACKWARD_TIMES_FLOOR = 3.0
MIXER_FROM_LENGTH, MIXER_LONG_LENGTH, MIXER_LONG_SPEEDUP = 2048, 65536, 10.0
SSD_STATE, SCAN_STATE_FOR_SSD = 128, 16
STEP_TOLERANCE = 0.10
PEER_MIN_SPEEDUP = {"scan": 2.0, "ssd": 1.5}

Key = tuple[str, str, str, str]


def _index(rows: Iterable[Row]) -> dict[Key, Row]:
    return {(row.section, row.case, row.dtype, row.mode): row for row in rows}


def _timed(index: dict[Key, Row], key: Key) -> tuple[Row | None, str]:
    """The row if it has a time, else None and why not."""
    row = index.get(key)
    if row is None:
        return None, f"no row {' '.join(key)}"
    if row.time_ms is None:
        return None, f"{' '.join(key)}: {row.note or 'not timed'}"
    return row, ""


def _line(passed: bool, text: str) -> str:
    return f"{'PASS' if passed else 'MISS'}  {text}"


def _not_run(text: str, why: str) -> str:
    return f"NOT RUN  {text} ({why})"


def scan_targets(index: dict[Key, Row], rows: list[Row]) -> list[str]:
    """Forward ≥ 70 % of the copy bandwidth on its minimal bytes; forward+backward ≤ 3 × the
    forward's floor; at each of the anchors' shapes in fp32 and bf16."""
    lines = []
    for dtype in ("fp32", "bf16"):
        for batch, length in SCAN_ANCHORS:
            case = ScanCase(dtype, batch, length).label
            text = f"scan fwd ≥ {SCAN_MIN_COPY_FRACTION:.0%} of copy BW, {dtype} {case}"
            fwd, why = _timed(index, ("scan", case, dtype, "fwd"))
            if fwd is None or fwd.copy_fraction is None:
                lines.append(_not_run(text, why or "no byte count"))
            else:
                cap = ""
                if fwd.floor_bound == "exp" and fwd.times_floor:
                    best = fwd.copy_fraction * fwd.times_floor
                    cap = f"; exp-bound, the exp floor caps it at {best:.0%}"
                lines.append(_line(fwd.copy_fraction >= SCAN_MIN_COPY_FRACTION,
                                   f"{text}: {fwd.copy_fraction:.1%}{cap}"))
            text = f"scan fwd+bwd ≤ {SCAN_MAX_BACKWARD_TIMES_FLOOR:g}× fwd floor, {dtype} {case}"
            both, why = _timed(index, ("scan", case, dtype, "fwd+bwd"))
            if both is None or both.times_floor is None:
                lines.append(_not_run(text, why or "no floor"))
            else:
                lines.append(_line(both.times_floor <= SCAN_MAX_BACKWARD_TIMES_FLOOR,
                                   f"{text}: {both.times_floor:.1f}× ({format_ms(both.time_ms)} "
                                   f"ms over {format_ms(both.floor_ms)} ms)"))
    return lines


def mixer_targets(index: dict[Key, Row], rows: list[Row]) -> list[str]:
    """Mamba's whole mixer forward+backward faster than an attention layer of equal width from 2K
    tokens on, and ≥ 10× faster at 64K (attention is not run beyond), launched from Python as
    training runs them; the same from CUDA graphs (the GPU's time alone) is INFO."""
    lengths = sorted({row.shape["length"] for row in rows if row.section == "mixer"
                      and MIXER_FROM_LENGTH <= row.shape.get("length", 0) <= MIXER_LONG_LENGTH})
    lines = []
    for mode, length in [(mode, length) for mode in ("fwd+bwd", "fwd+bwd-graph")
                         for length in lengths]:
        judged = mode == "fwd+bwd"
        need = MIXER_LONG_SPEEDUP if length == MIXER_LONG_LENGTH and judged else 1.0
        text = (f"mamba mixer {mode} {'≥ ' + format(need, 'g') + '× ' if need > 1 else ''}"
                f"faster than attention, L {length_label(length)}")
        mamba, why_m = _timed(index, ("mixer", mixer_label("mamba", length), "bf16", mode))
        attention, why_a = _timed(index, ("mixer", mixer_label("attention", length), "bf16",
                                          mode))
        if mamba is None or attention is None:
            lines.append(_not_run(text, why_m or why_a) if judged
                         else f"INFO  {text}: not run ({why_m or why_a})")
            continue
        speedup = attention.time_ms / mamba.time_ms
        passed = speedup >= need if need > 1 else speedup > 1
        detail = (f"{text}: {speedup:.2f}× ({format_ms(mamba.time_ms)} vs "
                  f"{format_ms(attention.time_ms)} ms)")
        lines.append(_line(passed, detail) if judged else f"INFO  {detail}")
    if not lengths:
        lines.append(_not_run("mamba mixer fwd+bwd faster than attention", "no mixer rows"))
    return lines


def ssd_targets(index: dict[Key, Row], rows: list[Row]) -> list[str]:
    """SSD at N = 128 no slower per token than the selective scan at N = 16 (same batch, length,
    D = 1536, bf16)."""
    lines = []
    for batch, length in SSD_ANCHORS:
        ssd_case = SSDCase(batch, length, SSD_STATE).label
        scan_case = ScanCase("bf16", batch, length, state=SCAN_STATE_FOR_SSD).label
        for mode in ("fwd", "fwd+bwd"):
            text = f"ssd N{SSD_STATE} {mode} per token ≤ scan N{SCAN_STATE_FOR_SSD}, {ssd_case}"
            ssd, why_s = _timed(index, ("ssd", ssd_case, "bf16", mode))
            scan, why_c = _timed(index, ("scan", scan_case, "bf16", mode))
            if ssd is None or scan is None:
                lines.append(_not_run(text, why_s or why_c))
                continue
            ratio = (ssd.time_ms / ssd.tokens) / (scan.time_ms / scan.tokens)
            lines.append(_line(ratio <= 1.0, f"{text}: {ratio:.2f}× the scan's time per token "
                                             f"({format_ms(ssd.time_ms)} vs "
                                             f"{format_ms(scan.time_ms)} ms)"))
    return lines


def step_targets(index: dict[Key, Row], rows: list[Row]) -> list[str]:
    """The SSMs' decode steps (Mamba's and SSD's) cost the same (±10 %) per token after 1K and 128K
    tokens of context, judged on the graph replay (the GPU's time); the rest is INFO: the steps
    from Python, and attention's decode over its KV cache, which grows with the context."""
    short, long = STEP_CONTEXTS
    lines = []
    for kind, mode in (("mamba", "step-graph"), ("ssd", "step-graph"), ("mamba", "step"),
                       ("ssd", "step"), ("sdpa", "step-graph")):
        judged = kind != "sdpa" and mode == "step-graph"
        text = (f"{kind} {mode} time per token, ctx {length_label(long)} / ctx "
                f"{length_label(short)}" + (f" within ±{STEP_TOLERANCE:.0%}" if judged else ""))
        first, why_1 = _timed(index, ("step", step_label(kind, short), "bf16", mode))
        last, why_2 = _timed(index, ("step", step_label(kind, long), "bf16", mode))
        if first is None or last is None:
            lines.append(_not_run(text, why_1 or why_2))
            continue
        ratio = last.time_ms / first.time_ms
        micros = f"{first.time_ms * 1e3:.3g} → {last.time_ms * 1e3:.3g} µs"
        detail = f"{text}: {ratio:.2f}× ({micros})"
        lines.append(_line(abs(ratio - 1.0) <= STEP_TOLERANCE, detail) if judged
                     else f"INFO  {detail}")
    return lines


def peer_targets(index: dict[Key, Row], rows: list[Row]) -> list[str]:
    """tsssm's selective scan ≥ 2× mamba_ssm's CUDA scan and its SSD ≥ 1.5× mamba_ssm's Triton
    SSD, forward and forward+backward, at every shape of the side-by-side section."""
    lines = []
    for case in pair_cases():
        need = PEER_MIN_SPEEDUP[case.kernel]
        for mode in ("fwd", "fwd+bwd"):
            text = f"{case.label} {case.dtype} {mode} ≥ {need:g}× {THEIRS}"
            ours, why_o = _timed(index, (PEER_SECTION, peer_row_case(case, OURS), case.dtype, mode))
            theirs, why_t = _timed(index, (PEER_SECTION, peer_row_case(case, THEIRS), case.dtype,
                                           mode))
            if ours is None or theirs is None:
                lines.append(_not_run(text, why_o or why_t))
                continue
            speedup = theirs.time_ms / ours.time_ms
            lines.append(_line(speedup >= need, f"{text}: {speedup:.2f}× ({format_ms(ours.time_ms)}"
                                                f" vs {format_ms(theirs.time_ms)} ms)"))
    return lines


TargetGroup = Callable[[dict[Key, Row], list[Row]], list[str]]

TARGETS: tuple[tuple[str, tuple[str, ...], TargetGroup], ...] = (
    ("scan", ("scan",), scan_targets),
    ("mixer", ("mixer",), mixer_targets),
    ("ssd vs scan", ("ssd", "scan"), ssd_targets),
    ("step", ("step",), step_targets),
    ("vs mamba_ssm", (PEER_SECTION,), peer_targets),
)
"""Each group of targets, the sections whose rows it reads, and its lines, in the report's order."""


def evaluate(rows: list[Row]) -> list[str]:
    """Every target line; one NOT RUN line for a group whose sections did not run at all."""
    index = _index(rows)
    ran = {row.section for row in rows}
    lines = []
    for name, sections, targets in TARGETS:
        missing = [section for section in sections if section not in ran]
        if missing:
            lines.append(_not_run(f"{name} targets", f"section {', '.join(missing)} not run"))
        else:
            lines += targets(index, rows)
    return lines
