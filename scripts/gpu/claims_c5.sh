#!/usr/bin/env bash
# Claims block c5: C5 hybrids at matched size on FSDD, tiny shakespeare bytes and MQAR (study=c5_*), one sweep per
# attention fraction.
# One GPU call of under ten minutes: its runs stop after 540 s together. They write into a store in
# WORK (default /tmp/tsssm-claims; checkpoints stay there), copied to OUT/claims.db with the logs and
# the claims report (OUT/report) at the end. To continue a block where an earlier call stopped, pass
# that call's claims.db as PREVIOUS: the jobs it holds FINISHED are skipped.
# Usage: bash scripts/gpu/claims_c5.sh OUT [PREVIOUS]
set -uo pipefail
out=${1:?usage: claims_c5.sh OUT}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
[[ -n ${2:-} ]] && cp "$2" "$work/claims.db"

models=(seq/mamba mix/eighth seq/hybrid mix/half seq/transformer)
for data in fsdd bytes mqar; do
  bash "$here/claims_study.sh" c5_$data "$work" 180 "${models[@]}"
done
cp "$work/claims.db" "$work"/*.log "$out/"
python -m tsssm.claims --tracking-uri "sqlite:///$(cd "$work" && pwd)/claims.db" --output "$out/report"
