#!/usr/bin/env python3
"""What llmbench's own hops add to TTFT, with requests staged ahead and without (#18).

Every request's timestamp chain says where llmbench spends time before the engine has it and
after the engine made a token: supervisor write -> worker read (`worker_received - sent`),
worker read -> handed to the engine (`worker_submitted - worker_received`), and the worker's
first token -> the supervisor's read (`first_token - worker_first_token`); at the end, the
worker's last output -> the supervisor's end. This script runs llmbench on the real engine (the
tiny model, the engine config of harness_cost.py) in alternating runs: as it is, where a
request that waits is sent ahead as a `stage` and started by a short `go` (docs/protocol.md,
"Staged requests"), and with LLMBENCH_NO_STAGING=1, where every request is a `generate` written
at its time. It prints each hop's median per arm, pooled over the rounds, with a bootstrap 95%
interval (resampling requests).

--profile replay (the default): one request every --period seconds (a trace), so the worker is
idle for seconds before each request, as in a low-rate benchmark; --profile synchronous: one
request after another, as the single-stream comparison runs them.

Usage: scripts/bench/hops.py [--requests 30] [--period 2.5] [--rounds 2]
                             [--profile replay|synchronous] [--smoke]
Run on an otherwise idle machine; each run starts the engine (about a minute).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_cost as hc  # noqa: E402
import interleaved as il  # noqa: E402

HOPS = [
    ("to_worker", "supervisor write -> worker read", lambda t: t["worker_received"] - t["sent"]),
    ("to_engine", "worker read -> handed to the engine", lambda t: t["worker_submitted"] - t["worker_received"]),
    ("from_worker", "worker's first token -> supervisor read", lambda t: t["first_token"] - t["worker_first_token"]),
    ("sum", "llmbench's hops in TTFT (the three above)",
     lambda t: t["worker_received"] - t["sent"] + t["worker_submitted"] - t["worker_received"]
     + t["first_token"] - t["worker_first_token"]),
    ("end", "worker's last output -> supervisor end", lambda t: t["end"] - t["worker_last_token"]),
    ("engine", "handed to the engine -> worker's first token (vLLM's part, for reference)",
     lambda t: t["worker_first_token"] - t["worker_submitted"]),
]


def run(d, n, period, profile, staged):
    trace, report = os.path.join(d, "trace.jsonl"), os.path.join(d, "report.json")
    il.write_trace(trace, n, 1, period)
    cmd = il.llmbench_cmd(trace, ["--output-path", report])
    if profile != "replay":
        cmd[cmd.index("replay")] = profile
    env = dict(os.environ)
    env.pop("LLMBENCH_NO_STAGING", None)
    if not staged:
        env["LLMBENCH_NO_STAGING"] = "1"
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("llmbench failed:\n" + p.stderr[-3000:])
    recs = [q for q in json.load(open(report))["benchmarks"][0]["records"] if q["status"] == "successful"]
    if len(recs) != n:
        sys.exit("expected %d successful requests, got %d" % (n, len(recs)))
    return [{k: f(q["timestamps_ns"]) / 1e3 for k, _, f in HOPS} for q in recs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--period", type=float, default=2.5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile", choices=("replay", "synchronous"), default="replay")
    ap.add_argument("--smoke", action="store_true", help="3 requests, 1 s apart, one round")
    a = ap.parse_args()
    if a.smoke:
        a.requests, a.period, a.rounds = 3, 1.0, 1
    rows = {True: [], False: []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(a.rounds):
            # alternate which arm goes first
            for staged in ((True, False) if r % 2 == 0 else (False, True)):
                got = run(d, a.requests, a.period, a.profile, staged)
                rows[staged] += got
                print("round %d, %s: %s" % (r + 1, "staged" if staged else "generate",
                                            ", ".join("%s %.0f us" % (k, statistics.median(x[k] for x in got))
                                                      for k, _, _ in HOPS)), flush=True)
    print("\n%s, %d requests per run, %d rounds; medians in us [bootstrap 95%% interval]" %
          (a.profile if a.profile != "replay" else "one request every %.1f s" % a.period, a.requests, a.rounds))
    print("| hop | generate at its time | staged ahead, go at its time |")
    print("|---|---|---|")
    for k, name, _ in HOPS:
        cells = []
        for staged in (False, True):
            xs = [x[k] for x in rows[staged]]
            lo, hi = hc.bootstrap_median(xs)
            cells.append("%.0f [%.0f, %.0f]" % (statistics.median(xs), lo, hi))
        print("| %s | %s | %s |" % (name, *cells))


if __name__ == "__main__":
    main()
