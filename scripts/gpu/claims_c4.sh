#!/usr/bin/env bash
# Claims block c4: C4 token-free at equal training compute, byte Mamba, S4 and Transformer
# (study=c4_token_free) beside the Transformer on BPE tokens (study=c4_token_free_bpe), all four side
# by side; the smaller budgets run first. The BPE tokenizer is trained once per corpus into
# TSSSM_CACHE.
# Usage: bash scripts/gpu/claims_c4.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
run_study c4_token_free 540 seq/mamba seq/s4 seq/transformer &
run_study c4_token_free_bpe 540 seq/transformer &
wait
finish_block
