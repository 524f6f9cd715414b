#!/usr/bin/env bash
# Claims block c5: C5 hybrids at matched size on FSDD, tiny shakespeare bytes and MQAR (study=c5_*).
# Usage: bash scripts/gpu/claims_c5.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
for data in fsdd bytes mqar; do
  run_study c5_$data 180 seq/mamba mix/eighth seq/hybrid mix/half seq/transformer
done
finish_block
