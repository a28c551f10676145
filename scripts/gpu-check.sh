#!/usr/bin/env bash
# GPU teardown check (for a host with an NVIDIA GPU and torch, no vLLM needed; under 5 minutes):
# three models on the worker's mock engine, each worker allocating GiBs of GPU memory through
# torch; llmbench's own report must show the memory back at the baseline after each teardown.
#
# Usage: scripts/gpu-check.sh [LLMBENCH_BINARY] [OUT_DIR]
set -euo pipefail
bin="${1:-target/release/llmbench}"
out="${2:-results}"
py="${LLMBENCH_PYTHON:-python3}"
gib="${GPU_CHECK_GIB:-4}"
mkdir -p "$out"
nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv
"$bin" benchmark run --model gpu-a --model gpu-b --model gpu-c \
  --data "prompt_tokens=64,output_tokens=32" --profile synchronous --max-requests 5 \
  --backend-kwargs "{\"engine\": \"mock\", \"mock\": {\"gpu_memory_bytes\": $((gib << 30))}}" \
  --python "$py" --disable-console-interactive --output-path "$out/gpu-check.json"
"$py" - "$out/gpu-check.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("baseline:", r["host"]["gpu"])
ok = True
for m in r["models"]:
    g = m["teardown"].get("gpu", {})
    held = m["engine"]["config"].get("gpu_memory_bytes")
    loaded = [x["used_mib"] for x in m["engine"].get("gpu_memory_after_load", [])]
    print(f"{m['model']}: status {m['status']}, allocated {held} B, used after load {loaded} MiB, after teardown {g.get('after_teardown_mib')} MiB, "
          f"final {g.get('final_mib')} MiB vs baseline {g.get('baseline_mib')} MiB, returned={g.get('returned')} "
          f"after {g.get('waited_s', 0):.2f} s, processes left {m['teardown']['processes_left']}")
    ok &= bool(g.get("returned")) and m["status"] == "ok" and m["teardown"]["processes_left"] == 0
print("GPU CHECK", "PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
