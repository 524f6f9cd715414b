#!/usr/bin/env bash
# This tree's selective scan against another tree's, side by side in one call on one GPU
# (against_base.sh): the forward and forward+backward (wall and CUDA-graph GPU time,
# `chunk_sweep.py`) of each case, first with this tree's `tsssm` on the path, then with BASE's.
# Usage: bash scripts/gpu/scan_against_base.sh OUT BASE [CASES] [CHUNK]
#   BASE: a folder holding another tree's package, e.g. git archive REF tsssm | tar -x -C BASE
#   CASES: chunk_sweep's DTYPE:BATCH:LENGTH list (default: the side-by-side shapes at bf16 and
#   fp32 B1 L2K); CHUNK: steps per chunk (default 8, the library's with a gradient due)
# Writes OUT/tree/chunks.md and OUT/base/chunks.md.
set -euo pipefail
usage="usage: scan_against_base.sh OUT BASE [CASES] [CHUNK]"
here=$(dirname "$0")
cases=${3:-bf16:8:2048,bf16:8:8192,bf16:4:65536,bf16:1:65536,bf16:1:8192,bf16:1:2048,fp32:1:2048}
bash "$here/against_base.sh" "${1:?$usage}" "${2:?$usage}" "$here/chunk_sweep.py" \
  --chunks "${4:-8}" --cases "$cases"
