//! The one `Report` type, written as JSON after every benchmark (so a crash or Ctrl-C keeps
//! what was done), and the console summary.

use crate::metrics::Distribution;
use crate::metrics::{summarize, RequestRecord, Summary};
use crate::scheduler::{EndReason, HarnessStats, Outcome, Strategy};
use serde::Serialize;
use serde_json::{json, Value};

pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub llmbench_version: String,
    /// True until the run finished normally (a crash or Ctrl-C leaves a partial report).
    pub partial: bool,
    pub interrupted: bool,
    pub command: Vec<String>,
    pub random_seed: u64,
    /// Every `*_ns` field in this report is nanoseconds after this CLOCK_MONOTONIC origin.
    pub clock: Clock,
    pub host: Value,
    pub config: Value,
    pub models: Vec<ModelEntry>,
    pub benchmarks: Vec<BenchmarkEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Clock {
    pub origin_monotonic_ns: u64,
    pub origin_unix_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    pub model: String,
    /// `ok`, `failed` or `running`.
    pub status: String,
    pub error: Option<String>,
    pub engine_starts: u32,
    pub worker: Value,
    pub engine: Value,
    pub request_format: Value,
    /// After the worker was torn down: descendants left (0 expected) and GPU memory figures.
    pub teardown: Value,
    /// The file holding the whole output of the worker and its engine processes
    /// (`--engine-log`), if kept.
    pub engine_log: Option<std::path::PathBuf>,
    /// When the model failed: the lines of the engine's own output that explain it (each
    /// process's ERROR lines and the exception ending each traceback, with vLLM's
    /// `(EngineCore pid=…)` prefix).
    pub root_cause: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkEntry {
    pub model: String,
    pub index: usize,
    pub strategy: Strategy,
    pub ended_by: EndReason,
    pub worker_error: Option<String>,
    /// The longest stretch without engine progress (a token, a finished request, a completed
    /// engine step) while requests were in flight: its length and when it began.
    pub longest_stall: StallOut,
    /// What the engine did that the reader should know (a stall below the watchdog's timeout);
    /// llmbench's own limits are in `headroom.warnings`.
    pub engine_warnings: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The measurement window (after warm-up, before cool-down) the summary covers.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// Requests dispatched in this benchmark (the `requests` list may be sampled).
    pub requests_total: usize,
    pub summary: Summary,
    /// Whether llmbench kept up (docs/metrics.md, "Headroom").
    pub headroom: Headroom,
    /// Output tokens/s and requests in flight over time, seconds from the benchmark's start.
    pub timeseries: TimeSeries,
    /// The engine's own state over time (vLLM stat logger), seconds from the benchmark's start.
    pub telemetry: Telemetry,
    /// Per-request records (all, or `--sample-requests` per status), serialized as they are
    /// written: a run of 100,000 requests is never held as JSON in memory.
    pub requests: RequestList,
}

/// A stall worth a warning: at least `STALL_WARN_S` and `STALL_WARN_SHARE` of the benchmark.
pub const STALL_WARN_S: f64 = 2.0;
pub const STALL_WARN_SHARE: f64 = 0.1;

fn stall_warning(s: &crate::scheduler::Stall, start: u64, end: u64) -> Option<String> {
    let dur = end.saturating_sub(start) as f64 / 1e9;
    if s.seconds < STALL_WARN_S || s.seconds < STALL_WARN_SHARE * dur {
        return None;
    }
    let at = s.from_ns.saturating_sub(start) as f64 / 1e9;
    Some(format!(
        "the engine made no progress for {:.1} s ({:.0}% of the benchmark, from {at:.1} s in) while requests were in flight: an engine stall, not llmbench (longer than --engine-stall-timeout fails the model)",
        s.seconds,
        100.0 * s.seconds / dur.max(1e-9)
    ))
}

/// A stretch without engine progress, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct StallOut {
    /// Its length, seconds.
    pub seconds: f64,
    /// When it began (the last progress before it), ns after the clock origin.
    pub from_ns: u64,
}

/// The records of a benchmark and what their JSON needs.
#[derive(Debug, Clone)]
pub struct RequestList {
    pub records: Vec<RequestRecord>,
    origin: u64,
    window: (u64, u64),
    sample_per_status: Option<usize>,
}

thread_local! {
    /// While set, `RequestList` serializes at most this many records (for renderers that show a
    /// sample only: CSV has none, HTML a table of 50).
    static REQUESTS_CAP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

impl Serialize for RequestList {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let cap = REQUESTS_CAP.with(|c| c.get()).unwrap_or(usize::MAX);
        let mut kept = std::collections::HashMap::new();
        let (ws, we) = self.window;
        let mut seq = ser.serialize_seq(None)?;
        for r in self
            .records
            .iter()
            .filter(|r| {
                let k = kept.entry(r.status).or_insert(0usize);
                *k += 1;
                self.sample_per_status.is_none_or(|n| *k <= n)
            })
            .take(cap)
        {
            let mut v = record_json(r, self.origin);
            v["in_window"] = json!(r.t.sent.is_some_and(|t| t >= ws && t <= we));
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

impl Report {
    /// The report as a JSON value with at most `cap` request records per benchmark.
    pub fn to_value_capped(&self, cap: usize) -> serde_json::Result<Value> {
        REQUESTS_CAP.with(|c| c.set(Some(cap)));
        let v = serde_json::to_value(self);
        REQUESTS_CAP.with(|c| c.set(None));
        v
    }
}

impl Report {
    pub fn new(command: Vec<String>, seed: u64, config: Value) -> Report {
        Report {
            report_version: REPORT_VERSION,
            llmbench_version: env!("CARGO_PKG_VERSION").to_string(),
            partial: true,
            interrupted: false,
            command,
            random_seed: seed,
            clock: Clock {
                origin_monotonic_ns: crate::clock::now_ns(),
                origin_unix_s: crate::clock::wall_unix_s(),
            },
            host: json!({
                "hostname": hostname(),
                "os": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            }),
            config,
            models: Vec::new(),
            benchmarks: Vec::new(),
        }
    }

    pub fn add_benchmark(
        &mut self,
        model: &str,
        strategy: Strategy,
        o: Outcome,
        window: &crate::plan::Window,
        sample_per_status: Option<usize>,
    ) -> &BenchmarkEntry {
        let origin = self.clock.origin_monotonic_ns;
        let (ws, we) = crate::metrics::resolve_window(window, &o.records, o.start_ns, o.end_ns);
        let summary = summarize(&o.records, ws, we);
        let hr = headroom(&strategy, &summary, &o.records, o.harness.clone());
        self.benchmarks.push(BenchmarkEntry {
            model: model.to_string(),
            index: self.benchmarks.len(),
            strategy,
            ended_by: o.ended_by,
            worker_error: o.worker_error,
            engine_warnings: stall_warning(&o.longest_stall, o.start_ns, o.end_ns)
                .into_iter()
                .collect(),
            longest_stall: StallOut {
                seconds: o.longest_stall.seconds,
                from_ns: o.longest_stall.from_ns.saturating_sub(origin),
            },
            start_ns: o.start_ns.saturating_sub(origin),
            end_ns: o.end_ns.saturating_sub(origin),
            window_start_ns: ws.saturating_sub(origin),
            window_end_ns: we.saturating_sub(origin),
            requests_total: o.records.len(),
            headroom: hr,
            timeseries: timeseries(&o.records, o.start_ns, o.end_ns),
            telemetry: telemetry(&o.harness.telemetry, o.start_ns),
            summary,
            requests: RequestList {
                records: o.records,
                origin,
                window: (ws, we),
                sample_per_status,
            },
        });
        self.benchmarks.last().expect("just pushed")
    }
}

fn rel(t: Option<u64>, origin: u64) -> Value {
    t.map_or(Value::Null, |t| json!(t as i128 - origin as i128))
}

pub fn record_json(r: &RequestRecord, origin: u64) -> Value {
    let chain: serde_json::Map<String, Value> =
        r.t.chain()
            .iter()
            .map(|(k, v)| (k.to_string(), rel(*v, origin)))
            .collect();
    json!({
        "id": r.id,
        "status": r.status,
        "finish_reason": r.finish_reason,
        "error": r.error,
        "content_tokens": r.content_tokens,
        "prefix_tokens": r.prefix_tokens,
        "prompt_tokens_sent": r.prompt_tokens_sent,
        "prompt_tokens": r.prompt_tokens,
        "output_tokens": r.output_tokens,
        "max_tokens": r.max_tokens,
        "cached_tokens": r.cached_tokens,
        "preemptions": r.preemptions,
        "ttft_ms": r.ttft_ns().map(|v| v as f64 / 1e6),
        "latency_ms": r.latency_ns().map(|v| v as f64 / 1e6),
        "output_events": r.token_events.len(),
        "timestamps_ns": chain,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn fmt_opt_ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", v as f64 / 1e6))
}

/// Per-request lines, as the benchmark ends.
pub fn print_requests(b: &BenchmarkEntry, limit: usize) {
    if limit == 0 || b.requests.records.is_empty() {
        return;
    }
    println!(
        "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  {}",
        "req", "prompt", "engine", "output", "TTFT ms", "latency ms", "status"
    );
    for r in b.requests.records.iter().take(limit) {
        println!(
            "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  {}",
            r.id,
            r.content_tokens,
            r.prompt_tokens.map_or("-".into(), |p| p.to_string()),
            r.output_tokens,
            fmt_opt_ms(r.ttft_ns()),
            fmt_opt_ms(r.latency_ns()),
            match (&r.finish_reason, &r.error) {
                (_, Some(e)) =>
                    format!("{:?}: {}", r.status, e.lines().next().unwrap_or("")).to_lowercase(),
                (Some(f), None) => format!(
                    "{} ({f})",
                    serde_json::to_value(r.status)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
                (None, None) => "incomplete".into(),
            }
        );
    }
    if b.requests.records.len() > limit {
        println!(
            "  … {} more requests in the JSON report",
            b.requests.records.len() - limit
        );
    }
}

/// Prints aligned columns: a header row and data rows.
fn table(title: &str, head: &[&str], rows: Vec<Vec<String>>) {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    println!("\n{title}");
    let line = |cells: Vec<String>| {
        let out: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<width$}", width = w[i])
                } else {
                    format!("{c:>width$}", width = w[i])
                }
            })
            .collect();
        println!("  {}", out.join("  "));
    };
    line(head.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

pub fn print_summary(report: &Report) {
    if report.benchmarks.is_empty() {
        println!("\nno benchmark completed");
    }
    let short = |m: &str| {
        if m.chars().count() > 24 {
            format!(
                "…{}",
                m.chars().skip(m.chars().count() - 23).collect::<String>()
            )
        } else {
            m.to_string()
        }
    };
    let id = |b: &BenchmarkEntry| {
        vec![
            format!("{} {}", b.index, short(&b.model)),
            b.strategy.label(),
        ]
    };
    let f1 = |x: f64| format!("{x:.1}");
    let f2 = |x: f64| format!("{x:.2}");
    let bs = &report.benchmarks;
    if !bs.is_empty() {
        table(
            "Run summary",
            &[
                "# model",
                "strategy",
                "ended by",
                "ok",
                "incomplete",
                "errored",
                "duration s",
                "engine starts",
            ],
            bs.iter()
                .map(|b| {
                    let starts = report
                        .models
                        .iter()
                        .find(|m| m.model == b.model)
                        .map_or(0, |m| m.engine_starts);
                    let mut r = id(b);
                    r.extend([
                        serde_json::to_value(b.ended_by)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                        b.summary.requests.successful.to_string(),
                        b.summary.requests.incomplete.to_string(),
                        b.summary.requests.errored.to_string(),
                        f2(b.summary.duration_s),
                        starts.to_string(),
                    ]);
                    r
                })
                .collect(),
        );
        table(
            "Request tokens (successful requests)",
            &[
                "# model",
                "strategy",
                "prompt mean",
                "prompt p50",
                "output mean",
                "output p50",
                "cached mean",
            ],
            bs.iter()
                .map(|b| {
                    let s = &b.summary;
                    let mut r = id(b);
                    r.extend([
                        f1(s.prompt_tokens.mean),
                        f1(s.prompt_tokens.median),
                        f1(s.output_tokens.mean),
                        f1(s.output_tokens.median),
                        f1(s.cached_tokens.mean),
                    ]);
                    r
                })
                .collect(),
        );
        table(
            "Latency, ms (successful requests)",
            &[
                "# model",
                "strategy",
                "TTFT p50",
                "TTFT p95",
                "TTFT p99",
                "ITL p50",
                "ITL p95",
                "ITL p99",
                "TPOT p50",
                "latency p50",
                "latency p95",
                "latency p99",
            ],
            bs.iter()
                .map(|b| {
                    let s = &b.summary;
                    let mut r = id(b);
                    r.extend([
                        f2(s.ttft_ms.median),
                        f2(s.ttft_ms.p95),
                        f2(s.ttft_ms.p99),
                        format!("{:.3}", s.itl_ms.median),
                        format!("{:.3}", s.itl_ms.p95),
                        format!("{:.3}", s.itl_ms.p99),
                        format!("{:.3}", s.tpot_ms.median),
                        f2(s.request_latency_ms.median),
                        f2(s.request_latency_ms.p95),
                        f2(s.request_latency_ms.p99),
                    ]);
                    r
                })
                .collect(),
        );
        table(
            "Throughput",
            &[
                "# model",
                "strategy",
                "req/s",
                "input tok/s",
                "output tok/s",
                "total tok/s",
                "concurrency",
            ],
            bs.iter()
                .map(|b| {
                    let s = &b.summary;
                    let mut r = id(b);
                    r.extend([
                        f2(s.requests_per_second),
                        f1(s.input_tokens_per_second),
                        f1(s.output_tokens_per_second),
                        f1(s.total_tokens_per_second),
                        f2(s.concurrency),
                    ]);
                    r
                })
                .collect(),
        );
    }
    for b in &report.benchmarks {
        if b.ended_by != EndReason::MaxRequests && b.ended_by != EndReason::DataExhausted {
            println!(
                "benchmark {} ended by {}",
                b.index,
                serde_json::to_value(b.ended_by)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            );
        }
    }
    for b in &report.benchmarks {
        for w in &b.engine_warnings {
            println!("warning: benchmark {}: {w}", b.index);
        }
        for w in &b.headroom.warnings {
            println!(
                "warning: benchmark {}: llmbench, not the engine, may have been the limit: {w}",
                b.index
            );
        }
    }
    for m in &report.models {
        if let Some(e) = &m.error {
            println!(
                "model {} failed: {}",
                m.model,
                e.lines().next().unwrap_or("")
            );
            for c in m.root_cause.iter().take(4) {
                println!("  engine output: {c}");
            }
        }
    }
}

/// Did the harness, rather than the engine, limit this benchmark? Judged on the engine's own time
/// scale: dispatch lag above 10% of the median inter-token latency, the worker's event loop
/// stalled for half an inter-token gap (at least 10 ms), or a dispatch rate more than 1% under
/// the requested rate.
#[derive(Debug, Clone, Serialize)]
pub struct Headroom {
    pub harness_limited: bool,
    pub warnings: Vec<String>,
    /// Constant/Poisson: requests dispatched per second, from their send times.
    pub dispatch_rate: Option<f64>,
    pub requested_rate: Option<f64>,
    /// Worker event-loop lag (10 ms ticker), µs.
    pub loop_lag_us: Distribution,
    /// Supervisor-minus-worker first-token time per request, µs: the delivery cost of the IPC.
    pub delivery_us: Distribution,
    #[serde(flatten)]
    pub costs: HarnessStats,
}

pub fn headroom(
    strategy: &Strategy,
    s: &Summary,
    records: &[RequestRecord],
    costs: HarnessStats,
) -> Headroom {
    let mut warnings = Vec::new();
    let itl_ms = s.itl_ms.median;
    // A tail needs a sample: p99 from 100 values on, the median below that (one stall of the
    // machine in a 50-request benchmark is not a harness limit).
    let tail = |d: &Distribution| {
        if d.count >= 100 {
            ("p99", d.p99)
        } else {
            ("median", d.median)
        }
    };
    let (which, lag_us) = tail(&s.dispatch_lag_us);
    let lag_ms = lag_us / 1e3;
    if itl_ms > 0.0 && lag_ms > 0.1 * itl_ms {
        // Closed loop: a request is scheduled when the one before it in its stream ended, so
        // the lag is llmbench's reaction time from that end to the next send.
        let what = if strategy.concurrency().is_some() {
            " (closed loop: from a request's end to the next request sent)"
        } else {
            " (behind the strategy's schedule)"
        };
        warnings.push(format!(
            "dispatch lag {which} {lag_ms:.3} ms{what} is above 10% of the median ITL ({itl_ms:.3} ms)"
        ));
    }
    let loop_lag = Distribution::from_values(costs.loop_lag_us.iter().map(|&v| v as f64).collect());
    let (which, loop_us) = tail(&loop_lag);
    let loop_ms = loop_us / 1e3;
    // The loop's timer has millisecond resolution and shares the machine: only a loop stalled
    // for half an inter-token gap (and at least 10 ms) is called a harness limit.
    if loop_lag.count > 0 && loop_ms > (0.5 * itl_ms).max(10.0) {
        warnings.push(format!("the worker's event loop lagged {loop_ms:.2} ms at {which} (median ITL {itl_ms:.3} ms): it was busy"));
    }
    let requested_rate = match strategy {
        Strategy::Constant { rate } | Strategy::Poisson { rate } => Some(*rate),
        _ => None,
    };
    let mut sent: Vec<u64> = records.iter().filter_map(|r| r.t.sent).collect();
    sent.sort_unstable();
    let dispatch_rate = match (requested_rate, sent.first(), sent.last()) {
        (Some(_), Some(&a), Some(&b)) if b > a && sent.len() > 2 => {
            Some((sent.len() - 1) as f64 / ((b - a) as f64 / 1e9))
        }
        _ => None,
    };
    if let (Some(want), Some(got)) = (requested_rate, dispatch_rate) {
        // A Poisson schedule's own rate varies; only a constant schedule is exact.
        if matches!(strategy, Strategy::Constant { .. }) && got < 0.99 * want {
            warnings.push(format!(
                "dispatched {got:.1} req/s, more than 1% under the requested {want:.1}"
            ));
        }
    }
    let delivery_us = Distribution::from_values(
        records
            .iter()
            .filter_map(|r| {
                Some(r.t.first_token?.saturating_sub(r.t.worker_first_token?) as f64 / 1e3)
            })
            .collect(),
    );
    Headroom {
        harness_limited: !warnings.is_empty(),
        warnings,
        dispatch_rate,
        requested_rate,
        loop_lag_us: loop_lag,
        delivery_us,
        costs,
    }
}

/// Most points a time series keeps (longer runs are binned or downsampled).
pub const MAX_POINTS: usize = 1000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct TimeSeries {
    pub bin_s: f64,
    pub t_s: Vec<f64>,
    pub output_tokens_per_s: Vec<f64>,
    pub requests_in_flight: Vec<f64>,
}

/// Bins of at least 100 ms and at most `MAX_POINTS` of them: output tokens per second (token
/// events in the bin) and the time-weighted number of requests in flight.
pub fn timeseries(records: &[RequestRecord], start: u64, end: u64) -> TimeSeries {
    let span = end.saturating_sub(start).max(1);
    let bin = (span / MAX_POINTS as u64).max(100_000_000);
    let n = (span / bin + 1) as usize;
    let mut tokens = vec![0u64; n];
    for r in records {
        for (t, k) in r.token_events.iter() {
            if t >= start && t <= end {
                tokens[((t - start) / bin) as usize] += k as u64;
            }
        }
    }
    // In flight: +1 at sent, −1 at end; integrate per bin.
    let mut ev: Vec<(u64, i64)> = Vec::with_capacity(records.len() * 2);
    for r in records {
        if let (Some(a), Some(b)) = (r.t.sent, r.t.end) {
            ev.push((a.clamp(start, end), 1));
            ev.push((b.clamp(start, end), -1));
        }
    }
    ev.sort_unstable();
    let mut busy = vec![0f64; n];
    let (mut level, mut at) = (0i64, start);
    let mut add = |from: u64, to: u64, level: i64| {
        let mut t = from;
        while t < to {
            let i = ((t - start) / bin) as usize;
            let edge = (start + (i as u64 + 1) * bin).min(to);
            busy[i.min(n - 1)] += level as f64 * (edge - t) as f64;
            t = edge;
        }
    };
    for (t, d) in ev {
        add(at, t, level);
        level += d;
        at = t;
    }
    add(at, end, level);
    let secs = bin as f64 / 1e9;
    TimeSeries {
        bin_s: secs,
        t_s: (0..n).map(|i| i as f64 * secs).collect(),
        output_tokens_per_s: tokens.iter().map(|&k| k as f64 / secs).collect(),
        requests_in_flight: busy.iter().map(|&b| b / bin as f64).collect(),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Telemetry {
    pub t_s: Vec<f64>,
    pub running: Vec<u32>,
    pub waiting: Vec<u32>,
    /// KV-cache use, 0–1.
    pub kv_cache_usage: Vec<f64>,
    /// Prefix-cache hits / queries (tokens) since the previous point; null without queries.
    pub prefix_cache_hit_rate: Vec<Option<f64>>,
    /// Preemptions since the previous point.
    pub preemptions: Vec<u64>,
}

/// The worker's engine samples, downsampled to at most `MAX_POINTS` (counters summed).
pub fn telemetry(samples: &[(u64, u32, u32, f64, u64, u64, u64)], start: u64) -> Telemetry {
    let stride = samples.len().div_ceil(MAX_POINTS).max(1);
    let mut t = Telemetry::default();
    for chunk in samples.chunks(stride) {
        let last = chunk[chunk.len() - 1];
        let (q, h, p) = chunk
            .iter()
            .fold((0, 0, 0), |a, s| (a.0 + s.4, a.1 + s.5, a.2 + s.6));
        t.t_s.push(last.0.saturating_sub(start) as f64 / 1e9);
        t.running.push(last.1);
        t.waiting.push(last.2);
        t.kv_cache_usage.push(last.3);
        t.prefix_cache_hit_rate
            .push((q > 0).then(|| h as f64 / q as f64));
        t.preemptions.push(p);
    }
    t
}
