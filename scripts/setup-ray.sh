#!/usr/bin/env bash
# Installs Ray for tests/ray.rs into a directory of its own (.cache/ray-site), which the tests
# put on the worker's PYTHONPATH beside the vLLM venv: vLLM's Ray executor imports ray from the
# same interpreter. Only ray and msgpack go there (--no-deps): everything else Ray needs is
# already in the vLLM venv, and a second copy of it (protobuf, pydantic, …) would shadow vLLM's.
#
# Idempotent: does nothing when the pinned Ray is there.
#
# Usage: scripts/setup-ray.sh [VLLM_VENV_PYTHON] [TARGET_DIR]
# Prints the target directory as its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="${1:-$here/.cache/vllm-venv/bin/python}"
target="${2:-$here/.cache/ray-site}"
RAY_VERSION="2.60.0"

if [ -f "$target/.llmbench-ray-$RAY_VERSION" ] && PYTHONPATH="$target" "$py" -c "import ray" 2>/dev/null; then
  echo "$target"
  exit 0
fi
uv="$(dirname "$py")/uv"
[ -x "$uv" ] || uv="uv"
rm -rf "$target"
"$uv" pip install --python "$py" --target "$target" --no-deps --compile-bytecode \
  "ray==$RAY_VERSION" msgpack >&2
PYTHONPATH="$target" "$py" -c "import ray, vllm; print('ray', ray.__version__, 'beside vllm', vllm.__version__)" >&2
touch "$target/.llmbench-ray-$RAY_VERSION"
echo "$target"
