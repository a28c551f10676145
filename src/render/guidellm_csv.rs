//! The report as GuideLLM's CSV (its benchmark/outputs/csv.py): one row per benchmark under
//! three human-readable header rows — group ("Time to First Token"), metric with its status and
//! unit ("Successful ms"), statistic ("Mean", "Median", "Std Dev", "Percentiles") — in GuideLLM's
//! column order, with GuideLLM's units and definitions:
//!
//! - request latency and its scheduled variant in seconds (llmbench keeps milliseconds);
//! - "Inter Token Latency" is GuideLLM's one mean per request, llmbench's `tpot_ms`; "Time per
//!   Output Token" includes TTFT, llmbench's `tpot_incl_ttft_ms`;
//! - "Percentiles" is one cell, `[min, p0.1, p1, p5, p10, p25, p75, p90, p95, p99, max]`;
//! - a status whose values sum to 0 has no columns, and the columns are the union over the
//!   benchmarks in first-seen order, a value a benchmark lacks an empty cell.
//!
//! Figures GuideLLM does not have follow its own, headed the same way and named for what they
//! are: "Inter Token Latency (Every Gap)", "Time to First Token (From Scheduled)", cached tokens,
//! preemptions, the stages of a request, llmbench's headroom. Times are UTC. What llmbench does
//! not measure (streaming iterations, time to first output token, scheduler internals) has no
//! column. The same numbers as `render::csv`, whose headers are the JSON paths instead.
//!
//! Last, as GuideLLM 0.8.1 writes them (after every other column, so that the others keep
//! their places): "Measurement Uncertainty", the confidence level, then per distribution of
//! the successful requests its "Mean CI" (`[lo, hi]`) and "Percentile CIs" (a JSON object of
//! GuideLLM's percentile names, `[lo, hi]` or null), under the distribution's own headers.
//! GuideLLM's list first (latency, scheduled latency, TTFT, input and output tokens), then
//! llmbench's distributions that carry intervals where GuideLLM's do not (its TPOT and ITL are
//! token-weighted; llmbench's are one value per request, or resampled by request).

use super::html::text::{snake, utc};
use crate::metrics::{Distribution, StatusSummary, Summary};
use crate::report::{BenchmarkEntry, Report};

/// One column's three header cells: group, metric (status and unit), statistic or unit.
type Header = [String; 3];

/// The incomplete and the errored requests' summaries, and which distribution of them.
type Others<'a> = (
    &'a StatusSummary,
    &'a StatusSummary,
    fn(&StatusSummary) -> &Distribution,
);

/// One benchmark's columns, in order.
#[derive(Default)]
struct Row(Vec<(Header, String)>);

impl Row {
    fn field(&mut self, group: &str, name: &str, units: &str, value: String) {
        self.0
            .push(([group.into(), name.into(), units.into()], value));
    }

    /// Mean, median, standard deviation and the percentile list of `d` (divided by `unit`, so
    /// that ms / 1000 gives the seconds as written, not ms × 0.001's float noise), under
    /// "{status} {units}"; nothing when its values sum to 0, as GuideLLM.
    fn dist(&mut self, group: &str, status: &str, units: &str, d: &Distribution, unit: f64) {
        if d.count == 0 || d.mean == 0.0 {
            return;
        }
        let metric = match status {
            "" => units.to_string(),
            s => format!("{s} {units}"),
        };
        let v = |x: f64| num(x / unit);
        let percentiles = [
            d.min, d.p0_1, d.p1, d.p5, d.p10, d.p25, d.p75, d.p90, d.p95, d.p99, d.max,
        ];
        let list: Vec<String> = percentiles.iter().map(|p| v(*p)).collect();
        for (stat, value) in [
            ("Mean", v(d.mean)),
            ("Median", v(d.median)),
            ("Std Dev", v(d.std)),
            ("Percentiles", format!("[{}]", list.join(", "))),
        ] {
            self.0
                .push(([group.into(), metric.clone(), stat.into()], value));
        }
    }

    /// The successful requests' `d`, then the incomplete and errored requests' (`other`).
    fn by_status(
        &mut self,
        group: &str,
        units: &str,
        d: &Distribution,
        other: Option<Others>,
        scale: f64,
    ) {
        self.dist(group, "Successful", units, d, scale);
        if let Some((incomplete, errored, f)) = other {
            self.dist(group, "Incomplete", units, f(incomplete), scale);
            self.dist(group, "Errored", units, f(errored), scale);
        }
    }
}

/// A number as the JSON report (and llmbench's CSV) writes it.
fn num(x: f64) -> String {
    serde_json::Number::from_f64(x).map_or_else(String::new, |n| n.to_string())
}

/// A time `ns` after the run's clock origin, as GuideLLM writes times ("%Y-%m-%d %H:%M:%S"), UTC.
fn time(report: &Report, ns: u64) -> String {
    let t = report.clock.origin_unix_s + ns as f64 / 1e9;
    utc(t).trim_end_matches(" UTC").to_string()
}

fn row(report: &Report, b: &BenchmarkEntry) -> Row {
    let s = &b.summary;
    let (inc, err) = (&s.incomplete, &s.errored);
    let mut r = Row::default();
    r.field("Run Info", "Model", "", b.model.clone());
    r.field("Run Info", "Run Index", "", b.index.to_string());
    r.field("Benchmark", "Strategy", "", b.strategy.label());
    r.field("Benchmark", "Ended By", "", snake(&b.ended_by));
    for (name, ns) in [
        ("Start Time", b.start_ns),
        ("Measure Start Time", b.window_start_ns),
        ("Measure End Time", b.window_end_ns),
        ("End Time", b.end_ns),
    ] {
        r.field("Timings", name, "UTC", time(report, ns));
    }
    let secs = |a: u64, z: u64| num(z.saturating_sub(a) as f64 / 1e9);
    r.field("Timings", "Duration", "Sec", num(s.duration_s));
    r.field(
        "Timings",
        "Warmup",
        "Sec",
        secs(b.start_ns, b.window_start_ns),
    );
    r.field(
        "Timings",
        "Cooldown",
        "Sec",
        secs(b.window_end_ns, b.end_ns),
    );
    let c = &s.requests;
    for (name, n) in [
        ("Successful", c.successful),
        ("Incomplete", c.incomplete),
        ("Errored", c.errored),
        ("Total", c.successful + c.incomplete + c.errored),
    ] {
        r.field("Request Counts", name, "", n.to_string());
    }
    let ms_per_s = 1e3;
    r.by_status(
        "Request Latency",
        "Sec",
        &s.request_latency_ms,
        Some((inc, err, |x| &x.request_latency_ms)),
        ms_per_s,
    );
    r.dist("Dispatch Delay", "All", "Sec", &s.dispatch_lag_us, 1e6);
    let sched = &s.latency_from_scheduled_ms;
    r.by_status("Scheduled Latency", "Sec", sched, None, ms_per_s);
    let ttft = Some((
        inc,
        err,
        (|x| &x.ttft_ms) as fn(&StatusSummary) -> &Distribution,
    ));
    r.by_status("Time to First Token", "ms", &s.ttft_ms, ttft, 1.0);
    r.by_status(
        "Time per Output Token",
        "ms",
        &s.tpot_incl_ttft_ms,
        None,
        1.0,
    );
    r.by_status("Inter Token Latency", "ms", &s.tpot_ms, None, 1.0);
    r.by_status(
        "Inter Token Latency (Every Gap)",
        "ms",
        &s.itl_ms,
        None,
        1.0,
    );
    let from_sched = &s.ttft_from_scheduled_ms;
    r.by_status(
        "Time to First Token (From Scheduled)",
        "ms",
        from_sched,
        None,
        1.0,
    );
    // One figure per benchmark: GuideLLM's mean rate.
    r.field(
        "Server Throughput",
        "Successful Requests/Sec",
        "Mean",
        num(s.requests_per_second),
    );
    r.field(
        "Server Throughput",
        "Concurrency",
        "Mean",
        num(s.concurrency),
    );
    // With an SLO, GuideLLM's two columns (headed as its csv.py heads them), llmbench's figures
    // (docs/metrics.md, "SLOs and goodput"; an itl_ms target included).
    if let Some(o) = &s.slo {
        r.field(
            "Server Throughput",
            "Successful Goodput/Sec",
            "mean",
            num(o.goodput_requests_per_second),
        );
        r.field(
            "Server Throughput",
            "SLO Attainment",
            "",
            o.attainment.map_or_else(String::new, num),
        );
    }
    let prompt = Some((
        inc,
        err,
        (|x| &x.prompt_tokens) as fn(&StatusSummary) -> &Distribution,
    ));
    r.by_status(
        "Token Metrics",
        "Input Tokens",
        &s.prompt_tokens,
        prompt,
        1.0,
    );
    let output = Some((
        inc,
        err,
        (|x| &x.output_tokens) as fn(&StatusSummary) -> &Distribution,
    ));
    r.by_status(
        "Token Metrics",
        "Output Tokens",
        &s.output_tokens,
        output,
        1.0,
    );
    r.by_status(
        "Token Metrics",
        "Cached Tokens",
        &s.cached_tokens,
        None,
        1.0,
    );
    r.by_status("Token Metrics", "Preemptions", &s.preemptions, None, 1.0);
    for (name, v) in [
        ("Input Tokens/Sec", s.input_tokens_per_second),
        ("Output Tokens/Sec", s.output_tokens_per_second),
        ("Total Tokens/Sec", s.total_tokens_per_second),
    ] {
        r.field("Token Throughput", name, "Mean", num(v));
    }
    let st = &s.stages_ms;
    for (name, d) in [
        ("Dispatch", &st.dispatch),
        ("Handover", &st.handover),
        ("Queue", &st.queue),
        ("Prefill", &st.prefill),
        ("Decode", &st.decode),
        ("Delivery", &st.delivery),
    ] {
        r.dist(
            "Request Stages",
            "Successful",
            &format!("{name} ms"),
            d,
            1.0,
        );
    }
    let h = &b.headroom;
    r.field(
        "Headroom",
        "Harness Limited",
        "",
        h.harness_limited.to_string(),
    );
    let opt = |v: Option<f64>| v.map_or_else(String::new, num);
    r.field(
        "Headroom",
        "Dispatch Rate",
        "Requests/Sec",
        opt(h.dispatch_rate),
    );
    r.field(
        "Headroom",
        "Requested Rate",
        "Requests/Sec",
        opt(h.requested_rate),
    );
    r.field("Headroom", "Warnings", "", h.warnings.join("; "));
    r.field(
        "Runtime Info",
        "llmbench Version",
        "",
        report.llmbench_version.clone(),
    );
    r.field("Runtime Info", "Command", "", report.command.join(" "));
    let level = report.config_of(b).confidence.as_ref().map(|c| c.level);
    intervals(&mut r, level, s);
    r
}

/// GuideLLM 0.8.1's "Measurement Uncertainty" columns (its csv.py `_add_interval_columns`).
fn intervals(r: &mut Row, level: Option<f64>, s: &Summary) {
    r.field(
        "Measurement Uncertainty",
        "Confidence Level",
        "",
        level.map_or_else(String::new, num),
    );
    let list: [(&Distribution, &str, &str, f64); 9] = [
        (&s.request_latency_ms, "Request Latency", "Sec", 1e3),
        (
            &s.latency_from_scheduled_ms,
            "Scheduled Latency",
            "Sec",
            1e3,
        ),
        (&s.ttft_ms, "Time to First Token", "ms", 1.0),
        (&s.prompt_tokens, "Token Metrics", "Input Tokens", 1.0),
        (&s.output_tokens, "Token Metrics", "Output Tokens", 1.0),
        (&s.tpot_incl_ttft_ms, "Time per Output Token", "ms", 1.0),
        (&s.tpot_ms, "Inter Token Latency", "ms", 1.0),
        (&s.itl_ms, "Inter Token Latency (Every Gap)", "ms", 1.0),
        (
            &s.ttft_from_scheduled_ms,
            "Time to First Token (From Scheduled)",
            "ms",
            1.0,
        ),
    ];
    const NAMES: [&str; 11] = [
        "p001", "p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999",
    ];
    for (d, group, units, unit) in list {
        // The statuses the distribution columns skip, GuideLLM skips here too.
        if d.count == 0 || d.mean == 0.0 {
            continue;
        }
        let metric = format!("Successful {units}");
        let pair = |i: crate::metrics::Interval| serde_json::json!([i.lo / unit, i.hi / unit]);
        let mean =
            d.ci.as_ref()
                .and_then(|c| c.mean)
                .map_or_else(String::new, |i| {
                    format!("[{}, {}]", num(i.lo / unit), num(i.hi / unit))
                });
        let pct = d.ci.as_ref().map_or_else(String::new, |c| {
            let m: serde_json::Map<String, serde_json::Value> = NAMES
                .iter()
                .zip(c.percentiles())
                .map(|(n, i)| (n.to_string(), i.map_or(serde_json::Value::Null, pair)))
                .collect();
            serde_json::Value::Object(m).to_string()
        });
        r.field(group, &metric, "Mean CI", mean);
        r.field(group, &metric, "Percentile CIs", pct);
    }
}

/// The report's benchmarks as GuideLLM's CSV: three header rows, then one row per benchmark
/// (nothing at all without a benchmark, as GuideLLM).
pub fn render(report: &Report) -> String {
    let rows: Vec<Row> = report.benchmarks.iter().map(|b| row(report, b)).collect();
    let mut headers: Vec<&Header> = Vec::new();
    for r in &rows {
        for (h, _) in &r.0 {
            if !headers.contains(&h) {
                headers.push(h);
            }
        }
    }
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    if !headers.is_empty() {
        for k in 0..3 {
            // Writing to a Vec cannot fail, and every row has the same number of fields.
            let _ = w.write_record(headers.iter().map(|h| h[k].as_str()));
        }
    }
    for r in &rows {
        let cell = |h: &&Header| {
            r.0.iter()
                .find(|(k, _)| k == *h)
                .map_or("", |(_, v)| v.as_str())
        };
        let _ = w.write_record(headers.iter().map(cell));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;

    fn parse(s: &str) -> Vec<Vec<String>> {
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(s.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    /// The index of the column with these three header cells.
    fn col(rows: &[Vec<String>], h: [&str; 3]) -> usize {
        (0..rows[0].len())
            .find(|&i| (0..3).all(|k| rows[k][i] == h[k]))
            .unwrap_or_else(|| panic!("no column {h:?}"))
    }

    #[test]
    fn guidellm_headers_over_the_values_of_llmbench_csv() {
        let r = fixture();
        let g = parse(&render(&r));
        let l = parse(&crate::render::csv::render(&r));
        assert_eq!(g.len(), 3 + r.benchmarks.len());
        assert!(g.iter().all(|row| row.len() == g[0].len()));
        // GuideLLM's groups, in its order, each group's columns together.
        let groups = [
            "Run Info",
            "Benchmark",
            "Timings",
            "Request Counts",
            "Request Latency",
            "Time to First Token",
            "Time per Output Token",
            "Inter Token Latency",
            "Server Throughput",
            "Token Metrics",
            "Token Throughput",
            "Runtime Info",
        ];
        let first: Vec<usize> = groups
            .iter()
            .map(|name| {
                g[0].iter()
                    .position(|x| x == name)
                    .unwrap_or_else(|| panic!("{name}"))
            })
            .collect();
        assert!(first.windows(2).all(|w| w[0] < w[1]), "{:?}", g[0]);
        // Each group's columns together, up to GuideLLM's interval columns (which repeat the
        // groups at the end, as GuideLLM writes them).
        let tail = g[0]
            .iter()
            .position(|x| x == "Measurement Uncertainty")
            .expect("GuideLLM 0.8.1's interval columns");
        let mut seen: Vec<&str> = Vec::new();
        for x in &g[0][..tail] {
            if seen.last() != Some(&x.as_str()) {
                assert!(!seen.contains(&x.as_str()), "{x} split: {:?}", g[0]);
                seen.push(x);
            }
        }
        // A distribution: Mean, Median, Std Dev, Percentiles, under "{Status} {unit}".
        let ttft = col(&g, ["Time to First Token", "Successful ms", "Mean"]);
        assert_eq!(
            g[2][ttft..ttft + 4],
            ["Mean", "Median", "Std Dev", "Percentiles"]
        );
        let lcol = |m: &str, s: &str| {
            (0..l[0].len())
                .find(|&i| l[1][i] == m && l[2][i] == s)
                .unwrap_or_else(|| panic!("no llmbench column {m}/{s}"))
        };
        // The same figures as llmbench's CSV: (GuideLLM header, llmbench column, scale).
        let same = [
            (["Run Info", "Model", ""], ("model", "value"), None),
            (["Benchmark", "Ended By", ""], ("ended_by", "value"), None),
            (
                ["Request Counts", "Successful", ""],
                ("summary.requests", "successful"),
                None,
            ),
            (
                ["Time to First Token", "Successful ms", "Mean"],
                ("summary.ttft_ms", "mean"),
                None,
            ),
            (
                ["Time to First Token", "Successful ms", "Median"],
                ("summary.ttft_ms", "median"),
                None,
            ),
            (
                ["Inter Token Latency", "Successful ms", "Std Dev"],
                ("summary.tpot_ms", "std"),
                None,
            ),
            (
                ["Time per Output Token", "Successful ms", "Mean"],
                ("summary.tpot_incl_ttft_ms", "mean"),
                None,
            ),
            (
                ["Inter Token Latency (Every Gap)", "Successful ms", "Median"],
                ("summary.itl_ms", "median"),
                None,
            ),
            (
                ["Server Throughput", "Successful Requests/Sec", "Mean"],
                ("summary.requests_per_second", "value"),
                None,
            ),
            (
                ["Token Metrics", "Successful Input Tokens", "Mean"],
                ("summary.prompt_tokens", "mean"),
                None,
            ),
            (
                ["Token Throughput", "Output Tokens/Sec", "Mean"],
                ("summary.output_tokens_per_second", "value"),
                None,
            ),
            (
                ["Request Latency", "Successful Sec", "Mean"],
                ("summary.request_latency_ms", "mean"),
                Some(1e-3),
            ),
            (
                ["Request Latency", "Successful Sec", "Median"],
                ("summary.request_latency_ms", "median"),
                Some(1e-3),
            ),
            (
                ["Dispatch Delay", "All Sec", "Mean"],
                ("summary.dispatch_lag_us", "mean"),
                Some(1e-6),
            ),
        ];
        for (gh, (m, s), scale) in same {
            let (gi, li) = (col(&g, gh), lcol(m, s));
            for k in 3..g.len() {
                let (a, b) = (&g[k][gi], &l[k][li]);
                match scale {
                    None => assert_eq!(a, b, "{gh:?} row {k}"),
                    Some(f) => {
                        let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
                        assert!(
                            (a - b * f).abs() <= 1e-12 * a.abs().max(1.0),
                            "{gh:?}: {a} vs {b}"
                        );
                    }
                }
            }
        }
        // The percentile list: min, p0.1, p1, p5, p10, p25, p75, p90, p95, p99, max.
        let p = &g[3][col(&g, ["Time to First Token", "Successful ms", "Percentiles"])];
        let list: Vec<String> = p
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(String::from)
            .collect();
        assert_eq!(list.len(), 11, "{p}");
        for (i, s) in [(0, "min"), (1, "p0_1"), (6, "p75"), (8, "p95"), (10, "max")] {
            assert_eq!(list[i], l[3][lcol("summary.ttft_ms", s)], "{s}");
        }
        assert_eq!(g[3][col(&g, ["Benchmark", "Strategy", ""])], "concurrent@1");
        assert!(g[3][col(&g, ["Timings", "Start Time", "UTC"])].len() == 19);
    }

    #[test]
    fn guidellms_interval_columns_come_last() {
        use crate::metrics::interval::{ConfidenceConfig, DistributionCi};
        use crate::metrics::Interval;
        let mut r = fixture();
        let g = parse(&render(&r));
        let level = col(&g, ["Measurement Uncertainty", "Confidence Level", ""]);
        assert_eq!(g[3][level], "", "intervals off");
        let mean = col(&g, ["Request Latency", "Successful Sec", "Mean CI"]);
        assert!(mean > level && g[3][mean].is_empty());
        r.llmbench_config.confidence = Some(ConfidenceConfig::new(0.9));
        let d = &mut r.benchmarks[0].summary.request_latency_ms;
        d.ci = Some(DistributionCi {
            mean: Some(Interval {
                lo: 1500.0,
                hi: 2500.0,
            }),
            p50: Some(Interval {
                lo: 1000.0,
                hi: 3000.0,
            }),
            ..Default::default()
        });
        let g = parse(&render(&r));
        assert_eq!(g[3][level], "0.9");
        assert_eq!(g[3][mean], "[1.5, 2.5]");
        let p = &g[3][col(&g, ["Request Latency", "Successful Sec", "Percentile CIs"])];
        assert!(
            p.starts_with(r#"{"p001":null,"#) && p.contains(r#""p50":[1.0,3.0]"#),
            "{p}"
        );
    }

    #[test]
    fn statuses_without_values_have_no_columns_and_rows_share_the_union() {
        let mut r = fixture();
        assert!(!parse(&render(&r))[1].iter().any(|m| m == "Errored ms"));
        let e = &mut r.benchmarks[1].summary.errored.ttft_ms;
        (e.count, e.mean, e.median) = (2, 5.0, 5.0);
        let g = parse(&render(&r));
        let i = col(&g, ["Time to First Token", "Errored ms", "Mean"]);
        assert_eq!((g[3][i].as_str(), g[4][i].as_str()), ("", "5.0"));
        assert!(g.iter().all(|row| row.len() == g[0].len()));
    }

    #[test]
    fn no_benchmark_no_rows() {
        let mut r = fixture();
        r.benchmarks.clear();
        assert_eq!(render(&r), "");
    }
}
