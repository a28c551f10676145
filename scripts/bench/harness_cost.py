#!/usr/bin/env python3
"""llmbench's deterministic costs per 1,000 output tokens, before and after coalescing, against
vLLM driven directly (#18).

For a single stream and for 8 concurrent streams (256 prompt / 128 output tokens, the tiny model
on the real engine), in rounds whose order alternates:
- direct: this script's reference drives AsyncLLM in one Python process (DELTA outputs, token-id
  prompts, ignore_eos) on uvloop (as `vllm serve` and llmbench's worker do), at most S requests
  in flight, and counts its own CPU time and context
  switches (every thread, /proc/self/task/*/status) over the measured requests;
- llmbench "before": `--token-coalesce-ms 0` (every engine output written and read at once, as
  llmbench did before #18); "after": the default (`--token-coalesce-ms 20`). `benchmark run
  --profile synchronous` or `concurrent --rate 8` on the same engine config; the report's
  `headroom.per_1k_output_tokens` gives the supervisor's and the worker's CPU ms, context
  switches and output frames per 1,000 output tokens.
The direct run holds the same PM QoS request llmbench holds (`/dev/cpu_dma_latency` = 0, CPUs
out of deep idle states), so both sides run on the same machine tuning. The front end of the
direct run is what any client of AsyncLLM pays; what llmbench adds is
supervisor + worker − direct. Medians over the rounds are printed with each round's figures.
Against the direct reference, each round also gives llmbench's median TTFT minus the direct
one, and the ratios of median request latency, median per-gap ITL and output tokens/s; the
medians over the rounds come with a bootstrap 95% interval (resampling rounds).
`--mock` measures llmbench alone on the worker's mock engine (TTFT 5 ms, 1 ms steps; no direct
run): its own costs without an engine's noise.

The direct reference moves its own threads off the CPUs the engine binds, as llmbench does
(DIRECT_PLACEMENT=off leaves it on every CPU), and sets the garbage collector as llmbench's
worker does once the engine is up (the startup heap frozen, as `vllm serve` does; collections
every 100,000 allocations; DIRECT_GC=default leaves Python's): the comparison isolates
llmbench's own work.
`--after-only` skips the "before" runs (llmbench as it is against the reference).
`--direct-stats` has the direct engine keep vLLM's per-request and per-step stats, as llmbench's
engine does (its engine_* timestamps come from them); by default the reference collects none, so
its latencies leave out what vLLM's own stats cost the engine.

Usage: scripts/bench/harness_cost.py [--pairs 3] [--requests 60] [--mock] [--smoke] [--after-only]
       [--direct-stats]
Run on an otherwise idle machine (CPU time and context switches vary less with load than
latency does, but a busy machine still adds involuntary switches).
"""
import argparse
import json
import os
import random
import signal
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
import asyncio, json, os, resource, sys, time
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

def hold_low_latency():
    """What llmbench holds during a run (src/clock.rs): CPUs kept out of deep idle states, so
    both sides run on the same machine tuning. None where not permitted."""
    try:
        f = open("/dev/cpu_dma_latency", "wb", buffering=0)
        f.write((0).to_bytes(4, "little"))
        return f
    except OSError:
        return None

def place_off_engine_cpus():
    """As llmbench does (docs/metrics.md, "Headroom"): this process's threads move off the CPUs
    the engine's processes bind (vLLM's CPU backend pins its OpenMP threads), where any are left;
    so the comparison measures llmbench's own cost, not where it runs. The CPUs, or None."""
    if os.environ.get("DIRECT_PLACEMENT") == "off":
        return None
    def cpus(text):
        out = set()
        for part in text.strip().split(","):
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
        return out
    allowed, bound, me, pg = set(os.sched_getaffinity(0)), set(), os.getpid(), os.getpgrp()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            data = open("/proc/%s/stat" % name, "rb").read()
            if int(data[data.rindex(b")") + 2:].split()[2]) != pg:
                continue
            for tid in os.listdir("/proc/%s/task" % name):
                for l in open("/proc/%s/task/%s/status" % (name, tid)):
                    if l.startswith("Cpus_allowed_list:"):
                        c = cpus(l.split(":", 1)[1]) & allowed
                        if c and c < allowed:
                            bound |= c
        except (OSError, ValueError):
            continue
    rest = allowed - bound
    if not bound or not rest:
        return None
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), rest)
        except OSError:
            pass
    return sorted(rest)

def engine_kwargs():
    """DIRECT_STATS=1: vLLM's per-request and per-step stats kept, as llmbench's engine keeps them
    (its engine_* timestamps come from them), with a stat logger that records nothing. Without it,
    AsyncLLM with disable_log_stats and no stat logger collects none."""
    if not os.environ.get("DIRECT_STATS"):
        return {}
    from vllm.v1.metrics.loggers import StatLoggerBase

    class Quiet(StatLoggerBase):
        def __init__(self, vllm_config, engine_index=0):
            pass

        def record(self, *args, **kwargs):
            pass

        def log_engine_initialized(self):
            pass

    return {"stat_loggers": [Quiet]}

async def main(model, config, reqs_path, streams, out):
    hint = hold_low_latency()
    prompts = [json.loads(l) for l in open(reqs_path)]
    engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, disable_log_stats=True, **config), **engine_kwargs())
    placed = place_off_engine_cpus()
    if os.environ.get("DIRECT_GC") != "default":
        # llmbench's worker's collector settings once its engine is up (vllm serve freezes too)
        import gc
        gc.collect(0); gc.collect(1); gc.collect(2)
        gc.freeze()
        gc.set_threshold(100_000, 10, 10)
    lat = []
    async def one(i, r, max_tokens, record=False):
        sp = SamplingParams(max_tokens=max_tokens, ignore_eos=True, output_kind=RequestOutputKind.DELTA)
        n, t0 = 0, time.monotonic_ns()
        first = prev = None
        gaps = []
        async for o in engine.generate(TokensPrompt(prompt_token_ids=r["prompt_token_ids"]), sp, request_id=str(i)):
            k = len(o.outputs[0].token_ids)
            t = time.monotonic_ns()
            if k:
                if first is None:
                    first = t
                else:
                    gaps += [(t - prev) / k / 1e6] * k
                prev = t
            n += k
        if record:
            lat.append({"ttft_ms": (first - t0) / 1e6, "latency_ms": (time.monotonic_ns() - t0) / 1e6, "gaps": gaps})
        return n
    await asyncio.gather(*(one("w%d" % i, prompts[i], 16) for i in range(2)))
    await engine.reset_prefix_cache()
    sem = asyncio.Semaphore(streams)
    async def limited(i, r):
        async with sem:
            return await one(i, r, r["max_tokens"], True)
    c0, s0, w0 = cpu(), switches(), time.monotonic_ns()
    counts = await asyncio.gather(*(limited(i, r) for i, r in enumerate(prompts)))
    c1, s1, w1 = cpu(), switches(), time.monotonic_ns()
    json.dump({"tokens": sum(counts), "cpu_s": c1 - c0, "switches": s1 - s0, "seconds": (w1 - w0) / 1e9,
               "requests": lat, "cpus": placed}, open(out, "w"))
    os._exit(0)

# uvloop, as vLLM's own server (`vllm serve`) and llmbench's worker run their event loops.
import uvloop
uvloop.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]))
'''


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def prepare(n, path):
    run([BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--dry-run", "--request-format", "plain",
         "--data", f"prompt_tokens={PROMPT},output_tokens={OUTPUT}", "--data-samples", str(n),
         "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), "--save-requests", path])


def direct(reqs, streams, d):
    """The reference in its own process group: it leaves with os._exit (no engine shutdown in
    the measurement), so vLLM's processes are killed here, and its output goes to a file (a
    pipe would stay open in them)."""
    out = os.path.join(d, "direct.json")
    with open(os.path.join(d, "direct.log"), "w") as log:
        p = subprocess.Popen([PY, "-c", DIRECT, MODEL, json.dumps(CONFIG), reqs, str(streams), out],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        code = p.wait()
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if code != 0:
        sys.exit("the direct reference failed (exit %d):\n%s" % (code, open(os.path.join(d, "direct.log")).read()[-3000:]))
    r = json.load(open(out))
    k = r["tokens"] / 1000
    q = r["requests"]
    return {"cpu_ms": r["cpu_s"] * 1e3 / k, "switches": r["switches"] / k,
            "ttft_ms": statistics.median(x["ttft_ms"] for x in q),
            "latency_ms": statistics.median(x["latency_ms"] for x in q),
            "itl_ms": statistics.median(g for x in q for g in x["gaps"]),
            "tok_s": r["tokens"] / r["seconds"], "cpus": r.get("cpus")}


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
    b = json.load(open(out))["benchmarks"][0]
    h, recs = b["headroom"], [q for q in b["records"] if q["status"] == "successful"]
    p = h["per_1k_output_tokens"]
    return {"ttft_ms": statistics.median(q["ttft_ms"] for q in recs),
            "latency_ms": statistics.median(q["latency_ms"] for q in recs),
            "itl_ms": b["summary"]["itl_ms"]["median"],
            "tok_s": b["summary"]["output_tokens_per_second"],
            "cpu_ms_sup": p["cpu_ms_supervisor"], "cpu_ms_worker": p["cpu_ms_worker"],
            "sw_sup": p["context_switches_supervisor"], "sw_worker": p["context_switches_worker"],
            "frames": p.get("output_frames"), "cpus": (h.get("cpus_supervisor"), h.get("cpus_worker"))}


def bootstrap_median(xs, k=2000, seed=1):
    """A 95% interval of the median of `xs` (resampling the rounds)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choice(xs) for _ in xs) for _ in range(k))
    return meds[int(0.025 * k)], meds[int(0.975 * k) - 1]


def latency_table(rows, k):
    """Per round: llmbench (B = rows[r][k]) against the direct reference (A = rows[r][0])."""
    figs = [
        ("TTFT, llmbench - direct (ms)", lambda A, B: B["ttft_ms"] - A["ttft_ms"], "+.3f"),
        ("request latency, llmbench / direct", lambda A, B: B["latency_ms"] / A["latency_ms"], ".4f"),
        ("per-gap ITL median, llmbench / direct", lambda A, B: B["itl_ms"] / A["itl_ms"], ".4f"),
        ("output tok/s, llmbench / direct", lambda A, B: B["tok_s"] / A["tok_s"], ".4f"),
    ]
    for name, f, fmt in figs:
        xs = [f(r[0], r[k]) for r in rows]
        lo, hi = bootstrap_median(xs)
        print(f"  {name:<40} median {format(statistics.median(xs), fmt)}  95% [{format(lo, fmt)}, "
              f"{format(hi, fmt)}]  rounds: {' '.join(format(x, fmt) for x in xs)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--mock", action="store_true", help="llmbench alone, on the mock engine")
    ap.add_argument("--direct-stats", action="store_true",
                    help="the direct reference keeps vLLM's per-request stats as llmbench's engine does")
    ap.add_argument("--smoke", action="store_true", help="1 round of 8 requests")
    ap.add_argument("--after-only", action="store_true",
                    help="llmbench as it is (default coalescing) against the reference, no 'before' runs")
    a = ap.parse_args()
    if a.smoke:
        a.pairs, a.requests = 1, 8
    if a.direct_stats:
        os.environ["DIRECT_STATS"] = "1"
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
                before = (lambda: None) if a.after_only else (lambda: llmbench(a.requests, streams, d, 0, a.mock))
                if i % 2 == 0:
                    if not a.mock:
                        A = direct(reqs, streams, d)
                    B0 = before()
                    B1 = llmbench(a.requests, streams, d, 20, a.mock)
                else:
                    B1 = llmbench(a.requests, streams, d, 20, a.mock)
                    B0 = before()
                    if not a.mock:
                        A = direct(reqs, streams, d)
                B0 = B0 or B1
                rows.append((A, B0, B1))
                line = f"  streams {streams} round {i + 1}:"
                if A:
                    line += f" direct {A['cpu_ms']:.1f} ms / {A['switches']:.0f} switches;"
                for name, B in ((("after", B1),) if a.after_only else (("before", B0), ("after", B1))):
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
            print(f"  cores (supervisor, worker): {rows[-1][2]['cpus']}"
                  + (f"; direct reference: {rows[-1][0]['cpus'] or 'every CPU'}" if not a.mock else ""), flush=True)
            if not a.mock:
                variants = ((2, "after (default)"),) if a.after_only else \
                    ((1, "before (--token-coalesce-ms 0)"), (2, "after (default)"))
                for k, name in variants:
                    print(f"streams {streams}, llmbench {name} against the direct reference, per round:")
                    latency_table(rows, k)


if __name__ == "__main__":
    main()
