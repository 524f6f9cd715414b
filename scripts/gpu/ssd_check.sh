#!/usr/bin/env bash
# An SSD kernel change on the GPU in one call: its tests (tests/kernels/test_ssd_triton.py whole:
# on a GPU the float64-reference tests run the kernels compiled, not interpreted), its kernels
# against BASE's one by one (against_base.sh with ssd_profile.py: wall, CUDA-graph GPU time and
# every kernel's µs per call), then, given PEER, the side-by-side rows against mamba_ssm's Triton
# SSD (tsssm.bench kernels --sections peer-ssd) until DEADLINE.
# Usage: bash scripts/gpu/ssd_check.sh OUT BASE [PEER]
#   BASE: a folder holding another tree's package, e.g. git archive REF tsssm | tar -x -C BASE
#   PEER: a copy of mamba_ssm's sources (its Triton SSD needs no build)
#   SSD_CASES: ssd_profile.py's --cases (default N128, the three N 128 shapes)
#   DEADLINE: seconds since the epoch by which the peer rows end (default: start + 540)
#   SSD_TESTS: a pytest -k expression choosing the tests (default: all); TESTS_S: their time
#     limit in seconds (default 240). After a kernel change every autotuned config compiles
#     again, and the whole file then runs past a call (the tests of every GPU config most).
# Writes OUT/ssd_tests.log, OUT/tree/ssd_profile.md, OUT/base/ssd_profile.md, OUT/peer/ and
# OUT/peer.log.
set -uo pipefail
usage="usage: ssd_check.sh OUT BASE [PEER]"
out=${1:?$usage}
base=${2:?$usage}
deadline=${DEADLINE:-$(($(date +%s) + 540))}
here=$(dirname "$0")
mkdir -p "$out"
timeout "${TESTS_S:-240}" python -m pytest -q -p no:cacheprovider --tb=short \
  ${SSD_TESTS:+-k "$SSD_TESTS"} tests/kernels/test_ssd_triton.py > "$out/ssd_tests.log" 2>&1
tail -n 1 "$out/ssd_tests.log"
bash "$here/against_base.sh" "$out" "$base" "$here/ssd_profile.py" --cases "${SSD_CASES:-N128}"
if [[ -n ${3:-} ]]; then
  python -m tsssm.bench kernels --sections peer-ssd --peer-dir "$3" --out "$out/peer" \
    --budget-s $((deadline - $(date +%s))) > "$out/peer.log" 2>&1
fi
