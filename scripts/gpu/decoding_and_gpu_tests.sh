#!/usr/bin/env bash
# The GPU tests of the kernels, mixers, models and benchmark, then decoding speed:
#  - gpu_tests.log: python -m pytest -m gpu over tests/kernels, tests/mixers, tests/models, tests/test_bench.py,
#    tests/test_generate.py, tests/run/test_graphed_training.py;
#  - fsdd-mamba: a short FSDD run of the seq/mamba preset (its checkpoint only serves generate);
#  - generate/: python -m tsssm.generate from that checkpoint, n=3 samples of 8000 tokens (tokens/s in
#    generation.json, decoded through a CUDA graph of the model's step);
#  - generation/: python -m tsssm.bench generation at batch 3 (prefill, graph capture, ms per step);
#  - runs.tgz: the FSDD run, the samples and the bench's files (every file of OUT but the logs);
#  - triton-*.tgz: Triton's cache for the next call's .carry/triton (triton_cache.sh).
# The GPU tests run in ten groups side by side, while the FSDD run trains; generate and the bench
# run after them, alone. Graphed training has its own process, so that a capture that fails there
# (which can leave the CUDA generator unusable) cannot fail the other groups' tests.
# Usage: bash scripts/gpu/decoding_and_gpu_tests.sh OUT_DIR
# GPU_TESTS_ONLY=1: the tests alone (no FSDD run, generate or bench), for a call that times
# kernels after them.
# GROUP_LIMIT: seconds each test group may take (default 420); a group stopped so keeps its lines
# in gpu_tests.log, followed by one saying it was stopped.
# GPU_TEST_GROUPS: the indices (from 0, in the order below) of the groups to run, e.g. "5 6" for
# a call that owes only those; all of them by default.
# TSSSM_DATA must hold FSDD (fsdd/) and tiny shakespeare (text/): the FSDD run and the GPU test
# of generate train on them.
set -uo pipefail
# Two CPU threads per process: ten run side by side on the machine's cores (torch's default of one
# thread per core in each would thrash them).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
out=${1:?usage: decoding_and_gpu_tests.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/device.csv"
# Kernels compiled and tuned by an earlier call (.carry/triton) are not again (triton_cache.sh).
source "$(dirname "$0")/triton_cache.sh"
triton_cache_restore
scan=tests/kernels/test_selective_scan_triton.py
ssd=tests/kernels/test_ssd_triton.py
graphed=tests/run/test_graphed_training.py
# Each scan shape autotunes its kernels (tens of seconds a shape), so the scans' tests are split
# by test function: in one process the SSD's ran past 420 s.
groups=("tests/kernels/test_causal_conv_triton.py tests/kernels/test_s4_triton.py tests/kernels/test_mamba_step_triton.py tests/kernels/test_selective_scan_launch.py"
        "$scan::test_scan_matches_reference_on_gpu"
        "$scan::test_scan_matches_reference_on_gpu_in_default_segments"
        "$scan::test_scan_matches_reference_on_gpu_odd_length_no_options $scan::test_auto_backend_picks_triton_on_gpu $scan::test_state_update_matches_reference_on_gpu"
        "$ssd::test_scan_matches_reference_on_gpu"
        "$ssd::test_scan_matches_reference_on_gpu_ragged_chunk_256"
        "$ssd::test_scan_matches_reference_on_gpu_with_chained_states"
        "$ssd::test_scan_matches_reference_on_gpu_with_16_wide_states $ssd::test_scan_matches_reference_on_gpu_with_16_wide_heads $ssd::test_auto_backend_picks_triton_on_gpu $ssd::test_state_update_matches_reference_on_gpu"
        "tests/mixers tests/models tests/test_bench.py tests/test_generate.py"
        "$graphed")
limit=${GROUP_LIMIT:-420}
chosen=(${GPU_TEST_GROUPS:-${!groups[@]}})
for i in "${chosen[@]}"; do
  if [[ ! $i =~ ^[0-9]+$ ]] || ((i >= ${#groups[@]})); then
    echo "GPU_TEST_GROUPS: '$i' is not a group index (0 to $((${#groups[@]} - 1)))" >&2
    exit 2
  fi
done
for i in "${chosen[@]}"; do  # one process per group: their Triton compilations run side by side
  (timeout "$limit" python -m pytest -m gpu ${groups[$i]} -q -p no:cacheprovider -rs \
     --durations=5 > "$out/gpu_tests_$i.log" 2>&1
   [[ $? == 124 ]] && printf '\nstopped by GROUP_LIMIT (%s s) before its last test\n' \
     "$limit" >> "$out/gpu_tests_$i.log") &
done
decoding=$([[ ${GPU_TESTS_ONLY:-0} == 1 ]] && echo false || echo true)
if $decoding; then
  python -m tsssm.fit experiment=waveform/fsdd model=seq/mamba trainer=gpu seed=1 \
    trainer.enable_progress_bar=false trainer.max_steps=40 trainer.val_check_interval=20 \
    logger.tracking_uri=sqlite:///$out/fsdd-mamba.db hydra.run.dir=$out/fsdd-mamba \
    > "$out/fsdd-mamba.log" 2>&1 &
fi
wait
for i in "${chosen[@]}"; do
  echo "== python -m pytest -m gpu ${groups[$i]}"
  cat "$out/gpu_tests_$i.log"
  rm "$out/gpu_tests_$i.log"
done > "$out/gpu_tests.log"
# Decoding is timed with the GPU and the host to itself, not beside the tests, whose kernels and
# processes would share them (docs/benchmarks/h100-2026-12-06-gpu-tests/).
if $decoding; then
  python -m tsssm.generate checkpoint=$out/fsdd-mamba/checkpoints/best.ckpt n=3 length=8000 \
    output=$out/generate hydra.run.dir=$out/generate > "$out/generate.log" 2>&1
  timeout 150 python -m tsssm.bench generation --out "$out/generation" \
    --models mamba,mamba2,transformer,hybrid --batch 3 > "$out/generation.log" 2>&1
fi
find "$out" -name '*.ckpt' -delete  # the checkpoint served generate only
# A call hands back eight files: the logs above, the rest in one archive, Triton's cache.
rest=$(cd "$out" && ls -A | grep -vxE 'device.csv|gpu_tests.log|generate.log|generation.log')
if [[ -n $rest ]]; then
  tar czf "$out/runs.tgz" -C "$out" $rest && (cd "$out" && rm -rf $rest)
fi
triton_cache_save "$out"
