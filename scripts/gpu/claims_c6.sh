#!/usr/bin/env bash
# Claims block c6: C6 recall: MQAR accuracy against width and length (study=c6_recall), one sweep per model.
# One GPU call of under ten minutes: its runs stop after 540 s together. They write into a store in
# WORK (default /tmp/tsssm-claims; checkpoints stay there), copied to OUT/claims.db with the logs and
# the claims report (OUT/report) at the end. To continue a block where an earlier call stopped, pass
# that call's claims.db as PREVIOUS: the jobs it holds FINISHED are skipped.
# Usage: bash scripts/gpu/claims_c6.sh OUT [PREVIOUS]
set -uo pipefail
out=${1:?usage: claims_c6.sh OUT}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
[[ -n ${2:-} ]] && cp "$2" "$work/claims.db"

bash "$here/claims_study.sh" c6_recall "$work" 540 seq/s4 seq/mamba seq/mamba2 heads4/transformer \
  heads4/hybrid heads4/linear_attention seq/gss
cp "$work/claims.db" "$work"/*.log "$out/"
python -m tsssm.claims --tracking-uri "sqlite:///$(cd "$work" && pwd)/claims.db" --output "$out/report"
