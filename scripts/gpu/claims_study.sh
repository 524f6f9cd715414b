#!/usr/bin/env bash
# One claim study (conf/study/NAME.yaml) on one GPU for at most LIMIT seconds: one background sweep
# per model, side by side, into the shared store WORK/claims.db (fit locks its schema creation),
# with their sweep folders (checkpoints) and logs in WORK.
# Jobs FINISHED there already are skipped, so launching the same command again continues the study
# where the last launch stopped; a job cut off by the limit runs again whole.
# With CLAIMS_DEADLINE (seconds since the epoch) set, no sweep runs past it either: blocks run one
# after another in one call (each given the store of the one before) all stop in time, and a study
# whose turn comes after the deadline runs nothing.
# With CLAIMS_SEEDS set ("1 2 3"), each model's sweep is one per seed instead, all side by side: a
# study of few models whose trainings take minutes (C7) keeps more of the GPU busy.
# Usage: bash scripts/gpu/claims_study.sh STUDY WORK LIMIT MODEL... [-- OVERRIDE...]
set -uo pipefail
study=${1:?usage: claims_study.sh STUDY OUT LIMIT MODEL... [-- OVERRIDE...]}
out=${2:?work folder}
limit=${3:?seconds}
shift 3
source "$(dirname "$0")/deadline.sh"
limit=$(capped_by_deadline "$limit")
if ((limit <= 0)); then
  echo "$study: not run, the deadline (CLAIMS_DEADLINE) has passed"
  exit 0
fi
models=()
while (($#)) && [[ $1 != -- ]]; do models+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
sweep() {  # sweep NAME OVERRIDE...: one background sweep of the study
  timeout --signal=INT "$limit" python -m tsssm.fit -m "study=$study" trainer=gpu \
    logger.tracking_uri="sqlite:///$out/claims.db" hydra.sweep.dir="$out/sweeps/$1" "${@:2}" \
    > "$out/$1.log" 2>&1 &
}
for model in "${models[@]}"; do
  name=${study}_${model//\//-}
  if [[ -z ${CLAIMS_SEEDS:-} ]]; then
    sweep "$name" "model=$model" "$@"
  else
    for seed in $CLAIMS_SEEDS; do
      sweep "${name}_s$seed" "model=$model" "seed=$seed" "$@"
    done
  fi
done
wait
grep -h "^error\|^skipped\|MLflow: experiment" "$out"/"$study"_*.log | sort | uniq -c | sort -rn | head -5
exit 0  # the lines above say how the sweeps went; none matching is no failure
