#!/usr/bin/env bash
# Waveform, byte and recall measurements on a node with 2 GPUs, every training job at once (small models share a GPU):
#  - FSDD test bits per sample: s4, mamba, mamba2, transformer, hybrid (conf/model/seq/*: matched
#    parameter counts), the same max_steps and batch for every model;
#  - tinyshakespeare test bits per byte: byte-level mamba, s4, transformer and a BPE transformer;
#  - MQAR test accuracy against sequence length for mamba and transformer;
# then a few FSDD samples from the mamba and s4 checkpoints. Each job has its own MLflow store.
# max_time caps every job (a job that hits it trains fewer steps: the report shows trained_steps).
# Usage: bash scripts/gpu/sequence_runs.sh OUT_DIR [STEPS] [MAX_TIME]
set -uo pipefail
# Side-by-side processes get one CPU thread each: with torch's default (one per core) ten of
# them thrash the cores, and a small model's fit runs several times slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:?usage: sequence_runs.sh OUT_DIR [STEPS] [MAX_TIME]}
steps=${2:-1000}
max_time=${3:-00:00:05:30}
mkdir -p "$out"
out=$(cd "$out" && pwd)
common=(trainer=gpu seed=1 trainer.enable_progress_bar=false trainer.max_steps=$steps
        trainer.val_check_interval=$((steps / 4)) +trainer.max_time=$max_time)

job() {  # job NAME GPU OVERRIDES...
  local name=$1 gpu=$2
  shift 2
  CUDA_VISIBLE_DEVICES=$gpu python -m tsssm.fit "$@" "${common[@]}" \
    logger.tracking_uri=sqlite:///$out/$name.db hydra.run.dir=$out/$name > "$out/$name.log" 2>&1 &
}

job fsdd-s4 0 experiment=waveform/fsdd model=seq/s4
job fsdd-mamba 0 experiment=waveform/fsdd model=seq/mamba
job fsdd-mamba2 0 experiment=waveform/fsdd model=seq/mamba2
job fsdd-transformer 1 experiment=waveform/fsdd model=seq/transformer
job fsdd-hybrid 1 experiment=waveform/fsdd model=seq/hybrid
job bytes-mamba 0 experiment=bytes/shakespeare model=seq/mamba
job bytes-s4 1 experiment=bytes/shakespeare model=seq/s4
job bytes-transformer 1 experiment=bytes/shakespeare model=seq/transformer
job bpe-transformer 0 experiment=bytes/shakespeare_bpe model=seq/transformer
for seq_len in 64 128 256 512; do
  pairs=$((seq_len / 16))
  job mqar-mamba-L$seq_len 0 experiment=recall/mqar model=seq/mamba data.seq_len=$seq_len \
    data.n_kv_pairs=$pairs data.num_workers=2
  job mqar-transformer-L$seq_len 1 experiment=recall/mqar model=seq/transformer \
    data.seq_len=$seq_len data.n_kv_pairs=$pairs data.num_workers=2
done
wait
for model in mamba s4; do
  python -m tsssm.generate checkpoint=$out/fsdd-$model/checkpoints/best.ckpt n=3 length=8000 \
    temperature=1.0 seed=1 output=$out/samples/fsdd-$model hydra.run.dir=$out/generate-$model \
    > "$out/generate-$model.log" 2>&1
done
