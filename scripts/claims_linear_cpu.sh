#!/usr/bin/env bash
# C3's linear baselines on a CPU: DLinear's searches (hparams_search=ltsf_optuna_linear, _ili on
# ILI; the same 24 trials as every model's), the C3 runs of DLinear and the least-squares map, and
# DLinear's data-efficiency runs (study=c3_data_efficiency). A linear model's validation and test
# errors do not depend on the device, so these need no GPU time; the searches' recipes are copied
# to conf/recipe/ before the DLinear runs read them. Jobs the store holds FINISHED are skipped, so
# the script continues where a stopped launch left off.
# Usage: bash scripts/claims_linear_cpu.sh STORE.db WORK (TSSSM_DATA: the data root)
set -euo pipefail
source "$(dirname "$0")/search_for.sh"
store=sqlite:///$(realpath "${1:?usage: claims_linear_cpu.sh STORE.db WORK}")
work=$(mkdir -p "${2:?work folder}" && realpath "$2")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for experiment in ltsf/ili ltsf/exchange ltsf/etth1 ltsf/etth2 ltsf/ettm1; do
  search=$(search_for dlinear "$experiment")
  python -m tsssm.fit -m "hparams_search=$search" "experiment=$experiment" model=dlinear \
    trainer=cpu trainer.enable_progress_bar=false logger.tracking_uri="$store" \
    hydra.sweep.dir="$work/searches/$experiment/dlinear" \
    > "$work/search_${experiment#ltsf/}.log" 2>&1
  mkdir -p "conf/recipe/$experiment"
  cp "$work/searches/$experiment/dlinear/recipe.yaml" "conf/recipe/$experiment/dlinear.yaml"
done
for job in c3_ltsf:lstsq c3_ltsf:dlinear c3_ltsf_ili:lstsq c3_ltsf_ili:dlinear \
           c3_data_efficiency:dlinear; do
  study=${job%:*} model=${job#*:}
  python -m tsssm.fit -m "study=$study" "model=$model" trainer=cpu logger.tracking_uri="$store" \
    hydra.sweep.dir="$work/sweeps/${study}_$model" > "$work/${study}_$model.log" 2>&1
done
grep -h "best value" "$work"/search_*.log
