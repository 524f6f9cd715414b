#!/usr/bin/env bash
# Claims block c7: C7 a change of sampling rate, FSDD trained at 8 kHz and tested at 4, 8 and 16 kHz
# (study=c7_sampling_rate).
# Usage: bash scripts/gpu/claims_c7.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
run_study c7_sampling_rate 540 seq/s4 seq/mamba seq/transformer
finish_block
