#!/usr/bin/env bash
# Claims block c7: C7 a change of sampling rate, FSDD trained at 8 kHz and tested at 4, 8 and 16 kHz
# (study=c7_sampling_rate), one sweep per model and seed side by side (CLAIMS_SEEDS). On an H100
# under MPS, three trainings side by side (one per model) took 166-178 s for seq/mamba or
# seq/transformer and 353 s for seq/s4; seven (Mamba's and the Transformer's three seeds, S4's
# first) took 409-490 s, the GPU busy 88% (mean of 2 s samples) and the host's cores 44% (their
# median): the GPU sets the pace, so nine need more than one call, and a launch given the last
# call's store runs only what is left. S4 slows most beside others: its epochs took 11-14 s alone,
# 16-21 s two side by side, 84 s three beside two C5 trainings (cut at step 800 of 1,000 by the
# 540 s), so CLAIMS_SEEDS="2 3" then "1" finished it.
# Usage: bash scripts/gpu/claims_c7.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
CLAIMS_SEEDS=${CLAIMS_SEEDS-1 2 3} run_study c7_sampling_rate 540 seq/s4 seq/mamba seq/transformer
finish_block
