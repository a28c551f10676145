#!/usr/bin/env python3
"""Trace preparation cost: a 10,000-row Mooncake-format trace shaped like Mooncake's published
conversation trace (inputs averaging ~12k tokens in 512-token blocks, one first block shared by
every row, most later blocks unique, some rows continuing an earlier row's blocks, timestamps in
ms), prepared with the tokenizer only (`--dry-run`: no engine). Prints llmbench's own timing of
the preparation (after the tokenizer loaded) and llmbench's peak RSS (VmHWM of its own process,
not the Python worker's). Target: under 2 s and under 1 GiB.

With --conversations, a row that continues an earlier row's blocks belongs to that row's
conversation (conversation_id_column=session), so the rows are prepared as conversations.

Usage: scripts/bench/trace_prepare.py [--rows N] [--conversations] [--smoke] [MODEL_DIR]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCK = 512


def trace(rows, seed=1):
    """Rows like Mooncake's conversation trace: ~12k-token inputs (1k..30k), block 0 shared by
    all, a third of the rows continuing an earlier row's blocks (and its session), the rest new."""
    rnd = random.Random(seed)
    next_id = 1
    history = []
    sessions = []
    out = []
    t = 0
    for _ in range(rows):
        t += int(rnd.expovariate(1 / 180.0))  # ~5.5 req/s, in ms
        n = int(min(30_000, max(1_000, rnd.lognormvariate(9.25, 0.6))))
        blocks = -(-n // BLOCK)
        ids = [0]
        session = len(out)
        if history and rnd.random() < 0.33:
            k = rnd.randrange(max(0, len(history) - 200), len(history))
            prev = history[k]
            session = sessions[k]
            ids = prev[: min(len(prev), blocks)]
        while len(ids) < blocks:
            ids.append(next_id)
            next_id += 1
        ids = ids[:blocks]
        history.append(ids)
        sessions.append(session)
        out.append({"timestamp": t, "session": session, "input_length": n,
                    "output_length": int(max(16, min(2000, rnd.lognormvariate(5.5, 0.7)))),
                    "hash_ids": ids})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default=os.path.join(ROOT, ".cache/models/tiny-llama"))
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--smoke", action="store_true", help="500 rows, a check that it runs")
    ap.add_argument("--conversations", action="store_true",
                    help="rows that continue an earlier row join its conversation "
                         "(conversation_id_column=session)")
    a = ap.parse_args()
    rows = 500 if a.smoke else a.rows
    py = os.environ.get("LLMBENCH_PYTHON", os.path.join(ROOT, ".cache/vllm-venv/bin/python"))
    binary = os.path.join(ROOT, "target/release/llmbench")
    if not os.access(binary, os.X_OK):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trace.jsonl")
        rs = trace(rows)
        with open(path, "w") as f:
            for r in rs:
                f.write(json.dumps(r) + "\n")
        tokens = sum(r["input_length"] for r in rs)
        distinct = len({i for r in rs for i in r["hash_ids"]})
        print(f"trace: {rows} rows, {tokens / rows:.0f} input tokens per row on average, "
              f"{distinct} distinct {BLOCK}-token blocks, {os.path.getsize(path) / 1e6:.1f} MB, "
              f"{rs[-1]['timestamp'] / 1e3:.0f} s long")
        cmd = [binary, "benchmark", "run", "--model", a.model, "--python", py, "--dry-run",
               "--request-format", "plain", "--profile", "replay",
               "--data", f"kind=mooncake,source={path}"
               + (",conversation_id_column=session" if a.conversations else ""),
               "--backend-kwargs", '{"vllm_config": {"max_model_len": 32768}}']
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hwm = 0
        while p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                    if m:
                        hwm = max(hwm, int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.01)
        stdout, stderr = p.communicate()
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"llmbench failed ({p.returncode}):\n{stdout}\n{stderr}")
        m = re.search(r"prepared (\d+) requests .* in ([0-9.]+) s after the tokenizer loaded", stdout)
        want = len({r["session"] for r in rs}) if a.conversations else rows
        if not m or int(m.group(1)) != want:
            sys.exit(f"unexpected output:\n{stdout}")
        secs = float(m.group(2))
        convs = f" ({want} conversations)" if a.conversations else ""
        print(f"prepared {rows} rows{convs} in {secs:.3f} s after the tokenizer loaded "
              f"(the whole command: {wall:.1f} s); llmbench's peak RSS {hwm / 1024:.0f} MiB")
        if not a.smoke and (secs >= 2.0 or hwm >= 1024 * 1024):
            sys.exit("above the target (2 s, 1 GiB)")


if __name__ == "__main__":
    main()
