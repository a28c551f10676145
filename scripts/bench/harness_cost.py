#!/usr/bin/env python3
"""llmbench's deterministic costs per 1,000 output tokens, against vLLM driven directly (#18).

For a single stream and for 8 concurrent streams (256 prompt / 128 output tokens, the tiny model
on the real engine), in alternating pairs:
- direct: this script's reference drives AsyncLLM in one Python process (DELTA outputs, token-id
  prompts, ignore_eos), at most S requests in flight, and counts its own CPU time and context
  switches (every thread, /proc/self/task/*/status) over the measured requests;
- llmbench: `benchmark run --profile synchronous` or `concurrent --rate 8` on the same engine
  config; the report's `headroom.per_1k_output_tokens` gives the supervisor's and the worker's
  CPU ms and context switches per 1,000 output tokens.
The front end of the direct run is what any client of AsyncLLM pays; what llmbench adds is
supervisor + worker − direct. Medians over the pairs are printed with each pair's figures.

DRAFT: its first try (--pairs 1 --requests 30) stalled after printing its header until a
10-minute timeout; not yet debugged, not in CI.

Usage: scripts/bench/harness_cost.py [--pairs 3] [--requests 60] [--smoke]
Run on an otherwise idle machine (CPU time and context switches vary less with load than
latency does, but a busy machine still adds involuntary switches).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.environ.get("LLMBENCH_PYTHON") or os.path.join(ROOT, ".cache/vllm-venv/bin/python")
BIN = os.path.join(ROOT, "target/release/llmbench")
MODEL = os.environ.get("MODEL") or os.path.join(ROOT, ".cache/models/tiny-llama")
CONFIG = {"enforce_eager": True, "kv_cache_memory_bytes": 67108864, "max_model_len": 1024,
          "max_num_seqs": 16, "seed": 0}
PROMPT, OUTPUT = 256, 128

DIRECT = r'''
import asyncio, json, os, resource, sys
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1"); os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from vllm import AsyncEngineArgs, SamplingParams
from vllm.v1.engine.async_llm import AsyncLLM
from vllm.inputs import TokensPrompt
from vllm.sampling_params import RequestOutputKind

def switches():
    n = 0
    for t in os.listdir("/proc/self/task"):
        for l in open("/proc/self/task/%s/status" % t):
            if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                n += int(l.split()[1])
    return n

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

async def main(model, config, reqs_path, streams, out):
    prompts = [json.loads(l) for l in open(reqs_path)]
    engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, disable_log_stats=True, **config))
    async def one(i, r, max_tokens):
        sp = SamplingParams(max_tokens=max_tokens, ignore_eos=True, output_kind=RequestOutputKind.DELTA)
        n = 0
        async for o in engine.generate(TokensPrompt(prompt_token_ids=r["prompt_token_ids"]), sp, request_id=str(i)):
            n += len(o.outputs[0].token_ids)
        return n
    await asyncio.gather(*(one("w%d" % i, prompts[i], 16) for i in range(2)))
    await engine.reset_prefix_cache()
    sem = asyncio.Semaphore(streams)
    async def limited(i, r):
        async with sem:
            return await one(i, r, r["max_tokens"])
    c0, s0 = cpu(), switches()
    counts = await asyncio.gather(*(limited(i, r) for i, r in enumerate(prompts)))
    c1, s1 = cpu(), switches()
    json.dump({"tokens": sum(counts), "cpu_s": c1 - c0, "switches": s1 - s0}, open(out, "w"))
    os._exit(0)

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]))
'''


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def prepare(n, path):
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--dry-run", "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--data-samples", str(n),
         "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), "--save-requests", path])


def direct(reqs, streams, d):
    out = os.path.join(d, "direct.json")
    run([PY, "-c", DIRECT, MODEL, json.dumps(CONFIG), reqs, str(streams), out])
    r = json.load(open(out))
    k = r["tokens"] / 1000
    return {"cpu_ms": r["cpu_s"] * 1e3 / k, "switches": r["switches"] / k}


def llmbench(n, streams, d):
    out = os.path.join(d, "llmbench.json")
    profile = ["--profile", "synchronous"] if streams == 1 else ["--profile", "concurrent", "--rate", str(streams)]
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--max-requests", str(n), *profile,
         "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), "--disable-console", "--output-path", out])
    h = json.load(open(out))["benchmarks"][0]["headroom"]
    p = h["per_1k_output_tokens"]
    return {"cpu_ms_sup": p["cpu_ms_supervisor"], "cpu_ms_worker": p["cpu_ms_worker"],
            "sw_sup": p["context_switches_supervisor"], "sw_worker": p["context_switches_worker"],
            "cpus": (h.get("cpus_supervisor"), h.get("cpus_worker"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--smoke", action="store_true", help="1 pair of 8 requests")
    a = ap.parse_args()
    if a.smoke:
        a.pairs, a.requests = 1, 8
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cpus; model {os.path.basename(MODEL)}; {a.requests} requests x "
          f"{PROMPT}/{OUTPUT} tokens; engine config {json.dumps(CONFIG)}; {a.pairs} pairs")
    with tempfile.TemporaryDirectory() as d:
        reqs = os.path.join(d, "requests.jsonl")
        prepare(a.requests, reqs)
        for streams in (1, 8):
            rows = []
            for i in range(a.pairs):
                A = direct(reqs, streams, d)
                B = llmbench(a.requests, streams, d)
                rows.append((A, B))
                print(f"  streams {streams} pair {i + 1}: direct {A['cpu_ms']:.1f} ms / {A['switches']:.0f} switches; "
                      f"llmbench supervisor {B['cpu_ms_sup']:.1f} ms / {B['sw_sup']:.0f}, worker "
                      f"{B['cpu_ms_worker']:.1f} ms / {B['sw_worker']:.0f} (per 1,000 output tokens)", flush=True)
            med = lambda f: statistics.median(f(A, B) for A, B in rows)
            print(f"streams {streams}, per 1,000 output tokens (medians)   CPU ms   context switches")
            print(f"  direct front end (AsyncLLM in one process)   {med(lambda A, B: A['cpu_ms']):8.1f}   {med(lambda A, B: A['switches']):8.0f}")
            print(f"  llmbench supervisor                          {med(lambda A, B: B['cpu_ms_sup']):8.1f}   {med(lambda A, B: B['sw_sup']):8.0f}")
            print(f"  llmbench worker (front end included)         {med(lambda A, B: B['cpu_ms_worker']):8.1f}   {med(lambda A, B: B['sw_worker']):8.0f}")
            print(f"  llmbench adds (supervisor + worker − direct) "
                  f"{med(lambda A, B: B['cpu_ms_sup'] + B['cpu_ms_worker'] - A['cpu_ms']):8.1f}   "
                  f"{med(lambda A, B: B['sw_sup'] + B['sw_worker'] - A['switches']):8.0f}")
            print(f"  cores (supervisor, worker): {rows[-1][1]['cpus']}")


if __name__ == "__main__":
    main()
