//! The console: per-request lines as a benchmark ends, and the end-of-run tables, from the
//! typed report.

use crate::metrics::{Distribution, Interval, Summary};
use crate::report::{BenchmarkEntry, Records, Report};
use crate::scheduler::EndReason;

fn fmt_opt_ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", v as f64 / 1e6))
}

/// The snake_case name serde gives a unit variant (`max_requests`, `successful`): the one way
/// the console names an end reason or a status.
pub fn name_of<T: serde::Serialize>(v: &T) -> String {
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
        "{:>6}  {:>8}  {:>7}  {:>6}  {:>9}  {:>10}  status",
        "req", "prompt", "engine", "output", "TTFT ms", "latency ms"
    );
    for r in records.iter().take(limit) {
        let status = match (&r.finish_reason, &r.error) {
            (_, Some(e)) => format!("{}: {}", name_of(&r.status), e.lines().next().unwrap_or("")),
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

// ---------------------------------------------------------------------------------------------
// GuideLLM 0.8's tables (guidellm/benchmark/outputs/console.py, guidellm/utils/console.py):
// columns under three header rows (group, name, units or statistic), identical neighbours
// merged, `|` between cells, `=` and `-` rules; numbers to one decimal as GuideLLM prints them,
// small ones (below 10) with two or three so that a fast engine's milliseconds still read.

/// A column: its three header cells and one cell per benchmark.
struct Column {
    header: [String; 3],
    cells: Vec<String>,
}

fn column(
    report: &Report,
    header: [&str; 3],
    cell: impl Fn(&BenchmarkEntry, &Summary) -> String,
) -> Column {
    Column {
        header: header.map(String::from),
        cells: report
            .benchmarks
            .iter()
            .map(|b| cell(b, &b.summary))
            .collect(),
    }
}

/// GuideLLM's identifying columns: the strategy (its `str`, `constant@4.00`), and here the
/// benchmark's number and, when the report has more than one, its model.
fn benchmark_columns(report: &Report) -> Vec<Column> {
    let mut cols = vec![column(report, ["Benchmark", "#", ""], |b, _| {
        b.index.to_string()
    })];
    let first = report.benchmarks.first().map(|b| b.model.as_str());
    if report
        .benchmarks
        .iter()
        .any(|b| Some(b.model.as_str()) != first)
    {
        cols.push(column(report, ["Benchmark", "Model", ""], |b, _| {
            short(&b.model)
        }));
    }
    cols.push(column(report, ["Benchmark", "Strategy", ""], |b, _| {
        b.strategy.label()
    }));
    cols
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

/// A number as GuideLLM prints it (one decimal), with more decimals below 10 and below 1.
fn num(x: f64) -> String {
    match x.abs() {
        a if !a.is_finite() => "--".into(),
        a if a >= 10.0 || a == 0.0 => format!("{x:.1}"),
        a if a >= 1.0 => format!("{x:.2}"),
        _ => format!("{x:.3}"),
    }
}

/// Decimals `num` prints `x` with.
fn decimals(x: f64) -> usize {
    match x.abs() {
        a if a >= 10.0 || a == 0.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    }
}

/// A figure with the half-width of its confidence interval, `12.3 ± 0.4`, as GuideLLM 0.8.1
/// prints a mean: the margin with the figure's decimals, or up to three more where it would
/// otherwise round to 0 and read as exact. The figure alone without an interval.
fn with_margin(x: f64, ci: Option<Interval>) -> String {
    let Some(ci) = ci.filter(|_| x.is_finite()) else {
        return num(x);
    };
    let margin = ci.half_width();
    let base = decimals(x);
    let mut d = base;
    while margin > 0.0 && d < base + 3 && format!("{margin:.d$}").parse::<f64>() == Ok(0.0) {
        d += 1;
    }
    format!("{} ± {margin:.d$}", num(x))
}

/// A share as a percentage, with its interval as `[lo, hi]` when it has one.
fn pct_with_interval(a: Option<f64>, ci: Option<Interval>) -> String {
    match (a, ci) {
        (None, _) => "--".into(),
        (Some(a), None) => format!("{:.1}%", 100.0 * a),
        (Some(a), Some(i)) => format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * a,
            100.0 * i.lo,
            100.0 * i.hi
        ),
    }
}

/// Marks a percentile the sample cannot bound (GuideLLM's marker).
const NO_INTERVAL: &str = "*";

/// A statistic of a distribution, `--` where it has no sample (GuideLLM's empty cell).
fn stat(d: &Distribution, f: fn(&Distribution) -> f64, scale: f64) -> String {
    match d.count {
        0 => "--".into(),
        _ => num(f(d) * scale),
    }
}

/// A statistic's header and how to read it from a distribution.
type Stat = (&'static str, fn(&Distribution) -> f64);

/// The columns of GuideLLM's `add_stats`: one per statistic, under `group` and `name`.
fn stats(
    report: &Report,
    group: &str,
    name: &str,
    which: &[Stat],
    metric: fn(&Summary) -> &Distribution,
    scale: f64,
) -> Vec<Column> {
    which
        .iter()
        .map(|(label, f)| {
            column(report, [group, name, label], |_, s| {
                stat(metric(s), *f, scale)
            })
        })
        .collect()
}

const MDN: Stat = ("Mdn", |d| d.median);
const P95: Stat = ("p95", |d| d.p95);

/// Cells padded by one space (empty ones stay empty), and each column's width.
fn padded(cols: &[Vec<String>]) -> (Vec<Vec<String>>, Vec<usize>) {
    let out: Vec<Vec<String>> = cols
        .iter()
        .map(|c| {
            c.iter()
                .map(|s| {
                    if s.is_empty() {
                        String::new()
                    } else {
                        format!(" {s} ")
                    }
                })
                .collect()
        })
        .collect();
    let widths = out
        .iter()
        .map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    (out, widths)
}

/// One row: each cell left-aligned in its width (filled with `fill`), `|` around and between.
fn row_line(cells: &[String], widths: &[usize], fill: char) -> String {
    let mut line = String::from("|");
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push('|');
        }
        line.push_str(c);
        let n = c.chars().count();
        line.extend(std::iter::repeat_n(fill, w.saturating_sub(n)));
    }
    line.push('|');
    line
}

/// Renders a table as GuideLLM's `Console.print_table` does: its title, an `=` rule, the three
/// header rows (a run of equal cells under the same parent merged into one wide cell), a `-`
/// rule, a row per benchmark, an `=` rule.
fn render_table(title: &str, columns: &[Column]) -> String {
    let values: Vec<Vec<String>> = columns.iter().map(|c| c.cells.clone()).collect();
    let (values, mut widths) = padded(&values);
    let raw: Vec<Vec<String>> = columns.iter().map(|c| c.header.to_vec()).collect();
    let (mut headers, _) = padded(&raw);
    // Merge equal neighbours row by row; a header cell (merged or not) wider than its columns
    // widens them, the extra shared out.
    for r in 0..3 {
        let mut start = 0;
        for i in 1..=headers.len() {
            let same = i < headers.len()
                && !headers[i][r].is_empty()
                && headers[i][r] == headers[start][r]
                && (r == 0 || raw[start][r - 1] == raw[i][r - 1]);
            if same {
                continue;
            }
            for cell in headers.iter_mut().take(i).skip(start + 1) {
                cell[r].clear();
            }
            let need = headers[start][r].chars().count();
            let have: usize = widths[start..i].iter().sum();
            if need > have {
                let (extra, span) = (need - have, i - start);
                for (k, w) in widths[start..i].iter_mut().enumerate() {
                    *w += extra / span + usize::from(k < extra % span);
                }
            }
            start = i;
        }
    }
    let blank = vec![String::new(); widths.len()];
    let mut out = format!("\n\u{2139} {title}\n");
    out += &row_line(&blank, &widths, '=');
    out.push('\n');
    for r in 0..3 {
        // A cell spans the empty cells after it in its row.
        let mut row_widths = widths.clone();
        for i in 0..headers.len() {
            if headers[i][r].is_empty() {
                continue;
            }
            let mut end = i + 1;
            while end < headers.len() && headers[end][r].is_empty() {
                row_widths[end] = 0;
                end += 1;
            }
            row_widths[i] = widths[i..end].iter().sum();
        }
        let cells: Vec<String> = headers.iter().map(|h| h[r].clone()).collect();
        out += &row_line(&cells, &row_widths, ' ');
        out.push('\n');
    }
    out += &row_line(&blank, &widths, '-');
    out.push('\n');
    for k in 0..values.first().map_or(0, Vec::len) {
        let cells: Vec<String> = values.iter().map(|c| c[k].clone()).collect();
        out += &row_line(&cells, &widths, ' ');
        out.push('\n');
    }
    out += &row_line(&blank, &widths, '=');
    out.push('\n');
    out
}

/// Clock time of `ns` after the run's origin, UTC (GuideLLM prints local `%H:%M:%S`).
fn clock_time(report: &Report, ns: u64) -> String {
    let t = report.clock.origin_unix_s + ns as f64 / 1e9;
    let day = t.rem_euclid(86_400.0) as u64;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// "Run Summary Info": timings, request counts and token totals per status, and here what
/// ended each benchmark.
fn run_summary(report: &Report) -> String {
    let mut cols = benchmark_columns(report);
    cols.push(column(report, ["Benchmark", "Ended By", ""], |b, _| {
        name_of(&b.ended_by)
    }));
    cols.push(column(report, ["Timings", "Start", "UTC"], |b, _| {
        clock_time(report, b.window_start_ns)
    }));
    cols.push(column(report, ["Timings", "End", "UTC"], |b, _| {
        clock_time(report, b.window_end_ns)
    }));
    let secs = |a: u64, z: u64| num(z.saturating_sub(a) as f64 / 1e9);
    cols.push(column(report, ["Timings", "Dur", "Sec"], |_, s| {
        num(s.duration_s)
    }));
    cols.push(column(report, ["Timings", "Warm", "Sec"], |b, _| {
        secs(b.start_ns, b.window_start_ns)
    }));
    cols.push(column(report, ["Timings", "Cool", "Sec"], |b, _| {
        secs(b.window_end_ns, b.end_ns)
    }));
    type Count = fn(&Summary) -> u64;
    let counts: [(&str, Count); 3] = [
        ("Comp", |s| s.requests.successful),
        ("Inc", |s| s.requests.incomplete),
        ("Err", |s| s.requests.errored),
    ];
    for (name, f) in counts {
        cols.push(column(report, ["Requests", name, "Tot"], |_, s| {
            f(s).to_string()
        }));
    }
    type Tokens = fn(&Summary) -> (&Distribution, &Distribution, &Distribution);
    let tokens: [(&str, Tokens); 2] = [
        ("Input Tokens", |s| {
            (
                &s.prompt_tokens,
                &s.incomplete.prompt_tokens,
                &s.errored.prompt_tokens,
            )
        }),
        ("Output Tokens", |s| {
            (
                &s.output_tokens,
                &s.incomplete.output_tokens,
                &s.errored.output_tokens,
            )
        }),
    ];
    // GuideLLM's token totals are float sums, printed to one decimal.
    let total = |d: &Distribution| format!("{:.1}", d.mean * d.count as f64);
    for (group, f) in tokens {
        cols.push(column(report, [group, "Comp", "Tot"], |_, s| total(f(s).0)));
        cols.push(column(report, [group, "Inc", "Tot"], |_, s| total(f(s).1)));
        cols.push(column(report, [group, "Err", "Tot"], |_, s| total(f(s).2)));
    }
    render_table("Run Summary Info", &cols)
}

/// "Request Token Statistics (Completed Requests)": tokens per request; GuideLLM's total and
/// streaming-iteration columns llmbench does not have, its prefix-cache hits it adds.
fn token_stats(report: &Report) -> String {
    let mut cols = benchmark_columns(report);
    let which = [MDN, P95];
    cols.extend(stats(
        report,
        "Input Tok",
        "Per Req",
        &which,
        |s| &s.prompt_tokens,
        1.0,
    ));
    cols.extend(stats(
        report,
        "Output Tok",
        "Per Req",
        &which,
        |s| &s.output_tokens,
        1.0,
    ));
    cols.extend(stats(
        report,
        "Cached Tok",
        "Per Req",
        &which,
        |s| &s.cached_tokens,
        1.0,
    ));
    render_table("Request Token Statistics (Completed Requests)", &cols)
}

/// The latency table's three columns of a distribution, as GuideLLM 0.8.1 prints them: the
/// mean with the margin of its confidence interval, the median, and p95, marked `*` when
/// intervals are on and the sample is too small to bound it.
fn latency_columns(
    report: &Report,
    group: &str,
    name: &str,
    metric: fn(&Summary) -> &Distribution,
    scale: f64,
) -> Vec<Column> {
    let on = confidence_level(report).is_some();
    let scaled = move |i: Interval| Interval {
        lo: i.lo * scale,
        hi: i.hi * scale,
    };
    vec![
        column(report, [group, name, "Mean"], |_, s| {
            let d = metric(s);
            let ci = d.ci.as_ref().and_then(|c| c.mean).map(scaled);
            match d.count {
                0 => "--".into(),
                _ => with_margin(d.mean * scale, ci),
            }
        }),
        column(report, [group, name, MDN.0], |_, s| {
            stat(metric(s), MDN.1, scale)
        }),
        column(report, [group, name, P95.0], |_, s| {
            let d = metric(s);
            let bounded = d.ci.as_ref().is_some_and(|c| c.p95.is_some());
            match (d.count, on && !bounded) {
                (0, _) => "--".into(),
                (_, true) => format!("{}{NO_INTERVAL}", num(d.p95 * scale)),
                (_, false) => num(d.p95 * scale),
            }
        }),
    ]
}

/// The run's confidence level, if it computed intervals (a combined report: its first run's
/// that did).
fn confidence_level(report: &Report) -> Option<f64> {
    std::iter::once(&report.llmbench_config)
        .chain(report.sources.iter().map(|s| &s.llmbench_config))
        .find_map(|c| c.confidence.as_ref())
        .map(|c| c.level)
}

/// "Request Latency Statistics (Completed Requests)", by GuideLLM's definitions (ITL: one mean
/// per request, llmbench's tpot_ms; TPOT: TTFT included), then llmbench's ITL over every gap.
fn latency_stats(report: &Report) -> String {
    let mut cols = benchmark_columns(report);
    let latency: fn(&Summary) -> &Distribution = |s| &s.request_latency_ms;
    cols.extend(latency_columns(
        report,
        "Request Latency",
        "Sec",
        latency,
        1e-3,
    ));
    cols.extend(latency_columns(report, "TTFT", "ms", |s| &s.ttft_ms, 1.0));
    cols.extend(latency_columns(report, "ITL", "ms", |s| &s.tpot_ms, 1.0));
    cols.extend(latency_columns(
        report,
        "TPOT",
        "ms",
        |s| &s.tpot_incl_ttft_ms,
        1.0,
    ));
    cols.extend(latency_columns(
        report,
        "ITL Every Gap",
        "ms",
        |s| &s.itl_ms,
        1.0,
    ));
    let marked = cols
        .iter()
        .flat_map(|c| &c.cells)
        .any(|c| c.ends_with(NO_INTERVAL));
    let mut out = render_table("Request Latency Statistics (Completed Requests)", &cols);
    out += "ITL is a mean per request (GuideLLM's); ITL Every Gap is every gap between tokens \
            (llmbench's itl_ms); TPOT includes TTFT.\n";
    out += &interval_note(report, marked);
    out
}

/// What `±` and `*` mean, when intervals are on.
fn interval_note(report: &Report, marked: bool) -> String {
    let Some(level) = confidence_level(report) else {
        return String::new();
    };
    let mut out = format!(
        "±: half the {}% confidence interval, requests resampled (docs/metrics.md).\n",
        100.0 * level
    );
    if marked {
        out += &format!("{NO_INTERVAL} confidence interval unavailable at this sample size\n");
    }
    out
}

/// "Server Throughput Statistics (All Requests)": each a rate over the measurement window.
fn throughput_stats(report: &Report) -> String {
    let mut cols = benchmark_columns(report);
    type Rate = fn(&Summary) -> (f64, Option<Interval>);
    let rates: [(&str, &str, Rate); 5] = [
        ("Requests", "Concurrency", |s| {
            (s.concurrency, s.ci.as_ref().and_then(|c| c.concurrency))
        }),
        ("Requests", "Per Sec", |s| {
            (
                s.requests_per_second,
                s.ci.as_ref().and_then(|c| c.requests_per_second),
            )
        }),
        ("Input Tokens", "Per Sec", |s| {
            (
                s.input_tokens_per_second,
                s.ci.as_ref().and_then(|c| c.input_tokens_per_second),
            )
        }),
        ("Output Tokens", "Per Sec", |s| {
            (
                s.output_tokens_per_second,
                s.ci.as_ref().and_then(|c| c.output_tokens_per_second),
            )
        }),
        ("Total Tokens", "Per Sec", |s| {
            (
                s.total_tokens_per_second,
                s.ci.as_ref().and_then(|c| c.total_tokens_per_second),
            )
        }),
    ];
    for (group, name, f) in rates {
        cols.push(column(report, [group, name, "Mean"], |_, s| {
            let (x, ci) = f(s);
            with_margin(x, ci)
        }));
    }
    // GuideLLM 0.8.1 widens this table with its goodput columns when an SLO is set.
    if report.benchmarks.iter().any(|b| b.summary.slo.is_some()) {
        let slo = |s: &Summary| s.slo.clone();
        cols.push(column(report, ["Goodput", "Attainment", "%"], |_, s| {
            slo(s)
                .and_then(|o| o.attainment)
                .map_or("--".into(), |a| format!("{:.1}", 100.0 * a))
        }));
        cols.push(column(report, ["Goodput", "Per Sec", "Mean"], |_, s| {
            slo(s).map_or("--".into(), |o| {
                let ci = o.ci.as_ref().and_then(|c| c.goodput_requests_per_second);
                with_margin(o.goodput_requests_per_second, ci)
            })
        }));
    }
    let shown = report.benchmarks.iter().any(|b| {
        b.summary
            .ci
            .as_ref()
            .is_some_and(|c| c.requests_per_second.is_some())
    });
    let mut out = render_table("Server Throughput Statistics (All Requests)", &cols);
    if let (true, Some(level)) = (shown, confidence_level(report)) {
        out += &format!(
            "±: half the {}% confidence interval, from the rates of ten spans of the window (batch means).\n",
            100.0 * level
        );
    }
    out
}

/// llmbench's "SLO Attainment" table, when an SLO was set: per target and overall the share of
/// the judged requests that met it, the counts, goodput, and what was left out
/// (docs/metrics.md, "SLOs and goodput").
fn slo_stats(report: &Report) -> String {
    if report.benchmarks.iter().all(|b| b.summary.slo.is_none()) {
        return String::new();
    }
    let mut cols = benchmark_columns(report);
    for key in crate::metrics::slo::SLO_KEYS {
        let Some(bound) = report
            .benchmarks
            .iter()
            .find_map(|b| b.summary.slo.as_ref()?.targets.get(key))
            .map(|t| t.bound_ms)
        else {
            continue;
        };
        let name = key.trim_end_matches("_ms").to_uppercase();
        let limit = format!("<= {bound} ms");
        cols.push(column(report, ["Attainment", &name, &limit], |_, s| {
            let t = s.slo.as_ref().and_then(|o| o.targets.get(key));
            let ci = t.and_then(|t| t.ci.as_ref()?.attainment);
            pct_with_interval(t.and_then(|t| t.attainment), ci)
        }));
    }
    type Cell = fn(&crate::metrics::SloSummary) -> String;
    let rest: [(&str, &str, &str, Cell); 8] = [
        ("Attainment", "All", "all targets", |o| {
            pct_with_interval(o.attainment, o.ci.as_ref().and_then(|c| c.attainment))
        }),
        ("Requests", "Met", "count", |o| o.met.to_string()),
        ("Requests", "Judged", "count", |o| o.judged.to_string()),
        ("Requests", "Errored", "count", |o| o.errored.to_string()),
        ("Left Out", "Incomplete", "count", |o| {
            o.incomplete.to_string()
        }),
        ("Left Out", "Undetermined", "count", |o| {
            o.undetermined.to_string()
        }),
        ("Goodput", "Requests", "per sec", |o| {
            num(o.goodput_requests_per_second)
        }),
        ("Goodput", "Output Tokens", "per sec", |o| {
            num(o.goodput_output_tokens_per_second)
        }),
    ];
    for (group, name, unit, f) in rest {
        cols.push(column(report, [group, name, unit], |_, s| {
            s.slo.as_ref().map_or("--".into(), f)
        }));
    }
    cols.push(column(report, ["Most", "Missed", "target"], |_, s| {
        s.slo
            .as_ref()
            .and_then(|o| o.most_missed.clone())
            .unwrap_or_else(|| "--".into())
    }));
    let mut out = render_table("SLO Attainment (Judged Requests)", &cols);
    out += "Judged: successful requests sent in the window that every target could be judged on, \
            plus errored ones (misses); incomplete and undetermined requests are left out. \
            Goodput: the rates of the successful requests that met every target.\n";
    if report
        .benchmarks
        .iter()
        .any(|b| b.summary.slo.as_ref().is_some_and(|o| o.ci.is_some()))
    {
        out += "[lo, hi]: the Wilson score confidence interval of the attainment.\n";
    }
    out
}

/// The over-saturation detector's finding on a benchmark, when it found one: one line.
pub fn saturation_line(b: &BenchmarkEntry) -> Option<String> {
    let s = b.over_saturation.as_ref()?;
    let at = s.first_detected_s?;
    let what = match s.mode {
        crate::scheduler::SaturationMode::Enforce => "the benchmark was stopped",
        crate::scheduler::SaturationMode::Monitor => "mode=monitor: not stopped",
    };
    Some(format!(
        "benchmark {}: over-saturated from {at:.1} s in ({what})",
        b.index
    ))
}

/// A benchmark's realised `prefix_buckets` mix and the engine's cache hits per bucket, when
/// the spec has buckets: one line.
pub fn prefix_bucket_line(b: &BenchmarkEntry) -> Option<String> {
    let mix = &b.summary.prefix_buckets;
    if mix.is_empty() {
        return None;
    }
    let parts: Vec<String> = mix
        .iter()
        .map(|m| {
            format!(
                "#{} {} requests ({:.0}%), {} cached",
                m.bucket,
                m.requests,
                100.0 * m.share,
                m.cache_hit_share
                    .map(|c| format!("{:.0}%", 100.0 * c))
                    .unwrap_or_else(|| "unknown".into())
            )
        })
        .collect();
    Some(format!(
        "benchmark {}: prefix buckets {}",
        b.index,
        parts.join("; ")
    ))
}

/// What `max_concurrency` held back in a benchmark, when it held back any: one line.
pub fn cap_line(b: &BenchmarkEntry) -> Option<String> {
    let c = b.summary.cap_wait.as_ref().filter(|c| c.delayed > 0)?;
    let cap = b.strategy.cap()?;
    Some(format!(
        "benchmark {}: max_concurrency {cap} held back {} requests ({:.0}% of those measured), {:.1} ms median and {:.1} ms max behind schedule",
        b.index,
        c.delayed,
        100.0 * c.share,
        c.wait_ms.median,
        c.wait_ms.max
    ))
}

/// A trace replay: the trace, its time on the replay's clock, and how far behind that schedule
/// requests went out (dispatch lag: sent − scheduled).
pub fn replay_line(b: &BenchmarkEntry, data: &crate::report::DataSourceInfo) -> Option<String> {
    let crate::scheduler::Strategy::Replay { time_scale, .. } = b.strategy else {
        return None;
    };
    let trace = match data {
        crate::report::DataSourceInfo::Trace {
            trace_kind,
            rows,
            timestamp_unit,
            duration_s,
            hash_id_block_size,
            distinct_blocks,
            replay_duration_s,
            conversations,
            session_timing,
            ..
        } => {
            let blocks = match (hash_id_block_size, distinct_blocks) {
                (Some(b), Some(d)) => format!(", {d} distinct {b}-token blocks"),
                _ => String::new(),
            };
            let convs = match conversations {
                0 => String::new(),
                1 => ", 1 conversation of several rows".to_string(),
                n => format!(", {n} conversations of several rows"),
            };
            let timing = match session_timing {
                None => String::new(),
                Some(_) => " after its session timing".to_string(),
            };
            format!(
                "{trace_kind} trace of {rows} rows (timestamps in {timestamp_unit}{blocks}{convs}) spanning {duration_s:.3} s, replayed over {:.3} s{timing} at time_scale {time_scale}",
                replay_duration_s.unwrap_or(duration_s * time_scale)
            )
        }
        _ => format!("trace replayed at time_scale {time_scale}"),
    };
    let lag = &b.summary.dispatch_lag_us;
    Some(format!(
        "benchmark {}: {trace}; dispatch lag (sent − scheduled) median {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} requests",
        b.index,
        lag.median / 1e3,
        lag.p99 / 1e3,
        lag.max / 1e3,
        lag.count
    ))
}

/// Benchmarks that ended early, what stopped a profile, over-saturation, the concurrency cap,
/// harness warnings, failed models.
fn notes(report: &Report) {
    for b in &report.benchmarks {
        if !matches!(
            b.ended_by,
            EndReason::MaxRequests | EndReason::MinRequests | EndReason::DataExhausted
        ) {
            println!("benchmark {} ended by {}", b.index, name_of(&b.ended_by));
        }
        if let Some(k) = b.stopped_by_scope_all {
            let last = report
                .benchmarks
                .iter()
                .rfind(|x| x.model == b.model)
                .is_some_and(|x| x.index == b.index);
            if last {
                println!(
                    "benchmark {}: {} (stopping_scope=all) stopped the profile: no further benchmarks for {}",
                    b.index,
                    k.name(),
                    b.model
                );
            }
        }
        let data = &report.llmbench_config.data_source;
        for line in [
            saturation_line(b),
            cap_line(b),
            replay_line(b, data),
            prefix_bucket_line(b),
        ]
        .into_iter()
        .flatten()
        {
            println!("{line}");
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

/// The end-of-run tables as text: GuideLLM 0.8's four (run summary, tokens, latency,
/// throughput), then llmbench's notes.
pub fn summary_text(report: &Report) -> String {
    if report.benchmarks.is_empty() {
        return "\nno benchmark completed\n".into();
    }
    [
        run_summary(report),
        token_stats(report),
        latency_stats(report),
        throughput_stats(report),
        slo_stats(report),
        turn_stats(report),
        harness_cost(report),
    ]
    .concat()
}

/// llmbench's own cost per 1,000 output tokens, and the CPUs it may run on (docs/metrics.md,
/// "Headroom"): what a user on a busy host pays for the measurement.
fn harness_cost(report: &Report) -> String {
    if report
        .benchmarks
        .iter()
        .all(|b| b.headroom.per_1k_output_tokens.is_none())
    {
        return String::new();
    }
    let mut cols = benchmark_columns(report);
    type Cell = fn(&crate::report::CostPer1k) -> String;
    let cells: [(&str, &str, Cell); 5] = [
        ("Supervisor", "CPU ms", |c| {
            format!("{:.1}", c.cpu_ms_supervisor)
        }),
        ("Supervisor", "wake-ups", |c| {
            format!("{:.0}", c.context_switches_supervisor)
        }),
        ("Supervisor", "frames", |c| {
            c.output_frames.map_or("--".into(), |f| format!("{f:.0}"))
        }),
        ("Worker", "CPU ms", |c| format!("{:.1}", c.cpu_ms_worker)),
        ("Worker", "wake-ups", |c| {
            format!("{:.0}", c.context_switches_worker)
        }),
    ];
    for (group, name, f) in cells {
        cols.push(column(report, [group, name, "per 1k tok"], |b, _| {
            b.headroom
                .per_1k_output_tokens
                .as_ref()
                .map_or("--".into(), f)
        }));
    }
    let cpus = |c: &Option<String>| c.clone().unwrap_or_else(|| "--".into());
    cols.push(column(report, ["CPUs", "Supervisor", "allowed"], |b, _| {
        cpus(&b.headroom.costs.cpus_supervisor)
    }));
    cols.push(column(report, ["CPUs", "Worker", "allowed"], |b, _| {
        cpus(&b.headroom.costs.cpus_worker)
    }));
    let mut out = render_table("llmbench's Own Cost (per 1,000 output tokens)", &cols);
    out += "The worker runs vLLM's front end (AsyncLLM's output handling, detokenizing) as well as \
            llmbench's part; wake-ups are context switches, frames the outputs read from the worker.\n";
    out
}

/// Multi-turn data: one row per benchmark and turn index (empty without conversations).
fn turn_stats(report: &Report) -> String {
    let rows: Vec<(&BenchmarkEntry, &crate::metrics::turns::TurnSummary)> = report
        .benchmarks
        .iter()
        .filter_map(|b| Some((b, b.summary.conversations.as_ref()?)))
        .flat_map(|(b, c)| c.turns.iter().map(move |t| (b, t)))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    type Cell = fn(&BenchmarkEntry, &crate::metrics::turns::TurnSummary) -> String;
    let cols: Vec<([&str; 3], Cell)> = vec![
        (["Benchmark", "#", ""], |b, _| b.index.to_string()),
        (["Benchmark", "Strategy", ""], |b, _| b.strategy.label()),
        (["Conversation", "Turn", ""], |_, t| t.index.to_string()),
        (["Requests", "Done", ""], |_, t| {
            t.requests.successful.to_string()
        }),
        (["Prompt Tok", "Mdn", ""], |_, t| {
            stat(&t.prompt_tokens, |d| d.median, 1.0)
        }),
        (["History Tok", "Mdn", ""], |_, t| {
            stat(&t.history_tokens, |d| d.median, 1.0)
        }),
        (["New Tok", "Mdn", ""], |_, t| {
            stat(&t.new_tokens, |d| d.median, 1.0)
        }),
        (["Cached Tok", "Mdn", ""], |_, t| {
            stat(&t.cached_tokens, |d| d.median, 1.0)
        }),
        (["Cache Hits", "%", ""], |_, t| {
            num(100.0 * t.cache_hit_share)
        }),
        (["TTFT", "ms", "Mdn"], |_, t| {
            stat(&t.ttft_ms, |d| d.median, 1.0)
        }),
        (["TTFT", "ms", "p95"], |_, t| {
            stat(&t.ttft_ms, |d| d.p95, 1.0)
        }),
        (["ITL", "ms", "Mdn"], |_, t| {
            stat(&t.itl_ms, |d| d.median, 1.0)
        }),
        (["Latency", "Sec", "Mdn"], |_, t| {
            stat(&t.request_latency_ms, |d| d.median, 1e-3)
        }),
        (["After Reply", "ms", "Mdn"], |_, t| {
            t.after_reply_ms
                .as_ref()
                .map_or("--".into(), |d| stat(d, |d| d.median, 1.0))
        }),
    ];
    let columns: Vec<Column> = cols
        .iter()
        .map(|(h, f)| Column {
            header: h.map(String::from),
            cells: rows.iter().map(|(b, t)| f(b, t)).collect(),
        })
        .collect();
    let mut out = render_table("Conversations by Turn (Completed Requests)", &columns);
    for b in &report.benchmarks {
        if let Some(c) = &b.summary.conversations {
            out.push_str(&format!(
                "benchmark {}: {} conversations started, {} completed, {} cut short\n",
                b.index, c.started, c.completed, c.cut
            ));
        }
    }
    out
}

/// The searches' answers, one paragraph per model, and with several models of one profile a
/// ranking of them by the same answer.
pub fn answers_text(report: &Report) -> String {
    use crate::report::conclusion::rankings;
    if report.conclusions.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nℹ Answer\n");
    for c in &report.conclusions {
        out.push_str(&c.answer);
        out.push('\n');
    }
    for (profile, ranked) in rankings(&report.conclusions) {
        out.push_str(match profile {
            "goodput" => "Ranking by request rate at the highest concurrency meeting the SLO:\n",
            _ => "Ranking by output token rate at the throughput knee:\n",
        });
        for (i, c) in ranked.iter().enumerate() {
            let what = match (c.streams, c.requests_per_second, c.output_tokens_per_second) {
                (Some(s), Some(r), Some(t)) => {
                    format!("{} req/s, {} output tok/s at {s} streams", num(r), num(t))
                }
                _ => "no answer".to_string(),
            };
            out.push_str(&format!("  {}. {}: {what}\n", i + 1, c.model));
        }
    }
    out
}

/// The end-of-run tables, the notes, and the searches' answers last.
pub fn print_summary(report: &Report) {
    print!("{}", summary_text(report));
    notes(report);
    print!("{}", answers_text(report));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;

    /// Each table of the text: its title and its lines.
    fn tables(text: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for line in text.lines() {
            if let Some(title) = line.strip_prefix("\u{2139} ") {
                out.push((title.to_string(), Vec::new()));
            } else if line.starts_with('|') {
                out.last_mut()
                    .expect("a title first")
                    .1
                    .push(line.to_string());
            }
        }
        out
    }

    #[test]
    fn guidellm_tables_in_guidellm_order_and_shape() {
        let text = summary_text(&fixture());
        let t = tables(&text);
        let titles: Vec<&str> = t.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Run Summary Info",
                "Request Token Statistics (Completed Requests)",
                "Request Latency Statistics (Completed Requests)",
                "Server Throughput Statistics (All Requests)",
            ]
        );
        for (title, lines) in &t {
            // Rule, three header rows, rule, two benchmarks, rule; every line as wide.
            assert_eq!(
                lines.len(),
                1 + 3 + 1 + 2 + 1,
                "{title}:\n{}",
                lines.join("\n")
            );
            let w = lines[0].chars().count();
            assert!(
                lines
                    .iter()
                    .all(|l| l.chars().count() == w && l.ends_with('|')),
                "{title}"
            );
            assert!(lines[0].starts_with("|===") && lines[4].starts_with("|---"));
            assert!(lines[1].starts_with("| Benchmark ") && lines[2].starts_with("| # "));
        }
        let latency = &t[2].1;
        // Equal group cells merged into one.
        assert_eq!(latency[1].matches("Request Latency").count(), 1);
        for head in ["TTFT", "ITL", "TPOT", "ITL Every Gap"] {
            assert!(latency[1].contains(&format!(" {head} ")), "{head}");
        }
        assert_eq!(latency[3].matches(" Mean ").count(), 5);
        // ITL by GuideLLM's definition: llmbench's tpot_ms, here its median 0.208 ms.
        let r = fixture();
        assert!(latency[5].contains(&format!(
            " {} ",
            num(r.benchmarks[0].summary.tpot_ms.median)
        )));
        assert!(text.contains("ITL Every Gap is every gap"));
        // End reasons one way: snake_case.
        assert!(t[0].1[5].contains(" max_requests ") && !text.contains("MaxRequests"));
        assert!(t[0].1[5].contains(" concurrent@1 "));
        assert!(!t[0].1[2].contains("Model"), "one model: no model column");
    }

    #[test]
    fn several_models_get_a_model_column() {
        let mut r = fixture();
        r.benchmarks[1].model = "org/a-model-with-a-rather-long-name".into();
        let t = tables(&summary_text(&r));
        for (_, lines) in &t {
            assert!(lines[2].contains(" Model "));
            assert!(
                lines[6].contains(" …with-a-rather-long-name "),
                "{}",
                lines[6]
            );
        }
    }

    #[test]
    fn numbers_as_guidellm_prints_them() {
        assert_eq!(num(1234.56), "1234.6");
        assert_eq!(num(12.0), "12.0");
        assert_eq!(num(2.555), "2.56");
        assert_eq!(num(0.0), "0.0");
        assert_eq!(num(0.0625), "0.062");
        assert_eq!(num(f64::NAN), "--");
        assert_eq!(stat(&Distribution::default(), |d| d.mean, 1.0), "--");
        let mut r = fixture();
        r.benchmarks.clear();
        assert!(summary_text(&r).contains("no benchmark completed"));
    }

    #[test]
    fn intervals_show_as_a_margin_and_an_unbounded_p95_is_marked() {
        use crate::metrics::interval::{ConfidenceConfig, DistributionCi, SummaryCi};
        let mut r = fixture();
        let plain = summary_text(&r);
        assert!(
            !plain.contains('±') && !plain.contains("unavailable"),
            "no intervals: no margins"
        );
        r.llmbench_config.confidence = Some(ConfidenceConfig::new(0.95));
        let s = &mut r.benchmarks[0].summary;
        let m = s.ttft_ms.mean;
        s.ttft_ms.ci = Some(DistributionCi {
            mean: Some(Interval {
                lo: m - 0.25,
                hi: m + 0.25,
            }),
            ..Default::default()
        });
        s.ci = Some(SummaryCi {
            requests_per_second: Some(Interval {
                lo: 0.0,
                hi: 2.0 * s.requests_per_second,
            }),
            ..Default::default()
        });
        let text = summary_text(&r);
        let t = tables(&text);
        let (_, lat) = t
            .iter()
            .find(|(n, _)| n.starts_with("Request Latency"))
            .unwrap();
        assert!(
            lat[5].contains(&format!(" {} ± 0.25 ", num(m))),
            "{}",
            lat[5]
        );
        // Intervals on, p95 without one: marked, and the mark explained.
        assert!(
            lat[5].contains(&format!(" {}* ", num(r.benchmarks[0].summary.ttft_ms.p95))),
            "{}",
            lat[5]
        );
        assert!(text.contains("±: half the 95% confidence interval"));
        assert!(text.contains("* confidence interval unavailable at this sample size"));
        let (_, thr) = t
            .iter()
            .find(|(n, _)| n.starts_with("Server Throughput"))
            .unwrap();
        assert!(thr[5].contains(" ± "), "{}", thr[5]);
        assert_eq!(
            with_margin(
                12.34,
                Some(Interval {
                    lo: 12.3399,
                    hi: 12.3401
                })
            ),
            "12.3 ± 0.0001"
        );
        assert_eq!(with_margin(2.5, None), "2.50");
        assert_eq!(
            pct_with_interval(Some(0.5), Some(Interval { lo: 0.41, hi: 0.59 })),
            "50.0% [41.0, 59.0]"
        );
    }

    #[test]
    fn an_slo_adds_guidellms_goodput_columns_and_llmbenchs_slo_table() {
        use crate::metrics::slo::{SloSummary, SloTarget};
        let mut r = fixture();
        assert!(!summary_text(&r).contains("SLO"), "no SLO, no SLO table");
        let target = SloTarget {
            bound_ms: 500.0,
            attainment: Some(0.75),
            met: 3,
            missed: 1,
            ci: None,
        };
        r.benchmarks[0].summary.slo = Some(SloSummary {
            targets: [("ttft_ms".to_string(), target)].into_iter().collect(),
            attainment: Some(0.75),
            judged: 4,
            met: 3,
            incomplete: 2,
            most_missed: Some("ttft_ms".into()),
            goodput_requests_per_second: 1.5,
            ..Default::default()
        });
        let text = summary_text(&r);
        let t = tables(&text);
        let (_, thr) = t
            .iter()
            .find(|(n, _)| n.starts_with("Server Throughput"))
            .unwrap();
        assert!(thr[1].contains("Goodput"), "{thr:?}");
        assert!(
            thr[5].contains("| 75.0 ") && thr[5].contains("| 1.50 "),
            "{thr:?}"
        );
        assert!(
            thr[6].contains("| -- "),
            "a benchmark without an SLO: {thr:?}"
        );
        let (_, slo) = t
            .iter()
            .find(|(n, _)| n.starts_with("SLO Attainment"))
            .unwrap();
        assert!(slo[3].contains("<= 500 ms"), "{slo:?}");
        assert!(
            slo[5].contains("| 75.0% ") && slo[5].contains("| ttft_ms "),
            "{slo:?}"
        );
    }
}

/// `--offline-ceiling`: the model's ceiling and each of its benchmarks' share of it.
pub fn ceiling_line(model_benchmarks: &[BenchmarkEntry]) -> Option<String> {
    let c = model_benchmarks
        .iter()
        .find(|b| b.offline_ceiling.as_ref().is_some_and(|c| c.is_ceiling))?;
    let shares: Vec<String> = model_benchmarks
        .iter()
        .filter_map(|b| {
            let n = b.offline_ceiling.as_ref().filter(|n| !n.is_ceiling)?;
            Some(format!(
                "{} ({}) {:.0}%",
                b.index,
                b.strategy.label(),
                n.share * 100.0
            ))
        })
        .collect();
    Some(format!(
        "offline ceiling of {} (benchmark {}: {} requests at once, one non-streaming batch): {:.1} output tok/s{}",
        c.model,
        c.index,
        c.summary.requests.successful,
        c.summary.output_tokens_per_second,
        if shares.is_empty() {
            String::new()
        } else {
            format!("; share of it reached: {}", shares.join(", "))
        }
    ))
}
