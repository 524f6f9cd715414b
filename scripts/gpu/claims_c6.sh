#!/usr/bin/env bash
# Claims block c6: C6 recall, MQAR accuracy against width and length (study=c6_recall). Its 720
# jobs are small trainings (width 64-256, at most 5,000 steps of 64 sequences of 64-512 tokens),
# so the block runs one sweep per model and seed side by side (CLAIMS_SEEDS, 15 sweeps) and
# replays each training step's network from CUDA graphs (callbacks=graphed): with MPS the two
# together made 1.89x the epochs a minute of fourteen small trainings side by side
# (docs/benchmarks/h100-2026-12-06-graphed-steps/).
# Usage: bash scripts/gpu/claims_c6.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
CLAIMS_SEEDS=${CLAIMS_SEEDS-1 2 3} run_study c6_recall 540 seq/s4 seq/mamba seq/mamba2 \
  heads4/transformer heads4/hybrid -- callbacks=graphed
finish_block
