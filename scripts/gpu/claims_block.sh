# Sourced by every claims block (claims_<block>.sh OUT [PREVIOUS]); docs/claims/README.md.
# A block is one GPU call of under ten minutes: its runs stop after 540 s together. They write into
# a store in WORK (default /tmp/tsssm-claims; checkpoints stay there); finish_block copies it,
# gzipped, to OUT/claims.db.gz (a store of a few hundred runs passes the 16 MiB a file a call
# returns; gzip takes it to about a fifth), its logs (OUT/logs.tgz), Triton's cache
# (OUT/triton-*.tgz) and the claims report (OUT/report.tgz, its folder report/) of that store and
# the runs the committed report exported (docs/claims/runs: a fresh machine's store holds only its
# own runs; a stored run supersedes an exported one of the same model, conditions and seed). To
# continue a block where an earlier call stopped, pass that call's store (claims.db or claims.db.gz)
# as PREVIOUS: the jobs it holds FINISHED are skipped.
set -uo pipefail
# Side-by-side processes get one CPU thread each: with torch's default (one per core) ten of
# them thrash the cores, and a small model's fit runs several times slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:?usage: bash $0 OUT [PREVIOUS]}
here=$(dirname "${BASH_SOURCE[0]}")
work=${WORK:-/tmp/tsssm-claims}
mkdir -p "$work" "$out"
work=$(cd "$work" && pwd)
store="sqlite:///$work/claims.db"
case ${2:-} in
  "") ;;
  *.gz) gunzip -c "$2" > "$work/claims.db" ;;
  *) cp "$2" "$work/claims.db" ;;
esac

# What bounds a block's throughput: the GPU's busy share (utilization.gpu: the share of each
# 2 s in which a kernel ran) and the host's load, sampled beside the runs into gpu_use.log and
# host_use.log (in logs.tgz). A GPU below full use while the cores are busy is held up by the
# processes' Python; one at full use, by its kernels. The samplers are disowned: a block's
# `wait` and its count of running jobs see its runs alone.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 \
  > "$work/gpu_use.log" 2>&1 &
samplers=$!
disown
vmstat -n 2 > "$work/host_use.log" 2>&1 &
samplers+=" $!"
disown

# The block's processes share the GPU through MPS (mps.sh), their kernels running at once, rather
# than in the time slices the GPU gives each process (GPU_SHARING=slices; also where the driver has
# no MPS). Fourteen ETTh1 trainings side by side made 1.9x the epochs a minute that way
# (scripts/gpu/graphed_steps.sh, docs/benchmarks/h100-2026-12-06-graphed-steps/).
source "$here/mps.sh"
[[ ${GPU_SHARING:-mps} == mps ]] && mps_start "$work/mps"

# Kernels compiled and tuned by an earlier call (.carry/triton, triton_cache.sh) are not again; this
# call's go back as OUT/triton-*.tgz.
source "$here/triton_cache.sh"
triton_cache_restore

run_study() {  # run_study STUDY SECONDS MODEL...: one sweep per model, side by side
  bash "$here/claims_study.sh" "$1" "$work" "$2" "${@:3}"
}

finish_block() {  # a few files: a call hands back at most eight, none nested deeper than two
  kill $samplers 2>/dev/null
  [[ -n ${CUDA_MPS_PIPE_DIRECTORY:-} ]] && mps_stop
  gzip -c "$work/claims.db" > "$out/claims.db.gz"
  tar czf "$out/logs.tgz" -C "$work" $(cd "$work" && ls *.log)
  python -m tsssm.claims --tracking-uri "$store" --runs docs/claims/runs --output "$work/report"
  tar czf "$out/report.tgz" -C "$work" report
  triton_cache_save "$out"
}
