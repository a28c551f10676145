//! GuideLLM's view of the report: the keys GuideLLM 0.8.1's `GenerativeBenchmarksReport`
//! loads (schema version 2), built from the typed `Report` alone, so that this run's report
//! and any report read back by `benchmark from-file` carry the same view. The JSON and YAML
//! writers serialize `WithGuideLlm`: llmbench's own keys first, unchanged, then GuideLLM's
//! (`metadata`, `config`, `conclusions`, and in each benchmark `type_`, `config`,
//! `scheduler_state`, `scheduler_metrics`, `metrics`, `requests`, `warnings` and the time
//! fields GuideLLM's dump computes). Reading a report back ignores these keys (serde skips
//! unknown fields); writing it again regenerates them from llmbench's data.
//!
//! GuideLLM's names keep GuideLLM's definitions (`benchmark/schemas/metrics.py`,
//! `schemas/base/request_stats.py`): every metric is computed from the per-request records
//! the report keeps, with GuideLLM's formulas and its distribution code (`stats`, a port of
//! `schemas/base/statistics.py`). docs/guidellm-report.md lists what maps to what and the
//! fields llmbench does not measure.

mod stats;

pub use stats::{Dist, Percentiles, StatusDist};

use super::{BenchmarkEntry, DataSourceInfo, Records, Report, RequestRecordOut};
use crate::metrics::window::Amount;
use crate::metrics::Status;
use crate::scheduler::{
    ConstraintKind, EndReason, Limits, PerBenchmark, Profile, Strategy, SweepStrategy, ERROR_WINDOW,
};
use serde::ser::{Error as _, Impossible, SerializeMap, SerializeStruct, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The GuideLLM release whose report models this view follows (and tests/guidellm_compat.rs
/// loads it with).
pub const GUIDELLM_VERSION: &str = "0.8.1";

/// The report with GuideLLM's view added: what the JSON and YAML outputs serialize.
pub struct WithGuideLlm<'a>(pub &'a Report);

impl Serialize for WithGuideLlm<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = ser.serialize_map(None)?;
        let benchmarks = Benchmarks(r);
        r.serialize(FieldsInto {
            map: &mut map,
            swap: Some(("benchmarks", &benchmarks)),
        })?;
        map.serialize_entry("metadata", &metadata(r))?;
        map.serialize_entry("config", &scenario(r))?;
        if r.conclusions.is_empty() {
            // GuideLLM's key; llmbench's own `conclusions` holds its entries when there are any.
            map.serialize_entry("conclusions", &[(); 0])?;
        }
        map.end()
    }
}

/// `benchmarks`: each entry's llmbench keys, then GuideLLM's.
struct Benchmarks<'a>(&'a Report);

impl Serialize for Benchmarks<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.benchmarks.iter().map(|b| Benchmark(self.0, b)))
    }
}

struct Benchmark<'a>(&'a Report, &'a BenchmarkEntry);

impl Serialize for Benchmark<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (r, b) = (self.0, self.1);
        let mut map = ser.serialize_map(None)?;
        b.serialize(FieldsInto::<_, ()> {
            map: &mut map,
            swap: None,
        })?;
        let v = BenchmarkView::new(r, b);
        map.serialize_entry("type_", "generative_benchmark")?;
        map.serialize_entry("config", &v.config())?;
        map.serialize_entry("scheduler_state", &v.scheduler_state())?;
        map.serialize_entry("scheduler_metrics", &v.scheduler_metrics())?;
        let metrics = v.metrics();
        map.serialize_entry("metrics", &metrics)?;
        map.serialize_entry("requests", &v.requests())?;
        map.serialize_entry("warnings", &v.warnings(&metrics))?;
        // GuideLLM's computed fields, as its own dump writes them.
        map.serialize_entry("start_time", &v.ws)?;
        map.serialize_entry("end_time", &v.we)?;
        map.serialize_entry("duration", &(v.we - v.ws))?;
        map.serialize_entry("warmup_duration", &(v.ws - v.start))?;
        map.serialize_entry("cooldown_duration", &(v.end - v.we))?;
        map.end()
    }
}

// ------------------------------------------------------------------------------------------
// Top level: metadata and the scenario (GuideLLM's BenchmarkScenario)
// ------------------------------------------------------------------------------------------

/// `metadata`: schema version 2; the version field names llmbench, which wrote the file.
fn metadata(r: &Report) -> Value {
    let python = r
        .models
        .iter()
        .find_map(|m| m.worker.as_ref().map(|w| w.python.clone()))
        .unwrap_or_else(|| "unknown".into());
    json!({
        "version": 2,
        "guidellm_version": format!("llmbench {} (GuideLLM {GUIDELLM_VERSION} report layout)", r.llmbench_version),
        "python_version": python,
        "platform": format!("{}-{}", r.host.os, r.host.arch),
    })
}

/// The model's vLLM engine arguments: --backend-kwargs' vllm_config with the model's own
/// overrides (--models-file) on top.
fn vllm_config(r: &Report, model: &str) -> Map<String, Value> {
    let mut c = r.llmbench_config.vllm_config.clone();
    if let Some(m) = r.llmbench_config.models.iter().find(|m| m.name == model) {
        c.extend(m.overrides.clone());
    }
    c
}

/// GuideLLM's `VLLMPythonAsyncBackendArgs` (or `VLLMPythonBatchBackendArgs`) for one model
/// (its `model` is one string).
fn backend_args(r: &Report, model: &str) -> Value {
    let mut v = json!({
        "kind": "vllm_python",
        "model": model,
        "vllm_config": vllm_config(r, model),
        "request_format": r.llmbench_config.request_format,
    });
    if let Some(b) = r.llmbench_config.batching {
        v["kind"] = json!("vllm_python_batch");
        v["batch_size"] = json!(b.batch_size);
        v["batch_timeout"] = json!(b.batch_timeout);
    }
    v
}

fn transient(a: Option<Amount>, of: super::WindowUnit) -> Value {
    let mode = match of {
        super::WindowUnit::Seconds => "duration",
        super::WindowUnit::Requests => "requests",
    };
    match a {
        None => json!({"percent": null, "value": null, "mode": mode}),
        Some(Amount::Fraction(f)) => json!({"percent": f, "value": null, "mode": mode}),
        Some(Amount::Absolute(x)) => json!({"percent": null, "value": x, "mode": mode}),
    }
}

/// GuideLLM's `ProfileArgs` for llmbench's profile.
fn profile_args(r: &Report) -> Value {
    let c = &r.llmbench_config;
    let mut p = match &c.profile {
        Profile::Synchronous => json!({"kind": "synchronous"}),
        Profile::Concurrent(s) => json!({"kind": "concurrent", "streams": s}),
        Profile::Throughput(m) => json!({"kind": "throughput", "max_concurrency": m}),
        Profile::Constant(rates) => {
            json!({"kind": "constant", "rate": rates, "max_concurrency": c.profile_options.max_concurrency})
        }
        Profile::Poisson(rates) => {
            json!({"kind": "poisson", "rate": rates, "max_concurrency": c.profile_options.max_concurrency})
        }
        Profile::Sweep(n) => {
            // The sweep's throughput benchmark ran at max_concurrency if given, else at the
            // engine's max_num_seqs.
            let cap = c.profile_options.max_concurrency.or_else(|| {
                r.benchmarks.iter().find_map(|b| match b.strategy {
                    Strategy::Throughput { max_concurrency } => Some(max_concurrency),
                    _ => None,
                })
            });
            let kind = match c.profile_options.sweep_strategy {
                SweepStrategy::Constant => "constant",
                SweepStrategy::Poisson => "poisson",
            };
            json!({"kind": "sweep", "sweep_size": n, "strategy_type": kind, "max_concurrency": cap})
        }
        Profile::Goodput(g) => {
            let mut v = serde_json::to_value(g).expect("plain data");
            v["kind"] = json!("goodput");
            // llmbench's own keys, which GuideLLM's GoodputProfileArgs does not have.
            let o = v.as_object_mut().expect("an object");
            o.remove("decide_early");
            o.remove("decide_margin");
            v
        }
        Profile::Knee(k) => json!({
            "kind": "knee",
            "initial_streams": k.streams,
            "min_streams": null,
            "max_streams": null,
            "count": null,
            "adaptive": k.adaptive,
            "points_each_side": k.points_each_side,
            "max_step": k.max_step,
        }),
        Profile::Replay(a) => json!({
            "kind": "replay",
            "time_scale": a.time_scale,
            "schedule_turn": a.schedule_turn.name(),
        }),
    };
    let o = p.as_object_mut().expect("an object");
    o.insert("rampup_duration".into(), json!(c.limits.rampup));
    o.insert("warmup".into(), transient(c.window.warmup, c.window.of));
    o.insert("cooldown".into(), transient(c.window.cooldown, c.window.of));
    p
}

/// GuideLLM's `DataArgs` for llmbench's data: a synthetic_text spec, or a file by its
/// extension.
fn data_args(r: &Report) -> Value {
    match &r.llmbench_config.data_source {
        DataSourceInfo::Synthetic { spec } => {
            let mut d = Map::new();
            d.insert("kind".into(), json!("synthetic_text"));
            let mut length = |name: &str, l: &crate::data::synthetic::LengthDist| {
                d.insert(
                    format!("{name}_tokens"),
                    json!(l.mean.round().max(1.0) as u64),
                );
                if let Some(s) = l.stdev.filter(|s| *s > 0.0) {
                    d.insert(
                        format!("{name}_tokens_stdev"),
                        json!(s.round().max(1.0) as u64),
                    );
                    d.insert(format!("{name}_tokens_min"), json!(l.min.max(1)));
                    d.insert(format!("{name}_tokens_max"), json!(l.max.max(1)));
                }
            };
            length("prompt", &spec.prompt);
            if let Some(o) = &spec.output {
                length("output", o);
            }
            if let Some(b) = &spec.prefix_buckets {
                d.insert("prefix_buckets".into(), json!(b));
            } else if spec.prefix_tokens > 0 {
                d.insert("prefix_tokens".into(), json!(spec.prefix_tokens));
                d.insert("prefix_count".into(), json!(spec.prefix_count.max(1)));
            }
            json!([d])
        }
        DataSourceInfo::File {
            path,
            split: Some(split),
            ..
        } => json!([{"kind": "huggingface", "source": path, "load_kwargs": {"split": split}}]),
        DataSourceInfo::File { path, .. } => {
            let ext = std::path::Path::new(path)
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let kind = match ext.as_str() {
                "csv" => "csv_file",
                "parquet" => "parquet_file",
                "arrow" | "feather" => "arrow_file",
                "txt" | "text" => "text_file",
                // A dataset directory whose saved Dataset records no split.
                "" => return json!([{"kind": "huggingface", "source": path}]),
                _ => "json_file",
            };
            json!([{"kind": kind, "path": path}])
        }
        DataSourceInfo::Trace {
            trace_kind,
            path,
            hash_id_block_size,
            timestamp_unit,
            session_timing,
            ..
        } => {
            let mut d = json!({"kind": trace_kind, "source": {"kind": "json_file", "path": path}});
            if let Some(b) = hash_id_block_size {
                d["hash_id_block_size"] = json!(b);
            }
            let mut scale = session_timing.as_ref().map_or(1.0, |t| t.time_scale);
            if let Some(t) = session_timing {
                // Caps in the trace's unit, as GuideLLM compares them with the raw timestamps.
                if let Some(w) = t.max_wait {
                    d["max_wait"] = json!(w);
                }
                if let Some(w) = t.max_session_wait {
                    d["max_session_wait"] = json!(w);
                }
                if let Some(n) = t.min_concurrent_sessions {
                    d["min_concurrent_sessions"] = json!(n);
                }
                if t.copies != 1 {
                    d["copies"] = json!(t.copies);
                    d["copy_offset"] = json!(t.copy_offset);
                }
            }
            // GuideLLM reads timestamps as seconds: its own time_scale converts milliseconds, so
            // the scenario replays at the speed llmbench did.
            if timestamp_unit == "ms" {
                scale *= 0.001;
            }
            if scale != 1.0 {
                d["time_scale"] = json!(scale);
            }
            json!([d])
        }
    }
}

/// A limit as GuideLLM writes it: one value, or the list (one per benchmark) — or, for one
/// benchmark (`index`), the value it ran with. None when GuideLLM's schema cannot hold it
/// (`ok` fails for a value: GuideLLM's counts and durations are > 0, its rates < 1).
fn limit_value<T: Copy + Serialize>(
    v: &Option<PerBenchmark<T>>,
    index: Option<usize>,
    ok: impl Fn(T) -> bool,
) -> Option<Value> {
    let v = v.as_ref()?;
    if !v.values().iter().all(|x| ok(*x)) {
        return None;
    }
    Some(match index {
        Some(i) => json!(v.at(i)),
        None => json!(v),
    })
}

/// GuideLLM's constraints for llmbench's limits (those it has an equivalent of), each with its
/// stopping_scope: the spec's (lists as given), or with `index` those benchmark `index` of its
/// model's profile ran with.
fn constraint_args(l: &Limits, index: Option<usize>) -> Vec<Value> {
    let mut c = Vec::new();
    let rate = |x: f64| x > 0.0 && x < 1.0;
    let mut push = |kind: ConstraintKind, args: Value| {
        let mut m = Map::new();
        m.insert("kind".into(), json!(kind.name()));
        if let Value::Object(a) = args {
            m.extend(a);
        }
        m.insert("stopping_scope".into(), json!(l.scope(kind)));
        c.push(Value::Object(m));
    };
    if let Some(s) = limit_value(&l.max_seconds, index, |s| s > 0.0) {
        push(ConstraintKind::MaxDuration, json!({"seconds": s}));
    }
    if let Some(n) = limit_value(&l.max_requests, index, |n| n > 0) {
        push(ConstraintKind::MaxRequests, json!({"count": n}));
    }
    if let Some(n) = limit_value(&l.min_requests, index, |n| n > 0) {
        push(ConstraintKind::MinRequests, json!({"count": n}));
    }
    if let Some(n) = limit_value(&l.max_errors, index, |n| n > 0) {
        push(ConstraintKind::MaxErrors, json!({"count": n}));
    }
    if let Some(x) = limit_value(&l.max_error_rate, index, rate) {
        push(
            ConstraintKind::MaxErrorRate,
            json!({"rate": x, "window": ERROR_WINDOW}),
        );
    }
    if let Some(x) = limit_value(&l.max_global_error_rate, index, rate) {
        push(
            ConstraintKind::MaxGlobalErrorRate,
            json!({"rate": x, "minimum": ERROR_WINDOW}),
        );
    }
    if let Some(s) = &l.saturation {
        // GuideLLM's keys; llmbench's growth detector (min_growth) has no GuideLLM equivalent
        // and is written as GuideLLM's detector with its window.
        let mut args = json!({
            "mode": s.mode,
            "min_seconds": s.min_seconds,
            "max_window_seconds": s.window_seconds,
        });
        if s.min_growth.is_none() {
            args["moe_threshold"] = json!(s.moe_threshold);
            args["minimum_ttft"] = json!(s.minimum_ttft);
            args["maximum_window_ratio"] = json!(s.maximum_window_ratio);
            args["minimum_window_size"] = json!(s.minimum_window_size);
            args["confidence"] = json!(s.confidence);
        }
        push(ConstraintKind::OverSaturation, args);
    }
    c
}

/// `config`, GuideLLM's `BenchmarkScenario`. The spec names the first model; a run of several
/// models adds one override per further model (`backend.model`, `backend.vllm_config`), which
/// is how GuideLLM's `get_benchmarks()` runs the same profile again for another model.
fn scenario(r: &Report) -> Value {
    let c = &r.llmbench_config;
    let names: Vec<&str> = if c.models.is_empty() {
        r.models.iter().map(|m| m.model.as_str()).collect()
    } else {
        c.models.iter().map(|m| m.name.as_str()).collect()
    };
    let first = names.first().copied().unwrap_or("");
    let mut benchmarks = vec![Value::Null];
    for m in names.iter().skip(1) {
        benchmarks.push(json!({
            "backend.model": m,
            "backend.vllm_config": vllm_config(r, m),
        }));
    }
    // The user's labels (`--label`, a config file's, GUIDELLM__METADATA__LABELS), then
    // llmbench's own.
    let mut labels: Map<String, Value> = c
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    labels.insert(
        "generated_by".into(),
        Value::String(format!("llmbench {}", r.llmbench_version)),
    );
    labels.insert("engine".into(), Value::String(c.engine.clone()));
    labels.insert("models".into(), Value::String(names.join(",")));
    let level = c.confidence.as_ref().map(|c| c.level);
    let mut metrics = json!({"kind": "generative", "sample_size": null, "confidence": level});
    let slo = guidellm_slo(c.slo.as_ref());
    if !slo.is_null() {
        metrics["slo"] = slo;
    }
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "backend": backend_args(r, first),
            "profile": profile_args(r),
            "constraints": constraint_args(&r.llmbench_config.limits, None),
            "data": data_args(r),
            "seed": {"kind": "static", "value": r.random_seed},
            "metrics": metrics,
        },
        "benchmarks": benchmarks,
    })
}

// ------------------------------------------------------------------------------------------
// One request, as GuideLLM's GenerativeRequestStats sees it
// ------------------------------------------------------------------------------------------

/// A request record with its timestamps in Unix seconds (`clock.origin_unix_s` + ns / 1e9),
/// mapped onto GuideLLM's `RequestTimings`: targeted_start = scheduled, request_start = sent,
/// first/last_token_iteration = first/last_token, request_end = resolve_end = end,
/// token_iterations = request_iterations = output_events.
#[derive(Debug, Clone)]
struct Req {
    id: u64,
    status: Status,
    error: Option<String>,
    targeted: Option<f64>,
    start: Option<f64>,
    first: Option<f64>,
    last: Option<f64>,
    end: Option<f64>,
    /// GuideLLM requires it: `end`, else the last timestamp the request reached, else the
    /// benchmark's end.
    resolve_end: f64,
    iterations: u64,
    prompt: u64,
    output: u64,
    cached: Option<u32>,
    /// Multi-turn data: (conversation, turn index).
    turn: Option<(u64, u32)>,
    /// The previous turn's end (GuideLLM's `predecessor_completed`), unix seconds.
    predecessor_completed: Option<f64>,
}

impl Req {
    fn new(r: &RequestRecordOut, origin_unix_s: f64, bench_end: f64) -> Req {
        let t = &r.timestamps_ns;
        let at = |ns: Option<i64>| ns.map(|ns| origin_unix_s + ns as f64 / 1e9);
        let end = at(t.end);
        let reached = [t.end, t.last_token, t.first_token, t.sent, t.scheduled]
            .into_iter()
            .find_map(at);
        Req {
            id: r.id,
            status: r.status,
            error: r.error.clone(),
            targeted: at(t.scheduled),
            start: at(t.sent),
            first: at(t.first_token),
            last: at(t.last_token),
            end,
            resolve_end: end.or(reached).unwrap_or(bench_end),
            iterations: r.output_events as u64,
            prompt: r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as u64,
            output: r.output_tokens as u64,
            cached: r.cached_tokens,
            turn: r.turn.map(|t| (t.conversation, t.index)),
            predecessor_completed: None,
        }
    }

    /// `request_end_time`.
    fn end_time(&self) -> f64 {
        self.end.unwrap_or(self.resolve_end)
    }
    /// `request_latency`, seconds.
    fn latency(&self) -> Option<f64> {
        Some(self.end? - self.start?)
    }
    fn dispatch_delay(&self) -> Option<f64> {
        Some(self.start? - self.targeted?)
    }
    fn scheduled_latency(&self) -> Option<f64> {
        Some(self.end? - self.targeted?)
    }
    /// GuideLLM's `turn_predecessor_delay`: the part of the dispatch delay spent waiting for
    /// the previous turn past the target (0 for a request without one).
    fn predecessor_delay(&self) -> Option<f64> {
        let (targeted, start) = (self.targeted?, self.start?);
        Some(
            self.predecessor_completed
                .map_or(0.0, |p| (start.min(p) - targeted).max(0.0)),
        )
    }
    fn ttft_ms(&self) -> Option<f64> {
        Some(1000.0 * (self.first? - self.start?))
    }
    /// `time_per_output_token_ms`: (last token − start) / output tokens, TTFT included.
    fn tpot_ms(&self) -> Option<f64> {
        let start = self.start?;
        if self.output == 0 {
            return None;
        }
        let last = self.last.unwrap_or(self.end_time());
        Some(1000.0 * (last - start) / self.output as f64)
    }
    /// `inter_token_latency_ms`: (last − first token) / (output tokens − 1).
    fn itl_ms(&self) -> Option<f64> {
        if self.output <= 1 {
            return None;
        }
        Some(1000.0 * (self.last? - self.first?) / (self.output - 1) as f64)
    }
    fn per_second(&self, tokens: u64) -> Option<f64> {
        let l = self.latency().filter(|l| *l != 0.0)?;
        Some(tokens as f64 / l)
    }
    fn iter_tokens_per_iteration(&self) -> Option<f64> {
        if self.output <= 1 || self.iterations <= 1 {
            return None;
        }
        Some((self.output - 1) as f64 / (self.iterations - 1) as f64)
    }
    fn output_tokens_per_iteration(&self) -> Option<f64> {
        if self.iterations < 1 {
            return None;
        }
        Some(self.output as f64 / self.iterations as f64)
    }
    /// `prompt_tokens_timing`: the prompt counted when the first token came (else at the end).
    fn prompt_timing(&self) -> (f64, f64) {
        (self.first.unwrap_or(self.end_time()), self.prompt as f64)
    }
    /// `iter_tokens_timings`: GuideLLM spreads the iterations after the first evenly between
    /// the first and the last token (np.linspace), each with the mean tokens per iteration.
    fn iter_timings(&self) -> Vec<(f64, f64)> {
        let (Some(first), Some(last), Some(per)) =
            (self.first, self.last, self.iter_tokens_per_iteration())
        else {
            return Vec::new();
        };
        if self.iterations <= 1 {
            return Vec::new();
        }
        linspace(first, last, self.iterations as usize)
            .into_iter()
            .skip(1)
            .map(|t| (t, per))
            .collect()
    }
    /// `output_tokens_timings`.
    fn output_timings(&self) -> Vec<(f64, f64)> {
        match (self.first, self.last) {
            (Some(first), Some(_)) if self.iterations > 1 => {
                let mut v = vec![(first, if self.output > 0 { 1.0 } else { 0.0 })];
                v.extend(self.iter_timings());
                v
            }
            _ => vec![(self.last.unwrap_or(self.end_time()), self.output as f64)],
        }
    }
    fn total_timings(&self) -> Vec<(f64, f64)> {
        let mut v = vec![self.prompt_timing()];
        v.extend(self.output_timings());
        v
    }
    /// GuideLLM's `get_within_range` (closed=False): the event [start_of, end_of] overlaps the
    /// window; an event without a start is instantaneous at its end.
    fn overlaps(&self, start_of: Option<f64>, end_of: Option<f64>, w: (f64, f64)) -> bool {
        let Some(e) = end_of else {
            return false;
        };
        let s = start_of.unwrap_or(e);
        e >= w.0 && s <= w.1
    }
}

/// np.linspace(a, b, n) with its endpoint.
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![a];
    }
    let div = (n - 1) as f64;
    let delta = b - a;
    let step = delta / div;
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            if step == 0.0 {
                i as f64 / div * delta + a
            } else {
                i as f64 * step + a
            }
        })
        .collect();
    v[n - 1] = b;
    v
}

/// GuideLLM's RequestInfo.status for llmbench's status.
fn info_status(s: Status) -> &'static str {
    match s {
        Status::Successful => "completed",
        Status::Incomplete => "cancelled",
        Status::Errored => "errored",
    }
}

#[derive(Serialize)]
struct Timings {
    targeted_start: Option<f64>,
    request_start: Option<f64>,
    first_request_iteration: Option<f64>,
    first_token_iteration: Option<f64>,
    first_output_token_iteration: Option<f64>,
    last_token_iteration: Option<f64>,
    last_request_iteration: Option<f64>,
    request_iterations: u64,
    token_iterations: u64,
    request_end: Option<f64>,
    resolve_end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    predecessor_completed: Option<f64>,
}

#[derive(Serialize)]
struct Info<'a> {
    request_id: String,
    status: &'static str,
    scheduler_node_id: i64,
    scheduler_process_id: i64,
    scheduler_start_time: f64,
    timings: Timings,
    error: Option<&'a str>,
    started_at: Option<f64>,
    completed_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    /// Prior messages sent with the request: a user message and a reply per earlier turn.
    history_len: u32,
    turn_index: u32,
    preceding_nodes: u32,
}

#[derive(Serialize)]
struct Usage {
    text_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_tokens: Option<u32>,
    total_tokens: u64,
}

/// GuideLLM's `GenerativeRequestStats`, its computed fields included (as its dump has them).
#[derive(Serialize)]
struct RequestStats<'a> {
    type_: &'static str,
    request_id: String,
    info: Info<'a>,
    input_metrics: Usage,
    output_metrics: Usage,
    request_start_time: Option<f64>,
    request_end_time: f64,
    request_latency: Option<f64>,
    request_dispatch_delay: Option<f64>,
    turn_predecessor_delay: Option<f64>,
    turn_scheduling_delay: Option<f64>,
    request_scheduled_latency: Option<f64>,
    prompt_tokens: u64,
    cached_tokens: Option<u32>,
    output_tokens: u64,
    total_tokens: u64,
    time_to_first_token_ms: Option<f64>,
    time_to_last_round_trip_ms: Option<f64>,
    avg_round_trip_time_ms: Option<f64>,
    time_per_output_token_ms: Option<f64>,
    inter_token_latency_ms: Option<f64>,
    tokens_per_second: Option<f64>,
    output_tokens_per_second: Option<f64>,
    time_to_first_output_token_ms: Option<f64>,
    iter_tokens_per_iteration: Option<f64>,
    output_tokens_per_iteration: Option<f64>,
}

impl Req {
    fn stats(&self, scheduler_start: f64) -> RequestStats<'_> {
        RequestStats {
            type_: "generative_request_stats",
            request_id: self.id.to_string(),
            info: Info {
                request_id: self.id.to_string(),
                status: info_status(self.status),
                scheduler_node_id: 0,
                scheduler_process_id: 0,
                scheduler_start_time: scheduler_start,
                timings: Timings {
                    targeted_start: self.targeted,
                    request_start: self.start,
                    first_request_iteration: self.first,
                    first_token_iteration: self.first,
                    first_output_token_iteration: self.first,
                    last_token_iteration: self.last,
                    last_request_iteration: self.last,
                    request_iterations: self.iterations,
                    token_iterations: self.iterations,
                    request_end: self.end,
                    resolve_end: self.resolve_end,
                    predecessor_completed: self.predecessor_completed,
                },
                error: self.error.as_deref(),
                started_at: self.start,
                completed_at: Some(self.end_time()),
                conversation_id: self.turn.map(|(c, _)| c.to_string()),
                history_len: self.turn.map_or(0, |(_, k)| 2 * k),
                turn_index: self.turn.map_or(0, |(_, k)| k),
                preceding_nodes: self.turn.map_or(0, |(_, k)| k),
            },
            input_metrics: Usage {
                text_tokens: self.prompt,
                cached_tokens: self.cached,
                total_tokens: self.prompt,
            },
            output_metrics: Usage {
                text_tokens: self.output,
                cached_tokens: None,
                total_tokens: self.output,
            },
            request_start_time: self.start,
            request_end_time: self.end_time(),
            request_latency: self.latency(),
            request_dispatch_delay: self.dispatch_delay(),
            turn_predecessor_delay: self.predecessor_delay(),
            turn_scheduling_delay: self.dispatch_delay(),
            request_scheduled_latency: self.scheduled_latency(),
            prompt_tokens: self.prompt,
            cached_tokens: self.cached,
            output_tokens: self.output,
            total_tokens: self.prompt + self.output,
            time_to_first_token_ms: self.ttft_ms(),
            time_to_last_round_trip_ms: None,
            avg_round_trip_time_ms: None,
            time_per_output_token_ms: self.tpot_ms(),
            inter_token_latency_ms: self.itl_ms(),
            tokens_per_second: self.per_second(self.prompt + self.output),
            output_tokens_per_second: self.per_second(self.output),
            time_to_first_output_token_ms: self.ttft_ms(),
            iter_tokens_per_iteration: self.iter_tokens_per_iteration(),
            output_tokens_per_iteration: self.output_tokens_per_iteration(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// One benchmark
// ------------------------------------------------------------------------------------------

/// GuideLLM's `GenerativeTurnMetrics.compile_by_turn`: per turn index, the counts and the
/// latency, prompt, TTFT and ITL distributions of the requests at that index; None when every
/// request is at turn 0.
fn by_turn(
    g: &ByStatus<&Req>,
    first_token: &ByStatus<&Req>,
    after_first: &ByStatus<&Req>,
) -> Option<Vec<Value>> {
    let all = |b: &ByStatus<&Req>| {
        [&b.successful, &b.incomplete, &b.errored]
            .into_iter()
            .flatten()
            .map(|q| q.turn.map_or(0, |t| t.1))
            .collect::<Vec<u32>>()
    };
    let mut idx: Vec<u32> = [all(g), all(first_token), all(after_first)].concat();
    idx.sort_unstable();
    idx.dedup();
    if idx.is_empty() || idx == [0] {
        return None;
    }
    let at = |k: u32| move |q: &Req| q.turn.map_or(0, |t| t.1) == k;
    Some(
        idx.into_iter()
            .map(|k| {
                let (s, i, e) = g.filter(at(k)).len();
                json!({
                    "turn_index": k,
                    "request_totals": {"successful": s, "incomplete": i, "errored": e, "total": s + i + e},
                    "request_latency": g.filter(at(k)).values(|q| vec![(q.latency().unwrap_or(0.0), 1.0)]),
                    "prompt_token_count": g.filter(at(k)).values(|q| vec![(q.prompt as f64, 1.0)]),
                    "time_to_first_token_ms": first_token.filter(at(k)).values(|q| vec![(q.ttft_ms().unwrap_or(0.0), 1.0)]),
                    "inter_token_latency_ms": after_first.filter(at(k)).values(|q| {
                        let out = if q.output == 0 { 1.0 } else { q.output as f64 };
                        vec![(q.itl_ms().unwrap_or(0.0), out - 1.0)]
                    }),
                })
            })
            .collect(),
    )
}

/// Requests by status (GuideLLM's `StatusBreakdown` of lists).
struct ByStatus<T> {
    successful: Vec<T>,
    incomplete: Vec<T>,
    errored: Vec<T>,
}

impl<'a> ByStatus<&'a Req> {
    fn of(reqs: impl Iterator<Item = &'a Req>) -> Self {
        let mut b = ByStatus {
            successful: Vec::new(),
            incomplete: Vec::new(),
            errored: Vec::new(),
        };
        for q in reqs {
            match q.status {
                Status::Successful => b.successful.push(q),
                Status::Incomplete => b.incomplete.push(q),
                Status::Errored => b.errored.push(q),
            }
        }
        b
    }

    fn filter(&self, f: impl Fn(&Req) -> bool) -> Self {
        let keep = |v: &Vec<&'a Req>| v.iter().copied().filter(|q| f(q)).collect();
        ByStatus {
            successful: keep(&self.successful),
            incomplete: keep(&self.incomplete),
            errored: keep(&self.errored),
        }
    }

    /// `from_values_function`: `f` gives each request's (value, weight) pairs.
    fn values(&self, f: impl Fn(&Req) -> Vec<(f64, f64)>) -> StatusDist {
        self.values_ci(None, f)
    }

    /// `from_values_function` with `uncertainty` at `confidence` (None: without).
    fn values_ci(
        &self,
        confidence: Option<f64>,
        f: impl Fn(&Req) -> Vec<(f64, f64)>,
    ) -> StatusDist {
        let g = |v: &Vec<&Req>| v.iter().flat_map(|q| f(q)).collect::<Vec<_>>();
        StatusDist::values_ci(
            &g(&self.successful),
            &g(&self.incomplete),
            &g(&self.errored),
            confidence,
        )
    }

    /// `rate_distribution_from_timings_function` over the window.
    fn rates(&self, w: (f64, f64), f: impl Fn(&Req) -> Vec<(f64, f64)>) -> StatusDist {
        let g = |v: &Vec<&Req>| v.iter().flat_map(|q| f(q)).collect::<Vec<_>>();
        StatusDist::rates(
            &g(&self.successful),
            &g(&self.incomplete),
            &g(&self.errored),
            Some(w),
        )
    }

    fn len(&self) -> (usize, usize, usize) {
        (
            self.successful.len(),
            self.incomplete.len(),
            self.errored.len(),
        )
    }
}

/// One value per request, weight 1 (GuideLLM's lambdas `req.x or 0.0`).
fn one(v: Option<f64>) -> Vec<(f64, f64)> {
    vec![(v.unwrap_or(0.0), 1.0)]
}

/// GuideLLM's `GenerativeMetricsSummary` (input, output and total values, rates and
/// concurrency) of a token count.
#[derive(Serialize, Default)]
struct MetricsSummary {
    input: Option<StatusDist>,
    input_per_second: Option<StatusDist>,
    input_concurrency: Option<StatusDist>,
    output: Option<StatusDist>,
    output_per_second: Option<StatusDist>,
    output_concurrency: Option<StatusDist>,
    total: Option<StatusDist>,
    total_per_second: Option<StatusDist>,
    total_concurrency: Option<StatusDist>,
}

/// A timed metric: (start, end, value) per request, per status.
type Timed = [Vec<(f64, f64, f64)>; 3];

impl MetricsSummary {
    /// `GenerativeMetricsSummary.compile` of the text tokens (prompt as input, output as output).
    fn text_tokens(g: &ByStatus<&Req>) -> MetricsSummary {
        let timed = |f: &dyn Fn(&Req) -> f64| -> Timed {
            let of = |v: &Vec<&Req>| {
                v.iter()
                    .filter_map(|q| Some((q.start?, q.end_time(), f(q))))
                    .collect::<Vec<_>>()
            };
            [of(&g.successful), of(&g.incomplete), of(&g.errored)]
        };
        let input = timed(&|q| q.prompt as f64);
        let output = timed(&|q| q.output as f64);
        let (iv, ir, ic) = Self::dists(&input);
        let (ov, or, oc) = Self::dists(&output);
        let both: Timed = std::array::from_fn(|i| [input[i].clone(), output[i].clone()].concat());
        let (tv, tr, tc) = Self::dists(&both);
        MetricsSummary {
            input: Some(iv),
            input_per_second: Some(ir),
            input_concurrency: Some(ic),
            output: Some(ov),
            output_per_second: Some(or),
            output_concurrency: Some(oc),
            total: Some(tv),
            total_per_second: Some(tr),
            total_concurrency: Some(tc),
        }
    }

    /// Values, rates at each request's end, and concurrency over [start, end], unwindowed.
    fn dists(t: &Timed) -> (StatusDist, StatusDist, StatusDist) {
        let val = |i: usize| t[i].iter().map(|x| (x.2, 1.0)).collect::<Vec<_>>();
        let rate = |i: usize| t[i].iter().map(|x| (x.1, x.2)).collect::<Vec<_>>();
        (
            StatusDist::values(&val(0), &val(1), &val(2)),
            StatusDist::rates(&rate(0), &rate(1), &rate(2), None),
            StatusDist::concurrency(&t[0], &t[1], &t[2], None),
        )
    }
}

/// GuideLLM's `GenerativeMetrics`.
#[derive(Serialize)]
struct Metrics {
    request_totals: Value,
    requests_per_second: StatusDist,
    request_concurrency: StatusDist,
    request_latency: StatusDist,
    request_dispatch_delay: Option<StatusDist>,
    request_scheduled_latency: Option<StatusDist>,
    turn_predecessor_delay: Option<StatusDist>,
    turn_scheduling_delay: Option<StatusDist>,
    root_dispatch_delay: Option<Dist>,
    request_streaming_iterations_count: StatusDist,
    prompt_token_count: StatusDist,
    output_token_count: StatusDist,
    total_token_count: StatusDist,
    time_to_first_token_ms: StatusDist,
    time_to_first_output_token_ms: StatusDist,
    time_per_output_token_ms: StatusDist,
    inter_token_latency_ms: StatusDist,
    time_to_last_round_trip_ms: StatusDist,
    avg_round_trip_time_ms: StatusDist,
    prompt_tokens_per_second: StatusDist,
    output_tokens_per_second: StatusDist,
    tokens_per_second: StatusDist,
    output_tokens_per_iteration: StatusDist,
    iter_tokens_per_iteration: StatusDist,
    text: Value,
    image: Value,
    video: Value,
    audio: Value,
    tool_call: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    turns: Option<Vec<Value>>,
    slo_attainment: Option<f64>,
    slo_determined_requests: u64,
    request_goodput: Option<StatusDist>,
}

/// Whether the SLO sets any of GuideLLM's targets (`GoodputSLO` requires one; `itl_ms` is
/// llmbench's own).
fn has_guidellm_target(s: &crate::metrics::Slo) -> bool {
    s.ttft_ms.is_some() || s.tpot_ms.is_some() || s.e2el_ms.is_some()
}

/// `config.slo`: GuideLLM's `GoodputSLO` (`ttft_ms`, `tpot_ms`, `e2el_ms`); null without one of
/// them (llmbench's per-gap `itl_ms` has no GuideLLM equivalent and is left out).
fn guidellm_slo(s: Option<&crate::metrics::Slo>) -> Value {
    match s.filter(|s| has_guidellm_target(s)) {
        None => Value::Null,
        Some(s) => json!({"ttft_ms": s.ttft_ms, "tpot_ms": s.tpot_ms, "e2el_ms": s.e2el_ms}),
    }
}

/// A modality summary with nothing measured: each of its GenerativeMetricsSummary fields
/// with every distribution null (what GuideLLM writes for a modality without data).
fn unmeasured(names: &[&str]) -> Value {
    let none = serde_json::to_value(MetricsSummary::default()).expect("serializable");
    Value::Object(
        names
            .iter()
            .map(|n| (n.to_string(), none.clone()))
            .collect(),
    )
}

/// GuideLLM's `SchedulerUpdateAction` for the limit that ended a benchmark, with the
/// constraint's stopping_scope (what GuideLLM's profiles read to stop escalating), and whether
/// it is a queuing stop (a GuideLLM constraint, or its `requests_exhausted`).
fn stop_action(ended_by: &EndReason, limits: &Limits) -> (String, Value, bool) {
    let (key, queuing) = match (ConstraintKind::of(*ended_by), ended_by) {
        (Some(k), _) => (k.name(), true),
        (None, EndReason::DataExhausted) => ("requests_exhausted", true),
        (None, EndReason::Interrupted) => ("llmbench_interrupted", false),
        (None, EndReason::WorkerDied) => ("llmbench_worker_died", false),
        (None, EndReason::AttainmentDecided) => ("llmbench_attainment_decided", true),
        (None, _) => ("llmbench_engine_stalled", false),
    };
    let scope = ConstraintKind::of(*ended_by).map_or("current", |k| limits.scope(k));
    let processing = if *ended_by == EndReason::OverSaturated {
        "stop_all"
    } else {
        "stop_local"
    };
    let ended = serde_json::to_value(ended_by).unwrap_or(Value::Null);
    (
        key.to_string(),
        json!({
            "request_queuing": "stop",
            "request_processing": processing,
            "stopping_scope": scope,
            "metadata": {"llmbench_ended_by": ended},
        }),
        queuing,
    )
}

/// GuideLLM's over-saturation action with its detector's metadata (what its knee analysis
/// reads): a stop when the detector ended the benchmark.
fn saturation_action(s: &crate::scheduler::SaturationReport, ended: bool, scope: &str) -> Value {
    let stop = |yes: &str, no: &str| {
        if ended {
            yes.to_string()
        } else {
            no.to_string()
        }
    };
    json!({
        "request_queuing": stop("stop", "continue"),
        "request_processing": stop("stop_all", "continue"),
        "stopping_scope": scope,
        "metadata": {
            "ttft_slope": s.ttft_slope,
            "ttft_slope_moe": s.ttft_slope_moe,
            "ttft_n": s.ttft_n,
            "ttft_violations": s.ttft_violations,
            "concurrent_slope": s.concurrent_slope,
            "concurrent_slope_moe": s.concurrent_slope_moe,
            "concurrent_n": s.concurrent_n,
            "is_over_saturated": s.is_over_saturated,
            "llmbench_detector": s.detector,
            "llmbench_mode": s.mode,
            "llmbench_first_detected_s": s.first_detected_s,
        },
    })
}

/// The clock a benchmark's `*_ns` fields are relative to: its source run's in a combined
/// report, else the report's.
fn source_clock<'a>(r: &'a Report, b: &BenchmarkEntry) -> &'a crate::report::Clock {
    b.source
        .and_then(|i| r.sources.get(i))
        .map_or(&r.clock, |s| &s.clock)
}

/// The configuration a benchmark ran with: its own run's (a combined report's runs may differ).
fn source_config<'a>(r: &'a Report, b: &BenchmarkEntry) -> &'a crate::report::RunConfig {
    b.source
        .and_then(|i| r.sources.get(i))
        .map_or(&r.llmbench_config, |s| &s.llmbench_config)
}

/// The SLO a benchmark was judged against: its own run's.
fn source_slo<'a>(r: &'a Report, b: &BenchmarkEntry) -> Option<&'a crate::metrics::Slo> {
    source_config(r, b).slo.as_ref()
}

/// The confidence level of a benchmark's intervals: its own run's (None: off, or a report
/// written before llmbench had them).
fn source_confidence(r: &Report, b: &BenchmarkEntry) -> Option<f64> {
    b.source
        .and_then(|i| r.sources.get(i))
        .map_or(&r.llmbench_config, |s| &s.llmbench_config)
        .confidence
        .as_ref()
        .map(|c| c.level)
}

/// What one benchmark's GuideLLM keys are computed from.
struct BenchmarkView<'a> {
    r: &'a Report,
    b: &'a BenchmarkEntry,
    reqs: Vec<Req>,
    /// Benchmark start and end, measurement window, Unix seconds.
    start: f64,
    end: f64,
    ws: f64,
    we: f64,
}

impl<'a> BenchmarkView<'a> {
    fn new(r: &'a Report, b: &'a BenchmarkEntry) -> Self {
        // A combined report (`export A B`): each benchmark's times are on its own run's clock.
        let o = source_clock(r, b).origin_unix_s;
        let at = |ns: u64| o + ns as f64 / 1e9;
        let end = at(b.end_ns);
        let mut reqs = Vec::new();
        match &b.records {
            Records::Live(l) => reqs.extend(l.kept().map(|q| Req::new(&q, o, end))),
            Records::Loaded(v) => reqs.extend(v.iter().map(|q| Req::new(q, o, end))),
        }
        // Each later turn's predecessor: the previous turn of its conversation.
        let ends: std::collections::HashMap<(u64, u32), f64> = reqs
            .iter()
            .filter_map(|q| Some((q.turn?, q.end?)))
            .collect();
        for q in &mut reqs {
            if let Some((c, k)) = q.turn.filter(|t| t.1 > 0) {
                q.predecessor_completed = ends.get(&(c, k - 1)).copied();
            }
        }
        BenchmarkView {
            r,
            b,
            reqs,
            start: at(b.start_ns),
            end,
            ws: at(b.window_start_ns),
            we: at(b.window_end_ns),
        }
    }

    /// Whether the report keeps only a sample of this benchmark's requests.
    fn sampled(&self) -> bool {
        self.reqs.len() < self.b.requests_total
    }

    /// The benchmark's place in its model's series (GuideLLM's run_index).
    fn run_index(&self) -> usize {
        self.r.benchmarks[..self.b.index.min(self.r.benchmarks.len())]
            .iter()
            .filter(|x| x.model == self.b.model)
            .count()
    }

    fn strategy(&self) -> Value {
        let rampup = self.r.llmbench_config.limits.rampup;
        match self.b.strategy {
            Strategy::Synchronous => json!({"type_": "synchronous"}),
            Strategy::Concurrent { streams } => {
                json!({"type_": "concurrent", "streams": streams, "rampup_duration": rampup})
            }
            Strategy::Throughput { max_concurrency } => {
                json!({"type_": "throughput", "max_concurrency": max_concurrency, "rampup_duration": rampup})
            }
            Strategy::Constant {
                rate,
                max_concurrency,
            } => {
                json!({"type_": "constant", "rate": rate, "max_concurrency": max_concurrency, "rampup_duration": rampup})
            }
            Strategy::Poisson {
                rate,
                max_concurrency,
            } => {
                json!({"type_": "poisson", "rate": rate, "max_concurrency": max_concurrency, "random_seed": self.r.random_seed})
            }
            Strategy::Replay {
                time_scale,
                schedule_turn,
            } => {
                json!({"type_": "trace", "time_scale": time_scale, "schedule_turn": schedule_turn.name()})
            }
        }
    }

    /// GuideLLM's type name of the strategy.
    fn strategy_type(&self) -> &'static str {
        match self.b.strategy {
            Strategy::Synchronous => "synchronous",
            Strategy::Concurrent { .. } => "concurrent",
            Strategy::Throughput { .. } => "throughput",
            Strategy::Constant { .. } => "constant",
            Strategy::Poisson { .. } => "poisson",
            Strategy::Replay { .. } => "trace",
        }
    }

    /// `BenchmarkConfig`: `confidence` is the run's level (null when its intervals were off);
    /// the warning rules are GuideLLM's defaults (left out: the loader fills them in).
    fn config(&self) -> Value {
        let run_id = format!(
            "llmbench-{}",
            source_clock(self.r, self.b).origin_monotonic_ns
        );
        let c = &self.r.llmbench_config;
        let limits = &source_config(self.r, self.b).limits;
        let constraints: Map<String, Value> = constraint_args(limits, Some(self.run_index()))
            .into_iter()
            .map(|a| (a["kind"].as_str().unwrap_or_default().to_string(), a))
            .collect();
        json!({
            "id_": format!("{run_id}-{}", self.b.index),
            "run_id": run_id,
            "run_index": self.run_index(),
            "strategy": self.strategy(),
            "constraints": constraints,
            "sample_size": null,
            "warmup": transient(c.window.warmup, c.window.of),
            "cooldown": transient(c.window.cooldown, c.window.of),
            "prefer_response_metrics": true,
            "slo": guidellm_slo(source_slo(self.r, self.b)),
            "confidence": source_confidence(self.r, self.b),
            "profile": profile_args(self.r),
            "requests": {"data": data_args(self.r)},
            "backend": backend_args(self.r, &self.b.model),
            "environment": {
                "kind": "llmbench",
                "note": "one supervisor process dispatching to one vLLM engine worker process over a socket, no HTTP",
            },
        })
    }

    fn counts(&self) -> (usize, usize, usize) {
        ByStatus::of(self.reqs.iter()).len()
    }

    /// `SchedulerState` at the benchmark's end: one scheduler node and one worker process.
    fn scheduler_state(&self) -> Value {
        let (s, i, e) = self.counts();
        let total = self.b.requests_total;
        let min = |f: &dyn Fn(&Req) -> Option<f64>| self.reqs.iter().filter_map(f).reduce(f64::min);
        let max = |f: &dyn Fn(&Req) -> Option<f64>| self.reqs.iter().filter_map(f).reduce(f64::max);
        let limits = &source_config(self.r, self.b).limits;
        let (key, mut action, queuing) = stop_action(&self.b.ended_by, limits);
        let mut constraints = Map::new();
        if let Some(s) = &self.b.over_saturation {
            // The detector's latest state, its metadata under GuideLLM's names; the stop itself
            // when it ended the benchmark.
            let ended = self.b.ended_by == EndReason::OverSaturated;
            let scope = limits.scope(ConstraintKind::OverSaturation);
            let mut sat = saturation_action(s, ended, scope);
            if ended {
                sat["metadata"]["llmbench_ended_by"] =
                    action["metadata"]["llmbench_ended_by"].take();
                action = sat.clone();
            }
            constraints.insert("over_saturation".into(), sat);
        }
        constraints.insert(key.clone(), action.clone());
        let end_queuing = if queuing {
            json!({key.clone(): action.clone()})
        } else {
            json!({})
        };
        json!({
            "node_id": 0,
            "num_processes": 1,
            "start_time": self.start,
            "end_time": self.end,
            "start_requests_time": min(&|q| q.start),
            "end_requests_time": max(&|q| q.end),
            "end_queuing_time": queuing.then_some(self.end),
            "end_queuing_constraints": end_queuing,
            "end_processing_time": self.end,
            "end_processing_constraints": {key: action},
            "scheduler_constraints": constraints,
            "progress": {},
            "created_requests": total,
            "queued_requests": total,
            "pending_requests": 0,
            "processing_requests": 0,
            "processed_requests": total,
            "successful_requests": s,
            "errored_requests": e,
            "cancelled_requests": i,
        })
    }

    /// `SchedulerMetrics`. Of GuideLLM's per-stage averages llmbench measures two (dispatch
    /// lag and request time); the others are -1, GuideLLM's value for "no samples".
    fn scheduler_metrics(&self) -> Value {
        let (s, i, e) = self.counts();
        // RunningMetricStats.mean `or -1.0`, over every request (not only the window).
        let avg = |f: &dyn Fn(&Req) -> Option<f64>| {
            let v: Vec<f64> = self.reqs.iter().filter_map(f).collect();
            let m = if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            if m == 0.0 {
                -1.0
            } else {
                m
            }
        };
        json!({
            "start_time": self.start,
            "request_start_time": self.start,
            "measure_start_time": self.ws,
            "measure_end_time": self.we,
            "request_end_time": self.end,
            "end_time": self.end,
            "requests_made": {"successful": s, "incomplete": i, "errored": e, "total": s + i + e},
            "generation_delay": Dist::empty(0),
            "queued_time_avg": -1.0,
            "resolve_start_delay_avg": -1.0,
            "resolve_targeted_start_delay_avg": -1.0,
            "request_start_delay_avg": -1.0,
            "request_targeted_start_delay_avg": avg(&Req::dispatch_delay),
            "request_time_avg": avg(&Req::latency),
            "resolve_end_delay_avg": -1.0,
            "resolve_time_avg": -1.0,
            "finalized_delay_avg": -1.0,
            "processed_delay_avg": -1.0,
            "dataset_incomplete": !matches!(self.b.ended_by, EndReason::DataExhausted),
            "strategy_type": self.strategy_type(),
        })
    }

    /// Only constant, Poisson and trace replay have an arrival schedule (GuideLLM's
    /// `defines_arrival_schedule`); the others have no dispatch-delay metrics.
    fn arrival_schedule(&self) -> bool {
        matches!(
            self.b.strategy,
            Strategy::Constant { .. } | Strategy::Poisson { .. } | Strategy::Replay { .. }
        )
    }

    /// `GenerativeMetrics.compile`, over the requests the report keeps.
    fn metrics(&self) -> Metrics {
        let w = (self.ws, self.we);
        let all = ByStatus::of(self.reqs.iter());
        let g = all.filter(|q| q.overlaps(q.start, Some(q.end_time()), w));
        let first_token = all.filter(|q| q.overlaps(q.start, q.first, w));
        let after_first = all.filter(|q| q.overlaps(q.first, Some(q.end_time()), w));
        let (s, i, e) = g.len();
        // GuideLLM's intervals, on the metrics recorded once per request (its `uncertainty`).
        let ci = source_confidence(self.r, self.b);
        let scheduled = |f: fn(&Req) -> Option<f64>, ci: Option<f64>| {
            self.arrival_schedule()
                .then(|| g.values_ci(ci, |q| f(q).map(|v| (v, 1.0)).into_iter().collect()))
        };
        // GuideLLM's `root_dispatch_delay_distribution`: first turns only (a slow early turn
        // moves the later ones).
        let roots: Vec<f64> = [&g.successful, &g.incomplete, &g.errored]
            .into_iter()
            .flatten()
            .filter(|q| q.turn.is_none_or(|t| t.1 == 0))
            .filter_map(|q| q.dispatch_delay())
            .collect();
        let (slo_attainment, slo_determined_requests, request_goodput) = self.goodput(&g);
        Metrics {
            request_totals: json!({"successful": s, "incomplete": i, "errored": e, "total": s + i + e}),
            requests_per_second: g.rates(w, |q| vec![(q.end_time(), 1.0)]),
            request_concurrency: {
                let iv = |v: &Vec<&Req>| {
                    v.iter()
                        .filter_map(|q| Some((q.start?, q.end_time(), 1.0)))
                        .collect::<Vec<_>>()
                };
                StatusDist::concurrency(
                    &iv(&g.successful),
                    &iv(&g.incomplete),
                    &iv(&g.errored),
                    Some(w),
                )
            },
            request_latency: g.values_ci(ci, |q| one(q.latency())),
            request_dispatch_delay: scheduled(Req::dispatch_delay, ci),
            request_scheduled_latency: scheduled(Req::scheduled_latency, ci),
            turn_predecessor_delay: scheduled(Req::predecessor_delay, None),
            turn_scheduling_delay: scheduled(Req::dispatch_delay, None),
            root_dispatch_delay: (!roots.is_empty()).then(|| Dist::of(&roots)),
            request_streaming_iterations_count: g
                .values_ci(ci, |q| vec![(q.iterations as f64, 1.0)]),
            prompt_token_count: g.values_ci(ci, |q| vec![(q.prompt as f64, 1.0)]),
            output_token_count: g.values_ci(ci, |q| vec![(q.output as f64, 1.0)]),
            total_token_count: g.values_ci(ci, |q| vec![((q.prompt + q.output) as f64, 1.0)]),
            time_to_first_token_ms: first_token.values_ci(ci, |q| one(q.ttft_ms())),
            time_to_first_output_token_ms: first_token.values_ci(ci, |q| one(q.ttft_ms())),
            time_per_output_token_ms: g
                .values(|q| vec![(q.tpot_ms().unwrap_or(0.0), q.output as f64)]),
            inter_token_latency_ms: after_first.values(|q| {
                let out = if q.output == 0 { 1.0 } else { q.output as f64 };
                vec![(q.itl_ms().unwrap_or(0.0), out - 1.0)]
            }),
            time_to_last_round_trip_ms: StatusDist::empty(),
            avg_round_trip_time_ms: StatusDist::empty(),
            prompt_tokens_per_second: g.rates(w, |q| vec![q.prompt_timing()]),
            output_tokens_per_second: g.rates(w, Req::output_timings),
            tokens_per_second: g.rates(w, Req::total_timings),
            output_tokens_per_iteration: g
                .values(|q| q.output_timings().iter().map(|t| (t.1, 1.0)).collect()),
            iter_tokens_per_iteration: g
                .values(|q| q.iter_timings().iter().map(|t| (t.1, 1.0)).collect()),
            text: json!({
                "tokens": MetricsSummary::text_tokens(&g),
                "words": MetricsSummary::default(),
                "characters": MetricsSummary::default(),
            }),
            image: unmeasured(&["tokens", "images", "pixels", "bytes"]),
            video: unmeasured(&["tokens", "frames", "seconds", "bytes"]),
            audio: unmeasured(&["tokens", "samples", "seconds", "bytes"]),
            tool_call: unmeasured(&["tokens", "mixed_tokens", "count"]),
            turns: by_turn(&g, &first_token, &after_first),
            slo_attainment,
            slo_determined_requests,
            request_goodput,
        }
    }

    /// `GenerativeMetrics._compile_goodput` against GuideLLM's part of the SLO (`config.slo`):
    /// over the successful and errored requests overlapping the window (`g`), errored ones
    /// non-conforming, successful ones undetermined where a target has no measurement.
    fn goodput(&self, g: &ByStatus<&Req>) -> (Option<f64>, u64, Option<StatusDist>) {
        let Some(slo) = self
            .r
            .llmbench_config
            .slo
            .as_ref()
            .filter(|s| has_guidellm_target(s))
        else {
            return (None, 0, None);
        };
        let mut conforming = Vec::new();
        let mut determined = 0u64;
        for q in &g.successful {
            let measured = [
                (q.ttft_ms(), slo.ttft_ms),
                (q.itl_ms(), slo.tpot_ms),
                (q.latency().map(|l| l * 1000.0), slo.e2el_ms),
            ];
            let mut verdict = Some(true);
            for (value, objective) in measured {
                let Some(objective) = objective else { continue };
                match value {
                    None => {
                        verdict = None;
                        break;
                    }
                    Some(v) if v > objective => verdict = verdict.map(|_| false),
                    Some(_) => {}
                }
            }
            let Some(ok) = verdict else { continue };
            determined += 1;
            if ok {
                conforming.push((q.end_time(), 1.0));
            }
        }
        determined += g.errored.len() as u64;
        if determined == 0 {
            return (None, 0, None);
        }
        let rate = StatusDist::rates(&conforming, &[], &[], Some((self.ws, self.we)));
        (
            Some(conforming.len() as f64 / determined as f64),
            determined,
            Some(rate),
        )
    }

    /// `requests`: the records the report keeps, by status.
    fn requests(&self) -> RequestsByStatus<'_> {
        RequestsByStatus(ByStatus::of(self.reqs.iter()), self.start)
    }

    /// GuideLLM's default warning rules that can fire on llmbench's data (root_late: the p95
    /// of the first turns' dispatch delay over 0.2 s), then llmbench's own warnings.
    fn warnings(&self, m: &Metrics) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(d) = m.root_dispatch_delay.as_ref().filter(|d| d.count > 0) {
            let p95 = d.percentiles.p95;
            if p95 > 0.2 {
                let sample = if d.count == 1 { "sample" } else { "samples" };
                out.push(json!({
                    "code": "root_late",
                    "message": format!("p95 root dispatch delay was {}s over {} {sample} (threshold 0.200s).", py_fixed(p95), d.count),
                    "observed": p95,
                    "threshold": 0.2,
                    "unit": "seconds",
                    "sample_count": d.count,
                    "note": "This means that conversations were loaded late.",
                }));
            }
        }
        let own = |code: &str, message: &str, observed: f64, threshold: f64, unit: &str| {
            json!({
                "code": code,
                "message": message,
                "observed": observed,
                "threshold": threshold,
                "unit": unit,
                "sample_count": self.reqs.len(),
                "note": "llmbench's own check (docs/metrics.md)",
            })
        };
        for w in &self.b.headroom.warnings {
            out.push(own("llmbench_harness_limited", w, 1.0, 0.0, "boolean"));
        }
        for w in &self.b.engine_warnings {
            let stall = self.b.longest_stall.as_ref().map_or(0.0, |s| s.seconds);
            out.push(own(
                "llmbench_engine_stall",
                w,
                stall,
                super::STALL_WARN_S,
                "seconds",
            ));
        }
        if self.sampled() {
            let m = format!(
                "the report keeps {} of the benchmark's {} requests (--sample-requests): every GuideLLM metric here is computed from those",
                self.reqs.len(),
                self.b.requests_total
            );
            out.push(own("llmbench_metrics_from_sample", &m, 1.0, 0.0, "boolean"));
        }
        out
    }
}

/// Python's f"{x:.3f}" for a value GuideLLM's `_format_seconds` prints with three decimals.
fn py_fixed(x: f64) -> String {
    format!("{x:.3}")
}

struct RequestsByStatus<'a>(ByStatus<&'a Req>, f64);

impl Serialize for RequestsByStatus<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(4))?;
        m.serialize_entry("successful", &Stream(&self.0.successful, self.1))?;
        m.serialize_entry("incomplete", &Stream(&self.0.incomplete, self.1))?;
        m.serialize_entry("errored", &Stream(&self.0.errored, self.1))?;
        m.serialize_entry("total", &Value::Null)?;
        m.end()
    }
}

/// Requests written one at a time.
struct Stream<'a>(&'a [&'a Req], f64);

impl Serialize for Stream<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(|q| q.stats(self.1)))
    }
}

// ------------------------------------------------------------------------------------------
// Writing a struct's fields into an open map
// ------------------------------------------------------------------------------------------

/// A serializer that takes a struct (the `Report`, a `BenchmarkEntry`) and writes each of its
/// fields as an entry of `map`, with the field named in `swap` replaced: llmbench's keys
/// stream out exactly as the derive writes them, and GuideLLM's keys follow in the same
/// object.
struct FieldsInto<'m, M, R> {
    map: &'m mut M,
    swap: Option<(&'static str, &'m R)>,
}

impl<M: SerializeMap, R: Serialize> SerializeStruct for FieldsInto<'_, M, R> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        match self.swap {
            Some((k, r)) if k == key => self.map.serialize_entry(key, r),
            _ => self.map.serialize_entry(key, value),
        }
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

macro_rules! not_a_struct {
    ($($f:ident($($t:ty),*)),* $(,)?) => {$(
        fn $f(self, $(_: $t),*) -> Result<(), M::Error> {
            Err(M::Error::custom("the GuideLLM view writes the fields of a struct"))
        }
    )*};
}

impl<'m, M: SerializeMap, R: Serialize> Serializer for FieldsInto<'m, M, R> {
    type Ok = ();
    type Error = M::Error;
    type SerializeSeq = Impossible<(), M::Error>;
    type SerializeTuple = Impossible<(), M::Error>;
    type SerializeTupleStruct = Impossible<(), M::Error>;
    type SerializeTupleVariant = Impossible<(), M::Error>;
    type SerializeMap = Impossible<(), M::Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), M::Error>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, M::Error> {
        Ok(self)
    }

    not_a_struct!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct (a #[serde(flatten)] field on Report or BenchmarkEntry needs FieldsInto to take a map)",
        ))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, M::Error> {
        Err(M::Error::custom(
            "the GuideLLM view writes the fields of a struct",
        ))
    }
}

#[cfg(test)]
mod tests;
