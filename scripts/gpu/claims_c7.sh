#!/usr/bin/env bash
# Claims block c7: C7 a change of sampling rate, FSDD trained at 8 kHz and tested at 4, 8 and 16 kHz
# (study=c7_sampling_rate), one sweep per model and seed side by side (CLAIMS_SEEDS): with one
# sweep per model, an H100 under MPS took 166-178 s for a training of seq/mamba or seq/transformer
# and 353 s for one of seq/s4, so S4's three seeds one after another outlast a call.
# Usage: bash scripts/gpu/claims_c7.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
CLAIMS_SEEDS=${CLAIMS_SEEDS-1 2 3} run_study c7_sampling_rate 540 seq/s4 seq/mamba seq/transformer
finish_block
