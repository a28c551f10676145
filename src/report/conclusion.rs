//! A search's answer (`conclusions` in the report, GuideLLM's name): what the goodput or knee
//! profile found for a model, in numbers and in one plain-language paragraph, and the ranking of
//! the models by it.

use super::BenchmarkEntry;
use crate::metrics::Slo;
use crate::scheduler::search::{GoodputState, KneeState, Search};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What one model's search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conclusion {
    /// The model searched.
    pub model: String,
    /// `goodput` or `knee`.
    pub profile: String,
    /// The answer in words (also printed at the end of the console output and at the top of
    /// the HTML report).
    pub answer: String,
    /// The concurrency the answer names: the highest level that met the target attainment
    /// (goodput), or the first measured level at or above the knee (knee). Null when there is
    /// none.
    pub streams: Option<u32>,
    /// The report index of the benchmark measured at `streams`.
    pub benchmark: Option<usize>,
    /// That benchmark's request rate.
    pub requests_per_second: Option<f64>,
    /// That benchmark's output token rate.
    pub output_tokens_per_second: Option<f64>,
    /// Goodput: that benchmark's SLO attainment.
    pub attainment: Option<f64>,
    /// Goodput: its Wilson interval at `confidence`, [lower, upper].
    pub attainment_interval: Option<[f64; 2]>,
    /// Goodput: the confidence of the probes' intervals.
    pub confidence: Option<f64>,
    /// Benchmarks the search ran.
    pub benchmarks_run: usize,
    /// Engine starts of the model (1: every probe ran on the same engine).
    pub engine_starts: u32,
    /// Seconds from the first probe's start to the last probe's end, resets included.
    pub search_s: f64,
    /// Seconds the engine took to start (once).
    pub engine_start_s: Option<f64>,
    /// False when the search was cut short (an error, a failed engine, Ctrl-C): the answer is
    /// from the probes that ran.
    pub complete: bool,
    /// The search's own record, in GuideLLM 0.8.1's shape (its `conclusions` entries): the
    /// goodput search's `GoodputSearchState`, or the knee's `KneeDetectionConclusion`.
    #[serde(flatten)]
    pub trace: Trace,
}

/// A search's record, its fields at the conclusion's top level as in GuideLLM's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Trace {
    Goodput(GoodputState),
    Knee(KneeState),
}

/// "TTFT ≤ 500 ms and TPOT ≤ 50 ms".
pub fn targets_text(slo: &Slo) -> String {
    let name = |k: &str| match k {
        "ttft_ms" => "TTFT",
        "tpot_ms" => "TPOT",
        "e2el_ms" => "latency",
        "itl_ms" => "every ITL gap",
        _ => "?",
    };
    let parts: Vec<String> = slo
        .targets()
        .iter()
        .map(|(k, v)| format!("{} ≤ {} ms", name(k), fmt_num(*v)))
        .collect();
    match parts.len() {
        0 => "no target".into(),
        1 => parts[0].clone(),
        n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// "3 min 10 s", "42 s".
pub fn duration_text(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Thousands separators: 6020 → "6,020".
fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn starts_text(n: u32) -> String {
    match n {
        1 => "one engine start".into(),
        n => format!("{n} engine starts"),
    }
}

/// The benchmark (among `benches`, the model's benchmarks of this search) measured at `streams`:
/// the last one, as a search may revisit a level.
fn at(benches: &[BenchmarkEntry], streams: u32) -> Option<&BenchmarkEntry> {
    benches
        .iter()
        .rev()
        .find(|b| b.strategy.concurrency() == Some(streams))
}

/// The conclusion of `search` over the model's `benches` (this search's benchmarks, in order).
#[allow(clippy::too_many_arguments)]
pub fn conclude(
    model: &str,
    search: &Search,
    slo: Option<&Slo>,
    benches: &[BenchmarkEntry],
    engine_starts: u32,
    engine_start_s: Option<f64>,
    search_s: f64,
    cut_short: bool,
) -> Conclusion {
    let mut c = Conclusion {
        model: model.to_string(),
        profile: String::new(),
        answer: String::new(),
        streams: None,
        benchmark: None,
        requests_per_second: None,
        output_tokens_per_second: None,
        attainment: None,
        attainment_interval: None,
        confidence: None,
        benchmarks_run: benches.len(),
        engine_starts,
        search_s,
        engine_start_s,
        complete: !cut_short,
        trace: Trace::Goodput(GoodputState::default()),
    };
    let tail = format!(
        "{} {}, {}, {}.",
        benches.len(),
        if benches.len() == 1 {
            "probe"
        } else {
            "probes"
        },
        starts_text(engine_starts),
        duration_text(search_s)
    );
    let cut = if cut_short {
        " The search was cut short; this is from the probes that ran."
    } else {
        ""
    };
    match search {
        Search::Goodput(g) => {
            c.profile = "goodput".into();
            c.confidence = Some(g.args.confidence);
            let st = &g.state;
            let target = g.args.target_attainment;
            let targets = slo.map(targets_text).unwrap_or_default();
            let pct = |x: f64| format!("{:.1}%", 100.0 * x);
            let conf = format!("{:.0}%", 100.0 * g.args.confidence);
            let mut text = match g.best() {
                Some(p) => {
                    let b = at(benches, p.streams);
                    c.streams = Some(p.streams);
                    c.benchmark = b.map(|b| b.index);
                    c.requests_per_second = Some(p.requests_per_second);
                    c.output_tokens_per_second = Some(p.output_tokens_per_second);
                    c.attainment = Some(p.attainment);
                    c.attainment_interval = Some([p.attainment_lower, p.attainment_upper]);
                    let mut t = format!(
                        "{model} sustains {} concurrent stream{} ({:.1} req/s, {} output tok/s) with {} of requests inside {targets} (target {}; {conf} CI of attainment: {:.3}–{:.3})",
                        p.streams,
                        if p.streams == 1 { "" } else { "s" },
                        p.requests_per_second,
                        thousands(p.output_tokens_per_second),
                        pct(p.attainment),
                        pct(target),
                        p.attainment_lower,
                        p.attainment_upper
                    );
                    match st
                        .lowest_failing_streams
                        .and_then(|w| st.probes.iter().rev().find(|q| q.streams == w))
                    {
                        Some(q) => t.push_str(&format!(
                            "; {} streams attain {:.3}.",
                            q.streams, q.attainment
                        )),
                        None => t.push_str(&format!(
                            "; no level up to {} streams missed the target.",
                            p.streams
                        )),
                    }
                    t
                }
                None => {
                    let lowest = st
                        .probes
                        .iter()
                        .filter(|p| !p.aborted)
                        .min_by_key(|p| p.streams);
                    match lowest {
                        Some(p) => format!(
                            "{model} meets {targets} for {} of requests at no concurrency tried: {} stream{} attain{} {:.3} ({conf} CI {:.3}–{:.3}).",
                            pct(target),
                            p.streams,
                            if p.streams == 1 { "" } else { "s" },
                            if p.streams == 1 { "s" } else { "" },
                            p.attainment,
                            p.attainment_lower,
                            p.attainment_upper
                        ),
                        None => format!("{model}: the goodput search measured no probe it could score."),
                    }
                }
            };
            let why = st.stop_reason.as_deref().unwrap_or("");
            let caveat = match why {
                "converged" | "objectives_unmet_at_minimum" => None,
                "max_streams_reached" => Some(format!(
                    "the search reached max_streams={} without a miss, so the limit is higher",
                    g.args.max_streams
                )),
                "max_probes_exhausted" => Some(format!(
                    "the search used its max_probes={} before the bracket closed, so this is a lower bound",
                    g.args.max_probes
                )),
                "indeterminate_at_minimum" => Some("some probes had too few requests to separate their attainment from the target".into()),
                "constraint_stopped_escalation" => Some("a stopping_scope=all constraint ended the search".into()),
                _ => None,
            };
            if let Some(k) = caveat {
                text.push_str(&format!(" Note: {k}."));
            }
            let early = st
                .probes
                .iter()
                .filter(|p| p.decided_early.is_some())
                .count();
            if early > 0 {
                text.push_str(&format!(
                    " {early} of {} probes ended as soon as Wald's sequential test decided them (decide_early, ±{} around the target).",
                    st.probes.len(),
                    g.args.decide_margin
                ));
            }
            let unresolved: Vec<String> = st
                .probes
                .iter()
                .filter(|p| !p.resolved && !p.aborted)
                .map(|p| p.streams.to_string())
                .collect();
            if !unresolved.is_empty() && why != "indeterminate_at_minimum" {
                text.push_str(&format!(
                    " Probes at {} streams collected too few requests to separate their attainment from the target (longer probes would).",
                    unresolved.join(", ")
                ));
            }
            c.answer = format!("{text} {tail}{cut}");
            c.trace = Trace::Goodput(st.clone());
        }
        Search::Knee(k) => {
            c.profile = "knee".into();
            let st = &k.state;
            let peak = st.knee_points.iter().max_by(|a, b| {
                a.output_tokens_per_second
                    .total_cmp(&b.output_tokens_per_second)
            });
            let fin = st.final_analysis.as_ref();
            let text = match (fin.map(|f| &f.throughput), peak) {
                (Some(t), Some(peak)) if t.status == "ok" => {
                    let sat = t.saturation_concurrency.unwrap_or(0.0) as u32;
                    let b = at(benches, sat);
                    c.streams = Some(sat);
                    c.benchmark = b.map(|b| b.index);
                    c.requests_per_second = b.map(|b| b.summary.requests_per_second);
                    c.output_tokens_per_second = b.map(|b| b.summary.output_tokens_per_second);
                    format!(
                        "{model}'s output throughput stops scaling at about {:.1} concurrent streams: {sat} streams give {} output tok/s ({:.1} req/s), {:.0}% of the peak {} tok/s at {} streams (two-segment fit {:.0}% better than one line; the tail rises at {:.2}× the rising slope).",
                        t.knee.unwrap_or(0.0),
                        thousands(c.output_tokens_per_second.unwrap_or(0.0)),
                        c.requests_per_second.unwrap_or(0.0),
                        100.0 * c.output_tokens_per_second.unwrap_or(0.0) / peak.output_tokens_per_second.max(1e-9),
                        thousands(peak.output_tokens_per_second),
                        peak.streams,
                        100.0 * t.fit_improvement.unwrap_or(0.0),
                        t.slope_ratio.unwrap_or(0.0),
                    )
                }
                (t, peak) => {
                    let lo = st.knee_points.iter().map(|p| p.streams).min().unwrap_or(0);
                    let hi = st.knee_points.iter().map(|p| p.streams).max().unwrap_or(0);
                    let mut s = format!(
                        "{model}: no throughput knee between {lo} and {hi} streams ({})",
                        t.map(|t| t.reason.as_str()).unwrap_or("not analysed")
                    );
                    if let Some(p) = peak {
                        s.push_str(&format!(
                            "; the peak is {} output tok/s at {} streams",
                            thousands(p.output_tokens_per_second),
                            p.streams
                        ));
                    }
                    s.push('.');
                    s
                }
            };
            let tail = tail.replacen("probe", "benchmark", 1);
            c.answer = format!("{text} {tail}{cut}");
            c.trace = Trace::Knee(st.clone());
        }
    }
    c
}

/// The models ranked by their answer (best first), per search profile that two or more models
/// ran: goodput by the request rate at the highest passing level, knee by the output token rate
/// at the saturation level; models without an answer last.
pub fn rankings(cs: &[Conclusion]) -> Vec<(&'static str, Vec<&Conclusion>)> {
    let mut out = vec![];
    for profile in ["goodput", "knee"] {
        let mut v: Vec<&Conclusion> = cs.iter().filter(|c| c.profile == profile).collect();
        if v.len() < 2 {
            continue;
        }
        let key = |c: &Conclusion| match profile {
            "goodput" => c.requests_per_second,
            _ => c.output_tokens_per_second,
        };
        v.sort_by(|a, b| match (key(a), key(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        out.push((profile, v));
    }
    out
}
