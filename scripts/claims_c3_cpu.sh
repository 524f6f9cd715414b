#!/usr/bin/env bash
# One C3 model on one LTSF dataset on a CPU, where its trials take seconds to minutes an epoch
# (docs/claims/README.md says which were run so): its search on validation (the same 24 trials as
# the GPU's, conf/hparams_search/), the recipe copied to conf/recipe/, then its study=c3_ltsf runs
# (4 horizons × 3 seeds) with that recipe. Jobs the store holds FINISHED are skipped (a trial's
# key holds its trainer, so a CPU search resumes from a CPU store only) and a trial or run it cut
# off resumes from its last.ckpt in WORK, so the script continues where a stopped launch left off;
# a committed recipe skips the search.
# Usage: bash scripts/claims_c3_cpu.sh MODEL EXPERIMENT STORE.db WORK (TSSSM_DATA: the data root)
#   e.g. bash scripts/claims_c3_cpu.sh lstm ltsf/etth2 /tmp/c3.db /tmp/c3
set -euo pipefail
source "$(dirname "$0")/search_for.sh"
usage="usage: claims_c3_cpu.sh MODEL EXPERIMENT STORE.db WORK"
model=${1:?$usage} experiment=${2:?$usage}
store=sqlite:///$(realpath "${3:?$usage}")
work=$(mkdir -p "${4:?$usage}" && realpath "$4")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
recipe=conf/recipe/$experiment/$model.yaml
study=c3_ltsf
[[ $experiment == ltsf/ili ]] && study=c3_ltsf_ili
name=${experiment#ltsf/}_$model
if [[ ! -f $recipe ]]; then
  python -m tsssm.fit -m "hparams_search=$(search_for "$model" "$experiment")" \
    "experiment=$experiment" "model=$model" trainer=cpu trainer.enable_progress_bar=false \
    logger.tracking_uri="$store" hydra.sweep.dir="$work/searches/$experiment/$model" \
    > "$work/search_$name.log" 2>&1
  mkdir -p "$(dirname "$recipe")"
  cp "$work/searches/$experiment/$model/recipe.yaml" "$recipe"
fi
python -m tsssm.fit -m "study=$study" "experiment=$experiment" "model=$model" trainer=cpu \
  trainer.enable_progress_bar=false logger.tracking_uri="$store" \
  hydra.sweep.dir="$work/sweeps/${study}_$name" > "$work/${study}_$name.log" 2>&1
echo "$model on $experiment: recipe $recipe, runs in $store"
