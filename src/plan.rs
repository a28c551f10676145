//! `RunArgs` (what the user typed) → `Plan` (what will run). Every check that needs no engine
//! happens here, before anything is spawned or written, and every error names its flag.

use crate::backend::protocol::Map;
use crate::bail_usage;
use crate::cli::RunArgs;
use crate::data::synthetic::{self, SyntheticSpec};
use crate::error::UsageError;
pub use crate::scheduler::{Constraints, Profile, Saturation, ERROR_WINDOW};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestFormat {
    Plain,
    DefaultTemplate,
    /// A Jinja chat template, from a file or inline.
    Jinja {
        source: String,
        origin: String,
    },
}

impl RequestFormat {
    pub fn name(&self) -> &str {
        match self {
            RequestFormat::Plain => "plain",
            RequestFormat::DefaultTemplate => "default-template",
            RequestFormat::Jinja { .. } => "jinja",
        }
    }
}

/// Per-benchmark limits (constraints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Limits {
    /// --max-seconds.
    pub max_seconds: Option<f64>,
    /// --max-requests.
    pub max_requests: Option<u64>,
    /// --max-errors: stop after more errors than this.
    pub max_errors: Option<u64>,
    /// --max-error-rate: error rate over the last 30 (`ERROR_WINDOW`) finished requests.
    pub max_error_rate: Option<f64>,
    /// --max-global-error-rate: error rate over the whole benchmark, checked from 30
    /// (`ERROR_WINDOW`) finished requests on.
    pub max_global_error_rate: Option<f64>,
    /// Over-saturation detection (--detect-saturation / --over-saturation); null when off.
    pub saturation: Option<Saturation>,
    /// --rampup: seconds over which constant, concurrent and throughput ramp up.
    #[schemars(range(min = 0.0))]
    pub rampup: f64,
}

/// `--engine-log DIR|none`; by default the directory of the report file(s), when any is written.
fn engine_log_dir(
    a: &RunArgs,
    outputs: &[(crate::render::Format, Option<PathBuf>)],
    dir: &Path,
) -> Option<PathBuf> {
    match a.engine_log.as_deref() {
        Some("none") => None,
        Some(d) => Some(PathBuf::from(d)),
        None => outputs
            .iter()
            .find(|(f, _)| f.default_file().is_some())
            .map(|(f, name)| {
                let p = dir.join(
                    name.clone()
                        .unwrap_or_else(|| f.default_file().unwrap_or("").into()),
                );
                p.parent()
                    .map_or_else(|| dir.to_path_buf(), Path::to_path_buf)
            }),
    }
}

/// Every place llmbench will write is checked before any engine loads: each report file's
/// directory exists or can be created and is writable, and no report file is a directory.
fn check_output_locations(
    a: &RunArgs,
    outputs: &[(crate::render::Format, Option<PathBuf>)],
    dir: &Path,
    engine_log: Option<&Path>,
) -> Result<()> {
    let flag = if a.output_path.is_some() {
        "--output-path"
    } else {
        "--output-dir"
    };
    for (f, name) in outputs {
        let Some(default) = f.default_file() else {
            continue;
        };
        let p = dir.join(name.clone().unwrap_or_else(|| default.into()));
        if p.is_dir() {
            bail_usage!("{flag}: the report file {} is an existing directory; name a file, or give the directory as --output-dir", p.display());
        }
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        check_writable_dir(parent, flag)?;
    }
    if let Some(d) = engine_log {
        check_writable_dir(d, "--engine-log")?;
    }
    if let Some(p) = &a.save_requests {
        if p.is_dir() {
            bail_usage!(
                "--save-requests {} is a directory; name a file",
                p.display()
            );
        }
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        check_writable_dir(parent, "--save-requests")?;
    }
    Ok(())
}

/// `dir` exists and is writable, or can be created under an ancestor that is; nothing is
/// created (a probe file in the nearest existing directory is removed at once).
fn check_writable_dir(dir: &Path, flag: &str) -> Result<()> {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        bail_usage!(
            "{flag}: cannot create the directory {}: {} is not a directory",
            dir.display(),
            existing.display()
        );
    }
    if let Err(e) = tempfile::Builder::new()
        .prefix(".llmbench-probe")
        .tempfile_in(existing)
    {
        let what = if existing == dir {
            "is not writable".to_string()
        } else {
            format!("cannot be created in {}", existing.display())
        };
        bail_usage!(
            "{flag}: the directory {} {what} ({e}); choose a writable location",
            dir.display()
        );
    }
    Ok(())
}

impl Plan {
    /// The engine log file of the model at `idx` (`--engine-log`), if kept.
    pub fn engine_log_file(&self, idx: usize, model: &str) -> Option<PathBuf> {
        let base: String = Path::new(model)
            .file_name()
            .map_or_else(|| model.to_string(), |n| n.to_string_lossy().into_owned())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.engine_log_dir.as_ref()?;
        Some(dir.join(format!("engine-{idx}-{base}.log")))
    }
}

impl Limits {
    /// The scheduler's constraints for one benchmark, with the engine watchdog's timeout.
    pub fn constraints(&self, engine_stall_s: Option<f64>) -> Constraints {
        Constraints {
            max_seconds: self.max_seconds,
            max_requests: self.max_requests,
            max_errors: self.max_errors,
            max_error_rate: self.max_error_rate,
            max_global_error_rate: self.max_global_error_rate,
            saturation: self.saturation.clone(),
            engine_stall_s,
        }
    }
}

/// A warm-up or cool-down amount: `< 1` a fraction, `≥ 1` seconds or requests; serialized
/// as {"fraction": f} or {"absolute": x}.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// A fraction of the duration (or of the requests).
    Fraction(#[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1))] f64),
    /// Seconds (or requests).
    Absolute(#[schemars(range(min = 1.0))] f64),
}

/// The measurement window: what is cut off at the start and the end of each benchmark, and
/// whether those amounts are of time (`--max-seconds` given) or of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub warmup: Option<Amount>,
    pub cooldown: Option<Amount>,
    pub by_time: bool,
    pub max_seconds: Option<f64>,
}

/// Where requests come from: a synthetic spec, or the rows of a dataset file.
#[derive(Debug, Clone)]
pub enum DataSource {
    Synthetic(SyntheticSpec),
    File {
        path: PathBuf,
        rows: std::sync::Arc<Vec<crate::data::files::FileRow>>,
        /// Use the length of each conversation's reply as its output target (`--data-args
        /// '{"output_tokens_from_reply": true}'`).
        output_from_reply: bool,
    },
}

impl DataSource {
    pub fn describe(&self) -> crate::report::DataSourceInfo {
        use crate::report::DataSourceInfo;
        match self {
            DataSource::Synthetic(s) => DataSourceInfo::Synthetic { spec: s.clone() },
            DataSource::File {
                path,
                rows,
                output_from_reply,
            } => DataSourceInfo::File {
                path: path.display().to_string(),
                rows: rows.len(),
                output_tokens_from_reply: *output_from_reply,
            },
        }
    }
}

/// `--data`: a synthetic spec (inline, or a .yaml/.json file of spec keys) or a dataset file.
fn load_data(
    arg: &str,
    data_args: Option<serde_json::Value>,
    column_mapper: Option<serde_json::Value>,
) -> Result<DataSource> {
    let path = Path::new(arg);
    let spec_file = |text: &str, yaml: bool| -> Result<Option<SyntheticSpec>> {
        let v: serde_json::Value = if yaml {
            serde_yaml_ng::from_str(text)
                .map_err(|e| UsageError::new(format!("--data {arg}: not valid YAML ({e})")))?
        } else {
            match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => return Ok(None),
            }
        };
        match v {
            serde_json::Value::Object(m) if m.contains_key("prompt_tokens") || yaml => Ok(Some(
                synthetic::parse(&serde_json::Value::Object(m).to_string())?,
            )),
            _ => Ok(None),
        }
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if path.is_file() && matches!(ext.as_deref(), Some("yaml" | "yml" | "json")) {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(format!("--data {arg}: cannot read it ({e})")))?;
        if let Some(spec) = spec_file(&text, ext.as_deref() != Some("json"))? {
            if data_args.is_some() || column_mapper.is_some() {
                bail_usage!("--data-args and --data-column-mapper apply to dataset files, not to a synthetic spec");
            }
            return Ok(DataSource::Synthetic(spec));
        }
    }
    if synthetic::looks_like_spec(arg) {
        if data_args.is_some() || column_mapper.is_some() {
            bail_usage!("--data-args and --data-column-mapper apply to dataset files, not to a synthetic spec");
        }
        return Ok(DataSource::Synthetic(synthetic::parse(arg)?));
    }
    if !path.exists() {
        bail_usage!("--data {arg}: no such file, and not a synthetic spec such as \"prompt_tokens=256,output_tokens=128\" (hub datasets cannot be fetched offline)");
    }
    let output_from_reply = data_args
        .as_ref()
        .and_then(|v| v.get("output_tokens_from_reply"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let opts = crate::data::files::LoadOptions {
        column_mapper,
        data_args,
    };
    let rows = crate::data::files::load(path, &opts)?;
    for (i, r) in rows.iter().enumerate() {
        if r.prompt_tokens == Some(0) {
            bail_usage!(
                "--data {arg}: row {} asks for 0 prompt tokens; a prompt needs at least 1",
                i + 1
            );
        }
    }
    Ok(DataSource::File {
        path: path.to_path_buf(),
        rows: std::sync::Arc::new(rows),
        output_from_reply,
    })
}

/// One model of the run, with its own `vllm_config` overrides (from `--models-file`).
#[derive(Debug, Clone, Serialize)]
pub struct ModelSpec {
    pub name: String,
    pub overrides: Map,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub models: Vec<ModelSpec>,
    pub stop_on_failure: bool,
    pub gpu_memory_wait: f64,
    /// `vllm` or `mock`.
    pub engine: String,
    pub vllm_config: Map,
    pub mock: Map,
    pub sampling: Map,
    pub request_format: RequestFormat,
    pub data: DataSource,
    pub data_arg: String,
    pub processor: Option<String>,
    pub profile: Profile,
    pub limits: Limits,
    pub window: Window,
    /// Prepared requests per benchmark pass (--data-samples or samples= in --data).
    pub data_samples: Option<u64>,
    pub sample_requests: Option<usize>,
    pub seed: u64,
    pub python: PathBuf,
    /// Report files: each format with its file name (`None`: `benchmarks.<ext>` in `output_dir`).
    pub outputs: Vec<(crate::render::Format, Option<PathBuf>)>,
    pub output_dir: PathBuf,
    pub console: bool,
    /// A live progress line (stdout is a terminal, and neither console flag turned it off).
    pub live_progress: bool,
    pub print_requests: usize,
    pub warmup_requests: u32,
    pub engine_start_timeout: f64,
    /// `--engine-stall-timeout`: None when off.
    pub engine_stall_timeout: Option<f64>,
    /// Where each model's whole engine log goes (`--engine-log`), if anywhere.
    pub engine_log_dir: Option<PathBuf>,
    pub verbose: bool,
    pub dry_run: bool,
    pub save_requests: Option<PathBuf>,
}

const KWARGS_KEYS: &[&str] = &[
    "vllm_config",
    "request_format",
    "sampling",
    "engine",
    "mock",
];
const FORMATS: &str =
    "plain, default-template, a path to a Jinja template file, or an inline Jinja template";
const PROFILES: &str =
    "synchronous, concurrent, throughput, constant (alias async), poisson, sweep";

pub fn plan(a: &RunArgs) -> Result<Plan> {
    match a.backend.as_deref() {
        None | Some("vllm_python") => {}
        Some(other) => bail_usage!("--backend {other} is not supported; the only backend is vllm_python (vLLM's engine in a supervised Python worker)"),
    }
    if let Some(t) = &a.target {
        bail_usage!("--target {t} is for HTTP backends; --backend vllm_python runs the engine itself and takes no target (only the in-process backend exists), so remove --target");
    }
    let mut models: Vec<ModelSpec> = a
        .model
        .iter()
        .map(|m| ModelSpec {
            name: m.clone(),
            overrides: Map::new(),
        })
        .collect();
    if let Some(f) = &a.models_file {
        models.extend(read_models_file(f)?);
    }
    if models.is_empty() {
        bail_usage!(
            "--model is required: a local model directory or a model id (or --models-file FILE)"
        );
    }

    // --backend-kwargs
    let kwargs: serde_json::Map<String, serde_json::Value> = match &a.backend_kwargs {
        None => Default::default(),
        Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(other) => bail_usage!("--backend-kwargs must be a JSON object such as '{{\"vllm_config\": {{\"max_model_len\": 1024}}}}', not {}", json_kind(&other)),
            Err(e) => bail_usage!("--backend-kwargs is not valid JSON ({e}); it must be a JSON object such as '{{\"vllm_config\": {{\"max_model_len\": 1024}}}}'"),
        },
    };
    for k in kwargs.keys() {
        if !KWARGS_KEYS.contains(&k.as_str()) {
            bail_usage!(
                "--backend-kwargs: unknown key '{k}'; valid keys are {}",
                KWARGS_KEYS.join(", ")
            );
        }
    }
    let obj = |k: &str| -> Result<Map> {
        match kwargs.get(k) {
            None => Ok(Map::new()),
            Some(serde_json::Value::Object(m)) => Ok(m
                .iter()
                .map(|(k, v)| (k.clone(), json_to_msgpack(v)))
                .collect()),
            Some(v) => bail_usage!(
                "--backend-kwargs: '{k}' must be a JSON object, not {}",
                json_kind(v)
            ),
        }
    };
    let vllm_config = obj("vllm_config")?;
    let mock = obj("mock")?;
    let sampling = obj("sampling")?;
    let engine = match kwargs.get("engine") {
        None => "vllm".to_string(),
        Some(serde_json::Value::String(s)) if s == "vllm" || s == "mock" => s.clone(),
        Some(v) => bail_usage!("--backend-kwargs: 'engine' must be \"vllm\" or \"mock\", not {v}"),
    };

    // models
    for m in models.iter().map(|m| &m.name) {
        let looks_local =
            m.starts_with('/') || m.starts_with("./") || m.starts_with("../") || m.starts_with('~');
        if engine == "vllm" && looks_local && !Path::new(m).exists() {
            bail_usage!("--model {m}: no such file or directory; give a local model directory or a model id");
        }
    }

    // request format
    let rf_arg = match (&a.request_format, kwargs.get("request_format")) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(serde_json::Value::String(s))) => Some(s.clone()),
        (None, Some(v)) => {
            bail_usage!("--backend-kwargs: 'request_format' must be a string ({FORMATS}), not {v}")
        }
        (None, None) => None,
    };
    let request_format = match rf_arg.as_deref() {
        None | Some("default-template") => RequestFormat::DefaultTemplate,
        Some("plain") => RequestFormat::Plain,
        Some(s) if s.contains("{%") || s.contains("{{") => RequestFormat::Jinja {
            source: s.to_string(),
            origin: "inline".into(),
        },
        Some(s) if Path::new(s).is_file() => {
            let source = std::fs::read_to_string(s).map_err(|e| {
                UsageError::new(format!(
                    "--request-format {s}: cannot read the template file ({e})"
                ))
            })?;
            RequestFormat::Jinja {
                source,
                origin: s.to_string(),
            }
        }
        Some(s) => bail_usage!("--request-format '{s}' is not a known format; use {FORMATS}"),
    };

    // data
    let Some(data_arg) = a.data.clone() else {
        bail_usage!("--data is required, e.g. --data \"prompt_tokens=256,output_tokens=128\"");
    };
    let json_arg = |flag: &str, v: &Option<String>| -> Result<Option<serde_json::Value>> {
        match v {
            None => Ok(None),
            Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(Some(v)),
                _ => bail_usage!(
                    "{flag} must be a JSON object, e.g. '{{\"text_column\": \"article\"}}'"
                ),
            },
        }
    };
    let data_args = json_arg("--data-args", &a.data_args)?;
    let column_mapper = json_arg("--data-column-mapper", &a.data_column_mapper)?;
    let data = load_data(&data_arg, data_args, column_mapper)?;

    // profile and rate
    let rates: Option<Vec<f64>> = match &a.rate {
        None => None,
        Some(s) => Some(
            s.split(',')
                .map(|p| {
                    let v: f64 = p.trim().parse().map_err(|_| {
                        UsageError::new(format!("--rate: '{}' is not a number", p.trim()))
                    })?;
                    if !(v > 0.0) || !v.is_finite() {
                        bail_usage!("--rate values must be greater than 0 (got {})", p.trim());
                    }
                    Ok(v)
                })
                .collect::<Result<_>>()?,
        ),
    };
    let profile_name = a.profile.as_deref().unwrap_or("sweep");
    let whole = |what: &str, rs: &[f64]| -> Result<Vec<u32>> {
        rs.iter()
            .map(|&r| {
                if r.fract() != 0.0 || r > u32::MAX as f64 {
                    bail_usage!("--profile {profile_name} takes whole numbers of {what} in --rate (got {r})");
                }
                Ok(r as u32)
            })
            .collect()
    };
    let need = |rs: Option<Vec<f64>>, what: &str| -> Result<Vec<f64>> {
        rs.ok_or_else(|| {
            UsageError::new(format!("--profile {profile_name} needs --rate: {what}")).into()
        })
    };
    let profile = match profile_name {
        "synchronous" => {
            if a.rate.is_some() {
                bail_usage!("--rate is not used with --profile synchronous (one request at a time); remove --rate or pick --profile constant");
            }
            Profile::Synchronous
        }
        "concurrent" => Profile::Concurrent(whole(
            "streams",
            &need(
                rates,
                "the number of concurrent streams, e.g. --rate 1,4,16",
            )?,
        )?),
        "throughput" => Profile::Throughput(match rates {
            None => None,
            Some(r) => Some(whole("requests in flight", &r[..1])?[0]),
        }),
        "constant" | "async" => {
            Profile::Constant(need(rates, "requests per second, e.g. --rate 5,10")?)
        }
        "poisson" => Profile::Poisson(need(rates, "requests per second, e.g. --rate 10")?),
        "sweep" => {
            let n = match rates {
                None => 10,
                Some(r) => whole("benchmarks", &r[..1])?[0],
            };
            if n < 2 {
                bail_usage!("--profile sweep needs --rate of at least 2 (the number of benchmarks: synchronous, throughput, then constant rates)");
            }
            Profile::Sweep(n)
        }
        other => bail_usage!("--profile '{other}' is not a profile; use {PROFILES}"),
    };

    // limits
    let limits = Limits {
        max_seconds: match a.max_seconds {
            Some(s) if !(s > 0.0) || !s.is_finite() => {
                bail_usage!("--max-seconds must be greater than 0 (got {s})")
            }
            s => s,
        },
        max_requests: match a.max_requests {
            Some(n) if n < 1 => bail_usage!("--max-requests must be at least 1 (got {n})"),
            n => n.map(|n| n as u64),
        },
        max_errors: match a.max_errors {
            Some(n) if n < 0 => bail_usage!("--max-errors must be 0 or more (got {n})"),
            n => n.map(|n| n as u64),
        },
        max_error_rate: fraction("--max-error-rate", a.max_error_rate)?,
        max_global_error_rate: fraction("--max-global-error-rate", a.max_global_error_rate)?,
        saturation: match (&a.over_saturation, a.detect_saturation) {
            (Some(j), _) => Some(serde_json::from_str::<Saturation>(j).map_err(|e| {
                UsageError::new(format!("--over-saturation must be a JSON object with min_seconds, window_seconds, min_growth ({e})"))
            })?),
            (None, true) => Some(Saturation::default()),
            (None, false) => None,
        },
        rampup: match a.rampup {
            None => 0.0,
            Some(r) if !(r >= 0.0) || !r.is_finite() => bail_usage!("--rampup must be 0 or more seconds (got {r})"),
            Some(r) => r,
        },
    };
    if limits.rampup > 0.0 && matches!(profile, Profile::Synchronous | Profile::Poisson(_)) {
        bail_usage!("--rampup applies to constant, concurrent and throughput benchmarks, not to --profile {}", profile.name());
    }

    // measurement window
    let amount = |flag: &str, v: Option<f64>| -> Result<Option<Amount>> {
        match v {
            None => Ok(None),
            Some(x) if !(x >= 0.0) || !x.is_finite() => {
                bail_usage!("{flag} must be 0 or more (got {x})")
            }
            Some(x) if x == 0.0 => Ok(None),
            Some(x) if x < 1.0 => Ok(Some(Amount::Fraction(x))),
            Some(x) => Ok(Some(Amount::Absolute(x))),
        }
    };
    let window = Window {
        warmup: amount("--warmup", a.warmup)?,
        cooldown: amount("--cooldown", a.cooldown)?,
        by_time: limits.max_seconds.is_some(),
        max_seconds: limits.max_seconds,
    };
    let frac = |x: Option<Amount>| match x {
        Some(Amount::Fraction(f)) => f,
        _ => 0.0,
    };
    let abs = |x: Option<Amount>| match x {
        Some(Amount::Absolute(f)) => f,
        _ => 0.0,
    };
    if frac(window.warmup) + frac(window.cooldown) >= 1.0 {
        bail_usage!("--warmup {} and --cooldown {} leave no measurement window (their fractions must add up to less than 1)", a.warmup.unwrap_or(0.0), a.cooldown.unwrap_or(0.0));
    }
    let whole_span = if window.by_time {
        limits.max_seconds
    } else {
        limits.max_requests.map(|n| n as f64)
    };
    if let Some(span) = whole_span {
        let cut = abs(window.warmup)
            + abs(window.cooldown)
            + (frac(window.warmup) + frac(window.cooldown)) * span;
        if cut >= span {
            let unit = if window.by_time {
                "seconds of --max-seconds"
            } else {
                "requests of --max-requests"
            };
            bail_usage!("--warmup and --cooldown cut {cut} of the {span} {unit}, leaving no measurement window");
        }
    }
    let data_samples = match a.data_samples {
        None | Some(-1) => match &data {
            DataSource::Synthetic(s) => s.samples,
            DataSource::File { rows, .. } => Some(rows.len() as u64),
        },
        Some(n) if n >= 1 => Some(n as u64),
        Some(n) => {
            bail_usage!("--data-samples must be -1 (as many as needed) or at least 1 (got {n})")
        }
    };
    if limits.max_seconds.is_none()
        && limits.max_requests.is_none()
        && data_samples.is_none()
        && !a.dry_run
    {
        bail_usage!("nothing would end the benchmarks: set --max-seconds or --max-requests (or samples= in --data)");
    }

    // outputs
    if a.output_dir.is_some() && a.output_path.is_some() {
        bail_usage!("--output-path and --output-dir are alternatives; give one");
    }
    // --output-path FILE: that one file, its extension picking the format; a directory (or a
    // path without an extension): the --outputs there. --output-dir DIR: the --outputs there.
    let (mut outputs, output_dir) = match (&a.output_path, &a.output_dir) {
        (Some(p), _) if p.extension().is_some() && !p.is_dir() => {
            let Some(f) = crate::render::Format::from_path(p) else {
                bail_usage!("--output-path {}: the extension picks the format; use .json, .yaml, .yml, .csv or .html (or give a directory)", p.display());
            };
            (vec![(f, Some(p.clone()))], PathBuf::from("."))
        }
        (Some(d), _) | (None, Some(d)) => (parse_outputs(a.outputs.as_deref())?, d.clone()),
        (None, None) => (parse_outputs(a.outputs.as_deref())?, PathBuf::from(".")),
    };
    if a.dry_run {
        outputs.clear();
    }
    if !(a.engine_stall_timeout >= 0.0 && a.engine_stall_timeout.is_finite()) {
        bail_usage!(
            "--engine-stall-timeout must be a number of seconds >= 0 (0 turns the engine watchdog off), not {}",
            a.engine_stall_timeout
        );
    }
    let engine_log_dir = engine_log_dir(a, &outputs, &output_dir);
    check_output_locations(a, &outputs, &output_dir, engine_log_dir.as_deref())?;

    Ok(Plan {
        models,
        stop_on_failure: a.stop_on_failure,
        gpu_memory_wait: a.gpu_memory_wait,
        engine,
        vllm_config,
        mock,
        sampling,
        request_format,
        data,
        data_arg,
        processor: a.processor.clone(),
        profile,
        limits,
        window,
        data_samples,
        sample_requests: a.sample_requests,
        seed: a.random_seed,
        python: crate::backend::worker::find_python(a.python.as_deref()),
        outputs,
        output_dir,
        console: !a.disable_console,
        live_progress: !a.disable_console
            && !a.disable_console_interactive
            && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        print_requests: a.print_requests,
        warmup_requests: a.engine_warmup_requests,
        engine_start_timeout: a.engine_start_timeout,
        engine_stall_timeout: (a.engine_stall_timeout > 0.0).then_some(a.engine_stall_timeout),
        engine_log_dir,
        verbose: a.verbose,
        dry_run: a.dry_run,
        save_requests: a.save_requests.clone(),
    })
}

/// `--models-file`: `MODEL [JSON object of vllm_config overrides]` per line.
fn read_models_file(path: &Path) -> Result<Vec<ModelSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError::new(format!(
            "--models-file {}: cannot read it ({e})",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.split_once(char::is_whitespace) {
            Some((n, r)) => (n, r.trim()),
            None => (line, ""),
        };
        let overrides = if rest.is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<serde_json::Value>(rest) {
                Ok(serde_json::Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), json_to_msgpack(v))).collect(),
                _ => bail_usage!(
                    "--models-file {} line {}: after the model, only a JSON object of vllm_config overrides may follow, e.g. {name} {{\"max_model_len\": 2048}}",
                    path.display(),
                    i + 1
                ),
            }
        };
        out.push(ModelSpec {
            name: name.to_string(),
            overrides,
        });
    }
    if out.is_empty() {
        bail_usage!(
            "--models-file {}: no models in it (one per line; # starts a comment)",
            path.display()
        );
    }
    Ok(out)
}

fn parse_outputs(list: Option<&str>) -> Result<Vec<(crate::render::Format, Option<PathBuf>)>> {
    crate::render::parse_outputs(list.unwrap_or(crate::render::DEFAULT_OUTPUTS))
        .map_err(|e| UsageError::new(e).into())
}

fn fraction(flag: &str, v: Option<f64>) -> Result<Option<f64>> {
    match v {
        Some(x) if !(x > 0.0 && x <= 1.0) => {
            bail_usage!("{flag} must be a fraction greater than 0 and at most 1 (got {x})")
        }
        v => Ok(v),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

pub fn json_to_msgpack(v: &serde_json::Value) -> rmpv::Value {
    match v {
        serde_json::Value::Null => rmpv::Value::Nil,
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64().unwrap_or(0.0).into()
            }
        }
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(json_to_msgpack).collect()),
        serde_json::Value::Object(m) => rmpv::Value::Map(
            m.iter()
                .map(|(k, v)| (k.as_str().into(), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

pub fn msgpack_to_json(v: &rmpv::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
