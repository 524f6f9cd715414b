#!/usr/bin/env bash
# Claims block c7: C7 a change of sampling rate: FSDD trained at 8 kHz, tested at 4, 8 and 16 kHz
# (study=c7_sampling_rate), one sweep per model.
# One GPU call of under ten minutes: its runs stop after 540 s together. They write into a store in
# WORK (default /tmp/tsssm-claims; checkpoints stay there), copied to OUT/claims.db with the logs and
# the claims report (OUT/report) at the end. To continue a block where an earlier call stopped, pass
# that call's claims.db as PREVIOUS: the jobs it holds FINISHED are skipped.
# Usage: bash scripts/gpu/claims_c7.sh OUT [PREVIOUS]
set -uo pipefail
out=${1:?usage: claims_c7.sh OUT}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
[[ -n ${2:-} ]] && cp "$2" "$work/claims.db"

bash "$here/claims_study.sh" c7_sampling_rate "$work" 540 seq/s4 seq/mamba seq/transformer
cp "$work/claims.db" "$work"/*.log "$out/"
python -m tsssm.claims --tracking-uri "sqlite:///$(cd "$work" && pwd)/claims.db" --output "$out/report"
