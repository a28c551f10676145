#!/usr/bin/env bash
# The real vLLM Ray path on a host with GPUs and a GPU build of vLLM with Ray installed (not
# runnable on a CPU-only host: vLLM's CPU platform has no Ray executor). It checks what
# tests/ray.rs proves there with a mock: the engine's Ray actors and placement groups are
# released after a normal run and after a kill -9 of llmbench, and nothing of llmbench is left.
#
# Usage: scripts/gpu-check-ray.sh MODEL [TP]      (TP: tensor parallel size, default 2)
# Env: LLMBENCH (the binary, default target/release/llmbench), LLMBENCH_PYTHON (the Python with
#      vLLM and Ray), RAY_ADDRESS (an existing cluster; unset: a head is started here and
#      stopped at the end).
set -euo pipefail
model="${1:?usage: scripts/gpu-check-ray.sh MODEL [TP]}"
tp="${2:-2}"
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LLMBENCH:-$here/target/release/llmbench}"
py="${LLMBENCH_PYTHON:-python3}"
out="$(mktemp -d)"
started_head=0
ray_cli() { "$py" -c "from ray.scripts.scripts import main; main()" "$@"; }
if [ -z "${RAY_ADDRESS:-}" ]; then
  ray_cli start --head --port=6390 --include-dashboard=false --disable-usage-stats >/dev/null
  export RAY_ADDRESS=127.0.0.1:6390
  started_head=1
fi
cleanup() { [ "$started_head" = 1 ] && ray_cli stop --force >/dev/null 2>&1 || true; }
trap cleanup EXIT
cfg="{\"vllm_config\": {\"tensor_parallel_size\": $tp, \"distributed_executor_backend\": \"ray\"}}"

echo "== 1. a normal run on Ray (tensor parallel $tp)"
"$bin" benchmark run --backend vllm_python --model "$model" --backend-kwargs "$cfg" \
  --data prompt_tokens=256,output_tokens=64 --rate-type concurrent --rate 4 --max-requests 32 \
  --python "$py" --output-path "$out/normal.json" --disable-console
"$py" - "$out/normal.json" "$tp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); tp = int(sys.argv[2])
m = r["models"][0]; ray = m["ray"]
print(json.dumps(ray, indent=1))
assert m["status"] == "ok", m.get("error")
assert ray["engine_actors"] >= tp, "an actor per rank"
assert ray["left"] == [], ray["left"]
assert m["teardown"]["processes_left"] == 0
print("ok: released within %.1f s of the teardown" % ray["released_after_s"])
PY

echo "== 2. kill -9 of llmbench while the engine runs on Ray"
"$bin" benchmark run --backend vllm_python --model "$model" --backend-kwargs "$cfg" \
  --data prompt_tokens=256,output_tokens=64 --rate-type concurrent --rate 4 --max-seconds 300 \
  --python "$py" --output-path "$out/killed.json" --disable-console 2>"$out/killed.err" &
pid=$!
for _ in $(seq 1 1200); do grep -q "running benchmark 0" "$out/killed.err" 2>/dev/null && break; sleep 0.5; done
sleep 5
kill -9 "$pid"; t0=$(date +%s.%N)
"$py" - "$t0" <<'PY'
import os, sys, time, ray
from ray._private import state
ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
t0 = float(sys.argv[1])
while True:
    alive = [a for a in state.actors().values() if a["State"] != "DEAD" and a.get("ActorClassName") != "JobSupervisor"]
    groups = [g for g in state.state.placement_group_table().values() if g["state"] != "REMOVED"]
    if not alive and not groups:
        print("ok: every actor dead and every placement group removed %.1f s after the kill" % (time.time() - t0))
        break
    if time.time() - t0 > 300:
        sys.exit("FAIL: still held 300 s after the kill: %d actors, %d placement groups" % (len(alive), len(groups)))
    time.sleep(1)
PY
if pgrep -f llmbench_worker >/dev/null; then echo "FAIL: a worker is left"; exit 1; fi
echo "== all Ray checks passed"
