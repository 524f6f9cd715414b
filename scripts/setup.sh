#!/usr/bin/env bash
# Create ./.venv (if missing) and install tsssm with its pinned dependencies and test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
