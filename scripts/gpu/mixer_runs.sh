#!/usr/bin/env bash
# Linear attention and the gated state space (GSS) on one GPU, measured as the other mixers were:
#  - ltsf: ETTh1, lookback 336, horizons 96 and 720, seed 1, learning rates 1e-4, 3e-4 and 1e-3 (one
#    MLflow experiment per rate, ltsf/etth1-lr<rate>, as scripts/gpu/ltsf_etth1.sh): the rate is
#    chosen per model and horizon by the best validation MSE;
#  - sequence: FSDD test bits per sample with the matched-size presets (conf/model/seq), the same
#    steps and batch as scripts/gpu/sequence_runs.sh, and MQAR test accuracy at lengths 64 to 512.
# Every job runs in the background (fits sharing a store open it one at a time:
# tsssm/run/tracked_run.py); max_time caps the sequence jobs. PARTS (default ltsf,sequence)
# picks the parts to run.
# Usage: bash scripts/gpu/mixer_runs.sh OUT_DIR [STEPS] [MAX_TIME] [PARTS]
set -uo pipefail
# Side-by-side processes get one CPU thread each: with torch's default (one per core) ten of
# them thrash the cores, and a small model's fit runs several times slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:?usage: mixer_runs.sh OUT_DIR [STEPS] [MAX_TIME] [PARTS]}
steps=${2:-1000}
max_time=${3:-00:00:04:00}
parts=,${4:-ltsf,sequence},
mkdir -p "$out"
out=$(cd "$out" && pwd)
models=(linear_attention gss)
rates=(1e-4 3e-4 1e-3)

if [[ $parts == *,ltsf,* ]]; then
  mkdir -p "$out/ltsf"  # one store for the LTSF sweeps, apart from the one-run stores of the rest
  for lr in "${rates[@]}"; do
    for horizon in 96 720; do
      python -m tsssm.fit -m experiment=ltsf/etth1 trainer=gpu seed=1 \
        trainer.enable_progress_bar=false "model=$(IFS=,; echo "${models[*]}")" \
        model.optim.lr=$lr data.horizon=$horizon logger.experiment_name=ltsf/etth1-lr$lr \
        logger.tracking_uri=sqlite:///$out/ltsf/mlflow.db hydra.sweep.dir=$out/sweep_lr${lr}_h$horizon \
        > "$out/fit_lr${lr}_h$horizon.log" 2>&1 &
    done
  done
fi

if [[ $parts == *,sequence,* ]]; then
  sequence=(trainer=gpu seed=1 trainer.enable_progress_bar=false trainer.max_steps=$steps
            trainer.val_check_interval=$((steps / 4)) +trainer.max_time=$max_time)
  job() {  # job NAME OVERRIDES...
    local name=$1
    shift
    python -m tsssm.fit "$@" "${sequence[@]}" logger.tracking_uri=sqlite:///$out/$name.db \
      hydra.run.dir=$out/$name > "$out/$name.log" 2>&1 &
  }
  for model in "${models[@]}"; do
    job fsdd-$model experiment=waveform/fsdd model=seq/$model
    for seq_len in 64 128 256 512; do
      job mqar-$model-L$seq_len experiment=recall/mqar model=seq/$model data.seq_len=$seq_len \
        data.n_kv_pairs=$((seq_len / 16)) data.num_workers=2
    done
  done
fi
wait

if [[ $parts == *,ltsf,* ]]; then
  for lr in "${rates[@]}"; do
    python -m tsssm.compare --experiment ltsf/etth1-lr$lr --tracking-uri sqlite:///$out/ltsf/mlflow.db \
      --metrics val/best_mse test/mse test/mae --output "$out/etth1_lr$lr"
  done
fi
if [[ $parts == *,sequence,* ]]; then
  python scripts/sequence_report.py "$out"
fi
