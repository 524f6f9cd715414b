"""How many segments the selective scan should run side by side (``triton_segments``): its
times per forced segment count, and the segment policies they imply.

    python scripts/gpu/segment_sweep.py OUT [--cases bf16:4:65536,bf16:1:65536] [--chunk 8]

Also a section of ``launch_profile.py``. Shapes: batch 1 at 2K and 8K steps in fp32 and bf16,
batch 8 at 2K in bf16, or ``--cases`` (DTYPE:BATCH:LENGTH, comma-separated) (D 1536, N 16:
chunks of 16, or ``--chunk``; every Mamba option on, the inputs of the side-by-side benchmark).
Per forced count (``segments=``, both passes) and the policies in force (``default``): the
forward without autograd, the backward alone (replayed on a retained graph) and the two together,
each as ``wall`` (``do_bench`` median: host and GPU) and ``gpu`` (the call replayed from a CUDA
graph: the kernels alone; the backward's is fwd+bwd's minus fwd's). Writes ``OUT/segments.md``,
which ends with the ``SegmentPolicy`` per pass that gives the least summed GPU time of that pass
over the shapes (``implied_policy``; the forward's from ``fwd gpu``, the backward's from
``bwd gpu``). Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import torch
import triton.testing

from tsssm.benchmarks.cases import PairCase
from tsssm.benchmarks.peers import scan_inputs
from tsssm.kernels.selective_scan import triton as sst
from tsssm.kernels.selective_scan import triton_segments
from tsssm.kernels.selective_scan.triton_segments import (SegmentPolicy, segment_chunks,
                                                          segment_count)

CASES = (PairCase("scan", "fp32", 1, 2048, 16), PairCase("scan", "bf16", 1, 2048, 16),
         PairCase("scan", "fp32", 1, 8192, 16), PairCase("scan", "bf16", 1, 8192, 16),
         PairCase("scan", "bf16", 8, 2048, 16))
COUNTS = (1, 2, 4, 8, 16, 32)
CHUNK = 16
MODES = ("fwd", "bwd", "fwd+bwd")
REP_MS = 50


def wall_and_gpu(fn: Callable[[], object], leaves: list | None, rep: int = 100,
                 graphed: bool = True) -> tuple[float, float]:
    """(wall ms, gpu ms) of one call: ``do_bench``'s median, and the median replayed from a
    CUDA graph (nan unless ``graphed``)."""
    fn()
    wall = triton.testing.do_bench(fn, warmup=25, rep=rep, grad_to_none=leaves)
    if not graphed:
        return wall, math.nan
    gpu = triton.testing.do_bench_cudagraph(fn, rep=rep, grad_to_none=leaves,
                                            return_mode="median")
    return wall, gpu


def timed_modes(calls: dict[str, Callable[[], object]], leaves: list) -> dict[str, tuple]:
    """``wall_and_gpu`` of each mode, in ``calls``' order. The backward alone cannot be captured
    (its retained autograd graph was recorded on another stream than the capture's), so its gpu
    time is the difference of the other two: fwd+bwd gpu minus fwd gpu."""
    timed = {mode: wall_and_gpu(fn, leaves if mode != "fwd" else None, REP_MS, mode != "bwd")
             for mode, fn in calls.items()}
    timed["bwd"] = (timed["bwd"][0], timed["fwd+bwd"][1] - timed["fwd"][1])
    return {mode: timed[mode] for mode in MODES}


def mode_calls(inputs: dict, **options) -> dict[str, Callable[[], object]]:
    """The forward without autograd, the two together, then the backward alone, of
    ``selective_scan_triton`` with ``options`` (``segments``, ``chunk_size``). The backward's
    retained graph is recorded at its first call, after fwd+bwd's capture: alive during that
    capture, its leaves' gradient accumulators (on the default stream) would break it."""
    def forward() -> torch.Tensor:
        return sst.selective_scan_triton(**inputs, delta_softplus=True, **options)

    grad = torch.randn_like(torch.no_grad()(forward)())
    retained: list[torch.Tensor] = []

    def backward_alone() -> None:
        if not retained:
            retained.append(forward())
        retained[0].backward(grad, retain_graph=True)

    return {"fwd": torch.no_grad()(forward),
            "fwd+bwd": lambda: forward().backward(grad),
            "bwd": backward_alone}


def case_list(text: str) -> tuple[PairCase, ...]:
    """``"bf16:4:65536,fp32:1:2048"`` -> the scan cases, D 1536, N 16."""
    cases = []
    for part in text.split(","):
        fields = part.strip().split(":")
        if (len(fields) != 3 or fields[0] not in ("fp32", "bf16")
                or not all(f.isdigit() and int(f) > 0 for f in fields[1:])):
            raise argparse.ArgumentTypeError(
                f"--cases: {part!r} is not DTYPE:BATCH:LENGTH (fp32 or bf16, positive ints)")
        cases.append(PairCase("scan", fields[0], int(fields[1]), int(fields[2]), 16))
    return tuple(cases)


def sweep(out: Path, cases: tuple[PairCase, ...] = CASES, chunk: int = CHUNK) -> list[str]:
    """Time every case at every count; write ``out/segments.md`` and return its lines."""
    lines = [f"# Selective scan segments on {torch.cuda.get_device_name()}", "",
             "Forced segment counts (both passes) and the policies in force (`default`, "
             f"forward / backward counts); D 1536, N 16, chunk {chunk}, every Mamba option on; "
             "wall: do_bench median (ms); gpu: replayed from a CUDA graph (ms; bwd: fwd+bwd's "
             "minus fwd's).",
             "",
             "| case | dtype | segments | " + " | ".join(f"{m} wall | {m} gpu" for m in MODES)
             + " |", "|---|---|---|" + "---:|" * 2 * len(MODES)]
    gpu: dict[str, dict[tuple[str, int, int], dict[int, float]]] = {"fwd": {}, "bwd": {}}
    for case in cases:
        inputs = scan_inputs(case, True)[0]
        leaves = list(inputs.values())
        rows, n_chunks = case.batch * inputs["u"].shape[-1], math.ceil(case.length / chunk)
        for count in (*COUNTS, None):
            timed = timed_modes(mode_calls(inputs, segments=count, chunk_size=chunk), leaves)
            if count is not None:
                for mode in gpu:
                    gpu[mode].setdefault((case.dtype, rows, n_chunks), {})[count] = timed[mode][1]
            label = str(count) if count is not None else "default ({} / {})".format(
                *triton_segments.scan_plan(case.batch, rows // case.batch, case.length, chunk,
                                           None, (triton_segments.FORWARD,
                                                  triton_segments.BACKWARD)))
            lines.append(f"| B{case.batch} L{case.length} | {case.dtype} | {label} | "
                         + " | ".join(f"{w:.4f} | {g:.4f}" for w, g in timed.values()) + " |")
            print(lines[-1], flush=True)
        del inputs, leaves
        torch.cuda.empty_cache()
    summary = len(lines)
    lines += ["", "Fastest count per pass, dtype and grid (channel rows, chunks), by gpu time:",
              ""]
    lines += [f"- {mode} {key}: {min(by_count, key=by_count.get)}"
              for mode, times in gpu.items() for key, by_count in times.items()]
    lines += ["", "Implied policies (least gpu time of the pass summed over the cases):", "",
              "```", f"FORWARD = {implied_policy(over_dtypes(gpu['fwd']))!r}",
              f"BACKWARD = {implied_policy(over_dtypes(gpu['bwd']))!r}", "```"]
    print("\n".join(lines[summary:]), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "segments.md").write_text("\n".join(lines) + "\n")
    return lines


def over_dtypes(times: dict[tuple[str, int, int], dict[int, float]]
                ) -> dict[tuple[int, int], dict[int, float]]:
    """{(rows, chunks): {count: ms}} summed over the dtypes measured at each grid."""
    summed: dict[tuple[int, int], dict[int, float]] = {}
    for (_, rows, chunks), by_count in times.items():
        grid = summed.setdefault((rows, chunks), {})
        for count, ms in by_count.items():
            grid[count] = grid.get(count, 0.0) + ms
    return summed


def implied_policy(times: dict[tuple[int, int], dict[int, float]]) -> SegmentPolicy:
    """The policy whose counts give the least summed time over the measured shapes.

    ``times``: {(channel rows, chunks): {segment count: ms}}. Candidates: wanted rows that
    make a measured count at a measured grid; thresholds at the smallest grid, at the power of
    two between each two grids and above the largest; powers of two for the minimum chunks
    and segments, the largest first, so that of policies equal on the measured shapes the one
    cutting least elsewhere wins. A policy choosing an unmeasured count is out."""
    rows = sorted({r for r, _ in times})
    between = [1 << round(math.log2(math.sqrt(a * b))) for a, b in itertools.pairwise(rows)]
    candidates = itertools.product(
        sorted({r * c for r in rows for c in COUNTS}),
        [rows[0], *between, 1 << rows[-1].bit_length()],
        [2 ** k for k in reversed(range(8))], [2 ** k for k in reversed(range(1, 6))])

    def cost(policy: SegmentPolicy) -> float:
        total = 0.0
        for (grid, chunks), by_count in times.items():
            count = segment_chunks(chunks, segment_count(grid, chunks, policy))[1]
            total += by_count.get(count, math.inf)
        return total

    return min((SegmentPolicy(*values) for values in candidates), key=cost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=case_list, default=CASES,
                        help="DTYPE:BATCH:LENGTH,... (default: B1 2K and 8K in both dtypes, "
                             "B8 2K bf16)")
    parser.add_argument("--chunk", type=int, default=CHUNK, choices=(4, 8, 16, 32),
                        help="the scan's steps per chunk (default 16, the library's at N 16)")
    args = parser.parse_args()
    sweep(args.out, args.cases, args.chunk)


if __name__ == "__main__":
    main()
