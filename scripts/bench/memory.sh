#!/usr/bin/env bash
# Supervisor memory for a 100,000-request run of 128-token outputs with every per-request record
# kept (mock engine: TTFT 5 ms, ITL 1 ms, one token per output event). Prints llmbench's own
# peak RSS figures from the report.  Usage: scripts/bench/memory.sh [REQUESTS] [RATE]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
n="${1:-100000}"; rate="${2:-2000}"
py="${LLMBENCH_PYTHON:-$root/.cache/vllm-venv/bin/python}"
bin="$root/target/release/llmbench"
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
"$bin" benchmark run --model mock --python "$py" --data "prompt_tokens=32,output_tokens=128" \
  --profile constant --rate "$rate" --max-requests "$n" --engine-warmup-requests 0 --print-requests 0 \
  --backend-kwargs '{"engine": "mock", "mock": {"ttft_us": 5000, "step_base_us": 1000}}' \
  --disable-console --output-path "$out/r.json"
echo "wall time: $(( $(date +%s) - start )) s"
"$py" - "$out/r.json" <<'PY'
import json, os, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
h = b["headroom"]
print(f"requests kept: {len(b['records'])}, output tokens: {b['summary']['output_tokens_total']}, report {os.path.getsize(sys.argv[1]) / 1e6:.0f} MB")
print(f"peak RSS: supervisor {h['peak_rss_mib_supervisor']:.0f} MiB, worker {h['peak_rss_mib_worker']:.0f} MiB")
PY
