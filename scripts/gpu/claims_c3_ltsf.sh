#!/usr/bin/env bash
# Claims block c3_ltsf: C3 long-horizon forecasting (study=c3_ltsf); the linear baselines' runs
# (dlinear, lstsq) are made on a CPU by scripts/claims_linear_cpu.sh, and ILI's (study=c3_ltsf_ili,
# models of seconds to minutes) on a CPU too, with trainer=cpu.
# Usage: bash scripts/gpu/claims_c3_ltsf.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
models=(s4 s4d mamba mamba2 transformer hybrid lstm linear_attention gss)
run_study c3_ltsf 540 "${models[@]}"
finish_block
