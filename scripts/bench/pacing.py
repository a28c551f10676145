#!/usr/bin/env python3
"""Pacing accuracy of llmbench's dispatcher, against the worker's mock engine.

Measures (issue: load generation):
  * constant 1,000 req/s for 10 s: achieved rate vs requested, dispatch lag p50/p99/p99.9
  * constant 5,000 req/s for 10 s: achieved rate vs requested
  * Poisson 1,000 req/s with a fixed seed, twice: byte-identical schedules, mean rate vs requested

The mock is shaped as TTFT 5 ms, ITL 1 ms, 32 output tokens, unlimited batch. "Achieved rate" is
requests dispatched / (last scheduled offset span), i.e. whether the pacer kept its schedule;
dispatch lag is `sent - scheduled` per request.

Usage: scripts/bench/pacing.py [--seconds 10] [--smoke]   (--smoke: 1 s runs, for CI)
Needs a release build (cargo build --release) and a Python for the worker (LLMBENCH_PYTHON or
.cache/vllm-venv); prints one table.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCK = {"ttft_us": 5000, "step_base_us": 1000, "max_num_seqs": 0}


def python():
    p = os.environ.get("LLMBENCH_PYTHON") or os.path.join(ROOT, ".cache/vllm-venv/bin/python")
    return p if os.path.exists(p) else "python3"


def run(profile, rate, seconds, seed=42):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [
            os.path.join(ROOT, "target/release/llmbench"), "benchmark", "run", "--model", "mock",
            "--data", "prompt_tokens=32,output_tokens=32", "--profile", profile, "--rate", str(rate),
            "--max-seconds", str(seconds), "--random-seed", str(seed), "--engine-warmup-requests", "0",
            "--backend-kwargs", json.dumps({"engine": "mock", "mock": MOCK}), "--python", python(),
            "--disable-console", "--output-path", out,
        ]
        subprocess.run(cmd, check=True)
        with open(out) as f:
            return json.load(f)["benchmarks"][0]


def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(-(-p / 100 * len(v) // 1)) - 1))]


def measure(profile, rate, seconds, seed=42):
    b = run(profile, rate, seconds, seed)
    start = b["start_ns"]
    reqs = b["records"]
    sched = [q["timestamps_ns"]["scheduled"] - start for q in reqs]
    lag_us = [(q["timestamps_ns"]["sent"] - q["timestamps_ns"]["scheduled"]) / 1e3 for q in reqs]
    # Achieved dispatch rate: requests over the span of their actual send times (a pacer that
    # falls behind stretches this span).
    sent = sorted(q["timestamps_ns"]["sent"] for q in reqs)
    achieved = (len(sent) - 1) / ((sent[-1] - sent[0]) / 1e9)
    done = sum(1 for q in reqs if q["status"] == "successful")
    tokens = b["summary"]["output_tokens_per_second"]
    return {
        "profile": profile, "rate": rate, "requests": len(reqs), "completed": done,
        "achieved": achieved, "err_pct": 100 * (achieved - rate) / rate,
        "lag_p50": pct(lag_us, 50), "lag_p99": pct(lag_us, 99), "lag_p999": pct(lag_us, 99.9),
        "tok_s": tokens, "sched": sched,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    secs = 1 if a.smoke else a.seconds
    rows = [measure("constant", 1000, secs), measure("constant", 5000, secs)]
    p1 = measure("poisson", 1000, secs, seed=7)
    p2 = measure("poisson", 1000, secs, seed=7)
    rows += [p1]
    print(f"{'profile':<9} {'rate':>6} {'sent':>7} {'done':>7} {'achieved/s':>10} {'err %':>7} "
          f"{'lag p50 us':>10} {'p99 us':>8} {'p99.9 us':>9} {'tok/s':>9}")
    for r in rows:
        print(f"{r['profile']:<9} {r['rate']:>6} {r['requests']:>7} {r['completed']:>7} {r['achieved']:>10.1f} "
              f"{r['err_pct']:>7.2f} {r['lag_p50']:>10.1f} {r['lag_p99']:>8.1f} {r['lag_p999']:>9.1f} {r['tok_s']:>9.0f}")
    n = min(len(p1["sched"]), len(p2["sched"]))
    h = lambda s: hashlib.sha256(json.dumps(s).encode()).hexdigest()[:16]
    same = p1["sched"][:n] == p2["sched"][:n] and abs(len(p1["sched"]) - len(p2["sched"])) <= 1
    print(f"poisson seed 7, two runs: schedules {'identical' if same else 'DIFFER'} "
          f"({n} offsets, sha256 {h(p1['sched'][:n])} / {h(p2['sched'][:n])})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
