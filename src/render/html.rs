//! The offline HTML report: one self-contained file rendered from a saved JSON report.
//!
//! No network, no CDN, no external fonts, scripts or images: the CSS and the little script are
//! inline, every chart is an inline SVG drawn here, and a Content-Security-Policy in the page
//! forbids the browser from fetching anything. Per-request records are never embedded wholesale
//! (a sample of at most `SAMPLE_REQUESTS` per benchmark) and every series is downsampled to at
//! most `MAX_POINTS`, so a long run still gives a small file.
//!
//! For now the page is drawn from a JSON view of the typed report built here (`view`: every
//! field, records cut to the sample) and read by key paths that never panic on its shape; the
//! page is to be rewritten from a template on the typed report directly.

use crate::report::{BenchmarkEntry, Report};
use serde_json::{json, Value};
use std::fmt::Write;

/// The chart ids, in page order (each is the id of the chart's `<section>`).
pub const CHART_IDS: [&str; 10] = [
    "chart-latency-dist",
    "chart-ttft-dist",
    "chart-itl-dist",
    "chart-tokens-over-time",
    "chart-concurrency-over-time",
    "chart-kv-cache-over-time",
    "chart-sweep-ttft",
    "chart-sweep-itl",
    "chart-sweep-throughput",
    "chart-stages",
];

/// Most points drawn for one series (min/max per bucket, so peaks survive).
pub const MAX_POINTS: usize = 2000;
/// Most rows of a time series in its data table.
const TABLE_POINTS: usize = 100;
/// Most per-request records shown per benchmark.
pub const SAMPLE_REQUESTS: usize = 50;

const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
const DASHES: [Option<&str>; 3] = [None, Some("7 4"), Some("2 3")];

/// Percentile points of a distribution: label and the keys that may hold it (newer first).
const PCTS: [(&str, &[&str]); 11] = [
    ("p0.1", &["p0_1"]),
    ("p1", &["p1"]),
    ("p5", &["p5"]),
    ("p10", &["p10"]),
    ("p25", &["p25"]),
    ("p50", &["p50", "median"]),
    ("p75", &["p75"]),
    ("p90", &["p90"]),
    ("p95", &["p95"]),
    ("p99", &["p99"]),
    ("p99.9", &["p99_9", "p999"]),
];

const STAGES: [(&str, &str); 6] = [
    ("dispatch", "#7f7f7f"),
    ("handover", "#bcbd22"),
    ("queue", "#d62728"),
    ("prefill", "#ff7f0e"),
    ("decode", "#1f77b4"),
    ("delivery", "#2ca02c"),
];

static NULL: Value = Value::Null;

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> String {
    render_value(&view(report))
}

/// The report as the JSON the page reads, with at most `SAMPLE_REQUESTS` records per benchmark
/// (the whole report is never turned into one JSON value).
fn view(r: &Report) -> Value {
    json!({
        "report_version": r.report_version,
        "llmbench_version": r.llmbench_version,
        "partial": r.partial,
        "interrupted": r.interrupted,
        "command": r.command,
        "random_seed": r.random_seed,
        "clock": r.clock,
        "host": r.host,
        "llmbench_config": r.llmbench_config,
        "models": r.models,
        "benchmarks": r.benchmarks.iter().map(benchmark_view).collect::<Vec<_>>(),
    })
}

fn benchmark_view(b: &BenchmarkEntry) -> Value {
    json!({
        "model": b.model,
        "index": b.index,
        "strategy": b.strategy,
        "ended_by": b.ended_by,
        "worker_error": b.worker_error,
        "start_ns": b.start_ns,
        "end_ns": b.end_ns,
        "window_start_ns": b.window_start_ns,
        "window_end_ns": b.window_end_ns,
        "requests_total": b.requests_total,
        "summary": b.summary,
        "headroom": b.headroom,
        "timeseries": b.timeseries,
        "telemetry": b.telemetry,
        "records": b.records.head(SAMPLE_REQUESTS),
    })
}

/// Renders a report's JSON view (or a hand-made one, in the tests) as the page.
pub(crate) fn render_value(report: &Value) -> String {
    let benches = benches(report);
    let mut body = String::new();
    body.push_str(&header(report));
    body.push_str(&banners(report, &benches));
    body.push_str(&models_section(report));
    body.push_str(&summary_section(&benches));
    body.push_str(&warnings_section(&benches));

    let mut charts = Vec::new();
    let mut missing = Vec::new();
    let mut put = |id: &str, name: &str, c: Option<String>| match c {
        Some(c) => charts.push(c),
        None => missing.push(format!("{name} ({id})")),
    };
    put(
        "chart-latency-dist",
        "request latency distribution",
        dist_chart(
            &benches,
            "chart-latency-dist",
            "Request latency",
            "request_latency_ms",
            "ms",
        ),
    );
    put(
        "chart-ttft-dist",
        "TTFT distribution",
        dist_chart(
            &benches,
            "chart-ttft-dist",
            "Time to first token (TTFT)",
            "ttft_ms",
            "ms",
        ),
    );
    put(
        "chart-itl-dist",
        "ITL distribution",
        dist_chart(
            &benches,
            "chart-itl-dist",
            "Inter-token latency (ITL)",
            "itl_ms",
            "ms",
        ),
    );
    put(
        "chart-tokens-over-time",
        "output tokens over time",
        tokens_chart(&benches),
    );
    put(
        "chart-concurrency-over-time",
        "concurrency over time",
        concurrency_chart(&benches),
    );
    put(
        "chart-kv-cache-over-time",
        "KV cache over time",
        kv_chart(&benches),
    );
    put(
        "chart-sweep-ttft",
        "TTFT against request rate",
        sweep_chart(
            &benches,
            "chart-sweep-ttft",
            "TTFT against request rate",
            "ttft_ms",
        ),
    );
    put(
        "chart-sweep-itl",
        "ITL against request rate",
        sweep_chart(
            &benches,
            "chart-sweep-itl",
            "ITL against request rate",
            "itl_ms",
        ),
    );
    put(
        "chart-sweep-throughput",
        "throughput against request rate",
        throughput_chart(&benches),
    );
    put(
        "chart-stages",
        "where the time went",
        stages_chart(&benches),
    );

    if !charts.is_empty() || !benches.is_empty() {
        body.push_str("<h2 id=\"charts\">Charts</h2>\n");
        body.push_str("<p class=\"note\">Every chart has its numbers beside it; <button type=\"button\" id=\"toggle-tables\">show all data tables</button></p>\n");
        for c in &charts {
            body.push_str(c);
        }
        if !missing.is_empty() {
            let _ = writeln!(
                body,
                "<p class=\"note\" id=\"charts-left-out\">Not in this report, so not drawn: {}.</p>",
                esc(&missing.join(", "))
            );
        }
    }
    body.push_str(&requests_section(&benches));
    body.push_str(&config_section(report));

    let title = format!(
        "llmbench report{}",
        models_of(report)
            .first()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    let mut out = String::with_capacity(body.len() + 8192);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"generator\" content=\"llmbench {}\">\n<title>{}</title>\n<script>{}</script>\n<style>{}</style>\n</head>\n<body>\n\
<div id=\"js-errors\" class=\"banner error\" hidden></div>\n{}\
<footer>Rendered offline by llmbench {}: no network, no external resources.</footer>\n<script>{}</script>\n</body>\n</html>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&title),
        ERROR_JS,
        CSS,
        body,
        esc(env!("CARGO_PKG_VERSION")),
        TOGGLE_JS
    );
    out
}

const ERROR_JS: &str = r#"window.onerror=function(m,s,l,c){var d=document.getElementById('js-errors');if(d){var p=document.createElement('p');p.className='js-error';p.textContent='script error: '+m+' ('+l+':'+c+')';d.appendChild(p);d.hidden=false;}};"#;

const TOGGLE_JS: &str = r#"(function(){var b=document.getElementById('toggle-tables');if(!b)return;var open=false;b.addEventListener('click',function(){open=!open;var d=document.querySelectorAll('details.data');for(var i=0;i<d.length;i++){d[i].open=open;}b.textContent=open?'hide all data tables':'show all data tables';});})();"#;

const CSS: &str = r#"
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;background:#fff;color:#1d2330;margin:0 auto;padding:16px 24px 40px;max-width:1500px;font-size:14px;line-height:1.4}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}h3{font-size:15px;margin:0 0 4px}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde2ea;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#f3f5f9;font-weight:600}
td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#fafbfd}
.meta td{text-align:left}.meta th{text-align:left;white-space:nowrap}
.banner{border-radius:4px;padding:8px 12px;margin:8px 0;font-weight:600}
.partial{background:#fff4d6;border:1px solid #e0b000}
.error{background:#fde8e8;border:1px solid #d62728}
.warn{background:#fff8e6;border:1px solid #f0c36d;border-radius:4px;padding:6px 12px}
.ok{color:#1a7f37;font-weight:600}.failed{color:#c62828;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #dde2ea;padding:6px;font-size:12px;margin:4px 0;max-height:320px;overflow:auto}
code{font-size:12px}
section.fig{border:1px solid #dde2ea;border-radius:6px;padding:10px 12px;margin:14px 0;background:#fff}
.figrow{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.plot{flex:0 0 720px;max-width:100%}
.plot svg.chart{width:100%;height:auto;display:block}
.data{flex:1 1 420px;overflow-x:auto}
.note{color:#5a6270;font-size:12px;margin:2px 0 6px}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;margin:4px 0 0 8px}
.legend span{white-space:nowrap}.legend svg{vertical-align:middle;margin-right:4px}
details{margin:4px 0}summary{cursor:pointer;color:#1f5fb4;font-size:12px}
button{font-size:12px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;fill:#3a4150}
footer{margin-top:32px;color:#8a93a3;font-size:11px}
"#;

// ---------------------------------------------------------------------------------------------
// Reading the report defensively.

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for k in path {
        cur = cur.get(k).unwrap_or(&NULL);
    }
    cur
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn num_at(v: &Value, path: &[&str]) -> Option<f64> {
    num(at(v, path))
}

/// A value as display text: strings as they are, anything else as compact JSON, cut to `max`.
fn text(v: &Value, max: usize) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    cut(&s, max)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(|a| a.as_slice()).unwrap_or(&[])
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A number for tables: a few significant digits.
fn fmt(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e7 {
        format!("{x:.3e}")
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else if a >= 0.001 {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("–".into(), fmt)
}

/// Like `fmt`, without trailing zeros: counts and labels ("4", "2.5").
fn fmt_short(x: f64) -> String {
    let s = fmt(x);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_short_opt(x: Option<f64>) -> String {
    x.map_or("–".into(), fmt_short)
}

struct Bench<'a> {
    v: &'a Value,
    index: String,
    model: String,
    label: String,
    color: &'static str,
    dash: Option<&'static str>,
}

fn strategy_label(s: &Value) -> String {
    let t = at(s, &["type"]).as_str().unwrap_or("");
    match t {
        "synchronous" => "synchronous".into(),
        "concurrent" => format!("concurrent {}", fmt_short_opt(num_at(s, &["streams"]))),
        "throughput" => match num_at(s, &["max_concurrency"]) {
            Some(c) => format!("throughput (max {})", fmt_short(c)),
            None => "throughput".into(),
        },
        "constant" | "poisson" => format!("{t} {} req/s", fmt_short_opt(num_at(s, &["rate"]))),
        "" => text(s, 60),
        other => cut(other, 60),
    }
}

fn benches(report: &Value) -> Vec<Bench<'_>> {
    let list = arr(at(report, &["benchmarks"]));
    let models: Vec<String> = list.iter().map(|b| text(at(b, &["model"]), 200)).collect();
    let many_models = models.iter().any(|m| *m != models[0]);
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let index = match at(b, &["index"]) {
                Value::Null => i.to_string(),
                v => text(v, 20),
            };
            let strategy = strategy_label(at(b, &["strategy"]));
            let model = models[i].clone();
            let label = if many_models {
                format!("#{index} {} · {strategy}", cut(&model, 40))
            } else {
                format!("#{index} {strategy}")
            };
            Bench {
                v: b,
                index,
                model,
                label,
                color: PALETTE[i % PALETTE.len()],
                dash: DASHES[(i / PALETTE.len()) % DASHES.len()],
            }
        })
        .collect()
}

fn models_of(report: &Value) -> Vec<String> {
    arr(at(report, &["models"]))
        .iter()
        .map(|m| text(at(m, &["model"]), 200))
        .filter(|m| !m.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Page sections.

fn header(r: &Value) -> String {
    let mut h = String::from(
        "<header>\n<h1>llmbench report</h1>\n<table class=\"meta\" id=\"run-meta\">\n",
    );
    let mut row = |k: &str, v: String| {
        if !v.is_empty() {
            let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), v);
        }
    };
    row("llmbench", esc(&text(at(r, &["llmbench_version"]), 100)));
    row("report version", esc(&text(at(r, &["report_version"]), 20)));
    let cmd: Vec<String> = arr(at(r, &["command"]))
        .iter()
        .map(|a| shell_word(&text(a, 2000)))
        .collect();
    if !cmd.is_empty() {
        row(
            "command",
            format!("<code>{}</code>", esc(&cut(&cmd.join(" "), 8000))),
        );
    }
    row("random seed", esc(&text(at(r, &["random_seed"]), 40)));
    if let Some(t) = num_at(r, &["clock", "origin_unix_s"]) {
        row("started", esc(&utc(t)));
    }
    let host = at(r, &["host"]);
    if host.is_object() {
        let mut parts = Vec::new();
        let hn = text(at(host, &["hostname"]), 200);
        if !hn.is_empty() {
            parts.push(hn);
        }
        if let Some(c) = num_at(host, &["cpus"]) {
            parts.push(format!("{} CPUs", fmt_short(c)));
        }
        let os = [text(at(host, &["os"]), 40), text(at(host, &["arch"]), 40)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if !os.is_empty() {
            parts.push(os);
        }
        match at(host, &["gpu", "present"]).as_bool() {
            Some(true) => {
                let name = text(at(host, &["gpu", "baseline", "name"]), 100);
                parts.push(if name.is_empty() {
                    "GPU".into()
                } else {
                    format!("GPU {name}")
                });
            }
            Some(false) => parts.push("no GPU".into()),
            None => {}
        }
        row("host", esc(&parts.join(", ")));
    }
    let models = models_of(r);
    if !models.is_empty() {
        row("models", esc(&models.join(", ")));
    }
    let mut flags = Vec::new();
    if let Some(p) = at(r, &["partial"]).as_bool() {
        flags.push(format!("partial: {}", if p { "yes" } else { "no" }));
    }
    if let Some(p) = at(r, &["interrupted"]).as_bool() {
        flags.push(format!("interrupted: {}", if p { "yes" } else { "no" }));
    }
    row("state", esc(&flags.join(", ")));
    h.push_str("</table>\n</header>\n");
    h
}

/// Quotes an argument for display the way a shell would need it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Unix seconds as a UTC date and time.
fn utc(t: f64) -> String {
    if !(0.0..1e11).contains(&t) {
        return fmt(t);
    }
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn banners(r: &Value, benches: &[Bench]) -> String {
    let mut o = String::new();
    if at(r, &["partial"]).as_bool() == Some(true) {
        let why = if at(r, &["interrupted"]).as_bool() == Some(true) {
            "the run was interrupted"
        } else {
            "the run had not finished when this report was written (still running, or it crashed)"
        };
        let _ = writeln!(
            o,
            "<div class=\"banner partial\" id=\"partial-banner\">Partial report: {why}; {} benchmark(s) recorded.</div>",
            benches.len()
        );
    }
    let failed = arr(at(r, &["models"]))
        .iter()
        .filter(|m| at(m, &["status"]).as_str() == Some("failed"))
        .count();
    if failed > 0 {
        let _ = writeln!(
            o,
            "<div class=\"banner error\" id=\"failed-banner\">{failed} model(s) failed: see <a href=\"#models\">Models</a>.</div>"
        );
    }
    o
}

fn models_section(r: &Value) -> String {
    let models = arr(at(r, &["models"]));
    if models.is_empty() {
        return String::new();
    }
    let mut o = String::from("<h2 id=\"models\">Models</h2>\n<table id=\"models-table\">\n<tr><th class=\"l\">model</th><th class=\"l\">status</th><th class=\"l\">engine</th><th class=\"l\">device</th><th>max_model_len</th><th>engine start s</th><th>engine starts</th><th class=\"l\">vLLM</th><th class=\"l\">torch</th><th class=\"l\">python</th><th class=\"l\">request format</th></tr>\n");
    for m in models {
        let status = text(at(m, &["status"]), 40);
        let class = match status.as_str() {
            "ok" => "ok",
            "failed" => "failed",
            _ => "",
        };
        let _ = writeln!(
            o,
            "<tr><td class=\"l\">{}</td><td class=\"l {class}\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&text(at(m, &["model"]), 300)),
            esc(&status),
            esc(&text(at(m, &["engine", "engine"]), 40)),
            esc(&text(at(m, &["engine", "device"]), 40)),
            esc(&text(at(m, &["engine", "max_model_len"]), 20)),
            fmt_opt(num_at(m, &["engine", "engine_start_s"])),
            esc(&text(at(m, &["engine_starts"]), 20)),
            esc(&text(at(m, &["worker", "vllm"]), 60)),
            esc(&text(at(m, &["worker", "torch"]), 60)),
            esc(&cut(text(at(m, &["worker", "python"]), 200).lines().next().unwrap_or(""), 60)),
            esc(&text(at(m, &["request_format", "format"]), 40)),
        );
    }
    o.push_str("</table>\n");
    for m in models {
        let name = text(at(m, &["model"]), 300);
        let err = at(m, &["error"]);
        if !err.is_null() {
            let _ = writeln!(
                o,
                "<div class=\"banner error model-error\"><div>Model {} failed:</div><pre>{}</pre></div>",
                esc(&name),
                esc(&text(err, 8000))
            );
        }
        let mut rows = Vec::new();
        if let Some(cfg) = at(m, &["engine", "config"]).as_object() {
            for (k, v) in cfg.iter().take(300) {
                rows.push(vec![k.clone(), text(v, 300)]);
            }
        }
        for w in arr(at(m, &["engine", "warnings"])).iter().take(50) {
            rows.push(vec!["warning".into(), text(w, 1000)]);
        }
        if !rows.is_empty() {
            let _ = writeln!(
                o,
                "<details class=\"engine-config\"><summary>engine config of {} ({} keys)</summary>{}</details>",
                esc(&name),
                rows.len(),
                table(&["key", "value"], &rows, 2)
            );
        }
    }
    o
}

fn dist_at(b: &Value, key: &str, stat: &str) -> Option<f64> {
    num_at(b, &["summary", key, stat])
}

fn summary_section(benches: &[Bench]) -> String {
    if benches.is_empty() {
        return String::new();
    }
    let headers = [
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
    let rows: Vec<Vec<String>> = benches
        .iter()
        .map(|b| {
            let v = b.v;
            let s = |k: &str| fmt_opt(num_at(v, &["summary", k]));
            let c = |k: &str| fmt_short_opt(num_at(v, &["summary", "requests", k]));
            let d = |k: &str, st: &str| fmt_opt(dist_at(v, k, st));
            let headroom = match at(v, &["headroom", "harness_limited"]).as_bool() {
                Some(true) => "harness-limited".into(),
                Some(false) => "ok".into(),
                None => "–".into(),
            };
            vec![
                b.index.clone(),
                b.model.clone(),
                strategy_label(at(v, &["strategy"])),
                text(at(v, &["ended_by"]), 40),
                c("successful"),
                c("incomplete"),
                c("errored"),
                fmt_short_opt(num_at(v, &["requests_total"])),
                s("duration_s"),
                s("requests_per_second"),
                s("output_tokens_per_second"),
                s("total_tokens_per_second"),
                s("concurrency"),
                d("ttft_ms", "median"),
                d("ttft_ms", "p99"),
                d("itl_ms", "median"),
                d("itl_ms", "p99"),
                d("request_latency_ms", "median"),
                d("request_latency_ms", "p99"),
                headroom,
            ]
        })
        .collect();
    format!(
        "<h2 id=\"benchmarks\">Benchmarks</h2>\n<div class=\"data\" id=\"summary-table\">{}</div>\n",
        table(&headers, &rows, 4)
    )
}

fn warnings_section(benches: &[Bench]) -> String {
    let mut items = String::new();
    for b in benches {
        for w in arr(at(b.v, &["headroom", "warnings"])).iter().take(100) {
            let _ = writeln!(
                items,
                "<li>benchmark {}: llmbench, not the engine, may have been the limit: {}</li>",
                esc(&b.label),
                esc(&text(w, 2000))
            );
        }
        let we = at(b.v, &["worker_error"]);
        if !we.is_null() {
            let _ = writeln!(
                items,
                "<li>benchmark {}: worker error<pre>{}</pre></li>",
                esc(&b.label),
                esc(&text(we, 4000))
            );
        }
    }
    if items.is_empty() {
        return String::new();
    }
    format!("<h2 id=\"warnings\">Warnings</h2>\n<div class=\"warn\" id=\"headroom-warnings\"><ul>\n{items}</ul></div>\n")
}

fn requests_section(benches: &[Bench]) -> String {
    let mut o = String::new();
    for b in benches {
        let reqs = arr(at(b.v, &["records"]));
        if reqs.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = reqs
            .iter()
            .take(SAMPLE_REQUESTS)
            .map(|q| {
                let status = text(at(q, &["status"]), 30);
                let detail = match at(q, &["error"]) {
                    Value::Null => text(at(q, &["finish_reason"]), 40),
                    e => text(e, 200),
                };
                vec![
                    text(at(q, &["id"]), 20),
                    status,
                    fmt_short_opt(
                        num_at(q, &["prompt_tokens"]).or(num_at(q, &["prompt_tokens_sent"])),
                    ),
                    fmt_short_opt(num_at(q, &["output_tokens"])),
                    fmt_opt(num_at(q, &["ttft_ms"])),
                    fmt_opt(num_at(q, &["latency_ms"])),
                    detail,
                ]
            })
            .collect();
        let total = num_at(b.v, &["requests_total"])
            .map_or(reqs.len() as f64, |t| t.max(reqs.len() as f64));
        let _ = writeln!(
            o,
            "<details class=\"data requests\"><summary>benchmark {}: {} of {} requests</summary>{}</details>",
            esc(&b.label),
            rows.len(),
            fmt_short(total),
            table(
                &["id", "status", "prompt tokens", "output tokens", "TTFT ms", "latency ms", "finish / error"],
                &rows,
                2
            )
        );
    }
    if o.is_empty() {
        return o;
    }
    format!("<h2 id=\"requests\">Sample of requests</h2>\n<p class=\"note\">At most {SAMPLE_REQUESTS} per benchmark; the JSON report has the records it kept.</p>\n{o}")
}

fn config_section(r: &Value) -> String {
    let c = at(r, &["llmbench_config"]);
    if c.is_null() {
        return String::new();
    }
    let s = serde_json::to_string_pretty(c).unwrap_or_default();
    format!(
        "<h2 id=\"config\">Run configuration</h2>\n<details class=\"config\"><summary>config ({} bytes of JSON)</summary><pre>{}</pre></details>\n",
        s.len(),
        esc(&cut(&s, 50_000))
    )
}

/// A table; cells are plain text (escaped here). The first `left` columns are left-aligned.
fn table(headers: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut o = String::from("<table>\n<tr>");
    for (i, h) in headers.iter().enumerate() {
        let _ = write!(
            o,
            "<th{}>{}</th>",
            if i < left { " class=\"l\"" } else { "" },
            esc(h)
        );
    }
    o.push_str("</tr>\n");
    for r in rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let _ = write!(
                o,
                "<td{}>{}</td>",
                if i < left { " class=\"l\"" } else { "" },
                esc(c)
            );
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>");
    o
}

fn figure(id: &str, title: &str, note: &str, svg: &str, legend: &str, data: &str) -> String {
    format!(
        "<section class=\"fig\" id=\"{id}\">\n<h3>{}</h3>\n<p class=\"note\">{}</p>\n<div class=\"figrow\"><div class=\"plot\">{svg}{legend}</div><div class=\"data\" id=\"{id}-data\">{data}</div></div>\n</section>\n",
        esc(title),
        esc(note)
    )
}

// ---------------------------------------------------------------------------------------------
// Charts.

fn dist_chart(benches: &[Bench], id: &str, title: &str, key: &str, unit: &str) -> Option<String> {
    let mut series = Vec::new();
    // One column per benchmark, one row per statistic (the chart's x axis reads down the table).
    let mut cols: Vec<(String, Vec<String>)> = Vec::new();
    for b in benches {
        let d = at(b.v, &["summary", key]);
        if !d.is_object() || num_at(d, &["count"]) == Some(0.0) {
            continue;
        }
        let vals: Vec<Option<f64>> = PCTS
            .iter()
            .map(|(_, keys)| keys.iter().find_map(|k| num_at(d, &[k])))
            .collect();
        let points: Vec<(f64, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let mut col = vec![
            fmt_short_opt(num_at(d, &["count"])),
            fmt_opt(num_at(d, &["mean"])),
        ];
        col.extend(vals.iter().map(|v| fmt_opt(*v)));
        cols.push((b.label.clone(), col));
        series.push(Series {
            label: b.label.clone(),
            color: b.color,
            dash: b.dash,
            points,
            line: true,
            markers: true,
        });
    }
    if series.is_empty() {
        return None;
    }
    let cats: Vec<String> = PCTS.iter().map(|(l, _)| l.to_string()).collect();
    let svg = line_chart(
        id,
        title,
        &XAxis::Categories(cats),
        "percentile",
        unit,
        &series,
    );
    let mut headers = vec![unit];
    headers.extend(cols.iter().map(|(l, _)| l.as_str()));
    let stats = ["count", "mean"]
        .into_iter()
        .chain(PCTS.iter().map(|(l, _)| *l));
    let rows: Vec<Vec<String>> = stats
        .enumerate()
        .map(|(i, stat)| {
            let mut r = vec![stat.to_string()];
            r.extend(cols.iter().map(|(_, c)| c[i].clone()));
            r
        })
        .collect();
    Some(figure(
        id,
        &format!("{title} distribution ({unit})"),
        "Percentiles over the measurement window, one line per benchmark.",
        &svg,
        &legend(&series),
        &table(&headers, &rows, 1),
    ))
}

/// (t, y·scale) pairs from two parallel arrays, non-numbers skipped.
fn xy(t: &Value, y: &Value, scale: f64) -> Vec<(f64, f64)> {
    arr(t)
        .iter()
        .zip(arr(y))
        .filter_map(|(t, y)| Some((num(t)?, num(y)? * scale)))
        .collect()
}

/// A time series spec: which arrays, how to scale, how to name and draw it.
struct TsSpec<'a> {
    group: &'a str,
    key: &'a str,
    scale: f64,
    name: &'a str,
    dash: Option<&'static str>,
}

fn ts_chart(
    benches: &[Bench],
    id: &str,
    title: &str,
    note: &str,
    y_label: &str,
    specs: &[TsSpec],
) -> Option<String> {
    let mut series = Vec::new();
    let mut stats = Vec::new();
    let mut points_rows = Vec::new();
    for b in benches {
        for s in specs {
            let g = at(b.v, &[s.group]);
            let raw = xy(at(g, &["t_s"]), at(g, &[s.key]), s.scale);
            if raw.is_empty() {
                continue;
            }
            let label = if specs.len() > 1 {
                format!("{} · {}", b.label, s.name)
            } else {
                b.label.clone()
            };
            let n = raw.len();
            let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
            for &(_, y) in &raw {
                lo = lo.min(y);
                hi = hi.max(y);
                sum += y;
            }
            stats.push(vec![
                label.clone(),
                n.to_string(),
                fmt(lo),
                fmt(sum / n as f64),
                fmt(hi),
            ]);
            for (t, y) in pick(&raw, TABLE_POINTS) {
                points_rows.push(vec![label.clone(), fmt(t), fmt(y)]);
            }
            series.push(Series {
                label,
                color: b.color,
                dash: if specs.len() > 1 { s.dash } else { b.dash },
                points: downsample(raw, MAX_POINTS),
                line: true,
                markers: false,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    let svg = line_chart(
        id,
        title,
        &XAxis::Linear,
        "seconds since the benchmark started",
        y_label,
        &series,
    );
    let data = format!(
        "{}<details class=\"data\"><summary>values ({} points per series at most)</summary>{}</details>",
        table(&["series", "points", "min", "mean", "max"], &stats, 1),
        TABLE_POINTS,
        table(&["series", "t s", y_label], &points_rows, 1)
    );
    Some(figure(id, title, note, &svg, &legend(&series), &data))
}

fn tokens_chart(benches: &[Bench]) -> Option<String> {
    ts_chart(
        benches,
        "chart-tokens-over-time",
        "Output tokens per second over time",
        "From benchmarks[].timeseries, one line per benchmark.",
        "tokens/s",
        &[TsSpec {
            group: "timeseries",
            key: "output_tokens_per_s",
            scale: 1.0,
            name: "output tok/s",
            dash: None,
        }],
    )
}

fn concurrency_chart(benches: &[Bench]) -> Option<String> {
    ts_chart(
        benches,
        "chart-concurrency-over-time",
        "Concurrency over time",
        "Solid: requests in flight (llmbench); dashed: running in the engine; dotted: waiting in the engine.",
        "requests",
        &[
            TsSpec { group: "timeseries", key: "requests_in_flight", scale: 1.0, name: "in flight", dash: None },
            TsSpec { group: "telemetry", key: "running", scale: 1.0, name: "engine running", dash: Some("7 4") },
            TsSpec { group: "telemetry", key: "waiting", scale: 1.0, name: "engine waiting", dash: Some("2 3") },
        ],
    )
}

fn kv_chart(benches: &[Bench]) -> Option<String> {
    ts_chart(
        benches,
        "chart-kv-cache-over-time",
        "KV cache over time",
        "Solid: KV cache usage; dashed: prefix cache hit rate (engine telemetry).",
        "%",
        &[
            TsSpec {
                group: "telemetry",
                key: "kv_cache_usage",
                scale: 100.0,
                name: "KV cache usage",
                dash: None,
            },
            TsSpec {
                group: "telemetry",
                key: "prefix_cache_hit_rate",
                scale: 100.0,
                name: "prefix hit rate",
                dash: Some("7 4"),
            },
        ],
    )
}

/// Benchmarks grouped by model, in order of first appearance.
fn by_model<'a, 'b>(benches: &'b [Bench<'a>]) -> Vec<(String, Vec<&'b Bench<'a>>)> {
    let mut groups: Vec<(String, Vec<&Bench>)> = Vec::new();
    for b in benches {
        match groups.iter_mut().find(|(m, _)| *m == b.model) {
            Some((_, v)) => v.push(b),
            None => groups.push((b.model.clone(), vec![b])),
        }
    }
    groups
}

fn sweep_points(group: &[&Bench], y: impl Fn(&Value) -> Option<f64>) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = group
        .iter()
        .filter_map(|b| Some((num_at(b.v, &["summary", "requests_per_second"])?, y(b.v)?)))
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p
}

fn sweep_chart(benches: &[Bench], id: &str, title: &str, key: &str) -> Option<String> {
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (mi, (model, group)) in by_model(benches).iter().enumerate() {
        let color = PALETTE[mi % PALETTE.len()];
        for (stat, name, dash) in [("median", "median", None), ("p99", "p99", Some("7 4"))] {
            let points = sweep_points(group, |v| dist_at(v, key, stat));
            if !points.is_empty() {
                series.push(Series {
                    label: format!("{} {name}", cut(model, 40)),
                    color,
                    dash,
                    points,
                    line: true,
                    markers: true,
                });
            }
        }
        for b in group {
            if let Some(rps) = num_at(b.v, &["summary", "requests_per_second"]) {
                rows.push(vec![
                    b.label.clone(),
                    fmt(rps),
                    fmt_opt(dist_at(b.v, key, "median")),
                    fmt_opt(dist_at(b.v, key, "p99")),
                ]);
            }
        }
    }
    if series.is_empty() {
        return None;
    }
    let svg = line_chart(
        id,
        title,
        &XAxis::Linear,
        "requests per second (measured)",
        "ms",
        &series,
    );
    Some(figure(
        id,
        &format!("{title} (ms)"),
        "One point per benchmark, per model; solid: median, dashed: p99.",
        &svg,
        &legend(&series),
        &table(&["benchmark", "req/s", "median ms", "p99 ms"], &rows, 1),
    ))
}

fn throughput_chart(benches: &[Bench]) -> Option<String> {
    let id = "chart-sweep-throughput";
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (mi, (model, group)) in by_model(benches).iter().enumerate() {
        let points = sweep_points(group, |v| {
            num_at(v, &["summary", "output_tokens_per_second"])
        });
        if !points.is_empty() {
            series.push(Series {
                label: format!("{} output tok/s", cut(model, 40)),
                color: PALETTE[mi % PALETTE.len()],
                dash: None,
                points,
                line: true,
                markers: true,
            });
        }
        for b in group {
            if let Some(rps) = num_at(b.v, &["summary", "requests_per_second"]) {
                rows.push(vec![
                    b.label.clone(),
                    fmt(rps),
                    fmt_opt(num_at(b.v, &["summary", "output_tokens_per_second"])),
                    fmt_opt(num_at(b.v, &["summary", "total_tokens_per_second"])),
                ]);
            }
        }
    }
    if series.is_empty() {
        return None;
    }
    let svg = line_chart(
        id,
        "Output tokens per second against request rate",
        &XAxis::Linear,
        "requests per second (measured)",
        "output tokens/s",
        &series,
    );
    Some(figure(
        id,
        "Throughput against request rate",
        "Output tokens per second, one point per benchmark, per model.",
        &svg,
        &legend(&series),
        &table(
            &["benchmark", "req/s", "out tok/s", "total tok/s"],
            &rows,
            1,
        ),
    ))
}

fn stages_chart(benches: &[Bench]) -> Option<String> {
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut rows = Vec::new();
    for b in benches {
        let st = at(b.v, &["summary", "stages_ms"]);
        let vals: Vec<Option<f64>> = STAGES
            .iter()
            .map(|(s, _)| num_at(st, &[s, "median"]))
            .collect();
        if vals.iter().all(|v| v.is_none()) {
            continue;
        }
        let total: f64 = vals.iter().flatten().map(|v| v.max(0.0)).sum();
        let mut row = vec![b.label.clone()];
        row.extend(vals.iter().map(|v| fmt_opt(*v)));
        row.push(fmt(total));
        rows.push(row);
        labels.push(b.label.clone());
        values.push(
            vals.iter()
                .map(|v| v.unwrap_or(0.0).max(0.0))
                .collect::<Vec<_>>(),
        );
    }
    if labels.is_empty() {
        return None;
    }
    let id = "chart-stages";
    let parts: Vec<(&str, &str)> = STAGES.to_vec();
    let svg = stacked_hbar(
        id,
        "Median stage durations",
        &labels,
        &parts,
        &values,
        "ms (median of each stage)",
    );
    let mut lg = String::from("<div class=\"legend\">");
    for (name, color) in &parts {
        let _ = write!(lg, "<span><svg width=\"14\" height=\"10\"><rect width=\"14\" height=\"10\" fill=\"{color}\"/></svg>{}</span>", esc(name));
    }
    lg.push_str("</div>");
    let mut headers = vec!["benchmark"];
    headers.extend(STAGES.iter().map(|(s, _)| *s));
    headers.push("sum");
    Some(figure(
        id,
        "Where the time went (median ms per stage)",
        "Stacked medians of each stage of a request (a sum of medians, not the median latency).",
        &svg,
        &lg,
        &table(&headers, &rows, 1),
    ))
}

// ---------------------------------------------------------------------------------------------
// The SVG helper: axes with ticks and labels, line series, scatter markers, stacked bars.

struct Series {
    label: String,
    color: &'static str,
    dash: Option<&'static str>,
    points: Vec<(f64, f64)>,
    line: bool,
    markers: bool,
}

enum XAxis {
    Linear,
    /// x values are indices into these labels.
    Categories(Vec<String>),
}

const W: f64 = 720.0;
const H: f64 = 340.0;

/// Min/max per bucket: at most `max` points, the extremes of every bucket kept, in order.
pub fn downsample(pts: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max || max < 2 {
        return pts;
    }
    let buckets = max / 2;
    let n = pts.len();
    let mut out = Vec::with_capacity(max);
    for b in 0..buckets {
        let s = b * n / buckets;
        let e = ((b + 1) * n / buckets).clamp(s + 1, n);
        let chunk = &pts[s..e];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        let (a, c) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if c != a {
            out.push(chunk[c]);
        }
    }
    out
}

/// Every k-th point, at most `max` of them (the last one included).
fn pick(pts: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max {
        return pts.to_vec();
    }
    (0..max)
        .map(|i| pts[i * (pts.len() - 1) / (max - 1)])
        .collect()
}

/// A "nice" axis covering [lo, hi]: its bounds, ticks and step.
pub fn nice_axis(mut lo: f64, mut hi: f64, target: usize) -> (f64, f64, Vec<f64>, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if hi <= lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        hi = lo + pad;
        if lo != 0.0 {
            lo -= pad;
        }
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm < 1.5 {
            1.0
        } else if norm < 3.0 {
            2.0
        } else if norm < 7.0 {
            5.0
        } else {
            10.0
        };
    let a = (lo / step).floor() * step;
    let b = (hi / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut k = 0;
    loop {
        let t = a + step * k as f64;
        if t > b + step * 1e-9 || k > 100 {
            break;
        }
        ticks.push(t);
        k += 1;
    }
    (a, b, ticks, step)
}

fn tick_label(v: f64, step: f64) -> String {
    // Big round numbers with a suffix: 150k, 2.5M.
    // Chosen by the step, so one axis uses one suffix.
    for (unit, min_step, suffix) in [(1e9, 5e8, "G"), (1e6, 5e5, "M"), (1e3, 1e3, "k")] {
        if step >= min_step {
            if v == 0.0 {
                return "0".into();
            }
            let dec = (-(step / unit).log10().floor()).clamp(0.0, 3.0) as usize;
            return format!("{:.dec$}{suffix}", v / unit);
        }
    }
    let dec = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let s = format!("{v:.dec$}");
    if s.starts_with("-0")
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
    {
        s[1..].to_string()
    } else {
        s
    }
}

fn c(v: f64) -> String {
    format!("{v:.1}")
}

fn svg_open(id: &str, title: &str, h: f64) -> String {
    format!(
        "<svg id=\"{id}-svg\" class=\"chart\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title><rect width=\"{W}\" height=\"{h}\" fill=\"#fff\"/>",
        t = esc(title)
    )
}

fn line_chart(
    id: &str,
    title: &str,
    x: &XAxis,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> String {
    let (ml, mr, mt, mb) = (70.0, 18.0, 12.0, 48.0);
    let (pw, ph) = (W - ml - mr, H - mt - mb);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let ymax = all().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let ymin = all().map(|p| p.1).fold(f64::INFINITY, f64::min).min(0.0);
    let (y0, y1, yticks, ystep) = nice_axis(ymin, ymax, 6);
    let sy = |y: f64| mt + ph - (y - y0) / (y1 - y0) * ph;
    let mut o = svg_open(id, title, H);
    // x: pixel = x_off + x * x_scale; categories sit at the middle of their slots.
    let (x_off, x_scale, xticks): (f64, f64, Vec<(f64, String)>) = match x {
        XAxis::Categories(cats) => {
            let slot = pw / cats.len().max(1) as f64;
            let ticks = cats
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.clone()))
                .collect();
            (ml + slot / 2.0, slot, ticks)
        }
        XAxis::Linear => {
            let xmax = all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
            let xmin = all().map(|p| p.0).fold(f64::INFINITY, f64::min).min(0.0);
            let (x0, x1, ticks, step) = nice_axis(xmin, xmax, 8);
            let k = pw / (x1 - x0);
            let labels = ticks
                .into_iter()
                .map(|t| (t, tick_label(t, step)))
                .collect();
            (ml - x0 * k, k, labels)
        }
    };
    let sx = |v: f64| x_off + v * x_scale;
    // grid, ticks, labels
    o.push_str("<g stroke=\"#e6e9ef\" stroke-width=\"1\">");
    for &t in &yticks {
        let _ = write!(
            o,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/>",
            c(ml),
            c(ml + pw),
            y = c(sy(t))
        );
    }
    for (t, _) in &xticks {
        let _ = write!(
            o,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>",
            c(mt),
            c(mt + ph),
            x = c(sx(*t))
        );
    }
    o.push_str("</g>");
    let _ = write!(
        o,
        "<g stroke=\"#5a6270\" stroke-width=\"1\"><line x1=\"{ml}\" x2=\"{ml}\" y1=\"{mt}\" y2=\"{}\"/><line x1=\"{ml}\" x2=\"{}\" y1=\"{b}\" y2=\"{b}\"/></g>",
        c(mt + ph),
        c(ml + pw),
        b = c(mt + ph)
    );
    o.push_str("<g font-size=\"11\">");
    for &t in &yticks {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            c(ml - 6.0),
            c(sy(t) + 4.0),
            esc(&tick_label(t, ystep))
        );
    }
    for (t, l) in &xticks {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            c(sx(*t)),
            c(mt + ph + 16.0),
            esc(l)
        );
    }
    let _ = write!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text><text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text></g>",
        c(ml + pw / 2.0),
        c(H - 8.0),
        esc(x_label),
        c(mt + ph / 2.0),
        esc(y_label)
    );
    // series
    for s in series {
        let dash = s
            .dash
            .map(|d| format!(" stroke-dasharray=\"{d}\""))
            .unwrap_or_default();
        if s.line && s.points.len() > 1 {
            let mut d = String::with_capacity(s.points.len() * 14);
            for (i, &(x, y)) in s.points.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{} {}",
                    if i == 0 { "M" } else { "L" },
                    c(sx(x)),
                    c(sy(y))
                );
            }
            let _ = write!(
                o,
                "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" stroke-linejoin=\"round\"{dash}><title>{}</title></path>",
                s.color,
                esc(&s.label)
            );
        }
        if (s.markers || s.points.len() == 1) && s.points.len() <= 200 {
            for &(xv, y) in &s.points {
                let xl = match x {
                    XAxis::Categories(cats) => cats.get(xv as usize).cloned().unwrap_or_default(),
                    XAxis::Linear => fmt(xv),
                };
                let _ = write!(
                    o,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3.2\" fill=\"{}\"><title>{}: {xl}, {}</title></circle>",
                    c(sx(xv)),
                    c(sy(y)),
                    s.color,
                    esc(&s.label),
                    fmt(y)
                );
            }
        }
    }
    o.push_str("</svg>");
    o
}

fn stacked_hbar(
    id: &str,
    title: &str,
    rows: &[String],
    parts: &[(&str, &str)],
    values: &[Vec<f64>],
    x_label: &str,
) -> String {
    let (ml, mr, mt, mb) = (190.0, 18.0, 10.0, 44.0);
    let row_h = 24.0;
    let h = mt + mb + row_h * rows.len() as f64;
    let pw = W - ml - mr;
    let xmax = values
        .iter()
        .map(|v| v.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let (x0, x1, ticks, step) = nice_axis(0.0, xmax, 8);
    let sx = |v: f64| ml + (v - x0) / (x1 - x0) * pw;
    let mut o = svg_open(id, title, h);
    o.push_str("<g stroke=\"#e6e9ef\">");
    for &t in &ticks {
        let _ = write!(
            o,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>",
            c(mt),
            c(h - mb),
            x = c(sx(t))
        );
    }
    o.push_str("</g><g font-size=\"11\">");
    for &t in &ticks {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            c(sx(t)),
            c(h - mb + 16.0),
            esc(&tick_label(t, step))
        );
    }
    let _ = write!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
        c(ml + pw / 2.0),
        c(h - 8.0),
        esc(x_label)
    );
    for (i, (label, vals)) in rows.iter().zip(values).enumerate() {
        let y = mt + row_h * i as f64;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            c(ml - 6.0),
            c(y + row_h / 2.0 + 4.0),
            esc(&cut(label, 30))
        );
        let mut acc = 0.0;
        for (v, (name, color)) in vals.iter().zip(parts) {
            if *v <= 0.0 {
                continue;
            }
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"><title>{}: {name} {} ms</title></rect>",
                c(sx(acc)),
                c(y + 4.0),
                c((sx(acc + v) - sx(acc)).max(0.5)),
                c(row_h - 8.0),
                esc(label),
                fmt(*v)
            );
            acc += v;
        }
    }
    let _ = write!(
        o,
        "</g><line x1=\"{ml}\" x2=\"{ml}\" y1=\"{mt}\" y2=\"{}\" stroke=\"#5a6270\"/></svg>",
        c(h - mb)
    );
    o
}

fn legend(series: &[Series]) -> String {
    let mut o = String::from("<div class=\"legend\">");
    for s in series {
        let dash = s
            .dash
            .map(|d| format!(" stroke-dasharray=\"{d}\""))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<span><svg width=\"26\" height=\"10\"><line x1=\"1\" x2=\"25\" y1=\"5\" y2=\"5\" stroke=\"{}\" stroke-width=\"2\"{dash}/></svg>{}</span>",
            s.color,
            esc(&s.label)
        );
    }
    o.push_str("</div>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dist(scale: f64) -> Value {
        json!({"count": 100, "mean": 2.0 * scale, "median": 2.0 * scale, "std": 0.5, "min": 0.5 * scale, "max": 9.0 * scale,
               "p0_1": 0.5 * scale, "p1": 0.6 * scale, "p5": 0.8 * scale, "p10": 1.0 * scale, "p25": 1.5 * scale, "p50": 2.0 * scale,
               "p75": 2.5 * scale, "p90": 3.5 * scale, "p95": 4.0 * scale, "p99": 6.0 * scale, "p99_9": 8.5 * scale})
    }

    fn bench(i: usize, model: &str, rate: f64, n_requests: usize, n_points: usize) -> Value {
        let t: Vec<f64> = (0..n_points).map(|k| k as f64 * 0.1).collect();
        let wave = |a: f64| -> Vec<f64> {
            (0..n_points)
                .map(|k| a * (1.0 + (k as f64 / 10.0).sin()))
                .collect()
        };
        let requests: Vec<Value> = (0..n_requests)
            .map(|k| json!({"id": k, "status": "successful", "finish_reason": "length", "error": null, "prompt_tokens": 64,
                             "prompt_tokens_sent": 64, "output_tokens": 32, "ttft_ms": 12.5, "latency_ms": 80.0, "in_window": true,
                             "timestamps_ns": {"scheduled": k * 1000, "sent": k * 1000 + 10, "end": k * 1000 + 900}}))
            .collect();
        let s = 1.0 + rate / 10.0;
        json!({
            "model": model, "index": i, "strategy": {"type": "constant", "rate": rate}, "ended_by": "max_seconds",
            "start_ns": 0, "end_ns": 5_000_000_000u64, "window_start_ns": 0, "window_end_ns": 5_000_000_000u64,
            "requests_total": n_requests,
            "summary": {"requests": {"successful": n_requests, "incomplete": 0, "errored": 0}, "duration_s": 5.0,
                        "requests_per_second": rate * 0.98, "output_tokens_per_second": rate * 31.0, "input_tokens_per_second": rate * 64.0,
                        "total_tokens_per_second": rate * 95.0, "concurrency": rate * 0.08,
                        "ttft_ms": dist(10.0 * s), "itl_ms": dist(2.0 * s), "tpot_ms": dist(2.0 * s), "request_latency_ms": dist(70.0 * s),
                        "latency_from_scheduled_ms": dist(71.0 * s), "dispatch_lag_us": dist(20.0), "prompt_tokens": dist(32.0), "output_tokens": dist(16.0),
                        "stages_ms": {"dispatch": {"median": 0.05}, "handover": {"median": 0.1}, "queue": {"median": 1.0 * s},
                                      "prefill": {"median": 8.0 * s}, "decode": {"median": 60.0 * s}, "delivery": {"median": 0.2}}},
            "timeseries": {"t_s": t, "output_tokens_per_s": wave(rate * 30.0), "requests_in_flight": wave(rate * 0.1)},
            "telemetry": {"t_s": t, "running": wave(rate * 0.1), "waiting": wave(0.5), "kv_cache_usage": wave(0.2), "prefix_cache_hit_rate": wave(0.1), "preemptions": wave(0.0)},
            "headroom": {"harness_limited": i == 2, "warnings": if i == 2 { json!(["dispatch lag p99 <b>3 ms</b> is above 10% of the median ITL"]) } else { json!([]) }},
            "records": requests
        })
    }

    fn report(n_requests: usize, n_points: usize) -> Value {
        json!({
            "report_version": 2, "llmbench_version": "0.1.0", "partial": true, "interrupted": true,
            "command": ["llmbench", "benchmark", "run", "--model", "m", "--backend-kwargs", "{\"engine\": \"mock\"}"],
            "random_seed": 42, "clock": {"origin_monotonic_ns": 1, "origin_unix_s": 1_700_000_000.5},
            "host": {"hostname": "box", "cpus": 2, "os": "linux", "arch": "x86_64", "gpu": {"present": false}},
            "llmbench_config": {"backend": "vllm_python", "engine": "mock"},
            "models": [
                {"model": "m", "status": "ok", "error": null, "engine_starts": 1, "worker": {"python": "3.11.2", "vllm": "0.9.0", "torch": "2.7"},
                 "engine": {"engine": "mock", "device": "cpu", "max_model_len": 1024, "config": {"max_num_seqs": 256, "block_size": 16}}},
                {"model": "broken<model>", "status": "failed", "error": "broken<model>: engine died: <script>alert(1)</script>", "engine_starts": 0}
            ],
            "benchmarks": [bench(0, "m", 1.0, n_requests, n_points), bench(1, "m", 4.0, 10, n_points), bench(2, "m", 8.0, 10, n_points), bench(3, "m2", 2.0, 10, 50)]
        })
    }

    #[test]
    fn renders_every_chart_and_section() {
        let html = render_value(&report(120, 300));
        for id in CHART_IDS {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
            assert!(
                html.contains(&format!("id=\"{id}-data\"")),
                "{id} has no data table"
            );
        }
        for id in [
            "run-meta",
            "partial-banner",
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
        let html = render_value(&report(20, 50));
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
        let html = render_value(&report(5, 5));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<b>3 ms</b>"));
        assert!(html.contains("broken&lt;model&gt;"));
        let mut r = report(5, 5);
        r["benchmarks"][0]["strategy"] = json!({"type": "\"><svg onload=alert(1)>"});
        r["command"] = json!(["<img src=x onerror=alert(1)>"]);
        r["llmbench_config"] = json!({"x": "</pre><script>alert(2)</script>"});
        let html = render_value(&r);
        assert!(
            !html.contains("<svg onload")
                && !html.contains("<img src")
                && !html.contains("<script>alert(2)")
        );
    }

    #[test]
    fn missing_or_odd_keys_leave_things_out_without_panicking() {
        for v in [
            json!(null),
            json!([1, 2]),
            json!({}),
            json!({"benchmarks": 5, "models": "x", "command": {"a": 1}}),
            json!({"benchmarks": [null, 3, {"summary": null}, {"summary": {"ttft_ms": {"p50": "x"}}, "timeseries": {"t_s": [1, 2], "output_tokens_per_s": [null]}}]}),
            json!({"benchmarks": [{"summary": {"ttft_ms": {"count": 0}, "requests_per_second": f64::MAX}, "timeseries": {"t_s": [0.0, 1.0], "output_tokens_per_s": [1e308, -1e308]}}]}),
        ] {
            let html = render_value(&v);
            assert!(html.contains("</html>"));
        }
        let html = render_value(&json!({}));
        for id in CHART_IDS {
            assert!(
                !html.contains(&format!("id=\"{id}\"")),
                "{id} drawn without data"
            );
        }
        // Without the newer keys, only the summary charts are drawn; the rest are named.
        let mut r = report(5, 5);
        for b in r["benchmarks"].as_array_mut().unwrap() {
            let o = b.as_object_mut().unwrap();
            o.remove("timeseries");
            o.remove("telemetry");
            o["summary"].as_object_mut().unwrap().remove("stages_ms");
        }
        let html = render_value(&r);
        assert!(
            html.contains("id=\"chart-ttft-dist\"") && html.contains("id=\"chart-sweep-ttft\"")
        );
        assert!(
            !html.contains("id=\"chart-stages\"")
                && !html.contains("id=\"chart-tokens-over-time\"")
        );
        assert!(html.contains("id=\"charts-left-out\""));
    }

    #[test]
    fn older_reports_with_p999_and_no_p0_1() {
        let mut r = report(5, 5);
        for b in r["benchmarks"].as_array_mut().unwrap() {
            let d = b["summary"]["ttft_ms"].as_object_mut().unwrap();
            d.remove("p0_1");
            let v = d.remove("p99_9").unwrap();
            d.insert("p999".into(), v);
        }
        let html = render_value(&r);
        assert!(html.contains("id=\"chart-ttft-dist\""));
        // p99.9 of bench 0 (8.5 × 10 × 1.1 = 93.5) is in its table.
        assert!(html.contains("<td>93.50</td>"));
    }

    #[test]
    fn a_long_run_renders_small() {
        // 100,000 requests and 100,000-point series in one benchmark, plus three more benchmarks.
        let r = report(100_000, 100_000);
        let html = render_value(&r);
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
        // No path has more than MAX_POINTS points.
        for path in html.split("<path d=\"").skip(1) {
            let d = &path[..path.find('"').unwrap()];
            assert!(
                d.matches('L').count() < MAX_POINTS,
                "{} points",
                d.matches('L').count()
            );
        }
    }

    #[test]
    fn downsampling_keeps_extremes_and_bounds() {
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, if i == 77_777 { 1e6 } else { (i % 100) as f64 }))
            .collect();
        let d = downsample(pts, MAX_POINTS);
        assert!(d.len() <= MAX_POINTS);
        assert!(d.iter().any(|p| p.1 == 1e6), "the spike survives");
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        assert_eq!(downsample(vec![(0.0, 1.0)], MAX_POINTS).len(), 1);
        assert_eq!(
            pick(&(0..1000).map(|i| (i as f64, 0.0)).collect::<Vec<_>>(), 100).len(),
            100
        );
    }

    #[test]
    fn nice_axes() {
        let (a, b, t, s) = nice_axis(0.0, 97.0, 6);
        assert_eq!((a, b, s), (0.0, 100.0, 20.0));
        assert_eq!(t.len(), 6);
        let (a, b, _, _) = nice_axis(5.0, 5.0, 6);
        assert!(a < 5.0 && b > 5.0);
        let (a, b, _, _) = nice_axis(0.0, 0.0, 6);
        assert!(a == 0.0 && b >= 1.0);
        let (_, _, t, _) = nice_axis(f64::NAN, f64::INFINITY, 6);
        assert!(!t.is_empty() && t.len() < 20);
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(-0.0, 0.5), "0.0");
        assert_eq!(tick_label(150_000.0, 20_000.0), "150k");
        assert_eq!(tick_label(5_000.0, 500.0), "5000");
        assert_eq!(tick_label(12_000.0, 2_000.0), "12k");
        assert_eq!(tick_label(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(tick_label(0.0, 20_000.0), "0");
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}
