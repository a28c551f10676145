#!/usr/bin/env bash
# Builds the tiny random-weight test models (see make-tiny-model.py) with the vLLM venv's python.
# Usage: scripts/make-tiny-model.sh [OUT_DIR]   (default: .cache/models in the repo)
# Prints the output directory.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="${LLMBENCH_PYTHON:-$here/.cache/vllm-venv/bin/python}"
exec "$py" "$here/scripts/make-tiny-model.py" "$@"
