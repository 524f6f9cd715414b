#!/usr/bin/env bash
# This tree's selective scan against another tree's, side by side in one call on one GPU: the
# forward and forward+backward (wall and CUDA-graph GPU time, `chunk_sweep.py`) of each case,
# first with this tree's `tsssm` on the path, then with BASE's, one process each. Each tree
# compiles and tunes its own kernels (Triton's cache keys them by source).
# Usage: bash scripts/gpu/scan_against_base.sh OUT BASE [CASES] [CHUNK]
#   BASE: a folder holding another tree's package, e.g. git archive REF tsssm | tar -x -C BASE
#   CASES: chunk_sweep's DTYPE:BATCH:LENGTH list (default: the side-by-side shapes at bf16 and
#   fp32 B1 L2K); CHUNK: steps per chunk (default 8, the library's with a gradient due)
# Writes OUT/tree/chunks.md and OUT/base/chunks.md.
set -euo pipefail
usage="usage: scan_against_base.sh OUT BASE [CASES] [CHUNK]"
out=${1:?$usage}
base=$(realpath "${2:?$usage}")
cases=${3:-bf16:8:2048,bf16:8:8192,bf16:4:65536,bf16:1:65536,bf16:1:8192,bf16:1:2048,fp32:1:2048}
chunk=${4:-8}
if [[ ! -d $base/tsssm ]]; then
  echo "scan_against_base.sh: $base holds no tsssm package" \
    "(git archive REF tsssm | tar -x -C $base)"
  exit 2
fi
sweep=$(dirname "$0")/chunk_sweep.py
PYTHONPATH="$PWD:${PYTHONPATH:-}" python "$sweep" "$out/tree" --chunks "$chunk" --cases "$cases"
PYTHONPATH="$base:${PYTHONPATH:-}" python "$sweep" "$out/base" --chunks "$chunk" --cases "$cases"
