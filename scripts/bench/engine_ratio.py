#!/usr/bin/env python3
"""Engine limit ratio and single-stream overhead of llmbench against vLLM driven directly.

A (reference): this script drives AsyncLLMEngine in-process — everything submitted at once,
DELTA outputs, TokensPrompt, ignore_eos — the fastest a Python front end can go.
B (llmbench): `llmbench benchmark run --profile throughput --rate N` with N = the request count,
so both sides hold every request in flight at once.
Both use the same prompts (token ids written by `llmbench --dry-run --save-requests`), the same
max_tokens, the same engine config and detokenize setting, and both warm the engine up first.
Pairs run interleaved (A B A B …); the table shows the median ratio B/A of output tokens/s with a
bootstrap 95% interval, and the CPU seconds of every process on both sides.

Single stream: 100 synchronous llmbench requests; per request, the TTFT llmbench measures
(sent → supervisor read the first token) minus the TTFT the worker measured in-process (worker
received → worker saw the first token).

Usage: scripts/bench/engine_ratio.py [--pairs 5] [--requests 1024] [--smoke]
Run on an otherwise idle machine; it starts 2 × pairs + 1 engines.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.environ.get("LLMBENCH_PYTHON") or os.path.join(ROOT, ".cache/vllm-venv/bin/python")
BIN = os.path.join(ROOT, "target/release/llmbench")
MODEL = os.environ.get("MODEL") or os.path.join(ROOT, ".cache/models/tiny-llama")
CONFIG = {"enforce_eager": True, "kv_cache_memory_bytes": 67108864, "max_model_len": 1024,
          "max_num_seqs": 64, "max_num_batched_tokens": 4096, "seed": 0}
PROMPT, OUTPUT = 256, 128

REFERENCE = r'''
import asyncio, json, os, resource, sys, time
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1"); os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from vllm import AsyncEngineArgs, SamplingParams
from vllm.engine.async_llm_engine import AsyncLLMEngine
from vllm.inputs import TokensPrompt
from vllm.sampling_params import RequestOutputKind

def cpu_of(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except Exception:
        return 0.0

def descendants(root):
    kids, out = {}, []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                kids.setdefault(int(open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[1]), []).append(int(p))
            except Exception:
                pass
    todo = [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c); todo.append(c)
    return out

async def main(model, config, reqs_path, warm):
    prompts = [json.loads(l) for l in open(reqs_path)]
    engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(model=model, **config))
    async def one(i, r, max_tokens):
        sp = SamplingParams(max_tokens=max_tokens, ignore_eos=True, output_kind=RequestOutputKind.DELTA)
        n = 0
        async for out in engine.generate(TokensPrompt(prompt_token_ids=r["prompt_token_ids"]), sp, request_id=str(i)):
            n += len(out.outputs[0].token_ids)
        return n
    await asyncio.gather(*(one("w%d" % i, prompts[i], 16) for i in range(warm)))
    await engine.reset_prefix_cache()
    me = os.getpid()
    engines = descendants(me)
    c0 = (resource.getrusage(resource.RUSAGE_SELF), sum(cpu_of(p) for p in engines))
    t0 = time.monotonic()
    counts = await asyncio.gather(*(one(i, r, r["max_tokens"]) for i, r in enumerate(prompts)))
    t1 = time.monotonic()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    front = (ru.ru_utime + ru.ru_stime) - (c0[0].ru_utime + c0[0].ru_stime)
    eng = sum(cpu_of(p) for p in engines) - c0[1]
    with open(sys.argv[5], "w") as f:
        json.dump({"tokens": sum(counts), "seconds": t1 - t0, "cpu_front": front, "cpu_engine": eng,
                   "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, f)
    engine.shutdown()

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
'''


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def prepare(n, path):
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--dry-run", "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--data-samples", str(n),
         "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), "--save-requests", path])


def reference(reqs, warm):
    # vLLM logs on stdout: the result goes to a file of its own.
    res = reqs + ".reference.json"
    run([PY, "-c", REFERENCE, MODEL, json.dumps(CONFIG), reqs, str(warm), res])
    r = json.load(open(res))
    return {"tok_s": r["tokens"] / r["seconds"], "tokens": r["tokens"], "cpu_front": r["cpu_front"], "cpu_engine": r["cpu_engine"],
            "rss_mib": r["rss_mib"]}


def llmbench(n, out):
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--data-samples", str(n),
         "--profile", "throughput", "--rate", str(n), "--backend-kwargs", json.dumps({"vllm_config": CONFIG}),
         "--disable-console", "--output-path", out])
    b = json.load(open(out))["benchmarks"][0]
    h = b["headroom"]
    return {"tok_s": b["summary"]["output_tokens_per_second"], "tokens": b["summary"]["output_tokens_total"],
            "cpu_front": h["cpu_seconds_supervisor"] + h["cpu_seconds_worker"], "cpu_sup": h["cpu_seconds_supervisor"],
            "cpu_worker": h["cpu_seconds_worker"], "cpu_engine": h["cpu_seconds_engine"],
            "rss_mib": h["peak_rss_mib_worker"]}


def single_stream(n, out):
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens=16", "--profile", "synchronous", "--max-requests", str(n),
         "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), "--disable-console", "--output-path", out])
    d = []
    for q in json.load(open(out))["benchmarks"][0]["records"]:
        t = q["timestamps_ns"]
        sup = t["first_token"] - t["sent"]
        wkr = t["worker_first_token"] - t["worker_received"]
        d.append((sup - wkr) / 1e3)
    d.sort()
    return d


def bootstrap_median(xs, k=2000, seed=1):
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choice(xs) for _ in xs) for _ in range(k))
    return meds[int(0.025 * k)], meds[int(0.975 * k) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1024)
    ap.add_argument("--stream", type=int, default=100)
    ap.add_argument("--smoke", action="store_true", help="1 pair of 64 requests, 10 single-stream requests")
    a = ap.parse_args()
    if a.smoke:
        a.pairs, a.requests, a.stream = 1, 64, 10
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        reqs = os.path.join(d, "requests.jsonl")
        prepare(a.requests, reqs)
        rows = []
        for i in range(a.pairs):
            A = reference(reqs, 2)
            B = llmbench(a.requests, os.path.join(d, f"b{i}.json"))
            rows.append((A, B))
            print(f"pair {i + 1}: reference {A['tok_s']:.0f} tok/s, llmbench {B['tok_s']:.0f} tok/s, ratio {B['tok_s'] / A['tok_s']:.3f}", file=sys.stderr, flush=True)
        stream = single_stream(a.stream, os.path.join(d, "s.json"))
    ratios = [b["tok_s"] / a_["tok_s"] for a_, b in rows]
    lo, hi = bootstrap_median(ratios) if len(ratios) > 1 else (ratios[0], ratios[0])
    med = lambda k, side: statistics.median(r[side][k] for r in rows)
    print(f"machine: {os.cpu_count()} cpus; model {os.path.basename(MODEL)}; {a.requests} requests x {PROMPT} prompt / {OUTPUT} output tokens; engine config {json.dumps(CONFIG)}")
    print(f"{'measure':<52} {'value':>12}")
    print(f"{'reference (AsyncLLMEngine in-process) output tok/s, median':<52} {med('tok_s', 0):>12.0f}")
    print(f"{'llmbench --profile throughput output tok/s, median':<52} {med('tok_s', 1):>12.0f}")
    print(f"{'engine limit ratio llmbench/reference, median':<52} {statistics.median(ratios):>12.3f}")
    print(f"{'  95% bootstrap interval':<52} {f'[{lo:.3f}, {hi:.3f}]':>12}")
    ref_front, ref_eng = med("cpu_front", 0), med("cpu_engine", 0)
    lb_front, lb_eng = med("cpu_front", 1), med("cpu_engine", 1)
    print(f"{'CPU s, reference front end / engine processes':<52} {f'{ref_front:.2f} / {ref_eng:.2f}':>12}")
    print(f"{'CPU s, llmbench supervisor+worker / engine processes':<52} {f'{lb_front:.2f} / {lb_eng:.2f}':>12}")
    sup, wkr = med("cpu_sup", 1), med("cpu_worker", 1)
    print(f"{'  of which supervisor / worker':<52} {f'{sup:.2f} / {wkr:.2f}':>12}")
    print(f"{'CPU llmbench adds, as % of engine CPU':<52} {100 * (lb_front - ref_front) / max(lb_eng, 1e-9):>11.2f}%")
    ref_rss, lb_rss = med("rss_mib", 0), med("rss_mib", 1)
    print(f"{'peak RSS MiB, reference front end / llmbench worker':<52} {f'{ref_rss:.0f} / {lb_rss:.0f}':>12}")
    print(f"{'  memory the worker adds over the bare front end, MiB':<52} {lb_rss - ref_rss:>12.0f}")
    pct = lambda p: stream[min(len(stream) - 1, int(p / 100 * len(stream)))]
    print(f"{'single stream: supervisor − worker TTFT, median us':<52} {statistics.median(stream):>12.1f}")
    print(f"{'single stream: supervisor − worker TTFT, p99 us':<52} {pct(99):>12.1f}")


if __name__ == "__main__":
    main()
