"""Loads llmbench reports with GuideLLM's own code and checks GuideLLM's view against llmbench's.

Run by tests/guidellm_compat.rs in the venv of scripts/setup-guidellm-venv.sh:

    python tests/guidellm_check.py --guidellm-version 0.8.1 --out DIR REPORT.json [REPORT.yaml ...]

For every report file:
  1. GenerativeBenchmarksReport.load_file (GuideLLM's pydantic models) accepts it.
  2. Every request GuideLLM sees is one of llmbench's records, and GuideLLM's own computed fields
     (time_to_first_token_ms, inter_token_latency_ms, time_per_output_token_ms, request_latency,
     output_tokens_per_second, token counts, iterations) reproduce llmbench's per-request values.
  3. GuideLLM's GenerativeMetrics.compile, run on the loaded requests and measurement window,
     gives the `metrics` llmbench wrote, distribution for distribution.
  4. The metrics agree with llmbench's `summary` where the two define the same thing.
  5. GuideLLM's warning analyzer fires exactly the GuideLLM-rule warnings llmbench wrote.
  6. The scenario's get_benchmarks() names each model of the run.
  6b. GuideLLM's profiles would stop escalating (`Profile._should_stop_escalating`) after exactly
      the benchmarks llmbench says a stopping_scope=all constraint ended, and GuideLLM's knee
      analysis reads the over-saturation detector's verdict llmbench reports.
  7. GuideLLM's `export` (console, JSON, CSV, HTML) renders the report; the JSON it writes loads.
Prints one line per check group; exits 1 with every failure listed.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sys
from importlib.metadata import version
from pathlib import Path

FAILURES = []
# The SLO attainments compared with a summary (to check a run that sets an SLO was checked).
checked_slo = []


def fail(where, what):
    FAILURES.append(f"{where}: {what}")


def close(a, b, rel=1e-9, abs_=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def compare(where, ours, theirs, rel, abs_):
    """Recursively compares two model dumps; floats within rel/abs, everything else equal."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for k in sorted(set(ours) | set(theirs)):
            compare(f"{where}.{k}", ours.get(k), theirs.get(k), rel, abs_)
    elif isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            fail(where, f"{len(ours)} items vs GuideLLM's {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare(f"{where}[{i}]", a, b, rel, abs_)
    elif isinstance(ours, float) or isinstance(theirs, float):
        if not close(ours, theirs, rel, abs_):
            fail(where, f"{ours!r} vs GuideLLM's {theirs!r}")
    elif ours != theirs:
        fail(where, f"{ours!r} vs GuideLLM's {theirs!r}")


UNMEASURED = ("time_to_last_round_trip_ms", "avg_round_trip_time_ms")


def near(values, ours, theirs, rel=2e-3):
    """llmbench's percentile (an HDR histogram's, 3 significant digits, its own rank rule) is
    GuideLLM's order statistic or one next to it."""
    v = sorted(values)
    if not v:
        return ours == theirs
    k = min(range(len(v)), key=lambda i: abs(v[i] - ours))
    lo, hi = v[max(k - 1, 0)], v[min(k + 1, len(v) - 1)]
    return lo * (1 - rel) - 1e-3 <= theirs <= hi * (1 + rel) + 1e-3


def ms(ns):
    return None if ns is None else ns / 1e6


def check_requests(where, bench, raw):
    """Step 2: each GuideLLM request is one llmbench record, with the same per-request values."""
    records = {r["id"]: r for r in raw["records"]}
    seen = set()
    status_of = {"successful": "successful", "incomplete": "incomplete", "errored": "errored"}
    for status in ("successful", "incomplete", "errored"):
        for req in getattr(bench.requests, status):
            rid = int(req.request_id)
            w = f"{where}.requests.{status}[id {rid}]"
            if rid in seen:
                fail(w, "listed twice")
            seen.add(rid)
            rec = records.get(rid)
            if rec is None:
                fail(w, "not one of llmbench's records")
                continue
            if rec["status"] != status_of[status]:
                fail(w, f"llmbench status {rec['status']}")
            t = rec["timestamps_ns"]
            prompt = rec["prompt_tokens"] if rec["prompt_tokens"] is not None else rec["prompt_tokens_sent"]
            out = rec["output_tokens"]
            if req.prompt_tokens != prompt or req.output_tokens != out:
                fail(w, f"tokens {req.prompt_tokens}/{req.output_tokens} vs {prompt}/{out}")
            if req.total_tokens != prompt + out:
                fail(w, f"total_tokens {req.total_tokens}")
            if req.info.timings.token_iterations != rec["output_events"]:
                fail(w, f"token_iterations {req.info.timings.token_iterations} vs output_events {rec['output_events']}")
            # GuideLLM's times are Unix seconds in a float: 0.24 us steps, so 1e-3 ms agreement.
            tol = dict(rel=1e-7, abs_=1e-3)
            if not close(req.time_to_first_token_ms, rec["ttft_ms"], **tol):
                fail(w, f"TTFT {req.time_to_first_token_ms} ms vs llmbench ttft_ms {rec['ttft_ms']}")
            lat = req.request_latency
            if not close(None if lat is None else lat * 1e3, rec["latency_ms"], **tol):
                fail(w, f"request_latency {lat} s vs llmbench latency_ms {rec['latency_ms']}")
            first, last, sent = ms(t["first_token"]), ms(t["last_token"]), ms(t["sent"])
            # llmbench's tpot_ms (vLLM's TPOT): GuideLLM's inter_token_latency_ms.
            tpot = (last - first) / (out - 1) if first is not None and last is not None and out > 1 else None
            if not close(req.inter_token_latency_ms, tpot, **tol):
                fail(w, f"inter_token_latency_ms {req.inter_token_latency_ms} vs llmbench TPOT {tpot}")
            # llmbench's tpot_incl_ttft_ms: GuideLLM's time_per_output_token_ms.
            incl = (last - sent) / out if last is not None and sent is not None and out > 0 else None
            if incl is not None and not close(req.time_per_output_token_ms, incl, **tol):
                fail(w, f"time_per_output_token_ms {req.time_per_output_token_ms} vs llmbench {incl}")
            if rec["latency_ms"] and out is not None:
                # The latency of float Unix times is good to ~0.5 us.
                lat_s = rec["latency_ms"] / 1e3
                ops = out / lat_s
                if not close(req.output_tokens_per_second, ops, rel=1e-9 + 1e-6 / lat_s, abs_=1e-9):
                    fail(w, f"output_tokens_per_second {req.output_tokens_per_second} vs {ops}")
    missing = set(records) - seen
    if missing:
        fail(where, f"records GuideLLM does not see: {sorted(missing)[:10]}")
    return len(seen)


def check_metrics(where, bench):
    """Step 3: GuideLLM's own GenerativeMetrics.compile over the same requests and window."""
    from guidellm.benchmark.schemas.accumulator import GenerativeBenchmarkAccumulator
    from guidellm.benchmark.schemas.metrics import GenerativeMetrics

    acc = GenerativeBenchmarkAccumulator(config=bench.config)
    acc.timings.request_start = bench.scheduler_metrics.request_start_time
    acc.timings.measure_start = bench.scheduler_metrics.measure_start_time
    acc.timings.measure_end = bench.scheduler_metrics.measure_end_time
    acc.timings.request_end = bench.scheduler_metrics.request_end_time
    acc.completed.requests_stats = list(bench.requests.successful)
    acc.incomplete.requests_stats = list(bench.requests.incomplete)
    acc.errored.requests_stats = list(bench.requests.errored)
    theirs = GenerativeMetrics.compile(acc).model_dump(mode="json")
    ours = bench.metrics.model_dump(mode="json")
    # The one intended difference: llmbench does not measure websocket round trips and writes
    # empty distributions (count 0); GuideLLM's compile counts every request's None as 0.0.
    for k in UNMEASURED:
        for st, d in ours[k].items():
            if d["count"] != 0:
                fail(f"{where}.metrics.{k}.{st}", f"count {d['count']}: llmbench does not measure it")
        del ours[k], theirs[k]
    # Sums in another order differ in the last bits; rates divide by sub-microsecond gaps of
    # float Unix times, so they get a looser bound.
    compare(f"{where}.metrics", ours, theirs, rel=1e-6, abs_=1e-9)
    return theirs


def check_summary(where, bench, raw):
    """Step 4: GuideLLM's metrics against llmbench's summary, where the definitions coincide
    (no warm-up or cool-down window and every record kept, as in the test's runs)."""
    s = raw["summary"]
    m = bench.metrics
    for st in ("successful", "incomplete", "errored"):
        if getattr(m.request_totals, st) != s["requests"][st]:
            fail(where, f"request_totals.{st} {getattr(m.request_totals, st)} vs summary {s['requests'][st]}")
    ttft = m.time_to_first_token_ms.successful
    if ttft.count != s["ttft_ms"]["count"] or not close(ttft.mean, s["ttft_ms"]["mean"], rel=1e-6, abs_=1e-3):
        fail(where, f"TTFT count/mean {ttft.count}/{ttft.mean} vs {s['ttft_ms']['count']}/{s['ttft_ms']['mean']}")
    ok = bench.requests.successful
    ttfts = [r.time_to_first_token_ms for r in ok if r.time_to_first_token_ms is not None]
    for ours, theirs in ((ttft.median, s["ttft_ms"]["median"]), (ttft.percentiles.p99, s["ttft_ms"]["p99"])):
        if not near(ttfts, ours, theirs):
            fail(where, f"TTFT percentile {ours} vs summary {theirs}")
    lat = m.request_latency.successful
    if not close(lat.mean * 1e3, s["request_latency_ms"]["mean"], rel=1e-6, abs_=1e-3):
        fail(where, f"request_latency mean {lat.mean} s vs {s['request_latency_ms']['mean']} ms")
    lats = [r.request_latency * 1e3 for r in ok if r.request_latency is not None]
    if not near(lats, lat.median * 1e3, s["request_latency_ms"]["median"]):
        fail(where, f"request_latency median {lat.median} s vs {s['request_latency_ms']['median']} ms")
    # llmbench's tpot_ms is the unweighted mean over requests of GuideLLM's per-request ITL.
    itls = [r.inter_token_latency_ms for r in bench.requests.successful if r.inter_token_latency_ms is not None]
    if itls and not close(sum(itls) / len(itls), s["tpot_ms"]["mean"], rel=1e-6, abs_=1e-3):
        fail(where, f"mean per-request ITL {sum(itls) / len(itls)} vs summary tpot_ms {s['tpot_ms']['mean']}")
    # GuideLLM's rates merge events less than 0.1 ms apart, the window's ends included: an
    # event that close to an end moves the end by up to 0.1 ms.
    edge = 1e-4 / bench.duration + 1e-6
    rps = m.requests_per_second.successful.mean
    if abs(rps - s["requests_per_second"]) > edge * rps:
        fail(where, f"requests_per_second {rps} vs summary {s['requests_per_second']}")
    # GuideLLM places a request's tokens after the first evenly between its first and last token
    # (it has no per-token times); llmbench counts its real token events. The two agree except
    # for the tokens of requests that straddle the window's edges.
    every = [*ok, *bench.requests.incomplete, *bench.requests.errored]
    ws, we = bench.start_time, bench.end_time
    straddle = sum(
        r.output_tokens or 0
        for r in every
        if r.first_token_iteration is not None
        and r.last_token_iteration is not None
        and (r.first_token_iteration < ws < r.last_token_iteration or r.first_token_iteration < we < r.last_token_iteration)
    )
    ops = m.output_tokens_per_second.total.mean
    if abs(ops - s["output_tokens_per_second"]) > straddle / bench.duration + edge * ops:
        fail(where, f"output_tokens_per_second {ops} vs summary {s['output_tokens_per_second']} ({straddle} tokens straddle the window)")
    # GuideLLM merges concurrency changes less than 0.1 ms apart (moving each by at most that);
    # llmbench integrates them exactly.
    conc = m.request_concurrency.total.mean
    moved = 2 * len(every) * 1e-4 * max(1.0, m.request_concurrency.total.max) / bench.duration
    if abs(conc - s["concurrency"]) > moved + 1e-6:
        fail(where, f"request_concurrency {conc} vs summary {s['concurrency']} (bound {moved})")
    if bench.duration <= 0 or not close(bench.duration, s["duration_s"], rel=1e-6, abs_=1e-6):
        fail(where, f"duration {bench.duration} vs {s['duration_s']}")
    # SLOs: with GuideLLM's targets only (no llmbench itl_ms), the same requests are judged
    # (errored ones as misses, incomplete and undetermined ones left out) and the same meet it.
    slo = s.get("slo")
    guidellm_targets = slo is not None and any(k in slo["targets"] for k in ("ttft_ms", "tpot_ms", "e2el_ms"))
    if guidellm_targets != (bench.config.slo is not None):
        fail(where, f"summary SLO targets {slo and list(slo['targets'])} but config.slo {bench.config.slo}")
    if slo is not None and "itl_ms" not in slo["targets"]:
        if m.slo_determined_requests != slo["judged"]:
            fail(where, f"slo_determined_requests {m.slo_determined_requests} vs summary judged {slo['judged']}")
        # llmbench judges on integer nanoseconds, GuideLLM on float Unix seconds (about 0.24 µs
        # apart): a request within 1 µs of a bound may be judged either way.
        c = bench.config.slo
        border = sum(
            any(
                v is not None and b is not None and abs(v - b) < 1e-3
                for v, b in (
                    (r.time_to_first_token_ms, c.ttft_ms),
                    (r.inter_token_latency_ms, c.tpot_ms),
                    (r.request_latency * 1e3 if r.request_latency is not None else None, c.e2el_ms),
                )
            )
            for r in ok
        )
        met = round((m.slo_attainment or 0.0) * m.slo_determined_requests)
        if abs(met - slo["met"]) > border:
            fail(where, f"slo_attainment {m.slo_attainment} vs summary {slo['attainment']} ({border} requests at a bound)")
        good = m.request_goodput.successful.mean if m.request_goodput else 0.0
        if abs(good - slo["goodput_requests_per_second"]) > edge * max(good, 1e-9) + border / bench.duration:
            fail(where, f"request_goodput {good} vs summary {slo['goodput_requests_per_second']}")
        checked_slo.append(slo["attainment"])


def check_warnings(where, bench):
    """Step 5: GuideLLM's analyzer, run on the written metrics, fires what llmbench wrote."""
    from guidellm.benchmark.warnings import BenchmarkWarningAnalyzer

    theirs = BenchmarkWarningAnalyzer(bench.config.warnings).analyze(
        scheduler_metrics=bench.scheduler_metrics, metrics=bench.metrics
    )
    ours = [w for w in bench.warnings if not w.code.startswith("llmbench_")]
    compare(f"{where}.warnings", [w.model_dump() for w in ours], [w.model_dump() for w in theirs], 1e-9, 1e-12)


def check_search(where, bench, raw):
    """Step 6b: stopping_scope=all and the over-saturation verdict, as GuideLLM reads them."""
    from guidellm.benchmark.analysis.knee import _constraint_action
    from guidellm.benchmark.profiles.profile import Profile

    stopped = Profile._should_stop_escalating(bench)
    if stopped != (raw.get("stopped_by_scope_all") is not None):
        fail(where, f"GuideLLM would stop escalating: {stopped}; llmbench's stopped_by_scope_all {raw.get('stopped_by_scope_all')}")
    sat = raw.get("over_saturation")
    action = _constraint_action(bench)
    if sat is None:
        if action is not None:
            fail(where, "an over_saturation action without llmbench's detector")
        return 0
    if action is None or action.metadata.get("is_over_saturated") is not sat["is_over_saturated"]:
        fail(where, f"knee analysis reads {None if action is None else action.metadata} vs llmbench's {sat}")
    return 1


# The searches whose conclusions were checked against GuideLLM's own analysis ("goodput", "knee").
checked_conclusions = set()


def check_conclusions(where, report, raw):
    """A goodput or knee conclusion: GuideLLM's models accept it, and GuideLLM's own analysis
    (find_throughput_knee, wilson_interval) reproduces llmbench's numbers from the benchmarks."""
    from guidellm.benchmark.analysis.knee import KneeDetectionConclusion, find_throughput_knee
    from guidellm.utils.statistics import wilson_interval

    if len(report.conclusions) != len(raw["conclusions"]):
        fail(where, f"{len(report.conclusions)} conclusions vs {len(raw['conclusions'])}")
    for j, c in enumerate(raw["conclusions"]):
        w = f"{where} conclusions[{j}]"
        benches = [(b, rb) for b, rb in zip(report.benchmarks, raw["benchmarks"]) if rb["model"] == c["model"]]
        if c["profile"] == "knee":
            k = KneeDetectionConclusion.model_validate(report.conclusions[j])
            streams = [b.config.strategy.streams for b, _ in benches]
            # llmbench fits every token event in the window (GuideLLM's `total` mean), not only
            # successful requests' (docs/metrics.md, "Searches").
            tput = [b.metrics.output_tokens_per_second.total.mean for b, _ in benches]
            theirs = find_throughput_knee(streams, tput)
            ours = k.final.throughput
            if theirs.status != ours.status or theirs.saturation_concurrency != ours.saturation_concurrency:
                fail(w, f"knee {ours} vs GuideLLM's {theirs}")
            if ours.knee is not None and not close(ours.knee, theirs.knee, rel=1e-6, abs_=1e-6):
                fail(w, f"knee {ours.knee} vs GuideLLM's {theirs.knee}")
            if [p["streams"] for p in c["knee_points"]] != streams:
                fail(w, f"knee points {c['knee_points']} vs benchmarks at {streams}")
            checked_conclusions.add("knee")
        elif c["profile"] == "goodput":
            by_streams = {b.config.strategy.streams: b for b, _ in benches}
            for p in c["probes"]:
                b = by_streams.get(p["streams"])
                if b is None:
                    fail(w, f"probe at {p['streams']} streams has no benchmark")
                    continue
                if b.metrics.slo_determined_requests != p["determined_requests"] or not close(b.metrics.slo_attainment, p["attainment"]):
                    fail(w, f"probe {p} vs GuideLLM's attainment {b.metrics.slo_attainment} of {b.metrics.slo_determined_requests}")
                lo, hi = wilson_interval(round(p["attainment"] * p["determined_requests"]), p["determined_requests"], c["confidence"])
                if not (close(lo, p["attainment_lower"], 1e-9, 1e-12) and close(hi, p["attainment_upper"], 1e-9, 1e-12)):
                    fail(w, f"interval [{p['attainment_lower']}, {p['attainment_upper']}] vs GuideLLM's Wilson [{lo}, {hi}]")
            if c["streams"] != c["best_passing_streams"]:
                fail(w, f"streams {c['streams']} vs best_passing_streams {c['best_passing_streams']}")
            checked_conclusions.add("goodput")
        else:
            fail(w, f"unknown profile {c['profile']!r}")


def check_file(index, path, raw, out):
    from guidellm.benchmark.entrypoints import reimport_benchmarks_report
    from guidellm.benchmark.schemas.report import GenerativeBenchmarksReport

    report = GenerativeBenchmarksReport.load_file(path)
    where = str(path)
    if not report.metadata.guidellm_version.startswith("llmbench "):
        fail(where, f"metadata.guidellm_version {report.metadata.guidellm_version!r}")
    if len(report.benchmarks) != len(raw["benchmarks"]):
        fail(where, f"{len(report.benchmarks)} benchmarks vs {len(raw['benchmarks'])}")
    n = 0
    summaries = 0
    verdicts = 0
    statuses = set()
    for i, (bench, rawb) in enumerate(zip(report.benchmarks, raw["benchmarks"])):
        w = f"{where} benchmarks[{i}]"
        n += check_requests(w, bench, rawb)
        check_metrics(w, bench)
        sampled = rawb["requests_total"] > len(rawb["records"])
        said = any(x.code == "llmbench_metrics_from_sample" for x in bench.warnings)
        if sampled != said:
            fail(w, f"{len(rawb['records'])} of {rawb['requests_total']} records kept, sample warning {said}")
        window = raw["llmbench_config"]["window"]
        if not sampled and window["warmup"] is None and window["cooldown"] is None:
            # A sample's metrics describe the sample, not the summary's every request; with a
            # warm-up or cool-down GuideLLM keeps the requests overlapping the window where
            # llmbench keeps those sent inside it (docs/guidellm-report.md).
            check_summary(w, bench, rawb)
            summaries += 1
        check_warnings(w, bench)
        verdicts += check_search(w, bench, rawb)
        if bench.config.backend.get("model") != rawb["model"]:
            fail(w, f"config.backend.model {bench.config.backend.get('model')} vs {rawb['model']}")
        for st in ("successful", "incomplete", "errored"):
            if getattr(bench.requests, st):
                statuses.add(st)
    for k, v in raw["llmbench_config"].get("labels", {}).items():
        if report.config.metadata.labels.get(k) != v:
            fail(where, f"label {k}={v!r} is not in config.metadata.labels")
    check_conclusions(where, report, raw)
    models = [m["name"] for m in raw["llmbench_config"]["models"]]
    got = [b.backend.model for b in report.config.get_benchmarks()]
    if got != models:
        fail(where, f"config.get_benchmarks() models {got} vs {models}")
    # Step 7: GuideLLM's export, as `guidellm export FILE` runs it (the first report only: the
    # others load through the same models, and each export takes seconds).
    concurrent = [b for b in report.benchmarks if b.config.strategy.type_ == "concurrent"]
    if verdicts and len(concurrent) == len(report.benchmarks):
        from guidellm.benchmark.analysis.knee import extract_saturation_boundary

        boundary = extract_saturation_boundary(report.benchmarks)
        if boundary.status == "unavailable":
            fail(where, f"GuideLLM's knee analysis finds no detector metadata: {boundary.reason}")
    if index > 0:
        print(f"{where}: loaded by GuideLLM {version('guidellm')}; {len(report.benchmarks)} benchmarks, {n} requests ({', '.join(sorted(statuses))}); {summaries} compared with the summary; {verdicts} over-saturation verdicts read")
        return statuses
    d = Path(out) / f"{index}-{Path(path).name}"
    d.mkdir(parents=True, exist_ok=True)
    # GuideLLM's console tables go to a file beside its other outputs.
    with open(d / "console.txt", "w") as console, contextlib.redirect_stdout(console):
        _, results = asyncio.run(reimport_benchmarks_report(
            Path(path),
            [
                {"kind": "console"},
                {"kind": "json", "path": str(d / "guidellm.json")},
                {"kind": "csv", "path": str(d / "guidellm.csv")},
                {"kind": "html", "path": str(d / "guidellm.html")},
            ],
        ))
    if "Request Latency Statistics" not in (d / "console.txt").read_text():
        fail(where, "GuideLLM's console output has no latency table")
    again = GenerativeBenchmarksReport.load_file(d / "guidellm.json")
    if len(again.benchmarks) != len(report.benchmarks):
        fail(where, "GuideLLM's re-saved JSON lost benchmarks")
    for f in ("guidellm.csv", "guidellm.html"):
        if (d / f).stat().st_size == 0:
            fail(where, f"GuideLLM's export wrote an empty {f}")
    print(
        f"{where}: loaded by GuideLLM {version('guidellm')}; {len(report.benchmarks)} benchmarks, "
        f"{n} requests ({', '.join(sorted(statuses))}); per-request values, metrics (GuideLLM's "
        f"compile), warnings and scenario checked, {summaries} compared with the summary; "
        f"exported {[k for k, _ in results]}"
    )
    return statuses


def main():
    # Loading GuideLLM's own re-saved JSON logs that its vllm_config repeats the model.
    logging.getLogger("guidellm.schemas.backends.vllm_python").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--guidellm-version", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--need-statuses", default="", help="comma list of statuses some request must have")
    ap.add_argument("--need-slo", action="store_true", help="some benchmark's SLO attainment, below 1, must have been compared with the summary")
    ap.add_argument("--need-conclusions", default="", help="comma list of searches (goodput, knee) some report must conclude")
    ap.add_argument("reports", nargs="+")
    a = ap.parse_args()
    have = version("guidellm")
    if have != a.guidellm_version:
        print(f"GuideLLM {have} installed, the test pins {a.guidellm_version}", file=sys.stderr)
        return 1
    raw = None
    statuses = set()
    for i, p in enumerate(a.reports):
        if p.endswith(".json"):
            raw = json.loads(Path(p).read_text())
        if raw is None:
            print(f"{p}: give the JSON report first (its llmbench keys are compared)", file=sys.stderr)
            return 1
        statuses |= check_file(i, p, raw, a.out)
    for st in filter(None, a.need_statuses.split(",")):
        if st not in statuses:
            fail("runs", f"no {st} request in any report (the run should produce one)")
    for k in filter(None, a.need_conclusions.split(",")):
        if k not in checked_conclusions:
            fail("runs", f"no {k} conclusion checked (checked: {sorted(checked_conclusions)})")
    # Below 1: errored requests count (the run fails some); how many successful ones meet the
    # test's targets depends on the machine's speed, so 0 is allowed.
    if a.need_slo and not any(x is not None and x < 1 for x in checked_slo):
        fail("runs", f"no SLO attainment below 1 compared with a summary ({checked_slo})")
    if FAILURES:
        print(f"{len(FAILURES)} failures:", file=sys.stderr)
        for f in FAILURES[:100000]:
            print("  " + f, file=sys.stderr)
        return 1
    print("all GuideLLM checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
