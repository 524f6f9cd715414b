#!/usr/bin/env bash
# Claims block c3_ltsf: C3 long-horizon forecasting (study=c3_ltsf); the linear baselines' runs
# (dlinear, lstsq) are made on a CPU by scripts/claims_linear_cpu.sh, ILI's (study=c3_ltsf_ili,
# models of seconds to minutes) on a CPU too, with trainer=cpu, and Exchange's of the models in
# on_cpu_for_exchange, ETTh1's too of those in on_cpu_for_exchange_and_etth1, and ETTh2's too of
# those in on_cpu_for_exchange_etth1_and_etth2 (scripts/claims_c3_cpu.sh; their runs are in
# docs/claims/runs, not in a GPU store, so the GPU skips those datasets for them).
# Usage: bash scripts/gpu/claims_c3_ltsf.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
every_dataset=(mamba mamba2 hybrid)
on_cpu_for_exchange=(s4 s4d linear_attention)
on_cpu_for_exchange_and_etth1=(transformer)
on_cpu_for_exchange_etth1_and_etth2=(lstm gss)
run_study c3_ltsf 540 "${every_dataset[@]}" &
run_study c3_ltsf 540 "${on_cpu_for_exchange[@]}" -- experiment=ltsf/etth1,ltsf/etth2,ltsf/ettm1 &
run_study c3_ltsf 540 "${on_cpu_for_exchange_and_etth1[@]}" -- experiment=ltsf/etth2,ltsf/ettm1 &
run_study c3_ltsf 540 "${on_cpu_for_exchange_etth1_and_etth2[@]}" -- experiment=ltsf/ettm1 &
wait
finish_block
