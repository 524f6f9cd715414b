"""Where a small scan's time goes: the GPU's kernels or the host's launches, for tsssm and
mamba_ssm.

    python scripts/gpu/launch_profile.py OUT [--peer-dir DIR]
        [--sections profile,segments,table,engine]

Four sections, all by default, each written as it finishes. ``profile``: at batch 1 and 2K
steps in bf16, after three warm-up calls (the first compiles and autotunes), a cProfile of
tsssm's calls (the Python functions the host time goes to) and torch.profiler's kernel table of
both libraries, into ``OUT/launch_profile_detail.md``. ``segments``: ``segment_sweep.py``'s
times of the scan per forced segment count at batch 1 (2K and 8K steps) and batch 8, wall and
GPU, and the segment policies they imply, into ``OUT/segments.md``. ``table``: for every scan
shape of the side-by-side comparison (``cases.pair_cases``), each mode and each library, three
times of one call: ``wall``, ``triton.testing.do_bench``'s median (what the kernel benchmark
reports: host and GPU together); ``gpu``, the same call replayed from a CUDA graph
(``do_bench_cudagraph``: the kernels alone); ``host``, the mean time Python takes to issue one
call when the GPU keeps up (100 calls back to back, no synchronisation between them), into
``OUT/launch_profile.md``. ``engine``: each library's rows of that table at B1 L2K, bf16 and
fp32, and forward+backward again with the autograd engine's device threads off, into
``OUT/engine.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import triton.testing

from tsssm.benchmarks.cases import OURS, THEIRS, PairCase, pair_cases
from tsssm.benchmarks.peer_library import load_peer_scan
from tsssm.benchmarks.peers import scan_inputs
from tsssm.kernels.selective_scan import selective_scan

from segment_sweep import sweep, wall_and_gpu  # this script's folder is on the path

HOST_CALLS = 100
SECTIONS = ("profile", "segments", "table", "engine")
WARM_UP_CALLS = 3


def calls(peer: Callable | None) -> dict[str, Callable]:
    """Each library's scan on its own dict of inputs, every Mamba option on."""
    libraries = {OURS: lambda t: selective_scan(**t, delta_softplus=True, backend="triton")}
    if peer is not None:
        libraries[THEIRS] = lambda t: peer(**t, delta_softplus=True)
    return libraries


def step(call: Callable, inputs: dict, mode: str) -> Callable[[], object]:
    """The timed call: the forward without autograd, or forward and backward."""
    if mode == "fwd":
        return torch.no_grad()(lambda: call(inputs))
    grad = torch.randn_like(call(inputs))
    return lambda: call(inputs).backward(grad)


def host_us(fn: Callable[[], object]) -> float:
    """Mean microseconds Python takes to issue one call, the GPU idle when the calls start."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(HOST_CALLS):
        fn()
    elapsed = time.perf_counter() - start
    torch.cuda.synchronize()
    return elapsed / HOST_CALLS * 1e6


def times(fn: Callable[[], object], leaves: list) -> tuple[float, float, float]:
    """(wall ms, gpu ms, host µs) of one call."""
    return (*wall_and_gpu(fn, leaves), host_us(fn))


def timed_calls(case: PairCase, mode: str, libraries: dict[str, Callable],
                make_inputs: Callable) -> Iterator[tuple[str, Callable[[], object], tuple]]:
    """Per library, on one set of ``make_inputs(case, grad)`` shared by all: (library, its timed
    call, ``times`` of it)."""
    shared = make_inputs(case, mode != "fwd")
    for (library, call), inputs in zip(libraries.items(), shared):
        fn = step(call, inputs, mode)
        yield library, fn, times(fn, list(inputs.values()) if mode != "fwd" else None)


def python_profile(fn: Callable[[], object]) -> str:
    """The 25 Python functions with the most own time over 200 calls, after the warm-up."""
    for _ in range(WARM_UP_CALLS):
        fn()
    torch.cuda.synchronize()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    return text.getvalue()


def kernel_table(fn: Callable[[], object]) -> str:
    """torch.profiler's table of the kernels of 20 calls."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=15,
                                     max_name_column_width=60)


def peer_parser(doc: str) -> argparse.ArgumentParser:
    """The command line ``OUT [--peer-dir DIR]`` of the profiling scripts."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--peer-dir", type=Path)
    return parser


def profile_section(libraries: dict[str, Callable], out: Path) -> None:
    """cProfile of tsssm's calls and both libraries' kernels at batch 1, 2K steps, bf16."""
    small = PairCase("scan", "bf16", 1, 2048, 16)
    profiles: list[str] = []
    for mode in ("fwd", "fwd+bwd"):
        shared = scan_inputs(small, mode != "fwd")
        profiles += ["", f"## tsssm, {small.label} bf16 {mode}: Python functions", "", "```",
                     python_profile(step(libraries[OURS], shared[0], mode)), "```"]
        for (library, call), inputs in zip(libraries.items(), shared):
            profiles += ["", f"## {library}, {small.label} bf16 {mode}: kernels", "", "```",
                         kernel_table(step(call, inputs, mode)), "```"]
    (out / "launch_profile_detail.md").write_text("\n".join(profiles) + "\n")


def table_section(libraries: dict[str, Callable], out: Path, peer: bool) -> None:
    """Wall, gpu and host time of every scan shape, mode and library; the file is rewritten
    after every row, so a run cut short keeps what it measured."""
    lines = [f"# Host and GPU time of the selective scan on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/launch_profile.py OUT{' --peer-dir DIR' if peer else ''}`; "
             f"torch {torch.__version__}, triton {triton.__version__}; every Mamba option on; "
             "wall: do_bench median (ms); gpu: the call replayed from a CUDA graph (ms); "
             f"host: µs to issue one call (mean of {HOST_CALLS}).", "",
             "| case | dtype | mode | library | wall ms | gpu ms | host µs |",
             "|---|---|---|---|---:|---:|---:|"]
    for case in reversed([c for c in pair_cases() if c.kernel == "scan"]):
        for mode in ("fwd", "fwd+bwd"):
            for library, _, (wall, gpu, host) in timed_calls(case, mode, libraries, scan_inputs):
                lines.append(f"| {case.label} | {case.dtype} | {mode} | {library} | {wall:.4f} | "
                             f"{gpu:.4f} | {host:.1f} |")
                print(lines[-1], flush=True)
                (out / "launch_profile.md").write_text("\n".join(lines) + "\n")


def engine_section(libraries: dict[str, Callable], out: Path) -> None:
    """Each library's scan at batch 1 and 2K steps, bf16 and fp32, on one set of tensors: wall,
    gpu and host time of the forward and of forward+backward, the latter also with the autograd
    engine's device threads off (the backward then runs on the calling thread: no hand-over to
    the engine's device thread and back, the same for any autograd Function)."""
    lines = [f"# The scan at B1 L2K on {torch.cuda.get_device_name()}", "",
             "`python scripts/gpu/launch_profile.py OUT --sections engine [--peer-dir DIR]`; "
             "wall: do_bench median (ms); gpu: CUDA-graph replay (ms); host: µs to issue one "
             "call.", "",
             "| dtype | mode | autograd threads | library | wall ms | gpu ms | host µs |",
             "|---|---|---|---|---:|---:|---:|"]
    for dtype in ("bf16", "fp32"):
        case = PairCase("scan", dtype, 1, 2048, 16)
        for mode, threads in (("fwd", "-"), ("fwd+bwd", "on"), ("fwd+bwd", "off")):
            with torch.autograd.set_multithreading_enabled(threads != "off"):
                for library, _, (wall, gpu, host) in timed_calls(case, mode, libraries,
                                                                 scan_inputs):
                    lines.append(f"| {dtype} | {mode} | {threads} | {library} | {wall:.4f} | "
                                 f"{gpu:.4f} | {host:.1f} |")
                    print(lines[-1], flush=True)
                    (out / "engine.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = peer_parser(__doc__)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)}")
    args = parser.parse_args()
    sections = args.sections.split(",")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}, expected some of {list(SECTIONS)}")
    peer = None if args.peer_dir is None else load_peer_scan(args.peer_dir).fn
    libraries = calls(peer)
    args.out.mkdir(parents=True, exist_ok=True)
    if "profile" in sections:
        profile_section(libraries, args.out)
    if "segments" in sections:
        sweep(args.out)
    if "table" in sections:
        table_section(libraries, args.out, peer is not None)
    if "engine" in sections:
        engine_section(libraries, args.out)


if __name__ == "__main__":
    main()
