#!/usr/bin/env bash
# Claims block c4: C4 token-free at equal training compute, byte Mamba, S4 and Transformer
# (study=c4_token_free) beside the Transformer on BPE tokens (study=c4_token_free_bpe), one sweep
# per model and seed (CLAIMS_SEEDS), all side by side, each training's steps replayed from CUDA
# graphs (callbacks=graphed: its small models' steps wait on the host's launches otherwise); the
# smaller budgets run first. The BPE tokenizer is trained once per corpus into TSSSM_CACHE.
# Usage: bash scripts/gpu/claims_c4.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
export CLAIMS_SEEDS=${CLAIMS_SEEDS-1 2 3}
run_study c4_token_free 540 seq/mamba seq/s4 seq/transformer -- callbacks=graphed &
run_study c4_token_free_bpe 540 seq/transformer -- callbacks=graphed &
wait
finish_block
