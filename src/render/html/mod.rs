//! The offline HTML report: one self-contained file rendered from a report.
//!
//! No network, no CDN, no external fonts, scripts or images: the CSS and the two small scripts
//! are inlined from templates/, every chart is an inline SVG (`render::charts`), and a
//! Content-Security-Policy in the page forbids the browser from fetching anything. Per-request
//! records are never embedded wholesale (at most `SAMPLE_REQUESTS` per benchmark) and every
//! series is downsampled to at most `MAX_POINTS`, so a long run still gives a small file.
//!
//! The page is templates/report.html: an askama template, checked when llmbench compiles, that
//! HTML-escapes every value it writes. This module only turns the typed report into plain text
//! and numbers; the one value written as it is is a chart's SVG, whose text plotters escapes.

mod figures;
pub(crate) mod text;

use crate::render::charts::{Dash, Rgb, PALETTE};
use crate::report::{BenchmarkEntry, ModelEntry, ModelStatus, Report};
use askama::Template;
use text::{cut, fmt, fmt_opt, fmt_pm, shell_word, snake, strategy_label, utc};

pub use figures::{ChartDef, CHARTS, PLOT_CHARTS};
pub(crate) use figures::{Figure, LegendItem};

/// Most points drawn for one series (min/max per bucket, so peaks survive).
pub const MAX_POINTS: usize = 2000;
/// Most rows of a time series in its data table.
const TABLE_POINTS: usize = 100;
/// Most per-request records shown per benchmark.
pub const SAMPLE_REQUESTS: usize = 50;

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> Result<String, askama::Error> {
    let benches = benches(report);
    let (figures, left_out) = figures::draw(&benches);
    Page {
        version: env!("CARGO_PKG_VERSION"),
        title: match report.models.first() {
            Some(m) => format!("llmbench report: {}", m.model),
            None => "llmbench report".into(),
        },
        meta: header(report),
        partial: partial_reason(report),
        benchmark_count: benches.len(),
        failed_models: report
            .models
            .iter()
            .filter(|m| m.status == ModelStatus::Failed)
            .count(),
        models: report.models.iter().map(model_row).collect(),
        summary: summary_table(&benches),
        slo: slo_table(&benches),
        turns: turn_table(&benches),
        engine_counters: engine_counters_table(&benches),
        harness_cost: harness_cost_table(&benches),
        ceiling: ceiling_table(&benches),
        answers: report
            .conclusions
            .iter()
            .map(|c| c.answer.clone())
            .collect(),
        ranking: ranking_table(report),
        searches: search_table(report),
        warnings: warnings(&benches),
        figures,
        left_out,
        requests: benches.iter().filter_map(request_sample).collect(),
        sample_max: SAMPLE_REQUESTS,
        config: run_config(report),
        runs: runs_table(report),
    }
    .render()
}

/// The charts of the `plot` output (`PLOT_CHARTS`), drawn as the page draws them: each drawn,
/// `None` (no data for it), or the error drawing it.
pub(crate) fn plot_figures(
    report: &Report,
) -> Vec<(&'static ChartDef, Result<Option<Figure>, String>)> {
    figures::draw_some(&benches(report), &PLOT_CHARTS)
}

/// The page: everything templates/report.html shows, as text (the template escapes it).
#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    version: &'static str,
    title: String,
    meta: Vec<MetaRow>,
    /// Why the report is partial, if it is.
    partial: Option<&'static str>,
    benchmark_count: usize,
    failed_models: usize,
    models: Vec<ModelRow>,
    summary: Option<Table>,
    /// SLO attainment and goodput, when an SLO was set.
    slo: Option<Table>,
    /// Multi-turn data: one row per benchmark and turn index.
    turns: Option<Table>,
    engine_counters: Option<Table>,
    /// llmbench's own CPU, wake-ups and frames per 1,000 output tokens, and its CPUs.
    harness_cost: Option<Table>,
    ceiling: Option<Table>,
    /// The searches' answers (goodput, knee), one per model.
    answers: Vec<String>,
    /// The models ranked by their answer, with two or more of one profile.
    ranking: Option<Table>,
    /// Every probe of every search.
    searches: Option<Table>,
    warnings: Vec<Warning>,
    figures: Vec<figures::Figure>,
    /// The charts this report has no data for, by name.
    left_out: Vec<String>,
    requests: Vec<RequestSample>,
    sample_max: usize,
    config: Option<ConfigText>,
    /// A combined report (`export`): the runs (or shards) it was made from, with their hosts.
    runs: Option<Table>,
}

/// A table of plain text; the first `left` columns are left-aligned.
struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    left: usize,
}

impl Table {
    fn new(headers: &[&str], rows: Vec<Vec<String>>, left: usize) -> Table {
        let headers = headers.iter().map(|h| h.to_string()).collect();
        Table {
            headers,
            rows,
            left,
        }
    }
}

struct MetaRow {
    key: &'static str,
    value: String,
    /// Shown as code (the command line).
    code: bool,
}

struct ModelRow {
    model: String,
    status: String,
    engine: String,
    device: String,
    max_model_len: String,
    engine_start_s: String,
    engine_starts: u32,
    vllm: String,
    torch: String,
    python: String,
    request_format: String,
    error: Option<String>,
    /// The engine's configuration and its start-up warnings.
    config: Table,
}

/// A warning of one benchmark: a headroom warning, or the worker's death.
struct Warning {
    bench: String,
    text: String,
    worker_error: Option<String>,
}

struct RequestSample {
    bench: String,
    shown: usize,
    total: String,
    table: Table,
}

struct ConfigText {
    bytes: usize,
    text: String,
}

/// A benchmark with its label and line style, the same in every chart and table.
struct Bench<'a> {
    b: &'a BenchmarkEntry,
    label: String,
    color: Rgb,
    dash: Dash,
}

fn benches(report: &Report) -> Vec<Bench<'_>> {
    let list = &report.benchmarks;
    let many_models = list.iter().any(|b| b.model != list[0].model);
    let dashes = [Dash::Solid, Dash::Dashed, Dash::Dotted];
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let strategy = strategy_label(&b.strategy);
            let label = if many_models {
                format!("#{} {} · {strategy}", b.index, cut(&b.model, 40))
            } else {
                format!("#{} {strategy}", b.index)
            };
            Bench {
                b,
                label,
                color: PALETTE[i % PALETTE.len()],
                dash: dashes[(i / PALETTE.len()) % dashes.len()],
            }
        })
        .collect()
}

fn header(r: &Report) -> Vec<MetaRow> {
    let row = |key, value: String| MetaRow {
        key,
        value,
        code: false,
    };
    let command: Vec<String> = r
        .command
        .iter()
        .map(|a| shell_word(&cut(a, 2000)))
        .collect();
    let mut rows = vec![
        row("llmbench", cut(&r.llmbench_version, 100)),
        row("report version", r.report_version.to_string()),
        MetaRow {
            key: "command",
            value: cut(&command.join(" "), 8000),
            code: true,
        },
        row("random seed", r.random_seed.to_string()),
        row(
            "confidence intervals",
            r.llmbench_config.confidence.as_ref().map_or_else(
                || "none".to_string(),
                |c| format!("{}%: {} (docs/metrics.md)", 100.0 * c.level, c.method),
            ),
        ),
        row("started", utc(r.clock.origin_unix_s)),
        row("host", host(&r.host)),
        row("models", models_list(r)),
        row(
            "state",
            format!(
                "partial: {}, interrupted: {}",
                yes_no(r.partial),
                yes_no(r.interrupted)
            ),
        ),
    ];
    rows.retain(|r| !r.value.is_empty());
    rows
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn models_list(r: &Report) -> String {
    let names: Vec<&str> = r.models.iter().map(|m| m.model.as_str()).collect();
    cut(&names.join(", "), 2000)
}

fn host(h: &crate::report::Host) -> String {
    let mut parts = vec![cut(&h.hostname, 200), format!("{} CPUs", h.cpus)];
    parts.push(format!("{}/{}", cut(&h.os, 40), cut(&h.arch, 40)));
    match &h.gpu {
        Some(g) if g.present => {
            let n = g.baseline.as_ref().map_or(0, |b| b.len());
            parts.push(if n > 1 {
                format!("{n} GPUs")
            } else {
                "GPU".into()
            });
        }
        Some(_) => parts.push("no GPU".into()),
        None => {}
    }
    parts.retain(|p| !p.is_empty());
    parts.join(", ")
}

fn partial_reason(r: &Report) -> Option<&'static str> {
    match (r.partial, r.interrupted) {
        (false, _) => None,
        (true, true) => Some("the run was interrupted"),
        (true, false) => Some(
            "the run had not finished when this report was written (still running, or it crashed)",
        ),
    }
}

fn model_row(m: &ModelEntry) -> ModelRow {
    let e = m.engine.as_ref();
    let w = m.worker.as_ref();
    let opt = |s: Option<&String>| s.map_or_else(String::new, |s| cut(s, 60));
    let mut config: Vec<Vec<String>> = e
        .iter()
        .flat_map(|e| e.config.iter().take(300))
        .map(|(k, v)| vec![k.clone(), cut(&json_text(v), 300)])
        .collect();
    let warnings = e.iter().flat_map(|e| e.warnings.iter().take(50));
    config.extend(warnings.map(|w| vec!["warning".into(), cut(w, 1000)]));
    ModelRow {
        model: cut(&m.model, 300),
        status: snake(&m.status),
        engine: e.map_or_else(String::new, |e| cut(&e.engine, 40)),
        device: e.map_or_else(String::new, |e| cut(&e.device, 40)),
        max_model_len: e
            .and_then(|e| e.max_model_len)
            .map_or_else(String::new, |n| n.to_string()),
        engine_start_s: fmt_opt(e.map(|e| e.engine_start_s)),
        engine_starts: m.engine_starts,
        vllm: opt(w.and_then(|w| w.vllm.as_ref())),
        torch: opt(w.and_then(|w| w.torch.as_ref())),
        python: w.map_or_else(String::new, |w| {
            cut(w.python.lines().next().unwrap_or(""), 60)
        }),
        request_format: m
            .request_format
            .as_ref()
            .map_or_else(String::new, |f| cut(&f.format, 40)),
        error: m.error.as_ref().map(|e| cut(e, 8000)),
        config: Table::new(&["key", "value"], config, 2),
    }
}

/// A JSON value as text: strings as they are, anything else as compact JSON.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const SUMMARY_HEADERS: [&str; 20] = [
    "#",
    "model",
    "strategy",
    "ended by",
    "ok",
    "incomplete",
    "errored",
    "requests",
    "duration s",
    "req/s",
    "out tok/s",
    "total tok/s",
    "concurrency",
    "TTFT p50 ms",
    "TTFT p99 ms",
    "ITL p50 ms",
    "ITL p99 ms",
    "latency p50 ms",
    "latency p99 ms",
    "headroom",
];

fn summary_table(benches: &[Bench]) -> Option<Table> {
    if benches.is_empty() {
        return None;
    }
    let rows = benches.iter().map(|b| summary_row(b.b)).collect();
    Some(Table::new(&SUMMARY_HEADERS, rows, 4))
}

fn summary_row(b: &BenchmarkEntry) -> Vec<String> {
    let s = &b.summary;
    // A rate with the half-width of its interval (batch means), when it has one.
    let ci = |f: fn(&crate::metrics::interval::SummaryCi) -> Option<crate::metrics::Interval>| {
        s.ci.as_ref().and_then(f)
    };
    let dist = |d: &crate::metrics::Distribution, p99: bool| match (d.count, p99) {
        (0, _) => "–".to_string(),
        (_, false) => fmt(d.median),
        (_, true) => fmt(d.p99),
    };
    vec![
        b.index.to_string(),
        b.model.clone(),
        strategy_label(&b.strategy),
        snake(&b.ended_by),
        s.requests.successful.to_string(),
        s.requests.incomplete.to_string(),
        s.requests.errored.to_string(),
        b.requests_total.to_string(),
        fmt(s.duration_s),
        fmt_pm(s.requests_per_second, ci(|c| c.requests_per_second)),
        fmt_pm(
            s.output_tokens_per_second,
            ci(|c| c.output_tokens_per_second),
        ),
        fmt_pm(s.total_tokens_per_second, ci(|c| c.total_tokens_per_second)),
        fmt_pm(s.concurrency, ci(|c| c.concurrency)),
        dist(&s.ttft_ms, false),
        dist(&s.ttft_ms, true),
        dist(&s.itl_ms, false),
        dist(&s.itl_ms, true),
        dist(&s.request_latency_ms, false),
        dist(&s.request_latency_ms, true),
        if b.headroom.harness_limited {
            "harness-limited"
        } else {
            "ok"
        }
        .into(),
    ]
}

/// The models ranked by their search's answer (report::conclusion::ranking).
fn ranking_table(report: &Report) -> Option<Table> {
    let mut rows = vec![];
    for (profile, ranked) in crate::report::conclusion::rankings(&report.conclusions) {
        for (i, c) in ranked.iter().enumerate() {
            let o = |v: Option<f64>| v.map_or("–".to_string(), fmt);
            rows.push(vec![
                profile.to_string(),
                (i + 1).to_string(),
                c.model.clone(),
                c.streams.map_or("–".to_string(), |s| s.to_string()),
                o(c.requests_per_second),
                o(c.output_tokens_per_second),
                c.attainment
                    .map_or("–".to_string(), |a| format!("{:.1}%", 100.0 * a)),
            ]);
        }
    }
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "search",
                "rank",
                "model",
                "streams",
                "req/s",
                "output tok/s",
                "attainment",
            ],
            rows,
            3,
        )
    })
}

/// Every probe of every search: its concurrency, what it measured and how the search scored it.
fn search_table(report: &Report) -> Option<Table> {
    use crate::report::conclusion::Trace;
    let mut rows = vec![];
    let pct = |a: f64| format!("{:.1}%", 100.0 * a);
    for c in &report.conclusions {
        match &c.trace {
            Trace::Goodput(g) => {
                for p in &g.probes {
                    rows.push(vec![
                        c.model.clone(),
                        "goodput".into(),
                        p.streams.to_string(),
                        fmt(p.requests_per_second),
                        fmt(p.output_tokens_per_second),
                        format!(
                            "{} [{}, {}] of {}",
                            pct(p.attainment),
                            pct(p.attainment_lower),
                            pct(p.attainment_upper),
                            p.determined_requests
                        ),
                        if p.aborted {
                            "aborted (stopping_scope=all)"
                        } else if !p.resolved {
                            if p.passed {
                                "passed (unresolved)"
                            } else {
                                "failed (unresolved)"
                            }
                        } else if p.passed {
                            "passed"
                        } else {
                            "failed"
                        }
                        .into(),
                    ]);
                }
            }
            Trace::Knee(k) => {
                for p in &k.knee_points {
                    rows.push(vec![
                        c.model.clone(),
                        "knee".into(),
                        p.streams.to_string(),
                        fmt(p.requests_per_second),
                        fmt(p.output_tokens_per_second),
                        "–".into(),
                        match p.over_saturated {
                            Some(true) => "over-saturated",
                            Some(false) => "not over-saturated",
                            None => "–",
                        }
                        .into(),
                    ]);
                }
            }
        }
    }
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "model",
                "search",
                "streams",
                "req/s",
                "output tok/s",
                "SLO attainment [interval] of judged",
                "verdict",
            ],
            rows,
            2,
        )
    })
}

/// Per benchmark with an SLO: attainment per target and overall, the counts, what was left out,
/// goodput and the target missed most (docs/metrics.md, "SLOs and goodput").
/// The engine's own counters per benchmark (vLLM's stat logger; absent on the mock).
fn engine_counters_table(benches: &[Bench]) -> Option<Table> {
    let n = |v: Option<u64>| v.map_or("–".into(), |v| v.to_string());
    let rows: Vec<Vec<String>> = benches
        .iter()
        .filter_map(|b| {
            let c = b.b.engine_counters.as_ref()?;
            let spec = c.spec_decoding.as_ref();
            Some(vec![
                b.label.clone(),
                n(c.steps),
                n(c.prompt_tokens),
                n(c.prompt_tokens_computed),
                n(c.prompt_tokens_cached),
                n(c.prompt_tokens_external),
                n(c.cache_creation_tokens),
                n(c.preemptions),
                spec.map_or("–".into(), |s| s.draft_tokens.to_string()),
                spec.map_or("–".into(), |s| s.accepted_tokens.to_string()),
                spec.and_then(|s| s.acceptance_rate)
                    .map_or("–".into(), |r| format!("{:.1}%", 100.0 * r)),
            ])
        })
        .collect();
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "benchmark",
                "engine steps",
                "prompt tok",
                "computed",
                "prefix-cache hits",
                "external KV",
                "cache creation",
                "preemptions",
                "draft tok",
                "accepted tok",
                "acceptance",
            ],
            rows,
            1,
        )
    })
}

/// llmbench's own cost per 1,000 output tokens of each benchmark (docs/metrics.md, "Headroom").
fn harness_cost_table(benches: &[Bench]) -> Option<Table> {
    let rows: Vec<Vec<String>> = benches
        .iter()
        .filter_map(|b| {
            let c = b.b.headroom.per_1k_output_tokens.as_ref()?;
            let h = &b.b.headroom.costs;
            let cpus = |c: &Option<String>| c.clone().unwrap_or_else(|| "–".into());
            Some(vec![
                b.label.clone(),
                format!("{:.1}", c.cpu_ms_supervisor),
                format!("{:.0}", c.context_switches_supervisor),
                c.output_frames.map_or("–".into(), |f| format!("{f:.0}")),
                format!("{:.1}", c.cpu_ms_worker),
                format!("{:.0}", c.context_switches_worker),
                cpus(&h.cpus_supervisor),
                cpus(&h.cpus_worker),
            ])
        })
        .collect();
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "benchmark",
                "supervisor CPU ms",
                "supervisor wake-ups",
                "frames",
                "worker CPU ms",
                "worker wake-ups",
                "supervisor CPUs",
                "worker CPUs",
            ],
            rows,
            1,
        )
    })
}

/// `--offline-ceiling`: each benchmark against its model's ceiling.
fn ceiling_table(benches: &[Bench]) -> Option<Table> {
    let rows: Vec<Vec<String>> = benches
        .iter()
        .filter_map(|b| {
            let c = b.b.offline_ceiling.as_ref()?;
            Some(vec![
                b.label.clone(),
                if c.is_ceiling {
                    "the ceiling"
                } else {
                    "streamed"
                }
                .into(),
                format!("{:.1}", b.b.summary.output_tokens_per_second),
                format!("{:.1}", c.output_tokens_per_second),
                format!("{:.1}%", 100.0 * c.share),
            ])
        })
        .collect();
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "benchmark",
                "kind",
                "output tok/s",
                "offline ceiling tok/s",
                "share of the ceiling",
            ],
            rows,
            2,
        )
    })
}

fn turn_table(benches: &[Bench]) -> Option<Table> {
    let md = |d: &crate::metrics::Distribution, scale: f64| {
        if d.count == 0 {
            "–".to_string()
        } else {
            format!("{:.1}", d.median * scale)
        }
    };
    let mut rows = Vec::new();
    for b in benches {
        let Some(c) = &b.b.summary.conversations else {
            continue;
        };
        for t in &c.turns {
            rows.push(vec![
                b.label.clone(),
                t.index.to_string(),
                t.requests.successful.to_string(),
                md(&t.prompt_tokens, 1.0),
                md(&t.history_tokens, 1.0),
                md(&t.cached_tokens, 1.0),
                format!("{:.1}%", 100.0 * t.cache_hit_share),
                md(&t.ttft_ms, 1.0),
                format!("{:.1}", t.ttft_ms.p95),
                md(&t.itl_ms, 1.0),
                md(&t.request_latency_ms, 1e-3),
                t.after_reply_ms.as_ref().map_or("–".into(), |d| md(d, 1.0)),
                if t.index == 0 {
                    format!(
                        "{} started, {} completed, {} cut",
                        c.started, c.completed, c.cut
                    )
                } else {
                    String::new()
                },
            ]);
        }
    }
    (!rows.is_empty()).then(|| {
        Table::new(
            &[
                "benchmark",
                "turn",
                "requests",
                "prompt tok (median)",
                "history tok",
                "cached tok",
                "cache hits",
                "TTFT ms (median)",
                "TTFT ms (p95)",
                "ITL ms (median)",
                "latency s (median)",
                "after reply ms (median)",
                "conversations",
            ],
            rows,
            2,
        )
    })
}

fn slo_table(benches: &[Bench]) -> Option<Table> {
    let with: Vec<&BenchmarkEntry> = benches
        .iter()
        .map(|b| b.b)
        .filter(|b| b.summary.slo.is_some())
        .collect();
    if with.is_empty() {
        return None;
    }
    let keys: Vec<(&str, f64)> = crate::metrics::slo::SLO_KEYS
        .iter()
        .filter_map(|k| {
            let t = with
                .iter()
                .find_map(|b| b.summary.slo.as_ref()?.targets.get(*k))?;
            Some((*k, t.bound_ms))
        })
        .collect();
    // A share, with its Wilson interval when it has one.
    let pct = |a: Option<f64>, ci: Option<crate::metrics::Interval>| match (a, ci) {
        (None, _) => "–".to_string(),
        (Some(a), None) => format!("{:.1}%", 100.0 * a),
        (Some(a), Some(i)) => format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * a,
            100.0 * i.lo,
            100.0 * i.hi
        ),
    };
    let mut headers: Vec<String> = vec!["#".into(), "model".into(), "strategy".into()];
    headers.extend(
        keys.iter()
            .map(|(k, b)| format!("{} ≤ {b} ms", k.trim_end_matches("_ms"))),
    );
    headers.extend(
        [
            "all targets",
            "met",
            "judged",
            "errored (misses)",
            "incomplete (left out)",
            "undetermined (left out)",
            "goodput req/s",
            "goodput output tok/s",
            "most missed",
        ]
        .map(String::from),
    );
    let rows = with
        .iter()
        .map(|b| {
            let o = b.summary.slo.as_ref().expect("filtered");
            let mut row = vec![
                b.index.to_string(),
                b.model.clone(),
                strategy_label(&b.strategy),
            ];
            row.extend(keys.iter().map(|(k, _)| {
                let t = o.targets.get(*k);
                pct(
                    t.and_then(|t| t.attainment),
                    t.and_then(|t| t.ci.as_ref()?.attainment),
                )
            }));
            row.extend([
                pct(o.attainment, o.ci.as_ref().and_then(|c| c.attainment)),
                o.met.to_string(),
                o.judged.to_string(),
                o.errored.to_string(),
                o.incomplete.to_string(),
                o.undetermined.to_string(),
                fmt_pm(
                    o.goodput_requests_per_second,
                    o.ci.as_ref().and_then(|c| c.goodput_requests_per_second),
                ),
                fmt_pm(
                    o.goodput_output_tokens_per_second,
                    o.ci.as_ref()
                        .and_then(|c| c.goodput_output_tokens_per_second),
                ),
                o.most_missed.clone().unwrap_or_else(|| "–".into()),
            ]);
            row
        })
        .collect();
    Some(Table {
        headers,
        rows,
        left: 3,
    })
}

fn warnings(benches: &[Bench]) -> Vec<Warning> {
    let mut out = Vec::new();
    for b in benches {
        for w in b.b.headroom.warnings.iter().take(100) {
            out.push(Warning {
                bench: b.label.clone(),
                text: cut(w, 2000),
                worker_error: None,
            });
        }
        if let Some(e) = &b.b.worker_error {
            out.push(Warning {
                bench: b.label.clone(),
                text: String::new(),
                worker_error: Some(cut(e, 4000)),
            });
        }
    }
    out
}

const REQUEST_HEADERS: [&str; 7] = [
    "id",
    "status",
    "prompt tokens",
    "output tokens",
    "TTFT ms",
    "latency ms",
    "finish / error",
];

fn request_sample(b: &Bench) -> Option<RequestSample> {
    let records = b.b.records.head(SAMPLE_REQUESTS);
    if records.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|q| {
            let detail = match &q.error {
                Some(e) => cut(e, 200),
                None => q
                    .finish_reason
                    .as_deref()
                    .map_or_else(String::new, |f| cut(f, 40)),
            };
            vec![
                q.id.to_string(),
                snake(&q.status),
                q.prompt_tokens.unwrap_or(q.prompt_tokens_sent).to_string(),
                q.output_tokens.to_string(),
                fmt_opt(q.ttft_ms),
                fmt_opt(q.latency_ms),
                detail,
            ]
        })
        .collect();
    Some(RequestSample {
        bench: b.label.clone(),
        shown: rows.len(),
        total: b.b.requests_total.max(rows.len()).to_string(),
        table: Table::new(&REQUEST_HEADERS, rows, 2),
    })
}

fn runs_table(r: &Report) -> Option<Table> {
    if r.sources.is_empty() {
        return None;
    }
    let rows = r
        .sources
        .iter()
        .map(|s| {
            let gpus = s
                .host
                .gpu
                .as_ref()
                .and_then(|g| g.baseline.as_ref())
                .map(|b| {
                    let total: u64 = b.iter().map(|g| g.total_mib).sum();
                    format!("{} × NVIDIA, {:.0} GiB", b.len(), total as f64 / 1024.0)
                })
                .unwrap_or_else(|| "none".into());
            vec![
                s.path.clone(),
                s.shard
                    .as_ref()
                    .map_or("–".into(), |sh| format!("{}/{}", sh.index, sh.count)),
                s.host.hostname.clone(),
                s.host.cpus.to_string(),
                gpus,
                s.llmbench_config
                    .models
                    .iter()
                    .map(|m| m.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.llmbench_version.clone(),
            ]
        })
        .collect();
    Some(Table::new(
        &[
            "report", "shard", "host", "CPUs", "GPUs", "models", "llmbench",
        ],
        rows,
        6,
    ))
}

fn run_config(r: &Report) -> Option<ConfigText> {
    let s = serde_json::to_string_pretty(&r.llmbench_config).ok()?;
    Some(ConfigText {
        bytes: s.len(),
        text: cut(&s, 50_000),
    })
}

#[cfg(test)]
mod tests;
