# Sourced by claims_study.sh and claims_search.sh: CLAIMS_DEADLINE (seconds since the epoch, unset:
# none) ends every study and search of a call by then, so that blocks run one after another in
# one call, or a call timed from its own limit, stop in time (docs/claims/README.md).

# capped_by_deadline SECONDS: prints SECONDS, or the seconds left to CLAIMS_DEADLINE where that is
# sooner (0 or less: it has passed).
capped_by_deadline() {
  local limit=$1 left
  if [[ -n ${CLAIMS_DEADLINE:-} ]]; then
    left=$((CLAIMS_DEADLINE - $(date +%s)))
    ((left < limit)) && limit=$left
  fi
  echo "$limit"
}
