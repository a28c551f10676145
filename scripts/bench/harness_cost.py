#!/usr/bin/env python3
"""llmbench's deterministic costs per 1,000 output tokens, before and after coalescing, against
vLLM driven directly (#18).

For a single stream and for 8 concurrent streams (256 prompt / 128 output tokens, the tiny model
on the real engine), in rounds whose order alternates:
- direct: this script's reference drives AsyncLLM in one Python process (DELTA outputs, token-id
  prompts, ignore_eos), at most S requests in flight, and counts its own CPU time and context
  switches (every thread, /proc/self/task/*/status) over the measured requests;
- llmbench "before": `--token-coalesce-ms 0` (every engine output written and read at once, as
  llmbench did before #18); "after": the default (`--token-coalesce-ms 20`). `benchmark run
  --profile synchronous` or `concurrent --rate 8` on the same engine config; the report's
  `headroom.per_1k_output_tokens` gives the supervisor's and the worker's CPU ms, context
  switches and output frames per 1,000 output tokens.
The front end of the direct run is what any client of AsyncLLM pays; what llmbench adds is
supervisor + worker − direct. Medians over the rounds are printed with each round's figures.
`--mock` measures llmbench alone on the worker's mock engine (TTFT 5 ms, 1 ms steps; no direct
run): its own costs without an engine's noise.

Usage: scripts/bench/harness_cost.py [--pairs 3] [--requests 60] [--mock] [--smoke]
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


def llmbench(n, streams, d, coalesce_ms, mock):
    out = os.path.join(d, "llmbench.json")
    profile = ["--profile", "synchronous"] if streams == 1 else ["--profile", "concurrent", "--rate", str(streams)]
    if mock:
        model, kwargs = "mock", {"engine": "mock", "mock": {"ttft_us": 5000, "step_base_us": 1000}}
    else:
        model, kwargs = MODEL, {"vllm_config": CONFIG}
    run([BIN, "benchmark", "run", "--model", model, "--python", PY, "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--max-requests", str(n), *profile,
         "--token-coalesce-ms", str(coalesce_ms),
         "--backend-kwargs", json.dumps(kwargs), "--disable-console", "--output-path", out])
    h = json.load(open(out))["benchmarks"][0]["headroom"]
    p = h["per_1k_output_tokens"]
    return {"cpu_ms_sup": p["cpu_ms_supervisor"], "cpu_ms_worker": p["cpu_ms_worker"],
            "sw_sup": p["context_switches_supervisor"], "sw_worker": p["context_switches_worker"],
            "frames": p.get("output_frames"), "cpus": (h.get("cpus_supervisor"), h.get("cpus_worker"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--mock", action="store_true", help="llmbench alone, on the mock engine")
    ap.add_argument("--smoke", action="store_true", help="1 round of 8 requests")
    a = ap.parse_args()
    if a.smoke:
        a.pairs, a.requests = 1, 8
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    engine = "the mock engine (TTFT 5 ms, 1 ms steps)" if a.mock else \
        f"model {os.path.basename(MODEL)}, engine config {json.dumps(CONFIG)}"
    print(f"machine: {os.cpu_count()} cpus; {engine}; {a.requests} requests x {PROMPT}/{OUTPUT} tokens; "
          f"{a.pairs} rounds", flush=True)
    with tempfile.TemporaryDirectory() as d:
        reqs = os.path.join(d, "requests.jsonl")
        if not a.mock:
            prepare(a.requests, reqs)
        for streams in (1, 8):
            rows = []
            for i in range(a.pairs):
                A = None
                if i % 2 == 0:
                    if not a.mock:
                        A = direct(reqs, streams, d)
                    B0 = llmbench(a.requests, streams, d, 0, a.mock)
                    B1 = llmbench(a.requests, streams, d, 20, a.mock)
                else:
                    B1 = llmbench(a.requests, streams, d, 20, a.mock)
                    B0 = llmbench(a.requests, streams, d, 0, a.mock)
                    if not a.mock:
                        A = direct(reqs, streams, d)
                rows.append((A, B0, B1))
                line = f"  streams {streams} round {i + 1}:"
                if A:
                    line += f" direct {A['cpu_ms']:.1f} ms / {A['switches']:.0f} switches;"
                for name, B in (("before", B0), ("after", B1)):
                    line += (f" {name}: supervisor {B['cpu_ms_sup']:.1f} ms / {B['sw_sup']:.0f} / {B['frames']:.0f} "
                             f"frames, worker {B['cpu_ms_worker']:.1f} ms / {B['sw_worker']:.0f};")
                print(line + " (per 1,000 output tokens)", flush=True)
            med = lambda f: statistics.median(f(*r) for r in rows)
            print(f"streams {streams}, per 1,000 output tokens (medians)  before: CPU ms  switches  frames"
                  f"   after: CPU ms  switches  frames")
            if not a.mock:
                print(f"  direct front end (AsyncLLM in one process)  {med(lambda A, B0, B1: A['cpu_ms']):14.1f}"
                      f"  {med(lambda A, B0, B1: A['switches']):8.0f}")
            for label, cpu, sw, fr in (
                ("llmbench supervisor", "cpu_ms_sup", "sw_sup", "frames"),
                ("llmbench worker (front end included)", "cpu_ms_worker", "sw_worker", None),
            ):
                row = f"  {label:<42}"
                for k in (1, 2):
                    row += f"  {med(lambda *r: r[k][cpu]):14.1f}  {med(lambda *r: r[k][sw]):8.0f}"
                    row += f"  {med(lambda *r: r[k][fr]):6.0f}" if fr else "        "
                print(row)
            if not a.mock:
                row = f"  {'llmbench adds (supervisor + worker - direct)':<42}"
                for k in (1, 2):
                    row += (f"  {med(lambda *r: r[k]['cpu_ms_sup'] + r[k]['cpu_ms_worker'] - r[0]['cpu_ms']):14.1f}"
                            f"  {med(lambda *r: r[k]['sw_sup'] + r[k]['sw_worker'] - r[0]['switches']):8.0f}        ")
                print(row)
            print(f"  cores (supervisor, worker): {rows[-1][2]['cpus']}", flush=True)


if __name__ == "__main__":
    main()
