#!/usr/bin/env bash
# Do the kernels pass, and how do they compare: the GPU tests (decoding_and_gpu_tests.sh with
# GPU_TESTS_ONLY=1) while mamba_ssm's CUDA scan builds from PEER beside them, then the
# side-by-side kernel bench (tsssm.bench kernels, peer sections) until DEADLINE.
# Usage: bash scripts/gpu/tests_and_peers.sh OUT PEER [SECTIONS]
#   PEER: a writable copy of mamba_ssm's sources; the build stays in it, so a later call on the
#   same machine loads it at once
#   SECTIONS: the bench's sections (default peer-scan; peer-ssd,peer-scan for both)
#   DEADLINE: seconds since the epoch at which the bench's budget ends (default: start + 540)
#   TESTS_LIMIT: seconds each group of tests may take (default 400; the groups run side by side)
# Writes OUT/tests/ (gpu_tests.log, device.csv), OUT/peer_build.log, OUT/peer/ (kernels.md,
# kernels.json) and OUT/peer.log.
set -uo pipefail
usage="usage: tests_and_peers.sh OUT PEER [SECTIONS]"
out=${1:?$usage}
peer=$(realpath "${2:?$usage}")
sections=${3:-peer-scan}
deadline=${DEADLINE:-$(($(date +%s) + 540))}
mkdir -p "$out/peer"
nice -n 19 python -c "from pathlib import Path; from tsssm.benchmarks.peer_library \
import load_peer_scan; load_peer_scan(Path('$peer'))" > "$out/peer_build.log" 2>&1 &
build=$!
GPU_TESTS_ONLY=1 GROUP_LIMIT=${TESTS_LIMIT:-400} \
  bash "$(dirname "$0")/decoding_and_gpu_tests.sh" "$out/tests"
wait "$build" || echo "tests_and_peers.sh: the peer build failed (see $out/peer_build.log)"
python -m tsssm.bench kernels --sections "$sections" --peer-dir "$peer" --out "$out/peer" \
  --budget-s $((deadline - $(date +%s))) > "$out/peer.log" 2>&1
