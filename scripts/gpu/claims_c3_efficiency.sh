#!/usr/bin/env bash
# Claims block c3_efficiency: C3 data efficiency on ETTh1 and ETTm1 (study=c3_data_efficiency) and
# on FSDD (study=c3_data_efficiency_fsdd); DLinear's runs are made on a CPU
# (scripts/claims_linear_cpu.sh).
# Usage: bash scripts/gpu/claims_c3_efficiency.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
run_study c3_data_efficiency 180 s4 s4d mamba mamba2 transformer
run_study c3_data_efficiency_fsdd 360 seq/s4 seq/mamba seq/mamba2 seq/transformer seq/hybrid \
  seq/linear_attention seq/gss
finish_block
