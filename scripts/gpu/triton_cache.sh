# Triton's compiled kernels and its autotuners' choices, carried from one device call to the next.
#
# A fresh GPU machine compiles every kernel again and times every autotune config again: minutes
# of each call (the SSD's first tuning alone took 244 s on an H100). Triton keeps both in its cache
# folder, keyed by its version, the target (sm_90: H100 and H200 alike), the kernel's source and
# options, so a kernel whose source changed is compiled and tuned again. This file points that
# folder at a fixed path (Triton's cache groups name their files by absolute path), fills it from
# the archives of an earlier call, and packs it into OUT at the end (TSSSM_TRITON_CACHE moves it):
#   OUT/triton-kernels.tgz                 compiled kernels and launchers (cubins, .so, metadata)
#   OUT/triton-autotune-<device>.tgz       the choices, restored only on a GPU of the same name:
#                                          a config fastest on one card need not be on another
# Put both in .carry/triton/ and carry .carry/triton in the next call. An archive with nothing to
# hold (no kernel compiled, no GPU to name) is not written. Once the cache outgrows what a call
# hands back, OUT's kernels archive holds only the kernels that call compiled: unpack it and the
# carried one into one folder and pack that as the carried archive (a carried file may be larger).
# Usage, in a call's command:
#   source scripts/gpu/triton_cache.sh && triton_cache_restore; WORK; triton_cache_save "$OUT"

export TRITON_CACHE_DIR=${TSSSM_TRITON_CACHE:-/tmp/tsssm-triton-cache}
TRITON_CARRIED=${TRITON_CARRIED:-.carry/triton}
TRITON_ARCHIVE_LIMIT=$((15 * 1024 * 1024))  # a file a call hands back is at most 16 MiB

triton_device_name() {
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -cs 'A-Za-z0-9' '-' \
    | sed 's/-$//'
}

triton_cache_restore() {
  mkdir -p "$TRITON_CACHE_DIR"
  local archive
  for archive in "$TRITON_CARRIED/triton-kernels.tgz" \
                 "$TRITON_CARRIED/triton-autotune-$(triton_device_name).tgz"; do
    if [[ -f $archive ]]; then
      tar -xzf "$archive" -C "$TRITON_CACHE_DIR" && echo "triton cache: restored $archive"
    fi
  done
  touch "$TRITON_CACHE_DIR/.restored"
}

# triton_pack ARCHIVE FIND-ARGS...: the cache's files that FIND-ARGS select, gzipped into ARCHIVE;
# if that is over the limit, only the files this call wrote; if still over, or none, no archive.
# Packed outside OUT and moved in whole, so a call stopped while packing leaves no partial archive
# (over the size a call hands back, or in the place of the file of an earlier pack).
triton_pack() {
  local archive=$1 packed
  shift
  if [[ -z $(cd "$TRITON_CACHE_DIR" && find . -type f "$@" -print -quit) ]]; then
    return 0
  fi
  packed=$(mktemp)
  (cd "$TRITON_CACHE_DIR" && find . -type f "$@" -print0 | tar -czf "$packed" --null -T -)
  if (($(stat -c %s "$packed") > TRITON_ARCHIVE_LIMIT)); then
    (cd "$TRITON_CACHE_DIR" && find . -type f "$@" -newer .restored -print0 \
      | tar -czf "$packed" --null -T -)
  fi
  if (($(stat -c %s "$packed") > TRITON_ARCHIVE_LIMIT)); then
    echo "triton cache: $archive over $TRITON_ARCHIVE_LIMIT bytes, not kept" >&2
    rm -f "$packed"
  else
    mv "$packed" "$archive"
    echo "triton cache: $(tar -tzf "$archive" | wc -l) files in $archive" \
      "($(stat -c %s "$archive") bytes)"
  fi
}

triton_cache_save() {
  local out=${1:?usage: triton_cache_save OUT}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  # The autotuners' choices first: a few kilobytes that spare the next call most of its tuning,
  # where the compiled kernels (megabytes) only spare their compiles.
  local device
  device=$(triton_device_name)
  if [[ -n $device ]]; then
    triton_pack "$out/triton-autotune-$device.tgz" -name '*.autotune.json'
  fi
  triton_pack "$out/triton-kernels.tgz" \( -name '*.cubin' -o -name '*.so' -o -name '*.json' \) \
    ! -name '*.autotune.json'
}
