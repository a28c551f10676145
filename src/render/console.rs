//! The console: per-request lines as a benchmark ends, and the end-of-run tables, from the
//! typed report.

use crate::metrics::Summary;
use crate::report::{BenchmarkEntry, Records, Report};
use crate::scheduler::EndReason;

fn fmt_opt_ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", v as f64 / 1e6))
}

/// The snake_case name serde gives a unit variant (`max_requests`, `successful`).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Per-request lines, as the benchmark ends.
pub fn print_requests(b: &BenchmarkEntry, limit: usize) {
    let Records::Live(live) = &b.records else {
        return;
    };
    let records = &live.records;
    if limit == 0 || records.is_empty() {
        return;
    }
    println!(
        "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  {}",
        "req", "prompt", "engine", "output", "TTFT ms", "latency ms", "status"
    );
    for r in records.iter().take(limit) {
        let status = match (&r.finish_reason, &r.error) {
            (_, Some(e)) => {
                format!("{:?}: {}", r.status, e.lines().next().unwrap_or("")).to_lowercase()
            }
            (Some(f), None) => format!("{} ({f})", name_of(&r.status)),
            (None, None) => "incomplete".into(),
        };
        println!(
            "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  {}",
            r.id,
            r.content_tokens,
            r.prompt_tokens.map_or("-".into(), |p| p.to_string()),
            r.output_tokens,
            fmt_opt_ms(r.ttft_ns()),
            fmt_opt_ms(r.latency_ns()),
            status
        );
    }
    if records.len() > limit {
        println!(
            "  … {} more requests in the JSON report",
            records.len() - limit
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

/// A model name cut to its last 24 characters.
fn short(m: &str) -> String {
    let n = m.chars().count();
    if n > 24 {
        format!("…{}", m.chars().skip(n - 23).collect::<String>())
    } else {
        m.to_string()
    }
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

fn f2(x: f64) -> String {
    format!("{x:.2}")
}

fn f3(x: f64) -> String {
    format!("{x:.3}")
}

/// One table with a row per benchmark: the benchmark's two identifying cells, then `cells`.
fn per_benchmark(
    title: &str,
    head: &[&str],
    report: &Report,
    cells: impl Fn(&BenchmarkEntry, &Summary) -> Vec<String>,
) {
    let mut h = vec!["# model", "strategy"];
    h.extend_from_slice(head);
    let rows = report
        .benchmarks
        .iter()
        .map(|b| {
            let mut r = vec![
                format!("{} {}", b.index, short(&b.model)),
                b.strategy.label(),
            ];
            r.extend(cells(b, &b.summary));
            r
        })
        .collect();
    table(title, &h, rows);
}

fn run_table(report: &Report) {
    let head = [
        "ended by",
        "ok",
        "incomplete",
        "errored",
        "duration s",
        "engine starts",
    ];
    per_benchmark("Run summary", &head, report, |b, s| {
        let starts = report
            .models
            .iter()
            .find(|m| m.model == b.model)
            .map_or(0, |m| m.engine_starts);
        vec![
            name_of(&b.ended_by),
            s.requests.successful.to_string(),
            s.requests.incomplete.to_string(),
            s.requests.errored.to_string(),
            f2(s.duration_s),
            starts.to_string(),
        ]
    });
}

fn token_table(report: &Report) {
    let head = [
        "prompt mean",
        "prompt p50",
        "output mean",
        "output p50",
        "cached mean",
    ];
    per_benchmark(
        "Request tokens (successful requests)",
        &head,
        report,
        |_, s| {
            vec![
                f1(s.prompt_tokens.mean),
                f1(s.prompt_tokens.median),
                f1(s.output_tokens.mean),
                f1(s.output_tokens.median),
                f1(s.cached_tokens.mean),
            ]
        },
    );
}

fn latency_table(report: &Report) {
    let head = [
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
    ];
    per_benchmark(
        "Latency, ms (successful requests)",
        &head,
        report,
        |_, s| {
            vec![
                f2(s.ttft_ms.median),
                f2(s.ttft_ms.p95),
                f2(s.ttft_ms.p99),
                f3(s.itl_ms.median),
                f3(s.itl_ms.p95),
                f3(s.itl_ms.p99),
                f3(s.tpot_ms.median),
                f2(s.request_latency_ms.median),
                f2(s.request_latency_ms.p95),
                f2(s.request_latency_ms.p99),
            ]
        },
    );
}

fn throughput_table(report: &Report) {
    let head = [
        "req/s",
        "input tok/s",
        "output tok/s",
        "total tok/s",
        "concurrency",
    ];
    per_benchmark("Throughput", &head, report, |_, s| {
        vec![
            f2(s.requests_per_second),
            f1(s.input_tokens_per_second),
            f1(s.output_tokens_per_second),
            f1(s.total_tokens_per_second),
            f2(s.concurrency),
        ]
    });
}

/// Benchmarks that ended early, harness warnings, failed models.
fn notes(report: &Report) {
    for b in &report.benchmarks {
        if b.ended_by != EndReason::MaxRequests && b.ended_by != EndReason::DataExhausted {
            println!("benchmark {} ended by {}", b.index, name_of(&b.ended_by));
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

/// The end-of-run tables.
pub fn print_summary(report: &Report) {
    if report.benchmarks.is_empty() {
        println!("\nno benchmark completed");
    } else {
        run_table(report);
        token_table(report);
        latency_table(report);
        throughput_table(report);
    }
    notes(report);
}
