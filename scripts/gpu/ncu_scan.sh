#!/usr/bin/env bash
# Nsight Compute's reading of the selective scan's kernels (forward, backward, segment
# pre-passes) in one training call per shape: throughput against each unit's peak, occupancy,
# issue and stall statistics, the memory tables (L2 reductions: the backward's dB and dC atomics).
# Usage: bash scripts/gpu/ncu_scan.sh OUT [BATCH:LENGTH:DTYPE ...]
#   default shapes: 4:65536:bf16 1:65536:bf16 1:2048:bf16 4:65536:fp32
# Writes OUT/ncu_B<batch>_L<length>_<dtype>.txt per shape. Needs ncu (the lent machines'
# Firecracker runtime reads the counters; --clock-control none leaves the clocks as they are).
set -euo pipefail
out=${1:?usage: bash $0 OUT [BATCH:LENGTH:DTYPE ...]}
shift
shapes=("$@")
((${#shapes[@]})) || shapes=(4:65536:bf16 1:65536:bf16 1:2048:bf16 4:65536:fp32)
mkdir -p "$out"
sections=()
for section in SpeedOfLight Occupancy LaunchStats SchedulerStats WarpStateStats InstructionStats \
               ComputeWorkloadAnalysis MemoryWorkloadAnalysis_Tables; do
  sections+=(--section "$section")
done
for shape in "${shapes[@]}"; do
  IFS=: read -r batch length dtype <<< "$shape"
  ncu --clock-control none --profile-from-start off --kernel-name regex:'^(scan|segment)_' \
    "${sections[@]}" \
    python "$(dirname "$0")/ncu_scan.py" --batch "$batch" --length "$length" --dtype "$dtype" \
    > "$out/ncu_B${batch}_L${length}_${dtype}.txt" 2>&1 \
    || echo "ncu failed for $shape (see $out/ncu_B${batch}_L${length}_${dtype}.txt)"
done
