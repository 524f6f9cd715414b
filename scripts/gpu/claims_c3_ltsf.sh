#!/usr/bin/env bash
# Claims block c3_ltsf: C3 long-horizon forecasting (study=c3_ltsf), each training step replayed
# from CUDA graphs (callbacks=graphed). The linear baselines' runs (dlinear, lstsq) are made on a
# CPU by scripts/claims_linear_cpu.sh, ILI's (study=c3_ltsf_ili, models of seconds to minutes) on a
# CPU too, and so are the datasets named below beside a model (scripts/claims_c3_cpu.sh): their
# runs are in docs/claims/runs, not in a GPU store, so the GPU leaves those datasets to them.
# Usage: bash scripts/gpu/claims_c3_ltsf.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
on_gpu() {  # on_gpu EXPERIMENTS MODEL...: the models' runs on those datasets, one sweep each
  run_study c3_ltsf 540 "${@:2}" -- "experiment=$1" callbacks=graphed
}
on_gpu ltsf/ettm1 mamba2 hybrid &                             # the other datasets' on a CPU
on_gpu ltsf/etth1,ltsf/etth2,ltsf/ettm1 s4 &                   # Exchange's on a CPU
on_gpu ltsf/etth1,ltsf/ettm1 linear_attention &                # Exchange's and ETTh2's on a CPU
on_gpu ltsf/ettm1 mamba s4d transformer lstm gss &             # Exchange's, ETTh1's and ETTh2's
wait
finish_block
