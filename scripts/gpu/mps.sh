# Sourced by the GPU scripts: CUDA's Multi-Process Service, which runs the kernels of several
# processes on the GPU at once, where without it the GPU gives each process's kernels time slices
# of the whole GPU in turn (a small model's kernels then leave most of the SMs idle). The daemon
# is this run's own (its pipe and log folders under DIR), reached by the processes started after
# mps_start, and gone after mps_stop; the GPU's compute mode is left as it is.

# mps_start DIR: start the daemon; returns 1 (with a line on stderr) where the driver has none.
mps_start() {
  if ! command -v nvidia-cuda-mps-control > /dev/null; then
    echo "mps: nvidia-cuda-mps-control is not on this machine" >&2
    return 1
  fi
  mkdir -p "$1/pipe" "$1/log"
  export CUDA_MPS_PIPE_DIRECTORY=$1/pipe CUDA_MPS_LOG_DIRECTORY=$1/log
  if ! nvidia-cuda-mps-control -d; then
    echo "mps: the daemon did not start (log: $1/log)" >&2
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    return 1
  fi
}

# mps_stop: stop the daemon mps_start started (its clients have ended).
mps_stop() {
  echo quit | nvidia-cuda-mps-control
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
}
