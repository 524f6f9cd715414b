#!/usr/bin/env bash
# Claims block c6: C6 recall, MQAR accuracy against width and length (study=c6_recall).
# Usage: bash scripts/gpu/claims_c6.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
run_study c6_recall 540 seq/s4 seq/mamba seq/mamba2 heads4/transformer heads4/hybrid
finish_block
