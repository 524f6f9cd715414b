#!/usr/bin/env bash
# A pilot of the recall study (conf/study/c6_recall.yaml) before its block spends GPU time: does a
# model reach the study's stopping accuracy within its 5,000 steps, and does training on Zoology's
# 100,000 examples rather than the study's 20,000 change that? One fit of the study's settings
# (seed 1, width 128) per model, length, learning rate and training-set size, all side by side
# through MPS, for at most LIMIT seconds (default 480); their validation accuracy every 250 steps
# goes to OUT/curves.md (scripts/validation_curves.py), the store to OUT/pilot.db.gz, the fits'
# logs to OUT/logs.tgz. The runs are in an experiment of their own (pilots/c6-recall), never
# counted by the report. The steps replay CUDA graphs, as the block's do (PILOT_CALLBACKS=default:
# eagerly).
# Usage: bash scripts/gpu/recall_pilot.sh OUT [LIMIT]
set -uo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:?usage: recall_pilot.sh OUT [LIMIT]}
limit=${2:-480}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-pilot}
mkdir -p "$work" "$out"
work=$(cd "$work" && pwd)
store="sqlite:///$work/pilot.db"
source "$here/mps.sh"
[[ ${GPU_SHARING:-mps} == mps ]] && mps_start "$work/mps"
source "$here/triton_cache.sh"
triton_cache_restore
models=${PILOT_MODELS:-heads4/transformer seq/mamba}
for model in $models; do
  for seq_len in ${PILOT_LENGTHS:-64 256}; do
    for lr in ${PILOT_LRS:-4.6e-4 2.2e-3}; do
      for n_train in 20000 100000; do
        name=${model//\//-}_L${seq_len}_lr${lr}_n${n_train}
        timeout --signal=INT "$limit" python -m tsssm.fit study=c6_recall experiment=recall/mqar \
          "model=$model" model.backbone.d_model=128 "data.seq_len=$seq_len" \
          "model.optim.lr=$lr" "data.n_train=$n_train" seed=1 trainer=gpu \
          "callbacks=${PILOT_CALLBACKS:-graphed}" \
          logger.experiment_name=pilots/c6-recall logger.tracking_uri="$store" \
          hydra.run.dir="$work/runs/$name" > "$work/$name.log" 2>&1 &
      done
    done
  done
done
wait
[[ -n ${CUDA_MPS_PIPE_DIRECTORY:-} ]] && mps_stop
python scripts/validation_curves.py "$store" pilots/c6-recall val/accuracy \
  --params model.name data.seq_len model.optim.lr data.n_train > "$out/curves.md"
gzip -c "$work/pilot.db" > "$out/pilot.db.gz"
tar czf "$out/logs.tgz" -C "$work" $(cd "$work" && ls *.log)
triton_cache_save "$out"
