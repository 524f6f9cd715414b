#!/usr/bin/env bash
# Nsight Compute's reading of the selective scan's kernels (forward, backward, segment
# pre-passes), or SSD's (chunk sums, states, chunk scans, pairs, dB/dC, the gate's backward), in
# one training call per shape: throughput against each unit's peak, occupancy, issue and stall
# statistics (each stall reason's warps per issued instruction), the memory tables (L2
# reductions: the scan backward's dB and dC atomics), and with NCU_SOURCE=1 the warp-stall
# samples and executed counts of every SASS instruction (ncu's source page, as CSV), which say
# which instructions the stalls sit on.
# Usage: [NCU_SOURCE=1] bash scripts/gpu/ncu_scan.sh OUT [KERNEL:BATCH:LENGTH:DTYPE ...]
#   default shapes: scan:4:65536:bf16 scan:1:65536:bf16 scan:1:2048:bf16 scan:4:65536:fp32
#   ssd:4:65536:bf16 ssd:1:65536:bf16 (SSD at N 128, as the side-by-side comparison's first rows)
# Writes OUT/ncu_<kernel>_B<batch>_L<length>_<dtype>.txt per shape (and, with NCU_SOURCE, its
# .sass.csv.gz: a table per kernel launch, which scripts/gpu/ncu_sass.py sums). Needs ncu (the lent
# machines' Firecracker runtime reads the counters; --clock-control none leaves the clocks as
# they are).
set -euo pipefail
out=${1:?usage: bash $0 OUT [KERNEL:BATCH:LENGTH:DTYPE ...]}
shift
shapes=("$@")
((${#shapes[@]})) || shapes=(scan:4:65536:bf16 scan:1:65536:bf16 scan:1:2048:bf16
                             scan:4:65536:fp32 ssd:4:65536:bf16 ssd:1:65536:bf16)
mkdir -p "$out"
sections=()
for section in SpeedOfLight Occupancy LaunchStats SchedulerStats WarpStateStats InstructionStats \
               ComputeWorkloadAnalysis MemoryWorkloadAnalysis_Tables; do
  sections+=(--section "$section")
done
[[ ${NCU_SOURCE:-0} == 1 ]] && sections+=(--section SourceCounters)
# Warps stalled per issued instruction, by reason (Warp State Statistics' breakdown, which the
# text report leaves out unless asked for by name).
stalls=()
for reason in barrier branch_resolving dispatch_stall drain imc_miss lg_throttle long_scoreboard \
              math_pipe_throttle membar mio_throttle misc no_instruction not_selected selected \
              short_scoreboard sleeping tex_throttle wait; do
  stalls+=("smsp__average_warps_issue_stalled_${reason}_per_issue_active.ratio")
done
declare -A kernels=([scan]='^(scan|segment)_' [ssd]='^(chunk|pass_states|dt_cumsum|gate)_')
for shape in "${shapes[@]}"; do
  IFS=: read -r kernel batch length dtype <<< "$shape"
  if [[ -z ${kernels[$kernel]:-} ]]; then
    echo "unknown kernel '$kernel' in $shape (scan or ssd)"
    exit 2
  fi
  report="$out/ncu_${kernel}_B${batch}_L${length}_${dtype}"
  ncu --clock-control none --profile-from-start off -f -o "$report" \
    --kernel-name "regex:${kernels[$kernel]}" \
    "${sections[@]}" --metrics "$(IFS=,; echo "${stalls[*]}")" \
    python "$(dirname "$0")/ncu_scan.py" --kernel "$kernel" --batch "$batch" --length "$length" \
      --dtype "$dtype" > "$report.log" 2>&1 || echo "ncu failed for $shape (see $report.log)"
  ncu --import "$report.ncu-rep" --print-details all > "$report.txt" 2>&1
  if [[ ${NCU_SOURCE:-0} == 1 ]]; then
    ncu --import "$report.ncu-rep" --page source --print-source sass --csv 2>&1 \
      | gzip > "$report.sass.csv.gz"
  fi
  cat "$report.log" >> "$report.txt" && rm -f "$report.log" "$report.ncu-rep"
done
