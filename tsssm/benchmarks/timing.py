"""Timing on the GPU: the copy ceiling, median times, and one guarded case at a time.

Method: ``triton.testing.do_bench`` times each repeat with CUDA events and flushes the 50 MB L2
before it (so inputs that would fit in L2 need no rotation); its warm-up and repeat arguments are
milliseconds, bounded here so that the whole run fits in a few minutes. A case builds its own
random inputs, and whatever happens (OOM, an error, the time budget) ends as a row with a note; its
memory is released before the next case.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import triton.testing
from torch import Tensor

from tsssm.benchmarks.floors import Floor, exp_rate, floor
from tsssm.benchmarks.results import Check, Report, Row, write_report
from tsssm.benchmarks.targets import evaluate
from tsssm.kernels.triton_launch import kept_configs

WARMUP_MS = 25
COPY_GIB = 1


@dataclass
class Device:
    """The GPU and the two ceilings measured or derived on it."""

    name: str
    sm_count: int
    clock_khz: int
    copy_bytes_per_s: float
    exp_per_s: float
    exp_rate_source: str

    def meta(self) -> dict[str, object]:
        return {"device": self.name, "sm_count": self.sm_count, "clock_khz": self.clock_khz,
                "copy_gib": COPY_GIB, "copy_bytes_per_s": self.copy_bytes_per_s,
                "exp_per_s": self.exp_per_s, "exp_rate_source": self.exp_rate_source}


class Timing(NamedTuple):
    """Median, 20th and 80th percentile of the repeats in ms (a difference between two medians
    smaller than this spread is noise)."""

    median: float
    p20: float
    p80: float


def summarize(times_ms: list[float]) -> Timing:
    """``do_bench``'s median (``statistics.median``) and the spread around it."""
    if len(times_ms) < 2:
        return Timing(times_ms[0], times_ms[0], times_ms[0])
    cuts = statistics.quantiles(times_ms, n=5, method="inclusive")
    return Timing(statistics.median(times_ms), cuts[0], cuts[-1])


def bench_timing(fn: Callable[[], object], rep_ms: int,
                 grad_to_none: list[Tensor] | None = None) -> Timing:
    """Time of ``fn`` over about ``rep_ms`` of repeats (at least one), L2 flushed before each."""
    return summarize(triton.testing.do_bench(fn, warmup=WARMUP_MS, rep=rep_ms,
                                             grad_to_none=grad_to_none, return_mode="all"))


def few_calls_ms(fn: Callable[[], object], calls: int = 3,
                 grad_to_none: list[Tensor] | None = None) -> float:
    """Median of ``calls`` event-timed calls after one warm-up, for the references: they take up
    to a second a call, and do_bench makes at least eight."""
    fn()
    times = []
    for _ in range(calls):
        for tensor in grad_to_none or ():
            tensor.grad = None
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def graph_timing(fn: Callable[[], object], rep_ms: int) -> Timing:
    """Time of ``fn`` replayed from a CUDA graph: no Python or launch cost in it."""
    return summarize(triton.testing.do_bench_cudagraph(fn, rep=rep_ms, return_mode="all"))


def copy_bandwidth(rep_ms: int) -> float:
    """Bytes read + written per second by a device-to-device copy of ``COPY_GIB`` GiB (random)."""
    src = torch.rand(COPY_GIB * 2**30 // 4, device="cuda")
    dst = torch.empty_like(src)
    ms = bench_timing(lambda: dst.copy_(src), rep_ms).median
    return 2 * src.numel() * src.element_size() / (ms * 1e-3)


def describe_device(rep_ms: int) -> Device:
    """Name, SM count and clock of GPU 0, its copy bandwidth measured now, and its exp rate from
    SM count and clock."""
    props = torch.cuda.get_device_properties(0)
    clock_khz = int(getattr(props, "clock_rate", 0) or 0)
    copy_bytes_per_s = copy_bandwidth(rep_ms)
    release()
    rate, source = exp_rate(props.multi_processor_count, clock_khz)
    return Device(props.name, props.multi_processor_count, clock_khz, copy_bytes_per_s, rate,
                  source)


@dataclass
class Timed:
    """What a case times: ``fn`` (and ``reference``, the same work through the reference), the
    tensors whose ``.grad`` is reset between repeats, and whether to replay ``fn`` from a graph."""

    fn: Callable[[], object]
    grad_to_none: list[Tensor] | None = None
    reference: Callable[[], object] | None = None
    graph: bool = False


def forward_only(fast: Callable[[], Tensor],
                 reference: Callable[[], Tensor] | None = None) -> Timed:
    """The forward pass without autograd (inference: no saved activations)."""
    return Timed(torch.no_grad()(fast),
                 reference=None if reference is None else torch.no_grad()(reference))


def forward_backward(fast: Callable[[], Tensor], leaves: list[Tensor], grad_out: Tensor,
                     reference: Callable[[], Tensor] | None = None) -> Timed:
    """Forward then backward with the fixed random output gradient ``grad_out``."""

    def training_step(forward: Callable[[], Tensor]) -> Callable[[], None]:
        return lambda: forward().backward(grad_out)

    return Timed(training_step(fast), grad_to_none=leaves,
                 reference=None if reference is None else training_step(reference))


def timed_pass(mode: str, fast: Callable[[], Tensor], leaves: list[Tensor], grad_out: Tensor,
               reference: Callable[[], Tensor] | None = None) -> Timed:
    """``mode`` "fwd" or "fwd+bwd" of ``fast``; ``leaves`` must require grad for "fwd+bwd"."""
    if mode == "fwd":
        return forward_only(fast, reference)
    if mode == "fwd+bwd":
        return forward_backward(fast, leaves, grad_out, reference)
    raise ValueError(f"timed_pass: mode must be 'fwd' or 'fwd+bwd', got {mode!r}")


KernelCall = Callable[[dict[str, Tensor], str], Tensor]
"""``(inputs, backend) -> output``: one kernel call through ``backend`` "triton" or "reference"."""


def kernel_setup(make_inputs: Callable[[bool], dict[str, Tensor]], call: KernelCall, mode: str,
                 with_reference: bool) -> Callable[[], Timed]:
    """A case of a kernel whose output has its first input's shape and dtype: fresh random
    inputs (requiring grad for "fwd+bwd"), timed through Triton and optionally the reference."""

    def setup() -> Timed:
        inputs = make_inputs(mode == "fwd+bwd")
        leaves = list(inputs.values())

        def reference() -> Tensor:
            return call(inputs, "reference")

        return timed_pass(mode, lambda: call(inputs, "triton"), leaves, torch.randn_like(leaves[0]),
                          reference if with_reference else None)

    return setup


def release() -> None:
    """Drop unreferenced tensors and hand cached blocks back, so each case starts clean."""
    gc.collect()
    torch.cuda.empty_cache()


def _why(error: BaseException) -> str:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "OOM"
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0][:160] if first else ''}"


class Bench:
    """Shared by the sections: the device's ceilings, the options (``quick``: fewer sizes;
    ``ssd_chunk``: SSD's chunk length; ``peer_dir``: mamba_ssm's sources, or None), the timing
    settings, the time budget and the report that collects rows, checks, tuning times and errors,
    saved to ``out_dir`` after every case."""

    def __init__(self, device: Device, report: Report, out_dir: Path, quick: bool, ssd_chunk: int,
                 rep_ms: int, started: float, budget_s: float,
                 peer_dir: Path | None = None) -> None:
        self.device, self.report, self.out_dir = device, report, out_dir
        self.peer_dir = peer_dir
        self.quick, self.ssd_chunk, self.rep_ms = quick, ssd_chunk, rep_ms
        self.started, self.deadline = started, started + budget_s
        self.tuning_s: dict[str, float] = {}
        report.meta["tuning_s"] = self.tuning_s

    def save(self) -> None:
        """Evaluate the targets on the rows so far and write the report."""
        self.report.targets = evaluate(self.report.rows)
        self.report.meta["elapsed_s"] = round(time.monotonic() - self.started, 1)
        self.report.meta["kept_configs"] = kept_configs()
        write_report(self.report, self.out_dir)

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def floor(self, nbytes: int, exps: int = 0) -> Floor:
        return floor(nbytes, self.device.copy_bytes_per_s, exps, self.device.exp_per_s)

    def attempt(self, what: str, fn: Callable[[], object]) -> bool:
        """Run ``fn``; on an exception log it, record it in the report's errors, return False."""
        if self.out_of_time():
            self.log(f"{what}: skipped (time budget)")
            self.report.errors.append(f"{what}: skipped (time budget)")
            return False
        try:
            fn()
            torch.cuda.synchronize()
            return True
        except Exception as error:  # a failing section or kernel must not stop the others
            self.log(f"{what}: FAILED {_why(error)}")
            self.report.errors.append(f"{what}: {_why(error)}")
            return False
        finally:
            release()

    def tune(self, what: str, calls: list[Callable[[], Timed]]) -> bool:
        """First call of each of ``calls`` (compiling and autotuning the kernels), timed."""
        start = time.perf_counter()

        def first_calls() -> None:
            for setup in calls:
                setup().fn()
                torch.cuda.synchronize()

        ok = self.attempt(f"tune {what}", first_calls)
        if ok:
            self.tuning_s[what] = time.perf_counter() - start
            self.log(f"tuned {what} in {self.tuning_s[what]:.1f} s")
        return ok

    def check(self, what: str, fn: Callable[[], Check]) -> None:
        """Run one correctness check and record it (a failed check is logged, timing goes on)."""
        holder: list[Check] = []
        if self.attempt(f"check {what}", lambda: holder.append(fn())):
            self.report.checks.append(holder[0])
            self.log(holder[0].line())

    def run_group(self, what: str, tuning: list[Callable[[], Timed]], check: Callable[[], Check],
                  cases: list[tuple[Row, Callable[[], Timed]]]) -> None:
        """One kernel configuration: tune it, check it, then time each ``(row, setup)``. If the
        tuning calls fail, or the budget left no time for them, the rows are kept, untimed, so
        the targets say why they did not run."""
        late = self.out_of_time()
        tuned = self.tune(what, tuning)
        if tuned:
            self.check(what, check)
        for row, setup in cases:
            if not tuned:
                row.note = ("skipped: time budget" if late
                            else "not run: the kernel failed at the tuning shape")
            self.time(row, setup if tuned else None)

    def time(self, row: Row, setup: Callable[[], Timed] | None) -> Row:
        """Time ``setup()``'s work into ``row``, add the row to the report and save it; never
        raises. ``setup`` None keeps the row untimed with its note (a shape not run)."""
        self.report.rows.append(row)
        if setup is not None and self.out_of_time():
            row.note = "skipped: time budget"
        elif setup is not None:
            self._measure(row, setup)
        self.log(_progress(row))
        self.save()
        return row

    def _measure(self, row: Row, setup: Callable[[], Timed]) -> None:
        timed = None
        try:
            timed = setup()
            start = time.perf_counter()
            timed.fn()
            torch.cuda.synchronize()
            row.first_call_s = time.perf_counter() - start
            measured = (graph_timing(timed.fn, self.rep_ms) if timed.graph
                        else bench_timing(timed.fn, self.rep_ms, timed.grad_to_none))
            row.time_ms, row.spread_ms = measured.median, [measured.p20, measured.p80]
            if row.nbytes:
                row.copy_fraction = row.nbytes / (row.time_ms * 1e-3) / self.device.copy_bytes_per_s
            if timed.reference is not None:
                row.ref_ms = few_calls_ms(timed.reference, grad_to_none=timed.grad_to_none)
        except Exception as error:  # one failing case must not stop the run
            where = "reference " if row.time_ms is not None else ""
            row.note = "; ".join(filter(None, [row.note, where + _why(error)]))
        finally:
            del timed
            release()


def _progress(row: Row) -> str:
    parts = [f"{row.section} {row.case} {row.dtype} {row.mode}:"]
    if row.time_ms is not None:
        parts.append(f"{row.time_ms:.4g} ms")
    if row.spread_ms is not None:
        parts.append(f"(p20–p80 {row.spread_ms[0]:.4g}–{row.spread_ms[1]:.4g})")
    if row.ref_ms is not None:
        parts.append(f"(reference {row.ref_ms:.4g} ms)")
    if row.times_floor is not None:
        parts.append(f"{row.times_floor:.1f}× the {row.floor_bound} floor {row.floor_ms:.3g} ms")
    if row.copy_fraction is not None:
        parts.append(f"{row.copy_fraction:.1%} of copy BW")
    if row.note:
        parts.append(f"[{row.note}]")
    return " ".join(parts)
