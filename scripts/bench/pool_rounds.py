#!/usr/bin/env python3
"""Pools the rounds of several `interleaved.py` runs (their printed logs) into one figure per
measure.

Each round of interleaved.py runs its own two engine instances, and on a small VM two instances of
the same engine differ by a percent or two in speed, either way, for the whole round (the A/A
calibration, `--aa`, shows it with the same code on both sides). A bootstrap that resamples pairs
cannot see that: it takes one round's instance difference for llmbench's. This script's interval
resamples rounds first and then pairs within each drawn round (a two-level bootstrap), so it
is as wide as the rounds' spread says it must be; with one round it is the pair bootstrap.

    python3 scripts/bench/pool_rounds.py LOG [LOG ...]

Only logs of the same comparison (single stream, or bursts of the same size) belong together.
"""
import random
import statistics
import sys

MEASURES = (("TTFT", "TTFT difference, ms", "+.3f"),
            ("request latency", "request latency ratio", ".4f"),
            ("ITL (mean gap)", "ITL ratio (mean gap per request)", ".4f"),
            ("output tok/s", "output tok/s ratio", ".4f"))


def rounds_of(path):
    """[{measure: [pair values]}] for each round the log holds."""
    out, cur, name = [], None, None
    for line in open(path):
        s = line.strip()
        if line.startswith("round "):
            cur = {}
            out.append(cur)
        elif line.startswith("all "):
            cur = None  # the pooled summary of that run: its pairs are the rounds' again
        elif cur is not None and s.startswith("pairs:"):
            cur[name] = [float(x) for x in s.split()[1:]]
        elif cur is not None:
            name = next((m for m, _, _ in MEASURES if s.startswith(m + ",")), name)
    return out


def two_level(rounds, k=4000, seed=1):
    """A 95% interval of the pooled median: rounds drawn with replacement, then pairs within each."""
    rng = random.Random(seed)
    meds = []
    for _ in range(k):
        xs = []
        for r in (rng.choice(rounds) for _ in rounds):
            xs += [rng.choice(r) for _ in r]
        meds.append(statistics.median(xs))
    meds.sort()
    return meds[int(0.025 * k)], meds[int(0.975 * k) - 1]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rounds = [r for p in sys.argv[1:] for r in rounds_of(p)]
    rounds = [r for r in rounds if all(m in r for m, _, _ in MEASURES)]
    if not rounds:
        sys.exit("no rounds with pair figures in " + ", ".join(sys.argv[1:]))
    print(f"{len(rounds)} rounds, {sum(len(r['TTFT']) for r in rounds)} pairs")
    for m, name, fmt in MEASURES:
        per = [statistics.median(r[m]) for r in rounds]
        pooled = [x for r in rounds for x in r[m]]
        lo, hi = two_level([r[m] for r in rounds])
        print(f"  {name:<34} pooled median {format(statistics.median(pooled), fmt)}  "
              f"95% [{format(lo, fmt)}, {format(hi, fmt)}]  rounds: "
              + " ".join(format(x, fmt) for x in per))


if __name__ == "__main__":
    main()
