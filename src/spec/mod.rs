//! `llmbench run`: GuideLLM 0.8's command line. Its spec options, config file and
//! `GUIDELLM__*` environment are layered into one scenario `{metadata, spec, benchmarks}`
//! (command line > config file > environment, as in GuideLLM 0.8), the sub-benchmark overrides
//! are folded in, and the result is read kind by kind into the same `RunArgs` the 0.6 form
//! fills — so both forms share every later check (`plan`) and the whole run.
//!
//! Every kind and key GuideLLM 0.8.1 has is either honoured or refused in one sentence
//! (`kinds.rs`); what other open issues will build is refused as "not supported yet".

pub mod env;
pub(crate) mod fields;
pub mod grammar;
pub(crate) mod kinds;

use crate::cli::{ProfileKind, RunArgs, SpecRunArgs, Values};
use crate::render::Format;
use anyhow::Result;
use fields::{usage, Spec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What only the `run` form sets, carried in `RunArgs` to the plan.
#[derive(Debug, Clone, Default)]
pub struct FromSpec {
    /// Each output with its file (relative to the working directory, as GuideLLM writes it).
    pub outputs: Vec<(Format, Option<PathBuf>)>,
    /// `--label`, the config file's and `GUIDELLM__METADATA__LABELS`.
    pub labels: BTreeMap<String, String>,
    /// What warm-up and cool-down count (`{mode: …}`), in that order.
    pub window_by: [WindowBy; 2],
    /// The scenario as llmbench read it (`{metadata, spec, benchmarks}`), for the report.
    pub scenario: Value,
    /// Several `--data` files, zipped row by row.
    pub data_zip: Vec<String>,
    /// Per-model `vllm_config` from repeated `--backend` entries, by model.
    pub model_overrides: Vec<(String, Map<String, Value>)>,
}

/// What `warmup`/`cooldown` count: GuideLLM's `mode`. The 0.6 form's rule is
/// `PreferDuration`: of time when a duration limit is set, else of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WindowBy {
    #[default]
    PreferDuration,
    PreferRequests,
    Duration,
    Requests,
}

impl WindowBy {
    /// Whether the window is of time, given the benchmark's limits.
    pub fn by_time(self, max_seconds: Option<f64>, max_requests: Option<u64>) -> bool {
        match self {
            WindowBy::PreferDuration => max_seconds.is_some(),
            WindowBy::PreferRequests => max_requests.is_none() && max_seconds.is_some(),
            WindowBy::Duration => true,
            WindowBy::Requests => false,
        }
    }
}

/// The spec fields of GuideLLM 0.8.1's `BenchmarkArgs`, with the option each comes from.
const SPEC_FIELDS: &[(&str, &str)] = &[
    ("backend", "--backend"),
    ("profile", "--profile"),
    ("constraints", "--constraint"),
    ("tokenizer", "--tokenizer"),
    ("data", "--data"),
    ("data_column_mapper", "--data-column-mapper"),
    ("data_preprocessors", "--data-preprocessor"),
    ("data_finalizer", "--data-finalizer"),
    ("data_loader", "--data-loader"),
    ("seed", "--seed"),
    ("outputs", "--output"),
    ("metrics", "--metrics"),
];

/// `llmbench run`'s arguments → the `RunArgs` the 0.6 form would have given.
pub fn run_args(cmd: &SpecRunArgs) -> Result<RunArgs> {
    let env = env::Environment::read();
    if !cmd.x.disable_console {
        env.warn_unread(env::Form::Run);
    }
    let mut scenario = json!({"metadata": {"labels": {}}, "spec": {}, "benchmarks": []});
    grammar::merge(&mut scenario, env.scenario()?);
    if let Some(p) = &cmd.config {
        grammar::merge(&mut scenario, config_file(p)?);
    }
    let (cli, backends) = command_line(cmd)?;
    grammar::merge(&mut scenario, cli);
    let spec = resolve(&scenario)?;
    let mut from = FromSpec {
        labels: labels(&scenario)?,
        scenario: scenario.clone(),
        ..FromSpec::default()
    };
    let mut a = RunArgs {
        x: cmd.x.clone(),
        ..RunArgs::default()
    };
    read_spec(&spec, &backends, &mut a, &mut from, &env.results_dir())?;
    a.from_spec = Some(from);
    Ok(a)
}

/// The command line's spec options as a scenario layer; repeated `--backend` entries are kept
/// apart too (the scenario's `backend` is the first, with every model).
fn command_line(cmd: &SpecRunArgs) -> Result<(Value, Vec<Map<String, Value>>)> {
    let mut spec = Map::new();
    let one = |opt: &str, v: &Option<String>| -> Result<Option<Value>> {
        v.as_deref()
            .map(|s| grammar::parse(opt, s).map(Value::Object))
            .transpose()
    };
    let many = |opt: &str, v: &[String]| -> Result<Option<Value>> {
        if v.is_empty() {
            return Ok(None);
        }
        v.iter()
            .map(|s| grammar::parse(opt, s).map(Value::Object))
            .collect::<Result<Vec<_>>>()
            .map(|l| Some(Value::Array(l)))
    };
    let backends: Vec<Map<String, Value>> = cmd
        .backend
        .iter()
        .map(|s| grammar::parse("--backend", s))
        .collect::<Result<_>>()?;
    if let Some(first) = backends.first() {
        let mut b = first.clone();
        if backends.len() > 1 {
            let models: Vec<Value> = backends
                .iter()
                .flat_map(|b| match b.get("model") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v) => vec![v.clone()],
                    None => vec![],
                })
                .collect();
            b.insert("model".into(), Value::Array(models));
        }
        spec.insert("backend".into(), Value::Object(b));
    }
    for (field, v) in [
        ("profile", one("--profile", &cmd.profile)?),
        ("constraints", many("--constraint", &cmd.constraint)?),
        ("data", many("--data", &cmd.data)?),
        ("tokenizer", one("--tokenizer", &cmd.tokenizer)?),
        (
            "data_column_mapper",
            one("--data-column-mapper", &cmd.data_column_mapper)?,
        ),
        (
            "data_preprocessors",
            many("--data-preprocessor", &cmd.data_preprocessor)?,
        ),
        (
            "data_finalizer",
            one("--data-finalizer", &cmd.data_finalizer)?,
        ),
        ("data_loader", one("--data-loader", &cmd.data_loader)?),
        ("seed", one("--seed", &cmd.seed)?),
        ("outputs", many("--output", &cmd.output)?),
        ("metrics", one("--metrics", &cmd.metrics)?),
    ] {
        if let Some(v) = v {
            spec.insert(field.into(), v);
        }
    }
    let mut labels = Map::new();
    for l in &cmd.label {
        let Some((k, v)) = l.split_once('=') else {
            return Err(usage(format!(
                "--label {l}: write key=value, e.g. --label team=infra"
            )));
        };
        labels.insert(k.trim().into(), Value::String(v.trim().into()));
    }
    let mut layer = json!({"spec": spec, "metadata": {"labels": labels}});
    let benchmarks = overrides(&cmd.overrides)?;
    if !benchmarks.is_empty() {
        layer["benchmarks"] = Value::Array(benchmarks);
    }
    Ok((layer, if backends.len() > 1 { backends } else { vec![] }))
}

/// `--override KEY VALUES` pairs → one override object per sub-benchmark (GuideLLM's
/// `overrides_to_benchmarks`: as many as the longest list; an empty item leaves a gap).
fn overrides(pairs: &[String]) -> Result<Vec<Value>> {
    let mut benchmarks: Vec<Map<String, Value>> = Vec::new();
    for kv in pairs.chunks(2) {
        let [key, values] = kv else {
            return Err(usage(
                "--override takes two values: KEY VALUES, e.g. --override profile.streams 1,4,16"
                    .into(),
            ));
        };
        for (i, item) in values.split(',').enumerate() {
            if benchmarks.len() <= i {
                benchmarks.push(Map::new());
            }
            let item = item.trim();
            if !item.is_empty() {
                benchmarks[i].insert(key.clone(), grammar::scalar(item));
            }
        }
    }
    Ok(benchmarks.into_iter().map(Value::Object).collect())
}

/// GuideLLM 0.8.1's built-in scenarios (`guidellm/schemas/benchmark/scenarios/`, Apache-2.0,
/// copied unchanged): `--config rhaiis/concurrent-1k-1k-equal`. They name GuideLLM's HTTP
/// backend; give `--backend kind=vllm_python,model=M` with them (a backend of another kind
/// replaces the file's).
pub const BUILTIN_SCENARIOS: &[(&str, &str)] = &[
    (
        "rhaiis/concurrent-100k-1k-equal",
        include_str!("scenarios/rhaiis/concurrent-100k-1k-equal.json"),
    ),
    (
        "rhaiis/concurrent-1k-1k-equal",
        include_str!("scenarios/rhaiis/concurrent-1k-1k-equal.json"),
    ),
    (
        "rhaiis/concurrent-1k-1k-multiturn",
        include_str!("scenarios/rhaiis/concurrent-1k-1k-multiturn.json"),
    ),
    (
        "rhaiis/concurrent-2ki-128-equal",
        include_str!("scenarios/rhaiis/concurrent-2ki-128-equal.json"),
    ),
    (
        "rhaiis/concurrent-512-2ki-norm",
        include_str!("scenarios/rhaiis/concurrent-512-2ki-norm.json"),
    ),
    (
        "rhaiis/concurrent-8k-1k-equal",
        include_str!("scenarios/rhaiis/concurrent-8k-1k-equal.json"),
    ),
    (
        "rhaiis/concurrent-8k-800-norm",
        include_str!("scenarios/rhaiis/concurrent-8k-800-norm.json"),
    ),
];

/// A `--config` file: `{metadata, spec, benchmarks}` in JSON or YAML, a saved report (its
/// `config`), or a built-in scenario's name.
fn config_file(p: &Path) -> Result<Value> {
    let name = p.to_string_lossy();
    let builtin = BUILTIN_SCENARIOS
        .iter()
        .find(|(n, _)| *n == name || n.strip_prefix("rhaiis/") == Some(&*name));
    let text = match builtin {
        Some((_, text)) if !p.exists() => text.to_string(),
        _ => std::fs::read_to_string(p).map_err(|e| {
            usage(format!(
                "--config {}: cannot read it ({e}); built-in scenarios are {}",
                p.display(),
                BUILTIN_SCENARIOS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let v: Value = if p.extension().is_some_and(|e| e == "json") || builtin.is_some() {
        serde_json::from_str(&text)
            .map_err(|e| usage(format!("--config {}: not valid JSON ({e})", p.display())))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| {
            usage(format!(
                "--config {}: not valid YAML or JSON ({e})",
                p.display()
            ))
        })?
    };
    let Value::Object(mut m) = v else {
        return Err(usage(format!(
            "--config {}: must hold a mapping with spec (and metadata, benchmarks)",
            p.display()
        )));
    };
    if let Some(Value::Object(c)) = m.remove("config") {
        m = c; // a saved report: its `config` is the scenario
    }
    for k in m.keys() {
        if !["metadata", "spec", "benchmarks"].contains(&k.as_str()) {
            return Err(usage(format!(
                "--config {}: unknown key `{k}`; a config file holds metadata, spec and benchmarks (GuideLLM 0.8's shape; llmbench benchmark run -c reads the 0.6 shape)",
                p.display()
            )));
        }
    }
    Ok(Value::Object(m))
}

fn labels(scenario: &Value) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match scenario.pointer("/metadata/labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(k.clone(), v);
            }
        }
        Some(other) => {
            return Err(usage(format!(
                "metadata.labels must be an object of key: value, not {other}"
            )))
        }
    }
    Ok(out)
}

/// The spec with the sub-benchmark overrides folded in: the first override is laid into the
/// spec (as GuideLLM does), and the profile's rate-like field (`streams`, `rate`,
/// `sweep_size`) may differ between sub-benchmarks — its values make the profile's list.
/// Anything else that differs is refused: per-sub-benchmark constraints are not supported yet.
fn resolve(scenario: &Value) -> Result<Map<String, Value>> {
    let spec = match scenario.get("spec") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(usage(format!(
                "the scenario's spec must be an object, not {other}"
            )))
        }
    };
    for k in spec.keys() {
        let norm = k.replace('-', "_");
        if !SPEC_FIELDS.iter().any(|(f, _)| *f == norm) {
            return Err(usage(format!(
                "spec: unknown field `{k}`; valid fields are {}",
                SPEC_FIELDS
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let spec: Map<String, Value> = spec
        .into_iter()
        .map(|(k, v)| (k.replace('-', "_"), v))
        .collect();
    let benchmarks: Vec<Map<String, Value>> = match scenario.get("benchmarks") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|b| match b {
                Value::Null => Ok(Map::new()),
                Value::Object(m) => Ok(m.clone()),
                other => Err(usage(format!(
                    "benchmarks: each entry must be an object of overrides such as {{\"profile.streams\": 4}}, not {other}"
                ))),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(usage(format!(
                "benchmarks must be a list of override objects, not {other}"
            )))
        }
    };
    if benchmarks.iter().all(|b| b.is_empty()) {
        return Ok(spec);
    }
    let versions: Vec<Map<String, Value>> = benchmarks
        .iter()
        .map(|b| {
            let mut s = spec.clone();
            for (k, v) in b {
                grammar::set_path(&mut s, k, v.clone(), true)
                    .map_err(|e| usage(format!("--override {k}: {e}")))?;
            }
            Ok(s)
        })
        .collect::<Result<_>>()?;
    const RATE_FIELDS: [&str; 3] = ["streams", "rate", "sweep_size"];
    let mut merged = versions[0].clone();
    let strip = |s: &Map<String, Value>| {
        let mut s = s.clone();
        if let Some(Value::Object(p)) = s.get_mut("profile") {
            for f in RATE_FIELDS {
                p.remove(f);
            }
        }
        s
    };
    let base = strip(&versions[0]);
    for v in &versions[1..] {
        if strip(v) != base {
            return Err(usage("sub-benchmarks (--override or the config's benchmarks) may differ only in the profile's streams, rate or sweep_size (other fields are not supported yet); give a constraint one value per benchmark as a list instead, e.g. --constraint kind=max_duration,seconds=[10,20,30]".into()));
        }
    }
    if let Some(Value::Object(p)) = merged.get_mut("profile") {
        let field = RATE_FIELDS.iter().find(|f| {
            versions
                .iter()
                .any(|v| v.get("profile").and_then(|p| p.get(**f)).is_some())
        });
        if let Some(f) = field {
            let mut all = Vec::new();
            for v in &versions {
                match v.get("profile").and_then(|p| p.get(*f)) {
                    Some(Value::Array(a)) => all.extend(a.iter().cloned()),
                    Some(x) => all.push(x.clone()),
                    None => {}
                }
            }
            p.insert((*f).into(), Value::Array(all));
        }
    }
    Ok(merged)
}

fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(x) => vec![x.clone()],
    }
}

/// Reads the resolved spec, kind by kind, into `a` and `from`.
fn read_spec(
    spec: &Map<String, Value>,
    backends: &[Map<String, Value>],
    a: &mut RunArgs,
    from: &mut FromSpec,
    results_dir: &Path,
) -> Result<()> {
    backend(spec.get("backend"), backends, a, from)?;
    let Some(p) = spec.get("profile") else {
        return Err(usage(
            "--profile is required (as in GuideLLM 0.8), e.g. --profile kind=sweep; kinds: synchronous, concurrent, throughput, constant (async), poisson, sweep".into(),
        ));
    };
    profile(p, a, from)?;
    let mut seen = Vec::new();
    for c in list(spec.get("constraints")) {
        constraint(&c, a, &mut seen)?;
    }
    let data = list(spec.get("data"));
    match data.len() {
        0 => {
            return Err(usage(
                "--data is required, e.g. --data kind=synthetic_text,prompt_tokens=256,output_tokens=128".into(),
            ))
        }
        1 => data_source(&data[0], a)?,
        _ => {
            // Several sources are zipped row by row (files only for now).
            let mut paths = Vec::new();
            let mut kwargs: Option<String> = None;
            for (i, d) in data.iter().enumerate() {
                data_source(d, a)?;
                if let Some(k @ ("mooncake" | "trace_synthetic")) =
                    d.get("kind").and_then(|k| k.as_str())
                {
                    return Err(usage(format!(
                        "--data: a trace (kind={k}) is its own source and cannot be zipped with others (source {} of {})",
                        i + 1,
                        data.len()
                    )));
                }
                if d.get("kind").and_then(|k| k.as_str()) == Some("synthetic_text") {
                    return Err(usage(format!(
                        "--data: zipping synthetic data with other sources is not supported yet by llmbench (source {} of {}); several dataset files can be zipped",
                        i + 1,
                        data.len()
                    )));
                }
                if i > 0 && a.data_args != kwargs {
                    return Err(usage("--data: zipped files must share one load_kwargs".into()));
                }
                kwargs = a.data_args.clone();
                paths.push(a.data.clone().unwrap_or_default());
            }
            a.data = Some(paths.join(" + "));
            from.data_zip = paths;
        }
    }
    if let Some(t) = spec.get("tokenizer") {
        let (s, _) = Spec::read("--tokenizer", t, kinds::TOKENIZER, Some("huggingface_auto"))?;
        a.processor = s.str("model")?;
        if s.object("load_kwargs")?.is_some_and(|m| !m.is_empty()) {
            return Err(s.err("load_kwargs is not supported yet by llmbench (the tokenizer loads with its defaults)"));
        }
    }
    if let Some(m) = spec.get("data_column_mapper") {
        let (s, _) = Spec::read(
            "--data-column-mapper",
            m,
            kinds::COLUMN_MAPPER,
            Some("generative_column_mapper"),
        )?;
        if let Some(map) = s.object("column_mappings")? {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match v {
                    Value::String(_) => v,
                    Value::Array(a) if a.len() == 1 && a[0].is_string() => a[0].clone(),
                    other => {
                        return Err(s.err(format!(
                            "column_mappings.{k} must name one column, not {other} (several candidates are not supported yet)"
                        )))
                    }
                };
                out.insert(k, v);
            }
            a.data_column_mapper = Some(Value::Object(out).to_string());
        }
    }
    for p in list(spec.get("data_preprocessors")) {
        Spec::read("--data-preprocessor", &p, kinds::PREPROCESSOR, None)?;
    }
    if let Some(f) = spec.get("data_finalizer") {
        let (s, _) = Spec::read("--data-finalizer", f, kinds::FINALIZER, Some("generative"))?;
        s.default_only(
            "tool_call_mode",
            &json!("client"),
            "is not supported yet by llmbench (no tool calls)",
        )?;
    }
    if let Some(l) = spec.get("data_loader") {
        let (s, _) = Spec::read("--data-loader", l, kinds::LOADER, Some("pytorch"))?;
        if let Some(n) = s.f64("samples")? {
            if n != -1.0 && !(n >= 1.0 && n.fract() == 0.0) {
                return Err(s.err(format!(
                    "samples must be a whole number ≥ 1, or -1 for all, not {n}"
                )));
            }
            a.data_samples = Some(n as i64);
        }
        s.default_only(
            "shuffle",
            &json!(false),
            "is not supported yet by llmbench (requests are sent in data order)",
        )?;
        // num_workers and prefetch_factor tune PyTorch's loader; llmbench has none: no effect.
    }
    if let Some(seed) = spec.get("seed") {
        let (s, _) = Spec::read("--seed", seed, kinds::SEED, Some("static"))?;
        if let Some(v) = s.count("value")? {
            a.random_seed = v;
        }
    } else {
        a.random_seed = 42;
    }
    outputs(spec.get("outputs"), from, results_dir)?;
    if let Some(m) = spec.get("metrics") {
        let (s, _) = Spec::read("--metrics", m, kinds::METRICS, Some("generative"))?;
        a.sample_requests = s.count("sample_size")?.map(|n| n as usize);
        // Checked, key by key, by the plan (as the 0.6 form's --slo).
        a.slo = s.object("slo")?.map(|m| Value::Object(m).to_string());
        s.default_only(
            "prefer_response_metrics",
            &json!(true),
            "has no meaning here: llmbench times every token itself, in-process",
        )?;
        // Checked by the plan (as the 0.6 form's --confidence); null turns intervals off.
        a.confidence = match s.raw("confidence") {
            None => None,
            Some(Value::Null) => Some("null".into()),
            Some(Value::String(t)) => Some(t.clone()),
            Some(v) => Some(v.to_string()),
        };
        if let Some(w) = s.get("warnings") {
            if w.as_array().is_none_or(|a| !a.is_empty()) {
                return Err(
                    s.err("warnings (custom warning rules) are not supported yet by llmbench")
                );
            }
        }
    }
    Ok(())
}

fn backend(
    b: Option<&Value>,
    backends: &[Map<String, Value>],
    a: &mut RunArgs,
    from: &mut FromSpec,
) -> Result<()> {
    let Some(b) = b else {
        if a.x.models_file.is_some() {
            a.backend = Some("vllm_python".into());
            return Ok(());
        }
        return Err(usage("--backend is required: --backend kind=vllm_python,model=MODEL (GuideLLM's default, openai_http, is a server; llmbench runs vLLM's engine in-process)".into()));
    };
    let (s, _) = Spec::read("--backend", b, kinds::BACKEND, Some("openai_http"))?;
    let batch = s.kind == "vllm_python_batch";
    a.backend = Some(
        if batch {
            "vllm_python_batch"
        } else {
            "vllm_python"
        }
        .into(),
    );
    a.model = match s.get("model") {
        None => vec![],
        Some(Value::String(m)) => vec![m.clone()],
        Some(Value::Array(l)) => l
            .iter()
            .map(|m| {
                m.as_str().map(String::from).ok_or_else(|| {
                    s.err(format!(
                        "model must be a string or a list of strings, not {m}"
                    ))
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(s.err(format!(
                "model must be a string or a list of strings, not {other}"
            )))
        }
    };
    if a.model.is_empty() && a.x.models_file.is_none() {
        return Err(
            s.err("model is required: model=MODEL (a directory or a model id), or model=[A, B]")
        );
    }
    match (batch, s.bool("stream")?) {
        (false, Some(false)) => {
            return Err(s.err("stream=false is refused for kind=vllm_python: it streams, to time every token; for non-streaming micro-batches use kind=vllm_python_batch"));
        }
        (true, Some(true)) => {
            return Err(s.err("stream=true is refused for kind=vllm_python_batch: its micro-batches are never streamed; for streamed requests use kind=vllm_python"));
        }
        _ => {}
    }
    s.default_only(
        "image_placeholder",
        &json!("<image>"),
        "has no effect: llmbench sends text only",
    )?;
    s.default_only(
        "audio_placeholder",
        &json!("<|audio|>"),
        "has no effect: llmbench sends text only",
    )?;
    a.request_format = s.str("request_format")?;
    let mut kwargs = Map::new();
    if let Some(v) = s.object("vllm_config")? {
        kwargs.insert("vllm_config".into(), Value::Object(v));
    }
    for key in ["engine", "mock", "sampling", "batch_size", "batch_timeout"] {
        if let Some(v) = s.get(key) {
            kwargs.insert(key.into(), v.clone());
        }
    }
    // Repeated --backend: the same backend for every model, each with its own vllm_config.
    if backends.len() > 1 {
        kwargs.remove("vllm_config");
        let strip = |m: &Map<String, Value>| {
            let mut m = m.clone();
            m.remove("model");
            m.remove("vllm_config");
            m
        };
        for other in backends {
            if strip(other) != strip(&backends[0]) {
                return Err(
                    s.err("repeated --backend entries may differ only in model and vllm_config")
                );
            }
            let cfg = match other.get("vllm_config") {
                Some(Value::Object(m)) => m.clone(),
                Some(Value::String(t)) => match serde_json::from_str(t) {
                    Ok(Value::Object(m)) => m,
                    _ => return Err(s.err("vllm_config must be a JSON object")),
                },
                _ => Map::new(),
            };
            for m in list(other.get("model")) {
                if let Some(name) = m.as_str() {
                    from.model_overrides.push((name.to_string(), cfg.clone()));
                }
            }
        }
    }
    if !kwargs.is_empty() {
        a.backend_kwargs = Some(Value::Object(kwargs).to_string());
    }
    Ok(())
}

fn profile(p: &Value, a: &mut RunArgs, from: &mut FromSpec) -> Result<()> {
    let (s, _) = Spec::read("--profile", p, kinds::PROFILE, None)?;
    let kind = match s.kind.as_str() {
        "synchronous" => ProfileKind::Synchronous,
        "concurrent" => ProfileKind::Concurrent,
        "throughput" => ProfileKind::Throughput,
        "constant" | "async" => ProfileKind::Constant,
        "poisson" => ProfileKind::Poisson,
        "sweep" => ProfileKind::Sweep,
        "goodput" => ProfileKind::Goodput,
        "knee" => ProfileKind::Knee,
        "replay" => ProfileKind::Replay,
        other => return Err(s.err(format!("kind {other} is not supported yet"))),
    };
    a.profile = Some(kind);
    if matches!(
        kind,
        ProfileKind::Goodput | ProfileKind::Knee | ProfileKind::Replay
    ) {
        // Checked here, so an error names --profile; the plan reads the same keys again.
        let mut m = s.map.clone();
        for k in ["rampup_duration", "warmup", "cooldown"] {
            m.remove(k);
        }
        m.insert("kind".into(), Value::String(s.kind.clone()));
        crate::plan::search_profile("--profile", &Value::Object(m.clone()))?;
        m.remove("kind");
        a.profile_args = Some(Value::Object(m).to_string());
    }
    let rate_key = match kind {
        ProfileKind::Synchronous => None,
        ProfileKind::Concurrent => Some("streams"),
        ProfileKind::Throughput => Some("max_concurrency"),
        ProfileKind::Constant | ProfileKind::Poisson => Some("rate"),
        ProfileKind::Sweep => Some("sweep_size"),
        ProfileKind::Goodput | ProfileKind::Knee | ProfileKind::Replay => None,
    };
    if let Some(key) = rate_key {
        match s.numbers(key)? {
            Some(rs) if rs.is_empty() => return Err(s.err(format!("{key} is an empty list"))),
            Some(rs) => {
                for r in &rs {
                    if !(*r > 0.0) || !r.is_finite() {
                        return Err(s.err(format!("{key} values must be greater than 0 (got {r})")));
                    }
                    if key != "rate" && r.fract() != 0.0 {
                        return Err(s.err(format!("{key} must be whole numbers (got {r})")));
                    }
                }
                if matches!(kind, ProfileKind::Throughput | ProfileKind::Sweep) && rs.len() > 1 {
                    return Err(s.err(format!("{key} takes one value, not {}", rs.len())));
                }
                a.rate = Some(
                    rs.iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            None if matches!(
                kind,
                ProfileKind::Concurrent | ProfileKind::Constant | ProfileKind::Poisson
            ) =>
            {
                let eg = if key == "streams" {
                    "streams=[1,4,16]"
                } else {
                    "rate=[5,10]"
                };
                return Err(s.err(format!("{key} is required, e.g. {eg}")));
            }
            None => {}
        }
    }
    rate_options(&s, kind, a)?;
    if let Some(r) = s.f64("rampup_duration")? {
        if !(r >= 0.0) || !r.is_finite() {
            return Err(s.err(format!(
                "rampup_duration must be 0 or more seconds (got {r})"
            )));
        }
        if r > 0.0 {
            if matches!(
                kind,
                ProfileKind::Synchronous | ProfileKind::Poisson | ProfileKind::Replay
            ) {
                return Err(s.err(
                    "rampup_duration applies to constant, concurrent and throughput profiles",
                ));
            }
            a.rampup = Some(r);
        }
    }
    let warm = transient(&s, "warmup")?;
    let cool = transient(&s, "cooldown")?;
    a.warmup = warm.map(|t| t.0);
    a.cooldown = cool.map(|t| t.0);
    from.window_by = [
        warm.map_or(WindowBy::PreferDuration, |t| t.1),
        cool.map_or(WindowBy::PreferDuration, |t| t.1),
    ];
    Ok(())
}

/// `max_concurrency` of constant, poisson and sweep, and a sweep's `strategy_type`.
fn rate_options(s: &Spec, kind: ProfileKind, a: &mut RunArgs) -> Result<()> {
    if matches!(
        kind,
        ProfileKind::Constant | ProfileKind::Poisson | ProfileKind::Sweep
    ) {
        match s.f64("max_concurrency")? {
            // GuideLLM's sweep default, written back when it saves a spec: llmbench's own
            // default is the same cap on the rate benchmarks, with the throughput benchmark at
            // the engine's max_num_seqs.
            Some(n)
                if kind == ProfileKind::Sweep
                    && n == crate::scheduler::SWEEP_MAX_CONCURRENCY as f64 => {}
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => {
                a.max_concurrency = Some(n as i64)
            }
            Some(n) => {
                return Err(s.err(format!(
                    "max_concurrency must be a whole number ≥ 1 (got {n})"
                )))
            }
            None => {}
        }
    }
    if kind == ProfileKind::Sweep {
        match s.str("strategy_type")?.as_deref() {
            None => {}
            Some(t @ ("constant" | "poisson")) => a.sweep_strategy = Some(t.to_string()),
            Some(other) => {
                return Err(s.err(format!(
                    "strategy_type must be constant or poisson, not {other}"
                )))
            }
        }
    }
    Ok(())
}

/// `warmup`/`cooldown`: a number (< 1 a fraction, ≥ 1 seconds or requests) or
/// `{percent, value, mode}`. Returns the amount and what it counts.
fn transient(s: &Spec, key: &str) -> Result<Option<(f64, WindowBy)>> {
    let Some(v) = s.get(key) else { return Ok(None) };
    if let Some(x) = fields::number(v) {
        return Ok((x > 0.0).then_some((x, WindowBy::PreferDuration)));
    }
    let Value::Object(m) = v else {
        return Err(s.err(format!(
            "{key} must be a number or {{percent, value, mode}}, not {v}"
        )));
    };
    for k in m.keys() {
        if !["percent", "value", "mode"].contains(&k.as_str()) {
            return Err(s.err(format!(
                "{key}: unknown key `{k}`; valid keys are percent, value, mode"
            )));
        }
    }
    let get = |k: &str| -> Result<Option<f64>> {
        match m.get(k).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => fields::number(v)
                .filter(|x| *x >= 0.0)
                .map(Some)
                .ok_or_else(|| s.err(format!("{key}.{k} must be a number ≥ 0, not {v}"))),
        }
    };
    let amount = match (get("percent")?, get("value")?) {
        (Some(p), _) if p >= 1.0 => {
            return Err(s.err(format!(
                "{key}.percent must be below 1 (a fraction), not {p}"
            )))
        }
        (Some(p), _) => p,
        (None, Some(v)) if v > 0.0 && v < 1.0 => {
            return Err(s.err(format!(
                "{key}.value must be ≥ 1 (seconds or requests); give a fraction as percent"
            )))
        }
        (None, Some(v)) => v,
        (None, None) => 0.0,
    };
    let mode = match m.get("mode").and_then(|v| v.as_str()).unwrap_or("prefer_duration") {
        "prefer_duration" => WindowBy::PreferDuration,
        "duration" => WindowBy::Duration,
        "requests" => WindowBy::Requests,
        "prefer_requests" => WindowBy::PreferRequests,
        "both" => return Err(s.err(format!("{key}.mode=both is not supported yet by llmbench; use duration or requests"))),
        other => {
            return Err(s.err(format!(
                "{key}.mode must be duration, requests, prefer_duration, prefer_requests or both, not {other}"
            )))
        }
    };
    Ok((amount > 0.0).then_some((amount, mode)))
}

/// One `--constraint`. A numeric threshold may be a list, one value per benchmark of the
/// profile (GuideLLM 0.8.1: benchmark i takes value i, the last repeats); `stopping_scope=all`
/// also ends the profile when the constraint fires.
fn constraint(c: &Value, a: &mut RunArgs, seen: &mut Vec<String>) -> Result<()> {
    let (s, _) = Spec::read("--constraint", c, kinds::CONSTRAINT, None)?;
    if seen.contains(&s.kind) {
        return Err(s.err("is given twice; give each constraint kind once"));
    }
    seen.push(s.kind.clone());
    match s.str("stopping_scope")?.as_deref() {
        None | Some("current") => {}
        Some("all") => {
            let mut all: Vec<&str> = a.stopping_scope_all.iter().map(String::as_str).collect();
            all.push(&s.kind);
            a.stopping_scope_all = Some(all.join(","));
        }
        Some(other) => {
            return Err(s.err(format!(
                "stopping_scope must be current or all, not {other}"
            )))
        }
    }
    // Each value checked by `ok` (the rule in words: `what`).
    let values = |key: &str, ok: fn(f64) -> bool, what: &str| -> Result<Values> {
        match s.numbers(key)? {
            None => Err(s.err(format!(
                "{key} is required: a number, or a list with one per benchmark of the profile"
            ))),
            Some(v) if v.is_empty() => Err(s.err(format!("{key} is an empty list"))),
            Some(v) => match v.iter().find(|x| !ok(**x)) {
                Some(x) => Err(s.err(format!("{key} must be {what} (got {x})"))),
                None => Ok(Values(v)),
            },
        }
    };
    let positive: fn(f64) -> bool = |x| x > 0.0 && x.is_finite();
    let count: fn(f64) -> bool = |x| x >= 1.0 && x.fract() == 0.0;
    let fraction: fn(f64) -> bool = |x| x > 0.0 && x <= 1.0;
    const COUNT: &str = "a whole number ≥ 1 (or a list of them)";
    const FRACTION: &str = "a fraction greater than 0 and at most 1 (or a list of them)";
    match s.kind.as_str() {
        "max_duration" => {
            a.max_seconds = Some(values("seconds", positive, "greater than 0")?);
        }
        "max_requests" => a.max_requests = Some(values("count", count, COUNT)?),
        "min_requests" => a.min_requests = Some(values("count", count, COUNT)?),
        "max_errors" => {
            let ok: fn(f64) -> bool = |x| x >= 0.0 && x.fract() == 0.0;
            a.max_errors = Some(values(
                "count",
                ok,
                "a whole number ≥ 0 (or a list of them)",
            )?);
        }
        "max_error_rate" => {
            a.max_error_rate = Some(values("rate", fraction, FRACTION)?);
            s.default_only(
                "window",
                &json!(crate::scheduler::ERROR_WINDOW),
                "is not supported yet by llmbench: its error-rate window is the last 30 requests",
            )?;
        }
        "max_global_error_rate" => {
            a.max_global_error_rate = Some(values("rate", fraction, FRACTION)?);
            s.default_only("minimum", &json!(crate::scheduler::ERROR_WINDOW), "is not supported yet by llmbench: the rate is checked from 30 finished requests on")?;
        }
        "over_saturation" => {
            // GuideLLM's keys (its statistical detector) or llmbench's min_growth (its growth
            // detector), checked here so that the sentence names this option.
            let keys: Map<String, Value> = s
                .map
                .iter()
                .filter(|(k, v)| !["kind", "stopping_scope"].contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            crate::scheduler::Saturation::parse(&keys).map_err(|e| s.err(e))?;
            a.over_saturation = Some(Value::Object(keys).to_string());
        }
        other => return Err(s.err(format!("kind {other} is not supported yet"))),
    }
    Ok(())
}

fn data_source(d: &Value, a: &mut RunArgs) -> Result<()> {
    let (s, _) = Spec::read("--data", d, kinds::DATA, None)?;
    let load_kwargs = s.object("load_kwargs")?.filter(|m| !m.is_empty());
    if matches!(s.kind.as_str(), "mooncake" | "trace_synthetic") {
        // Checked here so that the sentence names --data; the plan reads the same keys again.
        let mut m = s.map.clone();
        m.insert("kind".into(), Value::String(s.kind.clone()));
        crate::data::trace::TraceSpec::from_map(&m)?;
        a.data = Some(Value::Object(m).to_string());
        return Ok(());
    }
    if s.kind == "synthetic_text" {
        if load_kwargs.is_some() {
            return Err(s.err("load_kwargs has no meaning for synthetic data"));
        }
        if s.get("prompt_tokens").is_none() {
            return Err(
                s.err("prompt_tokens is required, e.g. prompt_tokens=256,output_tokens=128")
            );
        }
        let keys: Map<String, Value> = s
            .map
            .iter()
            .filter(|(k, v)| !["kind", "load_kwargs"].contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        a.data = Some(Value::Object(keys).to_string());
        return Ok(());
    }
    if s.kind == "huggingface" || s.kind == "hf" {
        return huggingface_source(&s, load_kwargs, a);
    }
    let Some(path) = s.str("path")? else {
        return Err(s.err("path is required: path=FILE"));
    };
    let ext = Path::new(&path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fits = match s.kind.as_str() {
        "text_file" => ext == "txt",
        "csv_file" => ext == "csv",
        "json_file" => ext == "json" || ext == "jsonl",
        "parquet_file" => ext == "parquet",
        "arrow_file" => ext == "arrow" || ext == "feather",
        _ => false,
    };
    if !fits {
        let want = match s.kind.as_str() {
            "text_file" => ".txt",
            "csv_file" => ".csv",
            "json_file" => ".json or .jsonl",
            "arrow_file" => ".arrow or .feather",
            _ => ".parquet",
        };
        return Err(s.err(format!(
            "path {path} must end in {want} (llmbench reads a file by its extension)"
        )));
    }
    a.data = Some(path);
    if let Some(k) = load_kwargs {
        a.data_args = Some(Value::Object(k).to_string());
    }
    Ok(())
}

/// `kind=huggingface,source=DIR[,split=S]`: a local dataset directory (saved with
/// `save_to_disk`, or a Hub repository's files); the split travels in `data_args` as
/// `--data-args '{"split": …}'` does in the 0.6 form.
fn huggingface_source(
    s: &Spec,
    load_kwargs: Option<Map<String, Value>>,
    a: &mut RunArgs,
) -> Result<()> {
    let mut source = None;
    for key in ["source", "src", "from", "path", "name"] {
        if let Some(v) = s.str(key)? {
            if source.is_some() {
                return Err(s.err(format!(
                    "give the dataset once, as source=DIR (also given as {key})"
                )));
            }
            source = Some(v);
        }
    }
    let Some(source) = source else {
        return Err(s.err("source is required: source=DIR, a dataset directory saved with datasets' save_to_disk or downloaded from the Hub"));
    };
    let path = Path::new(&source);
    if !path.exists() {
        if crate::plan::data::looks_like_hub_id(&source) {
            return Err(usage(crate::plan::data::hub_id_refusal(&source)));
        }
        return Err(s.err(format!("source {source} does not exist; give a dataset directory saved with datasets' save_to_disk, or a directory of its data files")));
    }
    let mut kwargs = load_kwargs.unwrap_or_default();
    if let Some(split) = s.str("split")? {
        if kwargs
            .get("split")
            .is_some_and(|v| v.as_str() != Some(split.as_str()))
        {
            return Err(
                s.err("split is given twice (split= and load_kwargs.split) with different values")
            );
        }
        kwargs.insert("split".into(), Value::String(split));
    }
    a.data = Some(source);
    if !kwargs.is_empty() {
        a.data_args = Some(Value::Object(kwargs).to_string());
    }
    Ok(())
}

/// `--output` specs (as `export` takes them) → each format with its file; outputs without a
/// `path` go in the working directory.
pub fn output_specs(specs: &[String]) -> Result<Vec<(Format, Option<PathBuf>)>> {
    let values = specs
        .iter()
        .map(|s| grammar::parse("--output", s).map(Value::Object))
        .collect::<Result<Vec<_>>>()?;
    let mut from = FromSpec::default();
    outputs(Some(&Value::Array(values)), &mut from, Path::new("."))?;
    Ok(from.outputs)
}

fn outputs(v: Option<&Value>, from: &mut FromSpec, results_dir: &Path) -> Result<()> {
    let specs = match v {
        None => vec![json!({"kind": "json"}), json!({"kind": "csv"})],
        Some(v) => list(Some(v)),
    };
    let mut out: Vec<(Format, Option<PathBuf>)> = Vec::new();
    for o in &specs {
        let (s, _) = Spec::read("--output", o, kinds::OUTPUT, None)?;
        let (format, default) = match s.kind.as_str() {
            "plot" => {
                s.default_only(
                    "dpi",
                    &json!(100),
                    "has no effect: llmbench's plots are drawn at one resolution",
                )?;
                match Format::from_name("plot") {
                    Some(f) => (f, "benchmarks.png"),
                    None => return Err(s.err("is not supported yet by llmbench")),
                }
            }
            "csv" => {
                let f = match s.str("headers")?.as_deref() {
                    None | Some("llmbench") => Format::Csv,
                    Some("guidellm") => match Format::from_name("guidellm-csv") {
                        Some(f) => f,
                        None => {
                            return Err(s.err("headers=guidellm is not supported yet by llmbench"))
                        }
                    },
                    Some(h) => {
                        return Err(s.err(format!("headers must be llmbench or guidellm, not {h}")))
                    }
                };
                (f, "benchmarks.csv")
            }
            k => {
                let f = Format::from_name(k).expect("output kinds are formats");
                (f, f.default_file().unwrap_or(""))
            }
        };
        let path = match s.str("path")? {
            _ if format == Format::Console => None,
            None => Some(results_dir.join(default)),
            Some(p) => {
                let p = PathBuf::from(p);
                if p.is_dir() {
                    Some(p.join(default))
                } else {
                    Some(p)
                }
            }
        };
        if s.kind == "plot" {
            let ext = path
                .as_ref()
                .and_then(|p| p.extension())
                .and_then(|e| e.to_str())
                .map(|e| e.to_ascii_lowercase());
            if !matches!(ext.as_deref(), Some("svg" | "png")) {
                return Err(s.err(format!(
                    "path {} must end in .svg or .png (llmbench draws plots as SVG or PNG)",
                    path.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )));
            }
        }
        let item = (format, path);
        if !out.contains(&item) {
            out.push(item);
        }
    }
    from.outputs = out;
    Ok(())
}

#[cfg(test)]
mod tests;
