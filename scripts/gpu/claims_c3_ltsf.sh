#!/usr/bin/env bash
# Claims block c3_ltsf: C3 long-horizon forecasting (study=c3_ltsf, then study=c3_ltsf_ili), one sweep per model.
# One GPU call of under ten minutes: its runs stop after 540 s together. They write into a store in
# WORK (default /tmp/tsssm-claims; checkpoints stay there), copied to OUT/claims.db with the logs and
# the claims report (OUT/report) at the end. To continue a block where an earlier call stopped, pass
# that call's claims.db as PREVIOUS: the jobs it holds FINISHED are skipped.
# Usage: bash scripts/gpu/claims_c3_ltsf.sh OUT [PREVIOUS]
set -uo pipefail
out=${1:?usage: claims_c3_ltsf.sh OUT}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
[[ -n ${2:-} ]] && cp "$2" "$work/claims.db"

models=(s4 s4d mamba mamba2 transformer hybrid lstm linear_attention gss dlinear)
bash "$here/claims_study.sh" c3_ltsf "$work" 420 "${models[@]}"
bash "$here/claims_study.sh" c3_ltsf_ili "$work" 120 "${models[@]}"
cp "$work/claims.db" "$work"/*.log "$out/"
python -m tsssm.claims --tracking-uri "sqlite:///$(cd "$work" && pwd)/claims.db" --output "$out/report"
