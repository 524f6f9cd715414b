"""One selective-scan training call for Nsight Compute to read its hardware counters.

    ncu --clock-control none --profile-from-start off --section SpeedOfLight ... \
        python scripts/gpu/ncu_scan.py --batch 4 --length 65536 --dtype bf16

The side-by-side benchmark's inputs (``peers.scan_inputs``: D 1536, every Mamba option on) at one
shape; the call (forward with autograd, then backward) runs twice first, so autotuning and
compilation stay outside the profiled range, then once between ``cudaProfilerStart`` and
``cudaProfilerStop``: with ``--profile-from-start off`` Nsight Compute profiles only its kernels
(forward, backward, segment pre-passes, and the few torch ops around them).
``scripts/gpu/ncu_scan.sh`` runs it under ncu for the comparison shapes. Needs a GPU; no hydra
or mlflow.
"""

from __future__ import annotations

import argparse

import torch

from tsssm.benchmarks.cases import PairCase
from tsssm.benchmarks.peers import DTYPES, scan_inputs

from segment_sweep import mode_calls  # this script's folder is on the path

WARM_CALLS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--length", type=int, required=True)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--chunk", type=int, default=None,
                        help="steps per chunk (default: the library's)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.exit(1, "ncu_scan.py: needs a CUDA GPU\n")
    case = PairCase("scan", args.dtype, args.batch, args.length, args.state)
    call = mode_calls(scan_inputs(case, True)[0], chunk_size=args.chunk)["fwd+bwd"]
    for _ in range(WARM_CALLS):
        call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    call()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
    print(f"profiled {case.label} {args.dtype} fwd+bwd", flush=True)


if __name__ == "__main__":
    main()
