#!/usr/bin/env bash
# This tree's kernels against another tree's, side by side in one call on one GPU: a benchmark
# script run twice, first with this tree's `tsssm` first on the path, then with BASE's, one
# process each, writing OUT/tree and OUT/base. Each tree compiles and tunes its own kernels
# (Triton's cache keys them by source), so a kernel both trees share is compiled once.
# Usage: bash scripts/gpu/against_base.sh OUT BASE SCRIPT [ARGS...]
#   BASE: a folder holding another tree's package, e.g. git archive REF tsssm | tar -x -C BASE
#   SCRIPT: a benchmark taking its output folder first, e.g. scripts/gpu/ssd_profile.py
#   e.g. bash scripts/gpu/against_base.sh OUT .carry/base scripts/gpu/ssd_profile.py \
#          --cases "B4 L64K,B1 L64K"
set -euo pipefail
usage="usage: against_base.sh OUT BASE SCRIPT [ARGS...]"
out=${1:?$usage}
base=$(realpath "${2:?$usage}")
script=${3:?$usage}
shift 3
if [[ ! -d $base/tsssm ]]; then
  echo "against_base.sh: $base holds no tsssm package (git archive REF tsssm | tar -x -C $base)"
  exit 2
fi
PYTHONPATH="$PWD:${PYTHONPATH:-}" python "$script" "$out/tree" "$@"
PYTHONPATH="$base:${PYTHONPATH:-}" python "$script" "$out/base" "$@"
