//! The page from typed reports made here: every chart and section, escaping, left-out charts,
//! size bounds, rate order.

use super::*;
use crate::metrics::{Distribution, Stages};
use crate::report::{Records, Telemetry, TimeSeries};
use crate::scheduler::Strategy;

fn dist(scale: f64) -> Distribution {
    let s = scale;
    Distribution {
        count: 100,
        mean: 2.0 * s,
        median: 2.0 * s,
        std: 0.5,
        min: 0.5 * s,
        max: 9.0 * s,
        p0_1: 0.5 * s,
        p1: 0.6 * s,
        p5: 0.8 * s,
        p10: 1.0 * s,
        p25: 1.5 * s,
        p50: 2.0 * s,
        p75: 2.5 * s,
        p90: 3.5 * s,
        p95: 4.0 * s,
        p99: 6.0 * s,
        p99_9: 8.5 * s,
        ci: None,
    }
}

fn median(v: f64) -> Distribution {
    Distribution {
        count: 1,
        median: v,
        min: v,
        max: v,
        ..Distribution::default()
    }
}

fn wave(n: usize, a: f64) -> Vec<f64> {
    (0..n)
        .map(|k| a * (1.0 + (k as f64 / 10.0).sin()))
        .collect()
}

/// A benchmark at `rate` requests per second with `n_requests` records and `n_points` points
/// in each series, from the fixture's first benchmark.
fn bench(i: usize, model: &str, rate: f64, n_requests: usize, n_points: usize) -> BenchmarkEntry {
    let mut b = crate::report::tests::fixture().benchmarks[0].clone();
    let record = b.records.head(1).remove(0);
    b.model = model.into();
    b.index = i;
    b.strategy = Strategy::Constant {
        rate,
        max_concurrency: None,
    };
    b.requests_total = n_requests;
    let s = 1.0 + rate / 10.0;
    let m = &mut b.summary;
    m.requests_per_second = rate * 0.98;
    m.output_tokens_per_second = rate * 31.0;
    m.total_tokens_per_second = rate * 95.0;
    (m.ttft_ms, m.itl_ms, m.request_latency_ms) = (dist(10.0 * s), dist(2.0 * s), dist(70.0 * s));
    m.stages_ms = Stages {
        cap_wait: Default::default(),
        dispatch: median(0.05),
        handover: median(0.1),
        queue: median(s),
        prefill: median(8.0 * s),
        decode: median(60.0 * s),
        delivery: median(0.2),
    };
    let t: Vec<f64> = (0..n_points).map(|k| k as f64 * 0.1).collect();
    b.timeseries = TimeSeries {
        bin_s: 0.1,
        t_s: t.clone(),
        output_tokens_per_s: wave(n_points, rate * 30.0),
        requests_in_flight: wave(n_points, rate * 0.1),
    };
    let count = |a: f64| wave(n_points, a).iter().map(|v| *v as u32).collect();
    b.telemetry = Telemetry {
        t_s: t,
        running: count(rate * 0.1),
        waiting: count(0.5),
        kv_cache_usage: wave(n_points, 0.2),
        prefix_cache_hit_rate: wave(n_points, 0.1).into_iter().map(Some).collect(),
        preemptions: vec![0; n_points],
    };
    b.headroom.harness_limited = i == 2;
    b.headroom.warnings = match i {
        2 => vec!["dispatch lag p99 <b>3 ms</b> is above 10% of the median ITL".into()],
        _ => vec![],
    };
    let records = (0..n_requests as u64).map(|id| {
        let mut r = record.clone();
        r.id = id;
        r
    });
    b.records = Records::Loaded(records.collect());
    b
}

/// An interrupted run of two models (one failed), four benchmarks, one on another model.
fn report(n_requests: usize, n_points: usize) -> Report {
    let mut r = crate::report::tests::fixture();
    r.partial = true;
    r.interrupted = true;
    r.clock.origin_unix_s = 1_700_000_000.5;
    r.models[0].model = "m".into();
    let mut failed = r.models[0].clone();
    failed.model = "broken<model>".into();
    failed.status = ModelStatus::Failed;
    failed.error = Some("broken<model>: engine died: <script>alert(1)</script>".into());
    r.models.push(failed);
    r.benchmarks = vec![
        bench(0, "m", 1.0, n_requests, n_points),
        bench(1, "m", 4.0, 10, n_points),
        bench(2, "m", 8.0, 10, n_points),
        bench(3, "m2", 2.0, 10, 50),
    ];
    r
}

fn page(r: &Report) -> String {
    render(r).unwrap()
}

/// The HTML of the chart `id`'s section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}"));
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

#[test]
fn renders_every_chart_and_section() {
    let html = page(&report(120, 300));
    for c in &CHARTS {
        let id = c.id;
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
        assert!(
            html.contains(&format!("id=\"{id}-data\"")),
            "{id} has no data table"
        );
        assert!(
            section(&html, id).contains(&format!("id=\"{id}-svg\"")),
            "{id} has no SVG"
        );
    }
    for id in [
        "run-meta",
        "partial-banner",
        "failed-banner",
        "models-table",
        "summary-table",
        "headroom-warnings",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
    }
    assert!(html.contains("2023-11-14 22:13:20 UTC"), "start time");
    assert!(
        html.contains("#0 m · constant 1 req/s"),
        "two models: labels carry the model"
    );
    assert!(!html.contains("charts-left-out"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
}

#[test]
fn is_self_contained() {
    let html = page(&report(20, 50));
    for bad in [
        "src=",
        "href=\"http",
        "url(",
        "@import",
        "http://",
        "https://",
        "<link",
        "<img",
        "<iframe",
    ] {
        assert!(!html.contains(bad), "found {bad}");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
}

#[test]
fn escapes_strings_from_the_report() {
    let html = page(&report(5, 5));
    assert!(!html.contains("<script>alert(1)"));
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(!html.contains("<b>3 ms</b>"));
    assert!(html.contains("broken&#60;model&#62;") || html.contains("broken&lt;model&gt;"));
    let mut r = report(5, 5);
    r.benchmarks[3].model = "\"><svg onload=alert(1)>".into();
    r.command = vec!["<img src=x onerror=alert(1)>".into()];
    r.llmbench_config
        .vllm_config
        .insert("x".into(), "</pre><script>alert(2)</script>".into());
    let html = page(&r);
    assert!(
        !html.contains("<svg onload")
            && !html.contains("<img src")
            && !html.contains("<script>alert(2)")
    );
}

#[test]
fn charts_without_data_are_left_out_and_named() {
    let mut empty = report(5, 5);
    empty.benchmarks.clear();
    empty.models.clear();
    let html = page(&empty);
    for c in &CHARTS {
        assert!(
            !html.contains(&format!("id=\"{}\"", c.id)),
            "{} drawn without data",
            c.id
        );
    }
    // Without time series, telemetry and stage durations, only the summary charts are drawn.
    let mut r = report(5, 5);
    for b in &mut r.benchmarks {
        b.timeseries = TimeSeries::default();
        b.telemetry = Telemetry::default();
        b.summary.stages_ms = Stages::default();
    }
    let html = page(&r);
    for id in [
        "chart-ttft-dist",
        "chart-latency-vs-rate",
        "chart-status-counts",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} not drawn");
    }
    assert!(
        !html.contains("id=\"chart-stages\"") && !html.contains("id=\"chart-tokens-over-time\"")
    );
    assert!(html.contains("id=\"charts-left-out\""));
}

#[test]
fn odd_numbers_do_not_break_the_page() {
    let mut r = report(5, 5);
    r.benchmarks[0].summary.requests_per_second = f64::MAX;
    r.benchmarks[0].summary.ttft_ms = Distribution::default();
    r.benchmarks[1].timeseries.output_tokens_per_s = vec![1e308, -1e308, f64::NAN, 1.0, 2.0];
    r.benchmarks[2].summary.requests_per_second = f64::NAN;
    assert!(page(&r).contains("</html>"));
}

#[test]
fn older_reports_without_p0_1() {
    let mut r = report(5, 5);
    for b in &mut r.benchmarks {
        // A report written before p0_1 existed reads it as 0.
        b.summary.ttft_ms.p0_1 = 0.0;
    }
    let html = page(&r);
    let ttft = section(&html, "chart-ttft-dist");
    // p99.9 of bench 0 (8.5 × 10 × 1.1 = 93.5) is in its table; p0.1 is not known.
    assert!(ttft.contains("<td>93.50</td>"));
    assert!(
        ttft.contains("<td class=\"l\">p0.1</td><td>–</td>"),
        "{ttft}"
    );
}

/// The points of every series line in `svg` (axes and ticks are thinner), per line.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    let lines = svg.split("<polyline").skip(1);
    lines
        .filter(|p| p.contains("stroke-width=\"2\""))
        .map(|p| {
            let pts = p.split("points=\"").nth(1).unwrap();
            let pts = &pts[..pts.find('"').unwrap()];
            pts.split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_long_run_renders_small() {
    // 100,000 requests and 100,000-point series in one benchmark, plus three more benchmarks.
    let html = page(&report(100_000, 100_000));
    eprintln!("100,000-request report: {} bytes of HTML", html.len());
    assert!(html.len() < 10_000_000, "{} bytes", html.len());
    assert!(
        html.len() < 2_000_000,
        "{} bytes: more than expected",
        html.len()
    );
    let sample_rows = html.matches("<td class=\"l\">successful</td>").count();
    assert!(
        sample_rows <= 4 * SAMPLE_REQUESTS,
        "{sample_rows} request rows"
    );
    // No line has more than MAX_POINTS points.
    let lines = polylines(&html);
    assert!(!lines.is_empty());
    for l in lines {
        assert!(l.len() <= MAX_POINTS, "{} points", l.len());
    }
    let long: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
    assert_eq!(figures::pick(&long, TABLE_POINTS).len(), TABLE_POINTS);
}

/// A sweep runs synchronous, throughput, then constant rates: its benchmarks are not in rate
/// order, its rate charts are.
#[test]
fn rate_charts_go_in_increasing_rate_order() {
    let mut r = report(5, 5);
    let rates = [1.0, 20.0, 5.0, 10.0];
    r.benchmarks = rates
        .iter()
        .enumerate()
        .map(|(i, &rate)| bench(i, "m", rate, 5, 5))
        .collect();
    r.benchmarks[0].strategy = Strategy::Synchronous;
    r.benchmarks[1].strategy = Strategy::Throughput {
        max_concurrency: 64,
    };
    let html = page(&r);
    for id in [
        "chart-latency-vs-rate",
        "chart-generation-vs-rate",
        "chart-token-mix",
        "chart-sweep-itl",
    ] {
        let s = section(&html, id);
        let lines = polylines(s);
        assert!(!lines.is_empty(), "{id}: no line");
        for l in lines {
            assert_eq!(l.len(), 4, "{id}: one point per benchmark");
            assert!(
                l.windows(2).all(|w| w[0].0 < w[1].0),
                "{id}: not in rate order: {l:?}"
            );
        }
        let data = &s[s.find("-data\"").unwrap()..];
        let order: Vec<usize> = [
            "#0 synchronous",
            "#2 constant 5",
            "#3 constant 10",
            "#1 throughput",
        ]
        .iter()
        .map(|l| data.find(l).unwrap_or_else(|| panic!("{id}: no row {l}")))
        .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{id}: table rows not in rate order"
        );
    }
}

#[test]
fn percentile_charts_name_the_tail() {
    let html = page(&report(5, 5));
    let s = section(&html, "chart-latency-dist");
    for p in ["p50", "p90", "p99", "p99.9"] {
        assert!(
            s.contains(&format!(">{p}\n</text>")) || s.contains(&format!(">\n{p}\n</text>")),
            "{p} not on the axis"
        );
    }
}

/// The error bars in `svg`: the vertical polylines drawn at the whiskers' opacity (axes and
/// ticks are opaque), as (x, top, bottom).
fn whiskers(svg: &str) -> Vec<(f64, f64, f64)> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.contains("opacity=\"0.85\""))
        .filter_map(|p| {
            let pts = p.split("points=\"").nth(1)?;
            let pts: Vec<(f64, f64)> = pts[..pts.find('"')?]
                .split_whitespace()
                .filter_map(|xy| {
                    let (x, y) = xy.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect();
            match pts[..] {
                [(x0, y0), (x1, y1)] if x0 == x1 && y0 != y1 => Some((x0, y0.min(y1), y0.max(y1))),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn intervals_draw_error_bars_and_fill_the_tables() {
    use crate::metrics::interval::{DistributionCi, SummaryCi};
    use crate::metrics::Interval;
    let mut r = report(5, 5);
    let before = page(&r);
    assert!(
        whiskers(section(&before, "chart-ttft-dist")).is_empty(),
        "no intervals, no bars"
    );
    for b in &mut r.benchmarks {
        let s = &mut b.summary;
        let d = &mut s.ttft_ms;
        let around = |x: f64| {
            Some(Interval {
                lo: 0.9 * x,
                hi: 1.1 * x,
            })
        };
        d.ci = Some(DistributionCi {
            mean: around(d.mean),
            p50: around(d.p50),
            p95: around(d.p95),
            p99: around(d.p99),
            ..Default::default()
        });
        s.ci = Some(SummaryCi {
            total_tokens_per_second: around(s.total_tokens_per_second),
            requests_per_second: around(s.requests_per_second),
            ..Default::default()
        });
    }
    let html = page(&r);
    let dist = section(&html, "chart-ttft-dist");
    assert_eq!(
        whiskers(dist).len(),
        3 * r.benchmarks.len(),
        "p50, p95 and p99 of each benchmark"
    );
    // The table gives the bounds beside the figure.
    let p50 = r.benchmarks[0].summary.ttft_ms.p50;
    let cell = format!("{} [{}, {}]", fmt(p50), fmt(0.9 * p50), fmt(1.1 * p50));
    assert!(dist.contains(&cell), "{cell} not in the table");
    // GuideLLM's panels: TTFT median and p95 against rate, and the rates' own bars.
    assert!(!whiskers(section(&html, "chart-latency-vs-rate")).is_empty());
    assert!(!whiskers(section(&html, "chart-tokens-vs-concurrency")).is_empty());
    assert!(
        whiskers(section(&html, "chart-efficiency")).is_empty(),
        "a ratio: no bar"
    );
    assert!(
        html.contains(" ± "),
        "rates in the summary table with their margin"
    );
    // The level and the method, once, in the run's metadata.
    assert!(
        html.contains(">none<") || html.contains("none</"),
        "off in this report"
    );
    r.llmbench_config.confidence = Some(crate::metrics::interval::ConfidenceConfig::new(0.9));
    assert!(page(&r).contains("90%: distributions: percentile bootstrap by request"));
}
