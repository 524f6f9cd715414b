#!/usr/bin/env bash
# Claims block search: the tuning C3 runs with (conf/hparams_search/: ltsf_optuna, the hybrid's
# ltsf_optuna_hybrid, and their _ili versions for ILI's shorter lookbacks), one search per LTSF
# dataset and model at the experiment's horizon, on validation only (DLinear's, ltsf_optuna_linear,
# run on a CPU: scripts/claims_linear_cpu.sh);
# up to SEARCH_JOBS searches side by side (14 by default: a search's trials are small models whose
# steps wait on their process's core, and nine side by side left seven of the machine's sixteen
# idle), dataset by dataset, until the block's 520 s are spent. A search cut off resumes when the
# block is launched again with PREVIOUS: its finished trials replay from the store (the
# hparams_search config says how). A search whose recipe is committed
# (conf/recipe/<experiment>/<model>.yaml) is done and not run again (ILI's and some of Exchange's,
# made on a CPU). OUT/recipes.tgz holds every finished search's recipe.yaml as
# recipes/<experiment>/<model>.yaml: unpacked into conf/recipe/, the studies run the tuned recipes.
# Usage: bash scripts/gpu/claims_search.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
if ! python -c "import hydra_plugins.hydra_optuna_sweeper" 2> /dev/null; then
  echo "claims_search.sh: the searches need Hydra's Optuna sweeper:" \
       "pip install 'hydra-optuna-sweeper==1.3.*'" >&2
  exit 1
fi
source "$(dirname "$0")/claims_block.sh" "$@"
source "$(dirname "$0")/../search_for.sh"
experiments=(ltsf/etth1 ltsf/etth2 ltsf/ettm1 ltsf/exchange ltsf/ili)
models=(s4 s4d mamba mamba2 transformer hybrid lstm linear_attention gss)
# SEARCH_MODELS: only these models' searches (S4's trials slow most beside others', by as much as
# claims_c7.sh measured, so its searches can have a call of their own)
[[ -n ${SEARCH_MODELS:-} ]] && read -ra models <<< "$SEARCH_MODELS"
# SEARCH_SECONDS: a shorter block, in a call with less time left; CLAIMS_DEADLINE (seconds since
# the epoch, as claims_study.sh reads it) ends the searches by then too
source "$(dirname "$0")/deadline.sh"
deadline=$((SECONDS + $(capped_by_deadline "${SEARCH_SECONDS:-520}")))
# Trials' steps replay from CUDA graphs (conf/callbacks/graphed.yaml; SEARCH_CALLBACKS=default
# launches them one by one); a trial's job key leaves that out, so finished trials replay either way
for experiment in "${experiments[@]}"; do
  for model in "${models[@]}"; do
    [[ -f conf/recipe/$experiment/$model.yaml ]] && continue
    while (($(jobs -rp | wc -l) >= ${SEARCH_JOBS:-14})); do wait -n; done
    left=$((deadline - SECONDS))
    ((left > 0)) || break 2
    search=$(search_for "$model" "$experiment")
    name=${experiment#ltsf/}-$model
    timeout --signal=INT "$left" python -m tsssm.fit -m "hparams_search=$search" \
      "experiment=$experiment" "model=$model" trainer=gpu trainer.enable_progress_bar=false \
      "callbacks=${SEARCH_CALLBACKS:-graphed}" \
      logger.tracking_uri="$store" hydra.sweep.dir="$work/searches/$experiment/$model" \
      > "$work/search_$name.log" 2>&1 &
  done
done
wait
for recipe in "$work"/searches/*/*/*/recipe.yaml; do  # searches/<experiment>/<model>/
  [[ -f $recipe ]] || continue
  search=${recipe#"$work"/searches/}
  mkdir -p "$work/recipes/$(dirname "${search%/recipe.yaml}")"
  cp "$recipe" "$work/recipes/${search%/recipe.yaml}.yaml"
done
[[ -d $work/recipes ]] && tar czf "$out/recipes.tgz" -C "$work" recipes
grep -h "^search .*best value" "$work"/search_*.log
finish_block
