//! The one `Report` type, written as JSON after every benchmark (so a crash or Ctrl-C keeps
//! what was done), and the console summary.

use crate::metrics::Distribution;
use crate::metrics::{summarize, RequestRecord, Summary};
use crate::scheduler::{EndReason, HarnessStats, Outcome, Strategy};
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;

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
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkEntry {
    pub model: String,
    pub index: usize,
    pub strategy: Strategy,
    pub ended_by: EndReason,
    pub worker_error: Option<String>,
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
    pub requests: Vec<Value>,
    #[serde(skip)]
    pub records: Vec<RequestRecord>,
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
        let mut kept = std::collections::HashMap::new();
        let requests = o
            .records
            .iter()
            .filter(|r| {
                let k = kept.entry(r.status).or_insert(0usize);
                *k += 1;
                sample_per_status.is_none_or(|n| *k <= n)
            })
            .map(|r| {
                let mut v = record_json(r, origin);
                v["in_window"] = json!(r.t.sent.is_some_and(|t| t >= ws && t <= we));
                v
            })
            .collect();
        self.benchmarks.push(BenchmarkEntry {
            model: model.to_string(),
            index: self.benchmarks.len(),
            strategy,
            ended_by: o.ended_by,
            worker_error: o.worker_error,
            start_ns: o.start_ns.saturating_sub(origin),
            end_ns: o.end_ns.saturating_sub(origin),
            window_start_ns: ws.saturating_sub(origin),
            window_end_ns: we.saturating_sub(origin),
            requests_total: o.records.len(),
            headroom: hr,
            summary,
            requests,
            records: o.records,
        });
        self.benchmarks.last().expect("just pushed")
    }

    /// Writes the JSON atomically (temp file + rename): a reader never sees half a report.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).context("serializing the report")?;
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
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
    if limit == 0 || b.records.is_empty() {
        return;
    }
    println!(
        "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  {}",
        "req", "prompt", "engine", "output", "TTFT ms", "latency ms", "status"
    );
    for r in b.records.iter().take(limit) {
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
    if b.records.len() > limit {
        println!(
            "  … {} more requests in the JSON report",
            b.records.len() - limit
        );
    }
}

pub fn print_summary(report: &Report) {
    println!();
    println!(
        "{:<3} {:<22} {:<18} {:>5} {:>5} {:>5} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "#",
        "model",
        "strategy",
        "ok",
        "inc",
        "err",
        "dur s",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "ITL p50",
        "lat p50 ms"
    );
    for b in &report.benchmarks {
        let s = &b.summary;
        let model = if b.model.len() > 22 {
            format!("…{}", &b.model[b.model.len() - 21..])
        } else {
            b.model.clone()
        };
        println!(
            "{:<3} {:<22} {:<18} {:>5} {:>5} {:>5} {:>8.2} {:>8.2} {:>10.1} {:>9.2} {:>9.2} {:>9.3} {:>10.2}",
            b.index,
            model,
            b.strategy.label(),
            s.requests.successful,
            s.requests.incomplete,
            s.requests.errored,
            s.duration_s,
            s.requests_per_second,
            s.output_tokens_per_second,
            s.ttft_ms.median,
            s.ttft_ms.p99,
            s.itl_ms.median,
            s.request_latency_ms.median
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
        }
    }
}

/// Did the harness, rather than the engine, limit this benchmark? Judged on the engine's own time
/// scale: dispatch lag or worker event-loop lag above 10% of the median inter-token latency
/// (at least 2 ms for the loop, whose timer has millisecond resolution), or a dispatch rate more
/// than 1% under the requested rate.
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
    let lag_p99_ms = s.dispatch_lag_us.p99 / 1e3;
    if itl_ms > 0.0 && lag_p99_ms > 0.1 * itl_ms {
        warnings.push(format!(
            "dispatch lag p99 {lag_p99_ms:.3} ms is above 10% of the median ITL ({itl_ms:.3} ms)"
        ));
    }
    let loop_lag = Distribution::from_values(costs.loop_lag_us.iter().map(|&v| v as f64).collect());
    let loop_p99_ms = loop_lag.p99 / 1e3;
    if loop_lag.count > 0 && loop_p99_ms > (0.1 * itl_ms).max(2.0) {
        warnings.push(format!("the worker's event loop lagged {loop_p99_ms:.2} ms at p99 (median ITL {itl_ms:.3} ms): it was busy"));
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
