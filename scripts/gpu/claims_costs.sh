#!/usr/bin/env bash
# Claims block costs: C1 and C2, training step and decoding cost against L (scripts/claims_costs.py), alone on the
# GPU so that nothing else shares its time; c1 first, then c2, each within its time.
# One GPU call of under ten minutes: its runs stop after 540 s together. They write into a store in
# WORK (default /tmp/tsssm-claims; checkpoints stay there), copied to OUT/claims.db with the logs and
# the claims report (OUT/report) at the end. To continue a block where an earlier call stopped, pass
# that call's claims.db as PREVIOUS: the jobs it holds FINISHED are skipped.
# Usage: bash scripts/gpu/claims_costs.sh OUT [PREVIOUS]
set -uo pipefail
out=${1:?usage: claims_costs.sh OUT}
here=$(dirname "$0")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
[[ -n ${2:-} ]] && cp "$2" "$work/claims.db"

db="sqlite:///$(cd "$work" && pwd)/claims.db"
timeout --signal=INT 300 python scripts/claims_costs.py c1 --tracking-uri "$db" > "$work/c1.log" 2>&1
timeout --signal=INT 240 python scripts/claims_costs.py c2 --tracking-uri "$db" > "$work/c2.log" 2>&1
cp "$work/claims.db" "$work"/*.log "$out/"
python -m tsssm.claims --tracking-uri "sqlite:///$(cd "$work" && pwd)/claims.db" --output "$out/report"
