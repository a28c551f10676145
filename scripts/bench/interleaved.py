#!/usr/bin/env python3
"""llmbench's latency cost against vLLM driven directly, request by request on one host (#18).

harness_cost.py compares whole runs, one engine start each, in alternating order. On a VM whose
speed drifts by tens of percent between minutes, a run's engine is as likely to be slow as the
other side's, and 15 pairs of whole runs cannot resolve a 1% difference. Here both sides run at
once, each on its own engine, and take turns request by request:

- direct: this script's reference drives AsyncLLM in one Python process (DELTA outputs, token-id
  prompts, ignore_eos, uvloop, its threads off the CPUs the engine binds, the collector set as
  llmbench's worker sets it, the PM QoS request llmbench holds) and sends request (or burst) i at
  T0 + (i + 1/2) x period;
- llmbench: `llmbench benchmark run --profile replay` of a trace with a row (or a burst of
  --streams rows) every period, the default token coalescing: request i is sent at T0 + i x period.
Each side has finished its request before the other's is due (the period leaves room for a
request and the second for which vLLM's model runner keeps polling after it; the script checks,
from both sides' monotonic timestamps, that no two requests of different sides overlapped and
says how many did), so each side runs alone on the host, with the other idle beside it, and
the two requests of a pair are less than a period apart: the host's drift is common to both.
Both use the same prompts (token ids llmbench's dry run wrote for the same trace).

A direct request's TTFT runs from its burst's start stamp, taken when the first of its tasks
starts on its way into vLLM (llmbench's runs from its `sent`, when its write to the worker
returned; the worker's read starts the requests at once). Its SamplingParams (marked
skip_clone, as vllm serve's and llmbench's are: vLLM does not copy them) and prompt are built
before its time, as llmbench's staged requests are. So what both sides time from their start
is handing the requests to the engine and the engine's work; llmbench's TTFT adds its own hops
(write -> worker read, worker's first token -> supervisor read), and the direct reference's
start leaves out the turn of its event loop that runs its tasks (a few hundred microseconds
after seconds idle), which llmbench's worker does not take.
--direct-stats keeps vLLM's per-request stats on the direct engine, as on llmbench's.

Per pair: llmbench's TTFT minus the direct one (ms), and llmbench / direct for request latency and
the mean gap between a request's tokens (its ITL; with --streams N, the medians over the burst, and
output tokens per second over the burst). Medians over the pairs come with a bootstrap 95%
interval (resampling pairs). Each round starts both engines afresh, and two instances of the same
engine differ by a percent or so for a whole round, either way; so the last lines pool the rounds
with an interval that resamples rounds, then pairs within them (pool_rounds.py, which also pools
the rounds of several runs' logs).
Then what llmbench's own hops add to TTFT, from each request's timestamp chain (supervisor write
-> worker read -> handed to the engine; the worker's first token -> the supervisor's read): the
part of the TTFT difference that no engine drift can hide.
--aa puts a second direct reference in llmbench's place: what the instrument reads when both
sides run the same code (its noise floor on this host).

Usage: scripts/bench/interleaved.py [--pairs 60] [--streams 1] [--period S] [--rounds 1] [--smoke]
  (--streams 8 for the concurrency-8 comparison: bursts of 8 requests, which stay in lock-step).
Run on an otherwise idle machine; each round starts two engines.
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
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_cost as hc  # noqa: E402  (the direct reference's helpers, the engine config)
import pool_rounds  # noqa: E402  (the two-level bootstrap)

PY, BIN, MODEL, CONFIG = hc.PY, hc.BIN, hc.MODEL, hc.CONFIG
PROMPT, OUTPUT = hc.PROMPT, hc.OUTPUT

# The direct reference: harness_cost.py's, but it says when its engine is ready, waits for the
# schedule on stdin, and sends bursts at their times.
DIRECT = hc.DIRECT.split("async def main(")[0] + r'''
async def main(model, config, reqs_path, streams, out):
    hint = hold_low_latency()
    prompts = [json.loads(l) for l in open(reqs_path)]
    engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, disable_log_stats=True, **config), **engine_kwargs())
    placed = place_off_engine_cpus()
    import gc
    gc.collect(0); gc.collect(1); gc.collect(2)
    gc.freeze()
    gc.set_threshold(100_000, 10, 10)
    def build(r, max_tokens):
        kw = {"skip_clone": True} if "skip_clone" in (getattr(SamplingParams, "__struct_fields__", None) or ()) else {}
        sp = SamplingParams(max_tokens=max_tokens, ignore_eos=True, output_kind=RequestOutputKind.DELTA, **kw)
        return TokensPrompt(prompt_token_ids=r["prompt_token_ids"]), sp

    async def one(i, built, start=None):
        # a burst's requests share one start stamp, taken when the first of them starts on its
        # way into vLLM: the ones after it wait for those before to be added to the engine, as
        # llmbench's do
        start = start if start is not None else [None]
        if start[0] is None:
            start[0] = time.monotonic_ns()
        n, t0 = 0, start[0]
        first = last = None
        gaps = []
        async for o in engine.generate(*built, request_id=str(i)):
            k = len(o.outputs[0].token_ids)
            t = time.monotonic_ns()
            if k:
                if first is None:
                    first = t
                else:
                    gaps += [(t - last) / k / 1e6] * k
                last = t
            n += k
        return {"sent": t0, "first": first, "last": last, "end": time.monotonic_ns(), "tokens": n, "gaps": gaps}
    await asyncio.gather(*(one("w%d" % i, build(prompts[i], 16)) for i in range(2)))
    await engine.reset_prefix_cache()
    os.write(int(sys.argv[6]), b"ready\n")  # vLLM logs to stdout: a pipe of its own
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    t0, period = (int(x) for x in line.split())
    bursts = []
    for b in range(len(prompts) // streams):
        due = t0 + b * period
        # built before their time, as llmbench's staged requests are: what is timed is handing
        # them to the engine
        built = [build(r, r["max_tokens"]) for r in prompts[b * streams:(b + 1) * streams]]
        while True:
            wait = due - time.monotonic_ns()
            if wait <= 0:
                break
            await asyncio.sleep(wait / 1e9)
        start = [None]
        bursts.append(await asyncio.gather(*(one("%d-%d" % (b, j), x, start) for j, x in enumerate(built))))
    json.dump({"bursts": bursts, "cpus": placed}, open(out, "w"))
    os._exit(0)

import uvloop
uvloop.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]))
'''


def write_trace(path, pairs, streams, period):
    with open(path, "w") as f:
        for b in range(pairs):
            for _ in range(streams):
                f.write(json.dumps({"timestamp": round(b * period, 6), "input_length": PROMPT,
                                    "output_length": OUTPUT}) + "\n")


def llmbench_cmd(trace, extra):
    return [BIN, "benchmark", "run", "--model", MODEL, "--python", PY, "--request-format", "plain",
            "--data", json.dumps({"kind": "trace_synthetic", "source": trace}), "--profile", "replay",
            "--backend-kwargs", json.dumps({"vllm_config": CONFIG}), *extra]


def start_direct(d, name, reqs, streams):
    """A direct reference, its engine up and warm; (process, its output path)."""
    out = os.path.join(d, name + ".json")
    log = open(os.path.join(d, name + ".log"), "w")
    ready_r, ready_w = os.pipe()
    proc = subprocess.Popen([PY, "-c", DIRECT, MODEL, json.dumps(CONFIG), reqs, str(streams), out, str(ready_w)],
                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, pass_fds=(ready_w,))
    os.close(ready_w)
    with os.fdopen(ready_r) as ready:
        said = ready.readline().strip()
    if said != "ready":
        proc.kill()
        sys.exit("the direct reference failed:\n" + open(os.path.join(d, name + ".log")).read()[-3000:])
    return proc, out


def go(proc, t0, period_ns):
    proc.stdin.write(f"{t0} {period_ns}\n")
    proc.stdin.flush()


def finish_direct(d, name, proc):
    if proc.wait() != 0:
        sys.exit("the direct reference failed:\n" + open(os.path.join(d, name + ".log")).read()[-3000:])
    return json.load(open(os.path.join(d, name + ".json")))


def one_round(d, pairs, streams, period, aa):
    """One round: (the first side's bursts, the direct reference's bursts, the first side's per-gap
    ITL median, its cores). The first side is llmbench, or with `aa` a second direct reference."""
    trace = os.path.join(d, "trace.jsonl")
    reqs = os.path.join(d, "requests.jsonl")
    write_trace(trace, pairs, streams, period)
    hc.run(llmbench_cmd(trace, ["--dry-run", "--save-requests", reqs]))
    p = int(period * 1e9)
    procs = []
    try:
        direct, _ = start_direct(d, "direct", reqs, streams)
        procs.append(direct)
        if aa:
            other, _ = start_direct(d, "other", reqs, streams)
            procs.append(other)
            t0 = time.monotonic_ns() + 1_000_000_000
            go(other, t0, p)
            go(direct, t0 + p // 2, p)
            o = finish_direct(d, "other", other)
            theirs = finish_direct(d, "direct", direct)
            gaps = statistics.median(g for x in o["bursts"] for r in x for g in r["gaps"])
            return o["bursts"], theirs["bursts"], gaps, o.get("cpus"), None
        report = os.path.join(d, "llmbench.json")
        ll = subprocess.Popen(llmbench_cmd(trace, ["--output-path", report]), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        procs.append(ll)  # llmbench ends its own worker when it is ended
        errs = []
        started = threading.Event()
        t_start = []

        def read_stderr():
            for line in ll.stderr:
                if not started.is_set() and line.startswith("running benchmark"):
                    t_start.append(time.monotonic_ns())
                    started.set()
                errs.append(line)
        th = threading.Thread(target=read_stderr, daemon=True)
        th.start()
        while not started.wait(0.5):
            if ll.poll() is not None:
                th.join()
                sys.exit("llmbench failed:\n" + "".join(errs)[-3000:])
        go(direct, t_start[0] + p // 2, p)
        if ll.wait() != 0:
            th.join()
            sys.exit("llmbench failed:\n" + "".join(errs)[-3000:])
        theirs = finish_direct(d, "direct", direct)
    finally:
        for proc in procs:
            try:
                if proc.args[0] == BIN:
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait()
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    r = json.load(open(report))
    origin = r["clock"]["origin_monotonic_ns"]
    b = r["benchmarks"][0]
    recs = sorted((q for q in b["records"] if q["status"] == "successful"),
                  key=lambda q: q["timestamps_ns"]["sent"])
    mine = [{k: origin + q["timestamps_ns"][f] for k, f in
             (("sent", "sent"), ("first", "first_token"), ("last", "last_token"), ("end", "end"))}
            | {"tokens": q["output_tokens"]} for q in recs]
    mine = [mine[i:i + streams] for i in range(0, len(mine), streams)]
    split = sum(1 for x in mine if len({r["sent"] for r in x}) != 1)
    if split or len(mine) != pairs or any(len(x) != streams for x in mine):
        sys.exit(f"llmbench sent {len(recs)} requests; {split} of its bursts not in one write")
    hops = [{"to_worker": (t["worker_received"] - t["sent"]) / 1e6,
             "to_engine": (t["worker_submitted"] - t["worker_received"]) / 1e6,
             "from_worker": (t["first_token"] - t["worker_first_token"]) / 1e6,
             "end_from_worker": (t["end"] - t["worker_last_token"]) / 1e6}
            for t in (q["timestamps_ns"] for q in recs)]
    return mine, theirs["bursts"], b["summary"]["itl_ms"]["median"], b["headroom"].get("cpus_supervisor"), hops


# After its last step, vLLM's model-runner process polls its shared-memory queue for another
# second, yielding the CPU it is bound to rather than sleeping (shm_broadcast's busy_loop_s): a
# side's request counts as overlapping the other's if it starts within that second too.
SPIN_NS = 1_000_000_000


def overlaps(mine, theirs):
    """How many requests (bursts) of one side began before the other side's previous one, and
    the second after it, had ended."""
    spans = sorted([(min(r["sent"] for r in x), max(r["end"] for r in x) + SPIN_NS, side)
                    for side, bursts in ((0, mine), (1, theirs)) for x in bursts])
    return sum(1 for a, c in zip(spans, spans[1:]) if c[0] < a[1] and c[2] != a[2])


def figures(A, B):
    """llmbench's burst A against the direct one B."""
    med = lambda xs, f: statistics.median(f(r) for r in xs)
    ttft = lambda r: (r["first"] - r["sent"]) / 1e6
    lat = lambda r: (r["end"] - r["sent"]) / 1e6
    itl = lambda r: (r["last"] - r["first"]) / 1e6 / max(r["tokens"] - 1, 1)
    tput = lambda xs: sum(r["tokens"] for r in xs) / (max(r["end"] for r in xs) - min(r["sent"] for r in xs))
    return {"ttft": med(A, ttft) - med(B, ttft), "latency": med(A, lat) / med(B, lat),
            "itl": med(A, itl) / med(B, itl), "tput": tput(A) / tput(B),
            "lat_ms": (med(A, lat), med(B, lat)), "ttft_ms": (med(A, ttft), med(B, ttft)),
            "itl_ms": (med(A, itl), med(B, itl)), "at": min(r["sent"] for r in A)}


NAMES = (("ttft", "TTFT, {} - direct (ms)", "+.3f"),
         ("latency", "request latency, {} / direct", ".4f"),
         ("itl", "ITL (mean gap), {} / direct", ".4f"),
         ("tput", "output tok/s, {} / direct", ".4f"))


def summary(rows, show_pairs, first, rounds=None):
    """Medians over the pairs `rows`; the interval resamples pairs, or with `rounds` (the rows
    of each round) rounds and then pairs within them."""
    for k, name, fmt in NAMES:
        name = name.format(first)
        xs = [r[k] for r in rows]
        lo, hi = pool_rounds.two_level([[r[k] for r in x] for x in rounds]) if rounds else hc.bootstrap_median(xs)
        line = f"  {name:<46} median {format(statistics.median(xs), fmt)}  95% [{format(lo, fmt)}, {format(hi, fmt)}]"
        if show_pairs:
            line += "\n    pairs: " + " ".join(format(x, fmt) for x in xs)
        print(line, flush=True)


def main():
    # killed: the finally blocks still end both sides' engines (their own sessions)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--period", type=float, help="seconds between a side's requests (default 6, 9 for bursts)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--aa", action="store_true",
                    help="calibration: a second direct reference in llmbench's place (what the instrument reads "
                         "when both sides are the same)")
    ap.add_argument("--direct-stats", action="store_true",
                    help="the direct reference keeps vLLM's per-request stats as llmbench's engine does (by "
                         "default it runs with them off, as AsyncLLM with disable_log_stats and no stat logger)")
    ap.add_argument("--verbose", action="store_true", help="each pair's absolute figures")
    ap.add_argument("--smoke", action="store_true", help="1 round of 4 pairs")
    a = ap.parse_args()
    if a.smoke:
        a.pairs, a.rounds = 4, 1
    if a.direct_stats:
        os.environ["DIRECT_STATS"] = "1"
    period = a.period or (6.0 if a.streams == 1 else 9.0)
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cpus; model {os.path.basename(MODEL)}, engine config {json.dumps(CONFIG)}; "
          f"{a.pairs} pairs of {'a request' if a.streams == 1 else f'bursts of {a.streams} requests'} x "
          f"{PROMPT}/{OUTPUT} tokens, {period} s apart; {a.rounds} round(s)", flush=True)
    pooled, per_round = [], []
    first = "direct reference 2" if a.aa else "llmbench"
    for rnd in range(a.rounds):
        with tempfile.TemporaryDirectory() as d:
            mine, theirs, itl_l, cpus, hops = one_round(d, a.pairs, a.streams, period, a.aa)
        itl_d = statistics.median(g for x in theirs for r in x for g in r["gaps"])
        rows = [figures(A, B) for A, B in zip(mine, theirs)]
        pooled += rows
        per_round.append(rows)
        lat = [r["lat_ms"] for r in rows]
        print(f"round {rnd + 1}: {len(rows)} pairs, {overlaps(mine, theirs)} overlapping; median latency {first} "
              f"{statistics.median(x[0] for x in lat):.1f} ms, direct {statistics.median(x[1] for x in lat):.1f} ms; "
              f"per-gap ITL median {first} {itl_l:.4f} ms, direct {itl_d:.4f} ms (ratio {itl_l / itl_d:.4f}); "
              f"cores: {first} {cpus}", flush=True)
        if a.verbose:
            t0 = rows[0]["at"]
            for r in rows:
                print("    at %6.1f s  %s TTFT %7.2f ITL %6.3f latency %7.1f | direct TTFT %7.2f ITL %6.3f latency %7.1f ms"
                      % ((r["at"] - t0) / 1e9, first, r["ttft_ms"][0], r["itl_ms"][0], r["lat_ms"][0],
                         r["ttft_ms"][1], r["itl_ms"][1], r["lat_ms"][1]))
        summary(rows, True, first)
        if hops:
            # What llmbench's own hops add to TTFT, read from each request's timestamp chain
            # rather than from a comparison: the direct reference's TTFT runs from its generate()
            # call (llmbench's worker_submitted) to the output in its loop (worker_first_token).
            for k, name in (("to_worker", "supervisor write -> worker read"),
                            ("to_engine", "worker read -> handed to the engine"),
                            ("from_worker", "worker's first token -> supervisor read"),
                            ("sum", "llmbench's hops in TTFT (the three above)"),
                            ("end_from_worker", "worker's last output -> supervisor end")):
                xs = [h["to_worker"] + h["to_engine"] + h["from_worker"] if k == "sum" else h[k] for h in hops]
                lo, hi = hc.bootstrap_median(xs)
                print(f"  {name:<46} median {statistics.median(xs):.3f} ms  95% [{lo:.3f}, {hi:.3f}]  "
                      f"p90 {sorted(xs)[int(0.9 * len(xs))]:.3f} ms", flush=True)
    if a.rounds > 1:
        print(f"all {a.rounds} rounds, {len(pooled)} pairs (interval: rounds resampled, then pairs):")
        summary(pooled, False, first, per_round)


if __name__ == "__main__":
    main()
