#!/usr/bin/env bash
# Preparing multi-turn conversations, tokenizer only (no engine): 1,000 ten-turn conversations
# (a 2,000-token first message, 200-token later messages). Prints llmbench's own timing of the
# preparation (after the tokenizer loaded) and the whole command's wall time.
# Usage: scripts/bench/conversations.sh [MODEL_DIR]   (SAMPLES=N for another count)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="${1:-$root/.cache/models/tiny-llama}"
py="${LLMBENCH_PYTHON:-$root/.cache/vllm-venv/bin/python}"
bin="$root/target/release/llmbench"
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
start=$(date +%s.%N)
"$bin" benchmark run --model "$model" --python "$py" --dry-run \
  --data "first_prompt_tokens=2000,prompt_tokens=200,output_tokens=100,turns=10" \
  --data-samples "${SAMPLES:-1000}" --backend-kwargs '{"vllm_config": {"max_model_len": 32768}}'
end=$(date +%s.%N)
echo "whole command: $(echo "$end - $start" | bc) s (Python start, vLLM import for the config checks, tokenizer load, preparation)"
