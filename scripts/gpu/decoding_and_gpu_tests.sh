#!/usr/bin/env bash
# The GPU tests of the kernels, mixers, models and benchmark, then decoding speed:
#  - gpu_tests.log: python -m pytest -m gpu over tests/kernels, tests/mixers, tests/models, tests/test_bench.py;
#  - fsdd-mamba: a short FSDD run of the seq/mamba preset (its checkpoint only serves generate);
#  - generate/: python -m tsssm.generate from that checkpoint, n=3 samples of 8000 tokens (tokens/s in
#    generation.json, decoded through a CUDA graph of the model's step);
#  - generation/: python -m tsssm.bench generation at batch 3 (prefill, graph capture, ms per step).
# Usage: bash scripts/gpu/decoding_and_gpu_tests.sh OUT_DIR
set -uo pipefail
out=${1:?usage: decoding_and_gpu_tests.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/device.csv"
timeout 300 python -m pytest -m gpu tests/kernels tests/mixers tests/models tests/test_bench.py \
  -q -p no:cacheprovider -rs > "$out/gpu_tests.log" 2>&1
echo "gpu tests: exit $?" >> "$out/gpu_tests.log"
python -m tsssm.fit experiment=waveform/fsdd model=seq/mamba trainer=gpu seed=1 \
  trainer.enable_progress_bar=false trainer.max_steps=40 trainer.val_check_interval=20 \
  logger.tracking_uri=sqlite:///$out/fsdd-mamba.db hydra.run.dir=$out/fsdd-mamba > "$out/fsdd-mamba.log" 2>&1
python -m tsssm.generate checkpoint=$out/fsdd-mamba/checkpoints/best.ckpt n=3 length=8000 \
  output=$out/generate hydra.run.dir=$out/generate > "$out/generate.log" 2>&1
timeout 150 python -m tsssm.bench generation --out "$out/generation" --models mamba,mamba2,transformer,hybrid \
  --batch 3 > "$out/generation.log" 2>&1
find "$out" -name '*.ckpt' -delete  # the checkpoint served generate only
