#!/usr/bin/env bash
# Claims block c3_efficiency: C3 data efficiency on ETTh1 and ETTm1 (study=c3_data_efficiency) and
# on FSDD (study=c3_data_efficiency_fsdd); DLinear's runs are made on a CPU
# (scripts/claims_linear_cpu.sh), and so are the Transformer's, S4D's, Mamba-2's and Mamba's on
# ETTh1 (in docs/claims/runs or a kept CPU store, not in a GPU store: the GPU runs their ETTm1 jobs
# only).
# Usage: bash scripts/gpu/claims_c3_efficiency.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
run_study c3_data_efficiency 180 s4 &
run_study c3_data_efficiency 180 transformer s4d mamba2 mamba -- experiment=ltsf/ettm1 &
wait
run_study c3_data_efficiency_fsdd 360 seq/s4 seq/mamba seq/mamba2 seq/transformer seq/hybrid
finish_block
