"""Where a small scan's time goes: the GPU's kernels or the host's launches, for tsssm and mamba_ssm.

    python scripts/gpu/launch_profile.py OUT [--peer-dir DIR]

For every scan shape of the side-by-side comparison (``cases.pair_cases``, batch 1 first), each mode and each
library, three times of one call: ``wall``, ``triton.testing.do_bench``'s median (what the kernel
benchmark reports: host and GPU together); ``gpu``, the same call replayed from a CUDA graph
(``do_bench_cudagraph``: the kernels alone); ``host``, the mean time Python takes to issue one
call when the GPU keeps up (100 calls back to back, no synchronisation between them). First, at
batch 1 and 2K steps in bf16, a cProfile of tsssm's calls (the Python functions the host time goes
to) and torch.profiler's kernel table of both libraries. Writes ``OUT/launch_profile_detail.md`` (the profiles) and ``OUT/launch_profile.md`` (the
table).
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
from tsssm.benchmarks.peer_library import PeerKernel, load_peer_scan
from tsssm.benchmarks.peers import scan_inputs
from tsssm.kernels.selective_scan import selective_scan

HOST_CALLS = 100


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
    fn()
    wall = triton.testing.do_bench(fn, warmup=25, rep=100, grad_to_none=leaves)
    gpu = triton.testing.do_bench_cudagraph(fn, rep=100, grad_to_none=leaves, return_mode="median")
    return wall, gpu, host_us(fn)


def timed_calls(case: PairCase, mode: str, libraries: dict[str, Callable],
                make_inputs: Callable) -> Iterator[tuple[str, Callable[[], object], tuple]]:
    """Per library, on one set of ``make_inputs(case, grad)`` shared by all: (library, its timed
    call, ``times`` of it)."""
    shared = make_inputs(case, mode != "fwd")
    for (library, call), inputs in zip(libraries.items(), shared):
        fn = step(call, inputs, mode)
        yield library, fn, times(fn, list(inputs.values()) if mode != "fwd" else None)


def python_profile(fn: Callable[[], object]) -> str:
    """The 25 Python functions with the most own time over 200 calls."""
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
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=15, max_name_column_width=60)


def out_and_peer(doc: str, load: Callable[[Path], PeerKernel]) -> tuple[Path, Callable | None]:
    """The command line ``OUT [--peer-dir DIR]``: the output folder and the peer's kernel
    loaded from DIR by ``load`` (None without it)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--peer-dir", type=Path)
    args = parser.parse_args()
    return args.out, None if args.peer_dir is None else load(args.peer_dir).fn


def main() -> None:
    out, peer = out_and_peer(__doc__, load_peer_scan)
    libraries = calls(peer)
    lines = [f"# Host and GPU time of the selective scan on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/launch_profile.py OUT{' --peer-dir DIR' if peer else ''}`; "
             f"torch {torch.__version__}, triton {triton.__version__}; every Mamba option on; "
             "wall: do_bench median (ms); gpu: the call replayed from a CUDA graph (ms); "
             f"host: µs to issue one call (mean of {HOST_CALLS}).", "",
             "| case | dtype | mode | library | wall ms | gpu ms | host µs |",
             "|---|---|---|---|---:|---:|---:|"]
    small = PairCase("scan", "bf16", 1, 2048, 16)
    profiles: list[str] = []
    for mode in ("fwd", "fwd+bwd"):
        shared = scan_inputs(small, mode != "fwd")
        profiles += ["", f"## tsssm, {small.label} bf16 {mode}: Python functions", "", "```",
                     python_profile(step(libraries[OURS], shared[0], mode)), "```"]
        for (library, call), inputs in zip(libraries.items(), shared):
            profiles += ["", f"## {library}, {small.label} bf16 {mode}: kernels", "", "```",
                         kernel_table(step(call, inputs, mode)), "```"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "launch_profile_detail.md").write_text("\n".join(profiles) + "\n")
    for case in reversed([c for c in pair_cases() if c.kernel == "scan"]):
        for mode in ("fwd", "fwd+bwd"):
            for library, _, (wall, gpu, host) in timed_calls(case, mode, libraries, scan_inputs):
                lines.append(f"| {case.label} | {case.dtype} | {mode} | {library} | {wall:.4f} | "
                             f"{gpu:.4f} | {host:.1f} |")
                print(lines[-1], flush=True)
    (out / "launch_profile.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
