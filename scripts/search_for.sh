# The hyperparameter search (conf/hparams_search/) of a C3 model on an LTSF experiment: ltsf_optuna,
# DLinear's _linear and the hybrid's _hybrid spaces, each with its _ili version for ILI's lookbacks.
# Sourced by scripts/gpu/claims_search.sh and scripts/claims_linear_cpu.sh.
# Usage: search_for MODEL EXPERIMENT (prints the search's name)
search_for() {
  local search=ltsf_optuna
  [[ $1 == dlinear ]] && search+=_linear
  [[ $1 == hybrid ]] && search+=_hybrid
  [[ $2 == ltsf/ili ]] && search+=_ili
  echo "$search"
}
