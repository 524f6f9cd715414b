#!/usr/bin/env bash
# Training epochs of a search trial's forecaster (ETTh1, width 64, 2 layers, batch 32), eager
# against replayed from CUDA graphs (callbacks=graphed), one process alone and PROCS side by side
# as a search block runs them (one CPU thread each), the GPU time-sliced between them or shared
# through MPS (scripts/gpu/mps.sh). Each fit trains two epochs; the second epoch's seconds (its
# ~255 training steps and its validation, the kernels tuned and the graphs captured in the first)
# go into OUT/graphed_steps.md, one row per process, and the machine's epochs a minute per
# setting. ALONE=0 leaves out the one-process settings.
# Usage: bash scripts/gpu/graphed_steps.sh OUT [PROCS] [MODEL ...]
#   default: 14 processes; mamba mamba2 s4 transformer
set -uo pipefail
source "$(dirname "$0")/mps.sh"
export OMP_NUM_THREADS=1
out=${1:?usage: bash $0 OUT [PROCS] [MODEL ...]}
procs=${2:-14}
shift $(($# > 1 ? 2 : 1))
models=("$@")
((${#models[@]})) || models=(mamba mamba2 s4 transformer)
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)
table="$out/graphed_steps.md"
{
  device=$(nvidia-smi --query-gpu=name --format=csv,noheader)
  echo "# Second-epoch seconds of ETTh1 forecasters, eager and CUDA-graphed ($device)"
  echo
  echo "| processes | GPU shared by | callbacks | model | epoch 2 s |"
  echo "|---:|---|---|---|---:|"
} > "$table"
settings=()
((${ALONE:-1})) && settings+=("1 slices default" "1 slices graphed")
((procs > 1)) && settings+=("$procs slices default" "$procs slices graphed" "$procs mps default"
                            "$procs mps graphed")
for setting in "${settings[@]}"; do
  read -r side_by_side sharing callbacks <<< "$setting"
  if [[ $sharing == mps ]] && ! mps_start "$out/mps"; then
    continue
  fi
  runs=()
  for ((i = 0; i < side_by_side; i++)); do
    model=${models[$((i % ${#models[@]}))]}
    run="runs/p${side_by_side}-$sharing-$callbacks-$i"
    runs+=("$model $run")
    python -m tsssm.fit experiment=ltsf/etth1 "model=$model" trainer=gpu "callbacks=$callbacks" \
      trainer.max_epochs=2 trainer.enable_progress_bar=false model.backbone.d_model=64 \
      model.backbone.n_layers=2 logger=csv "seed=$((i + 1))" "hydra.run.dir=$out/$run" \
      > "$out/$run.log" 2>&1 &
  done
  wait
  [[ $sharing == mps ]] && mps_stop
  for entry in "${runs[@]}"; do
    read -r model run <<< "$entry"
    seconds=$(grep -o "^epoch 2/2 .*  [0-9.]* s$" "$out/$run.log" | awk '{print $(NF-1)}')
    echo "| $side_by_side | $sharing | $callbacks | $model | ${seconds:-failed: $run.log} |"
  done >> "$table"
done
{
  echo
  awk -F'|' '/^\| [0-9]/ && $6 + 0 > 0 {s = $3; c = $4; gsub(/ /, "", s); gsub(/ /, "", c)
                                          rate[$2 + 0 " processes, " s ", " c] += 60 / $6}
             END {for (key in rate) printf "- %s: %.1f epochs a minute\n", key, rate[key]}' "$table"
} >> "$table"
cat "$table"
