#!/usr/bin/env bash
# Claims block costs: C1 and C2, training step and decoding cost against L (scripts/claims_costs.py),
# alone on the GPU so that nothing else shares its time: c1 first, then c2.
# Usage: bash scripts/gpu/claims_costs.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
timeout --signal=INT 300 python scripts/claims_costs.py c1 --tracking-uri "$store" > "$work/c1.log" 2>&1
timeout --signal=INT 240 python scripts/claims_costs.py c2 --tracking-uri "$store" > "$work/c2.log" 2>&1
finish_block
