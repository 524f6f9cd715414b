#!/usr/bin/env bash
# Data-parallel scaling on one node: mamba and transformer on ETTm1 (forecasting) and FSDD (raw
# waveform), each trained for the same number of steps on 1 GPU (trainer=gpu) and on 2 GPUs
# (trainer=ddp, same per-GPU batch, so 2 GPUs see twice the samples per step). Throughput is
# Lightning's ThroughputMonitor (callbacks=throughput) over the last 50 training batches. Then the
# 1-GPU checkpoints of ETTm1 transformer and FSDD mamba are evaluated again on 1 and on 2 GPUs
# (tsssm.evaluate), with predictions.
# Usage: bash scripts/gpu/ddp_scaling.sh OUT_DIR [STEPS]; then python scripts/ddp_report.py OUT_DIR
set -euo pipefail
out=${1:?usage: ddp_scaling.sh OUT_DIR [STEPS]}
steps=${2:-200}
mkdir -p "$out"
out=$(cd "$out" && pwd)
store=sqlite:///$out/mlflow.db
common=(callbacks=throughput seed=1 trainer.enable_progress_bar=false logger.tracking_uri=$store
        logger.experiment_name=ddp_scaling ++trainer.max_steps=$steps ++trainer.limit_val_batches=20)
declare -A setups=(
  [ettm1-mamba]="experiment=ltsf/ettm1 model=mamba ++trainer.val_check_interval=$steps"
  [ettm1-transformer]="experiment=ltsf/ettm1 model=transformer ++trainer.val_check_interval=$steps"
  [fsdd-mamba]="experiment=waveform/fsdd model=seq/mamba ++trainer.val_check_interval=$steps"
  [fsdd-transformer]="experiment=waveform/fsdd model=seq/transformer ++trainer.val_check_interval=$steps"
)
for name in ettm1-mamba ettm1-transformer fsdd-mamba fsdd-transformer; do
  for gpus in 1 2; do
    if [ "$gpus" = 1 ]; then trainer=(trainer=gpu); else trainer=(trainer=ddp trainer.devices=2); fi
    # shellcheck disable=SC2086
    python -m tsssm.fit ${setups[$name]} "${common[@]}" "${trainer[@]}" \
      hydra.run.dir=$out/$name-gpus$gpus > "$out/$name-gpus$gpus.log" 2>&1
  done
  [[ $name == ettm1-transformer || $name == fsdd-mamba ]] || continue
  for gpus in 1 2; do
    if [ "$gpus" = 1 ]; then trainer=(trainer=gpu); else trainer=(trainer=ddp trainer.devices=2); fi
    python -m tsssm.evaluate checkpoint=$out/$name-gpus1/checkpoints/best.ckpt "${trainer[@]}" \
      trainer.enable_progress_bar=false predictions=$out/$name-eval$gpus.parquet \
      hydra.run.dir=$out/$name-eval$gpus > "$out/$name-eval$gpus.log" 2>&1
  done
done
