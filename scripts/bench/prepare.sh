#!/usr/bin/env bash
# Data preparation speed, tokenizer only (no engine): 1,000 prompts of 20,000 tokens each.
# Prints llmbench's own timing of the preparation (after the tokenizer loaded) and the whole
# command's wall time. Usage: scripts/bench/prepare.sh [MODEL_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="${1:-$root/.cache/models/tiny-llama}"
py="${LLMBENCH_PYTHON:-$root/.cache/vllm-venv/bin/python}"
bin="$root/target/release/llmbench"
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
start=$(date +%s.%N)
"$bin" benchmark run --model "$model" --python "$py" --dry-run --request-format plain \
  --data "prompt_tokens=20000,output_tokens=16" --data-samples "${SAMPLES:-1000}" \
  --backend-kwargs '{"vllm_config": {"max_model_len": 32768}}'
end=$(date +%s.%N)
echo "whole command: $(echo "$end - $start" | bc) s (Python start, vLLM import for the config checks, tokenizer load, preparation)"
