#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite on the CPU. Real data comes from
# ../shared/data unless TSSSM_DATA points elsewhere; GPU-marked tests skip without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TSSSM_DATA="${TSSSM_DATA:-$(cd .. && pwd)/shared/data}"
export TSSSM_OFFLINE="${TSSSM_OFFLINE:-1}"
exec .venv/bin/python -m pytest "$@"
