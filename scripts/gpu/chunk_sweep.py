"""Steps per chunk for the selective scan: its times at chunks of 4, 8 and 16 steps.

    python scripts/gpu/chunk_sweep.py OUT [--chunks 4,8,16] [--dtypes fp32,bf16]
                                      [--cases bf16:8:2048,bf16:1:2048]

The chunk sets how many steps of its states a thread holds in registers, so how many warps an
SM can hold against how many instructions each element takes (the forward's registers per chunk,
compiled offline: ``docs/benchmarks/cpu-2026-12-05-scan-bwd-sass/``). With a gradient due it
also sets the checkpoints' memory (N / chunk of u's elements in fp32). Shapes: those of the
side-by-side comparison (``cases.pair_cases``: D 1536, N 16, every Mamba option on), fp32 and
bf16, or ``--cases`` (``segment_sweep``'s DTYPE:BATCH:LENGTH list); per chunk the forward
without autograd and forward+backward (``segment_sweep``'s calls), each as ``wall``
(``do_bench`` median: host and GPU) and ``gpu`` (replayed from a CUDA graph).
Writes ``OUT/chunks.md`` row by row, then the fastest chunk per shape, dtype and mode by gpu
time. Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tsssm.benchmarks.cases import PairCase, pair_cases
from tsssm.benchmarks.peers import scan_inputs

from segment_sweep import case_list, mode_calls, wall_and_gpu  # this script's folder is on the path

MODES = ("fwd", "fwd+bwd")
SCAN_CASES = [case for case in pair_cases() if case.kernel == "scan"]
DTYPES = tuple(dict.fromkeys(case.dtype for case in SCAN_CASES))  # fp32, bf16


def chunk_list(text: str) -> list[int]:
    """``4,8,16`` as ints, each a power of two."""
    chunks = [int(part) for part in text.split(",")]
    if any(chunk < 1 or chunk & (chunk - 1) for chunk in chunks):
        raise argparse.ArgumentTypeError(f"--chunks: powers of two expected, got {text!r}")
    return chunks


def dtype_list(text: str) -> list[str]:
    """``fp32,bf16`` as a list, each one of ``DTYPES``."""
    dtypes = text.split(",")
    if any(dtype not in DTYPES for dtype in dtypes):
        raise argparse.ArgumentTypeError(f"--dtypes: some of {','.join(DTYPES)} expected, "
                                         f"got {text!r}")
    return dtypes


def sweep(out: Path, chunks: list[int], dtypes: list[str],
          cases: tuple[PairCase, ...] | None = None) -> None:
    """Time ``cases`` (default: every comparison shape in ``dtypes``) at every chunk; write
    ``out/chunks.md`` as the rows come."""
    out.mkdir(parents=True, exist_ok=True)
    shapes = (f" --cases {','.join(f'{c.dtype}:{c.batch}:{c.length}' for c in cases)}"
              if cases else "")
    lines = [f"# Selective scan chunk lengths on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/chunk_sweep.py OUT --chunks {','.join(map(str, chunks))} "
             f"--dtypes {','.join(dtypes)}{shapes}`; "
             f"torch {torch.__version__}; D 1536, N 16, every Mamba option on; wall: do_bench "
             "median (ms); gpu: replayed from a CUDA graph (ms).", "",
             "| case | dtype | chunk | " + " | ".join(f"{m} wall | {m} gpu" for m in MODES) + " |",
             "|---|---|---:|" + "---:|" * 2 * len(MODES)]
    fastest: dict[tuple[str, str, str], dict[int, float]] = {}
    for case in cases or [case for case in SCAN_CASES if case.dtype in dtypes]:
        inputs = scan_inputs(case, True)[0]
        leaves = list(inputs.values())
        for chunk in chunks:
            calls = mode_calls(inputs, chunk_size=chunk)
            timed = {mode: wall_and_gpu(calls[mode], leaves if mode != "fwd" else None)
                     for mode in MODES}
            for mode, (_, gpu) in timed.items():
                fastest.setdefault((case.label, case.dtype, mode), {})[chunk] = gpu
            lines.append(f"| {case.label} | {case.dtype} | {chunk} | "
                         + " | ".join(f"{w:.4f} | {g:.4f}" for w, g in timed.values()) + " |")
            print(lines[-1], flush=True)
            (out / "chunks.md").write_text("\n".join(lines) + "\n")
        del inputs, leaves
        torch.cuda.empty_cache()
    lines += ["", "Fastest chunk by gpu time:", ""]
    lines += [f"- {label} {dtype} {mode}: {min(by_chunk, key=by_chunk.get)}"
              for (label, dtype, mode), by_chunk in fastest.items()]
    (out / "chunks.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--chunks", type=chunk_list, default=[4, 8, 16])
    parser.add_argument("--dtypes", type=dtype_list, default=list(DTYPES))
    parser.add_argument("--cases", type=case_list, default=None,
                        help="DTYPE:BATCH:LENGTH,... instead of every comparison shape")
    args = parser.parse_args()
    sweep(args.out, args.chunks, args.dtypes, args.cases)


if __name__ == "__main__":
    main()
