//! The report as GuideLLM-style CSV: one row per benchmark under a three-row header.
//!
//! - row 1, group: a human label (`Run`, `Benchmark`, `Requests`, `Throughput`, `TTFT ms`, …);
//! - row 2, metric: the JSON path of the value inside the benchmark entry
//!   (`summary.ttft_ms`, `summary.stages_ms.prefill`, `headroom.dispatch_rate`, `strategy`);
//! - row 3, statistic: the key under that path (`mean`, `median`, `p0_1` … `p99_9`,
//!   `successful`, `type`), or `value` when the metric path itself holds the value.
//!
//! So every cell maps back to the JSON: `benchmarks[row][metric][statistic]` (or
//! `benchmarks[row][metric]` for `value`). A confidence interval is two columns, statistic `lo`
//! and `hi`, under the interval's own path (`summary.ttft_ms.ci.p99`,
//! `summary.ci.requests_per_second`), right after the figure or distribution it bounds. The columns are the union, over all benchmarks, of
//! what each one holds, in a fixed order that does not depend on the benchmarks' order; a value
//! a benchmark lacks is an empty cell, so reports of other versions still render. Per-request
//! records and time series are left out (they are not one value per benchmark).

use crate::report::{BenchmarkEntry, Report};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Rank of anything not in a known-order list: after the known ones, alphabetically.
const UNKNOWN: u32 = 1_000_000;

/// Sort key of a column: section, item within it, nested path below the item, statistic.
type Rank = (u32, String);
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key(u32, Rank, Vec<Rank>, Rank);

#[derive(Debug, Clone)]
struct Col {
    group: String,
    metric: String,
    stat: String,
    /// Where the cell's value is, from the benchmark entry.
    path: Vec<String>,
}

const SEC_RUN: u32 = 0;
const SEC_BENCHMARK: u32 = 1;
const SEC_REQUESTS: u32 = 2;
const SEC_THROUGHPUT: u32 = 3;
const SEC_SUMMARY: u32 = 4;
const SEC_HEADROOM: u32 = 5;
/// The engine's own counters and the offline ceiling, after llmbench's headroom.
const SEC_ENGINE: u32 = 6;
const ENGINE_ORDER: &[&str] = &["offline_ceiling", "engine_counters"];

const RUN_ORDER: &[&str] = &["model", "index"];
const BENCHMARK_ORDER: &[&str] = &[
    "strategy",
    "ended_by",
    "stopped_by_scope_all",
    "over_saturation",
    "worker_error",
    "duration_s",
    "start_ns",
    "end_ns",
    "window_start_ns",
    "window_end_ns",
];
const STRATEGY_ORDER: &[&str] = &["type", "rate", "streams", "max_concurrency"];
/// The over-saturation verdict: the finding first, then its figures.
const SATURATION_ORDER: &[&str] = &[
    "detector",
    "mode",
    "is_over_saturated",
    "first_detected_s",
    "concurrent_slope",
    "concurrent_slope_moe",
    "concurrent_n",
    "ttft_slope",
    "ttft_slope_moe",
    "ttft_n",
    "ttft_violations",
];
const REQUESTS_ORDER: &[&str] = &["requests_total", "requests"];
const STATUS_ORDER: &[&str] = &["successful", "incomplete", "errored"];
const THROUGHPUT_ORDER: &[&str] = &[
    "requests_per_second",
    "input_tokens_per_second",
    "output_tokens_per_second",
    "total_tokens_per_second",
    "concurrency",
    "output_tokens_total",
];
/// Summary items (and the keys of nested groups such as `incomplete`, `stages_ms`).
const SUMMARY_ORDER: &[&str] = &[
    "prompt_tokens",
    "output_tokens",
    "cached_tokens",
    "preemptions",
    "ttft_ms",
    "ttft_from_scheduled_ms",
    "itl_ms",
    "tpot_ms",
    "tpot_incl_ttft_ms",
    "request_latency_ms",
    "latency_from_scheduled_ms",
    "dispatch_lag_us",
    "cap_wait",
    "stages_ms",
    "incomplete",
    "errored",
    // stages_ms, in chain order (cap_wait first, above)
    "dispatch",
    "handover",
    "queue",
    "prefill",
    "decode",
    "delivery",
];
const HEADROOM_ORDER: &[&str] = &[
    "harness_limited",
    "dispatch_rate",
    "requested_rate",
    "warnings",
    "cpu_seconds_supervisor",
    "cpu_seconds_worker",
    "cpu_seconds_engine",
    "peak_rss_mib_supervisor",
    "peak_rss_mib_worker",
    "loop_lag_us",
    "delivery_us",
];
/// Top-level keys of a benchmark entry that are not one value per benchmark, or are walked
/// on their own.
const NOT_COLUMNS: &[&str] = &["records", "timeseries", "telemetry", "summary", "headroom"];

fn summary_label(key: &str) -> String {
    match key {
        "prompt_tokens" => "Prompt tokens",
        "output_tokens" => "Output tokens",
        "cached_tokens" => "Cached tokens",
        "preemptions" => "Preemptions",
        "ttft_ms" => "TTFT ms",
        "ttft_from_scheduled_ms" => "TTFT from scheduled ms",
        "itl_ms" => "ITL ms",
        "tpot_ms" => "TPOT ms",
        "tpot_incl_ttft_ms" => "TPOT incl. TTFT ms",
        "request_latency_ms" => "Latency ms",
        "latency_from_scheduled_ms" => "Latency from scheduled ms",
        "dispatch_lag_us" => "Dispatch lag us",
        "cap_wait" => "Concurrency cap",
        "stages_ms" => "Stages ms",
        "incomplete" => "Incomplete requests",
        "errored" => "Errored requests",
        "slo" => "SLO",
        other => return other.to_string(),
    }
    .to_string()
}

fn rank(order: &[&str], k: &str) -> Rank {
    match order.iter().position(|o| *o == k) {
        Some(i) => (i as u32, String::new()),
        None => (UNKNOWN, k.to_string()),
    }
}

/// count, mean, median, std, min, max, then percentiles by value (`p0_1` = 0.1, `p99_9` = 99.9,
/// the older `p999` = 99.9 too), then anything else.
fn stat_rank(k: &str) -> Rank {
    const FIRST: &[&str] = &["count", "mean", "median", "std", "min", "max"];
    if let Some(i) = FIRST.iter().position(|f| *f == k) {
        return (i as u32, String::new());
    }
    if let Some(p) = percentile(k) {
        return (100 + (p * 1000.0).round() as u32, k.to_string());
    }
    (UNKNOWN, k.to_string())
}

/// The percentile a statistic's name stands for (`p5` → 5, `p0_1` → 0.1, `p999` → 99.9).
pub fn percentile(k: &str) -> Option<f64> {
    let digits = k.strip_prefix('p')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let mut p: f64 = digits.replacen('_', ".", 1).parse().ok()?;
    if !digits.contains('_') && p > 100.0 {
        // p999, p9999: 99.9, 99.99.
        p /= 10f64.powi(digits.len() as i32 - 2);
    }
    (p <= 100.0).then_some(p)
}

fn is_distribution(v: &Value) -> bool {
    v.get("count").is_some_and(Value::is_number) && v.get("mean").is_some_and(Value::is_number)
}

/// A confidence interval: `{lo, hi}`.
fn is_interval(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.len() == 2
            && m.get("lo").is_some_and(Value::is_number)
            && m.get("hi").is_some_and(Value::is_number)
    })
}

/// The rank of an interval's bounds: `lo` before `hi`.
fn bound_rank(k: &str) -> Rank {
    rank(&["lo", "hi"], k)
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// A value that fits one cell: a scalar, or a list of scalars (joined).
fn fits_cell(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().all(is_scalar),
        Value::Object(_) => false,
        _ => true,
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) | Some(Value::Object(_)) => String::new(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn lookup<'a>(b: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(b, |v, k| v.get(k))
}

struct Columns(BTreeMap<Key, Col>);

impl Columns {
    fn add(&mut self, key: Key, group: &str, path: &[&str], stat: Option<&str>) {
        let metric = path.join(".");
        let mut full: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        if let Some(s) = stat {
            full.push(s.to_string());
        }
        self.0.entry(key).or_insert_with(|| Col {
            group: group.to_string(),
            metric,
            stat: stat.unwrap_or("value").to_string(),
            path: full,
        });
    }

    /// A distribution (one column per statistic), a cell-sized value, or a group of them
    /// (walked below, up to a few levels).
    fn walk(
        &mut self,
        sec: u32,
        item: Rank,
        sub: Vec<Rank>,
        group: &str,
        path: &[&str],
        v: &Value,
    ) {
        if is_interval(v) {
            for k in ["lo", "hi"] {
                let key = Key(sec, item.clone(), sub.clone(), bound_rank(k));
                self.add(key, group, path, Some(k));
            }
        } else if is_distribution(v) {
            for k in v.as_object().into_iter().flat_map(Map::keys) {
                if fits_cell(&v[k]) {
                    let key = Key(sec, item.clone(), sub.clone(), stat_rank(k));
                    self.add(key, group, path, Some(k));
                }
            }
            // Its intervals, after its statistics, in the statistics' order.
            for (stat, i) in v.get("ci").and_then(Value::as_object).into_iter().flatten() {
                let mut sub = sub.clone();
                sub.extend([(UNKNOWN, "ci".to_string()), stat_rank(stat)]);
                let mut p = path.to_vec();
                p.extend(["ci", stat.as_str()]);
                self.walk(sec, item.clone(), sub, group, &p, i);
            }
        } else if fits_cell(v) {
            self.add(Key(sec, item, sub, (0, String::new())), group, path, None);
        } else if let (Value::Object(m), true) = (v, path.len() < 6) {
            for (k, x) in m {
                let mut sub = sub.clone();
                sub.push(rank(SUMMARY_ORDER, k));
                let mut p = path.to_vec();
                p.push(k);
                self.walk(sec, item.clone(), sub, group, &p, x);
            }
        }
    }

    fn benchmark(&mut self, b: &Value) {
        let Some(m) = b.as_object() else { return };
        for (k, v) in m {
            self.top_level(k, v);
        }
        if let Some(s) = b.get("summary").and_then(Value::as_object) {
            for (k, v) in s {
                self.summary_item(k, v);
            }
        }
        if let Some(h) = b.get("headroom").and_then(Value::as_object) {
            for (k, v) in h {
                self.walk(
                    SEC_HEADROOM,
                    rank(HEADROOM_ORDER, k),
                    vec![],
                    "Headroom",
                    &["headroom", k],
                    v,
                );
            }
        }
    }

    /// A key of the benchmark entry itself: Run, Requests or Benchmark columns.
    fn top_level(&mut self, k: &str, v: &Value) {
        let none = || (0, String::new());
        if NOT_COLUMNS.contains(&k) {
            return;
        }
        if RUN_ORDER.contains(&k) {
            let key = Key(SEC_RUN, rank(RUN_ORDER, k), vec![], none());
            self.add(key, "Run", &[k], None);
        } else if k == "requests_total" {
            let key = Key(SEC_REQUESTS, rank(REQUESTS_ORDER, k), vec![], none());
            self.add(key, "Requests", &[k], None);
        } else if ENGINE_ORDER.contains(&k) {
            if v.is_null() {
                return;
            }
            let group = if k == "engine_counters" {
                "Engine counters"
            } else {
                "Offline ceiling"
            };
            self.walk(SEC_ENGINE, rank(ENGINE_ORDER, k), vec![], group, &[k], v);
        } else if k == "strategy" || k == "over_saturation" {
            let order = if k == "strategy" {
                STRATEGY_ORDER
            } else {
                SATURATION_ORDER
            };
            for s in v.as_object().into_iter().flat_map(Map::keys) {
                let stat = rank(order, s);
                let key = Key(SEC_BENCHMARK, rank(BENCHMARK_ORDER, k), vec![], stat);
                self.add(key, "Benchmark", &[k], Some(s));
            }
        } else if fits_cell(v) {
            let key = Key(SEC_BENCHMARK, rank(BENCHMARK_ORDER, k), vec![], none());
            self.add(key, "Benchmark", &[k], None);
        }
    }

    /// A key of the summary: the window's length, request counts, throughput, or a
    /// distribution (or group of them) walked into one column per statistic.
    fn summary_item(&mut self, k: &str, v: &Value) {
        let none = || (0, String::new());
        let path = ["summary", k];
        if k == "duration_s" {
            let key = Key(SEC_BENCHMARK, rank(BENCHMARK_ORDER, k), vec![], none());
            self.add(key, "Benchmark", &path, None);
        } else if k == "requests" {
            for st in v.as_object().into_iter().flat_map(Map::keys) {
                let stat = rank(STATUS_ORDER, st);
                let key = Key(SEC_REQUESTS, rank(REQUESTS_ORDER, k), vec![], stat);
                self.add(key, "Requests", &path, Some(st));
            }
        } else if THROUGHPUT_ORDER.contains(&k) {
            let key = Key(SEC_THROUGHPUT, rank(THROUGHPUT_ORDER, k), vec![], none());
            self.add(key, "Throughput", &path, None);
        } else if k == "ci" {
            // The rates' intervals, each after its rate; why any is missing, after them all.
            for (rate, i) in v.as_object().into_iter().flatten() {
                let sub = vec![(UNKNOWN, "ci".to_string())];
                let p = ["summary", "ci", rate.as_str()];
                self.walk(
                    SEC_THROUGHPUT,
                    rank(THROUGHPUT_ORDER, rate),
                    sub,
                    "Throughput",
                    &p,
                    i,
                );
            }
        } else {
            let group = if fits_cell(v) {
                "Summary".to_string()
            } else {
                summary_label(k)
            };
            let item = rank(SUMMARY_ORDER, k);
            self.walk(SEC_SUMMARY, item, vec![], &group, &path, v);
        }
    }
}

/// The report's benchmarks as CSV text (three header rows, then one row per benchmark).
pub fn render(report: &Report) -> String {
    let rows: Vec<Value> = report.benchmarks.iter().map(row_value).collect();
    render_rows(&rows)
}

/// The one-value-per-benchmark part of a benchmark entry (no records or series), as the JSON
/// whose paths the metric header row names.
fn row_value(b: &BenchmarkEntry) -> Value {
    serde_json::json!({
        "model": b.model,
        "index": b.index,
        "strategy": b.strategy,
        "ended_by": b.ended_by,
        "stopped_by_scope_all": b.stopped_by_scope_all,
        "over_saturation": b.over_saturation,
        "worker_error": b.worker_error,
        "start_ns": b.start_ns,
        "end_ns": b.end_ns,
        "window_start_ns": b.window_start_ns,
        "window_end_ns": b.window_end_ns,
        "requests_total": b.requests_total,
        "summary": b.summary,
        "headroom": b.headroom,
        "engine_counters": b.engine_counters,
        "offline_ceiling": b.offline_ceiling,
    })
}

/// Benchmark rows (JSON) as CSV: the columns are the union of what the rows hold.
fn render_rows(benchmarks: &[Value]) -> String {
    let mut cols = Columns(BTreeMap::new());
    // The identifying columns, even with no benchmark at all.
    let seed = serde_json::json!({"model": null, "index": null, "strategy": {"type": null}, "ended_by": null});
    cols.benchmark(&seed);
    for b in benchmarks {
        cols.benchmark(b);
    }
    let cols: Vec<Col> = cols.0.into_values().collect();
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut rows: Vec<Vec<String>> = vec![
        cols.iter().map(|c| c.group.clone()).collect(),
        cols.iter().map(|c| c.metric.clone()).collect(),
        cols.iter().map(|c| c.stat.clone()).collect(),
    ];
    for b in benchmarks {
        rows.push(cols.iter().map(|c| cell(lookup(b, &c.path))).collect());
    }
    for r in rows {
        // Writing to a Vec cannot fail, and every row has the same number of fields.
        let _ = w.write_record(&r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dist(scale: f64, legacy: bool) -> Value {
        let mut d = json!({"count": 10, "mean": scale, "median": scale, "std": 0.5, "min": 0.1, "max": scale * 2.0,
            "p1": 1, "p5": 2, "p10": 3, "p25": 4, "p75": 5, "p90": 6, "p95": 7, "p99": 8});
        if legacy {
            d["p999"] = json!(9);
        } else {
            d["p0_1"] = json!(0.5);
            d["p50"] = json!(scale);
            d["p99_9"] = json!(9);
        }
        d
    }

    fn parse(s: &str) -> Vec<Vec<String>> {
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(s.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn percentile_names() {
        assert_eq!(percentile("p0_1"), Some(0.1));
        assert_eq!(percentile("p99_9"), Some(99.9));
        assert_eq!(percentile("p999"), Some(99.9));
        assert_eq!(percentile("p50"), Some(50.0));
        assert_eq!(percentile("peak"), None);
        assert!(stat_rank("p0_1") < stat_rank("p1") && stat_rank("p99") < stat_rank("p99_9"));
        assert!(stat_rank("max") < stat_rank("p0_1"));
    }

    #[test]
    fn union_of_columns_in_a_stable_order_with_empty_cells() {
        let a = json!({"model": "m, \"quoted\"", "index": 0, "strategy": {"type": "constant", "rate": 4.0},
            "ended_by": "max_seconds", "worker_error": null, "records": [{"id": 1}],
            "summary": {"requests": {"successful": 3, "incomplete": 1, "errored": 0}, "duration_s": 2.0,
                "requests_per_second": 1.5, "ttft_ms": dist(2.0, true),
                "stages_ms": {"prefill": dist(1.0, true)}},
            "headroom": {"harness_limited": false, "dispatch_rate": 3.9, "warnings": ["a", "b"], "loop_lag_us": dist(5.0, true)}});
        let b = json!({"index": 1, "model": "m", "strategy": {"type": "concurrent", "streams": 2},
            "ended_by": "max_requests", "timeseries": {"bin_s": 0.1},
            "summary": {"requests": {"successful": 5}, "total_tokens_per_second": 10,
                "ttft_ms": dist(3.0, false), "stages_ms": {"decode": dist(1.0, false), "prefill": dist(2.0, false)}},
            "headroom": {"harness_limited": true, "dispatch_rate": null}});
        let one = render_rows(&[a.clone(), b.clone()]);
        let two = render_rows(&[b, a]);
        let (r1, r2) = (parse(&one), parse(&two));
        assert_eq!(
            r1[..3],
            r2[..3],
            "column order does not depend on benchmark order"
        );
        assert_eq!(r1.len(), 5);
        let col = |g: &str, m: &str, s: &str| {
            (0..r1[0].len())
                .find(|&i| r1[0][i] == g && r1[1][i] == m && r1[2][i] == s)
                .unwrap_or_else(|| panic!("no column {g}/{m}/{s}: {:?}", r1[1]))
        };
        let ids = [
            col("Run", "model", "value"),
            col("Run", "index", "value"),
            col("Benchmark", "strategy", "type"),
        ];
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(r1[3][0], "m, \"quoted\"");
        let rate = col("Benchmark", "strategy", "rate");
        assert_eq!((r1[3][rate].as_str(), r1[4][rate].as_str()), ("4.0", ""));
        assert_eq!(r1[4][col("Benchmark", "strategy", "streams")], "2");
        assert_eq!(
            r1[3][col("Requests", "summary.requests", "incomplete")],
            "1"
        );
        assert_eq!(
            r1[3][col("Throughput", "summary.total_tokens_per_second", "value")],
            ""
        );
        assert_eq!(
            r1[4][col("Throughput", "summary.total_tokens_per_second", "value")],
            "10"
        );
        // Both percentile spellings get a column; each benchmark fills its own.
        assert_eq!(r1[3][col("TTFT ms", "summary.ttft_ms", "p999")], "9");
        assert_eq!(r1[3][col("TTFT ms", "summary.ttft_ms", "p99_9")], "");
        assert_eq!(r1[4][col("TTFT ms", "summary.ttft_ms", "p99_9")], "9");
        assert!(
            col("TTFT ms", "summary.ttft_ms", "max") < col("TTFT ms", "summary.ttft_ms", "p0_1")
        );
        assert!(
            col("Stages ms", "summary.stages_ms.prefill", "mean")
                < col("Stages ms", "summary.stages_ms.decode", "mean")
        );
        assert_eq!(r1[3][col("Headroom", "headroom.warnings", "value")], "a; b");
        assert_eq!(
            r1[4][col("Headroom", "headroom.harness_limited", "value")],
            "true"
        );
        col("Headroom", "headroom.loop_lag_us", "p999");
        assert!(!r1[1].iter().any(|m| m.starts_with("records")));
        assert!(!r1[1].iter().any(|m| m.starts_with("timeseries")));
    }

    #[test]
    fn intervals_are_lo_and_hi_columns_after_what_they_bound() {
        let mut d = dist(2.0, false);
        d["ci"] = json!({"mean": {"lo": 1.5, "hi": 2.5}, "p99": {"lo": 7, "hi": 9}});
        let a = json!({"model": "m", "index": 0, "strategy": {"type": "synchronous"},
            "summary": {"requests_per_second": 1.5, "concurrency": 1.0, "ttft_ms": d,
                "ci": {"requests_per_second": {"lo": 1.25, "hi": 1.75}, "notes": ["a note"]},
                "slo": {"attainment": 0.5, "ci": {"attainment": {"lo": 0.25, "hi": 0.75}}}}});
        let r = parse(&render_rows(&[a]));
        let col = |g: &str, m: &str, s: &str| {
            (0..r[0].len())
                .find(|&i| r[0][i] == g && r[1][i] == m && r[2][i] == s)
                .unwrap_or_else(|| panic!("no column {g}/{m}/{s}: {:?}", r[1]))
        };
        let lo = col("TTFT ms", "summary.ttft_ms.ci.mean", "lo");
        assert_eq!((r[3][lo].as_str(), r[3][lo + 1].as_str()), ("1.5", "2.5"));
        assert_eq!(r[2][lo + 1], "hi");
        assert!(
            col("TTFT ms", "summary.ttft_ms", "p99_9") < lo,
            "after the statistics"
        );
        assert!(
            lo < col("TTFT ms", "summary.ttft_ms.ci.p99", "lo"),
            "mean, then percentiles"
        );
        let rps = col("Throughput", "summary.requests_per_second", "value");
        assert_eq!(
            col("Throughput", "summary.ci.requests_per_second", "lo"),
            rps + 1
        );
        assert!(col("Throughput", "summary.concurrency", "value") > rps + 2);
        assert_eq!(
            r[3][col("Throughput", "summary.ci.notes", "value")],
            "a note"
        );
        assert_eq!(r[3][col("SLO", "summary.slo.ci.attainment", "hi")], "0.75");
    }

    #[test]
    fn no_benchmarks_gives_the_header_only() {
        let rows = parse(&render_rows(&[]));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], ["model", "index", "strategy", "ended_by"]);
    }
}
