#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite on the CPU. Real data comes from
# ../shared/data unless TSSSM_DATA points elsewhere; GPU-marked tests skip without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TSSSM_DATA="${TSSSM_DATA:-$(cd .. && pwd)/shared/data}"
export TSSSM_OFFLINE="${TSSSM_OFFLINE:-1}"
# One worker a core (TSSSM_TEST_WORKERS sets the count, 0 runs in this process; on the
# two-core CI machine, 13 min against 19 in one process). A module's tests stay on
# one worker (loadscope): its module fixtures (the studies' store, a Ray instance) are made once.
exec .venv/bin/python -m pytest -n "${TSSSM_TEST_WORKERS:-auto}" --dist loadscope "$@"
