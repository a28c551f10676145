//! `RunArgs` (what the user typed) → `Plan` (what will run). Every check that needs no engine
//! happens here, before anything is spawned or written, and every error names its flag.
//!
//! Built ripgrep-style: one small constructor per concern (models, engine options, request
//! format, data, profile, limits and window, outputs), each from the few typed arguments it
//! reads; `plan` calls them in order, and `calibrate` builds its own Plan from the same pieces.

mod confidence;
pub(crate) mod data;
mod engine;
mod limits;
mod models;
mod outputs;
mod profile;
mod request_format;
pub mod shard;
mod slo;

pub use self::confidence::{confidence, DEFAULT_CONFIDENCE};
pub use self::data::{data_samples, json_object, DataSource};
pub use self::engine::{check_backend, BackendKwargs, Batching};
pub use self::limits::{Amount, Limits, Window};
pub use self::models::{check_local_models, models, ModelSpec};
pub use self::outputs::Outputs;
pub use self::profile::{profile, profile_options, profile_with, rates, search_profile};
pub use self::request_format::RequestFormat;
pub use self::slo::slo;
pub use crate::backend::protocol::{EngineKind, Map};
use crate::bail_usage;
use crate::cli::{ProfileKind, RunArgs};
pub use crate::scheduler::{
    Constraints, PerBenchmark, Profile, ProfileOptions, Saturation, ERROR_WINDOW,
};
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Plan {
    pub models: Vec<ModelSpec>,
    /// `--shard K/N`: this invocation's part of the plan; `models` holds only its units.
    pub shard: Option<shard::Shard>,
    pub stop_on_failure: bool,
    pub gpu_memory_wait: f64,
    /// `vllm` or `mock` (`tokenizer` is the worker's step before `vllm`, never a plan's engine).
    pub engine: EngineKind,
    pub vllm_config: Map,
    pub mock: Map,
    pub sampling: Map,
    /// `--backend vllm_python_batch`: non-streaming micro-batches; None: streamed.
    pub batching: Option<Batching>,
    pub request_format: RequestFormat,
    pub data: DataSource,
    pub data_arg: String,
    pub processor: Option<String>,
    pub profile: Profile,
    /// `max_concurrency` of rate profiles, a sweep's strategy type.
    pub profile_options: ProfileOptions,
    pub limits: Limits,
    pub window: Window,
    /// Prepared requests per benchmark pass (--data-samples or samples= in --data).
    pub data_samples: Option<u64>,
    pub sample_requests: Option<usize>,
    /// Per-request latency targets each benchmark's attainment and goodput are judged against.
    pub slo: Option<crate::metrics::Slo>,
    /// Level of the confidence intervals around each benchmark's figures; None: off.
    pub confidence: Option<f64>,
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
    /// `--conversation-slots`: conversations hold their slot through think time.
    pub conversation_slots: bool,
    /// `--token-coalesce-ms` in ns: how long the worker may hold a streaming request's later
    /// tokens to send them in one frame (0: never).
    pub token_coalesce_ns: u64,
    /// `--offline-ceiling N`: requests in the one non-streaming batch run after each model's
    /// benchmarks.
    pub offline_ceiling: Option<u32>,
    /// Where each model's whole engine log goes (`--engine-log`), if anywhere.
    pub engine_log_dir: Option<PathBuf>,
    pub verbose: bool,
    pub dry_run: bool,
    pub save_requests: Option<PathBuf>,
    /// `--label`s (the `run` form), written to the report.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The `run` form's scenario as llmbench read it (`{metadata, spec, benchmarks}`).
    pub scenario: Option<serde_json::Value>,
}

/// GuideLLM 0.6 flags llmbench does not have: one sentence each, with the equivalent.
fn refuse_06_flags(a: &RunArgs) -> Result<()> {
    if let Some(p) = &a.warmup_percent {
        bail_usage!("--warmup-percent {p} is GuideLLM's older spelling: use --warmup with a fraction below 1 (e.g. --warmup 0.1 for 10%)");
    }
    if let Some(p) = &a.cooldown_percent {
        bail_usage!("--cooldown-percent {p} is GuideLLM's older spelling: use --cooldown with a fraction below 1 (e.g. --cooldown 0.1 for 10%)");
    }
    if a.processor_args.is_some() {
        bail_usage!("--processor-args is not supported yet by llmbench: the tokenizer (--processor) loads with its defaults");
    }
    if let Some(s) = &a.data_sampler {
        bail_usage!("--data-sampler {s} is not supported yet by llmbench: requests are sent in data order (shuffle the file, or use synthetic data with --random-seed)");
    }
    Ok(())
}

/// `--token-coalesce-ms` in ns.
pub fn coalesce_ns(ms: f64) -> Result<u64> {
    if !(ms.is_finite() && (0.0..=1000.0).contains(&ms)) {
        bail_usage!("--token-coalesce-ms must be a number of milliseconds from 0 (every output sent at once) to 1000, not {ms}");
    }
    Ok((ms * 1e6).round() as u64)
}

pub fn plan(a: &RunArgs) -> Result<Plan> {
    refuse_06_flags(a)?;
    let batch = check_backend(a.backend.as_deref(), a.target.as_deref())?;
    let mut models = models(&a.model, a.x.models_file.as_deref())?;
    if let Some(f) = &a.from_spec {
        for m in models.iter_mut() {
            if let Some((_, cfg)) = f.model_overrides.iter().find(|(n, _)| *n == m.name) {
                for (k, v) in cfg {
                    m.overrides.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    let kwargs = BackendKwargs::parse(a.backend_kwargs.as_deref())?;
    let batching = Batching::from_kwargs(batch, &kwargs)?;
    if kwargs.engine == EngineKind::Vllm {
        check_local_models(&models)?;
    }
    let request_format = RequestFormat::parse(
        a.request_format
            .as_deref()
            .or(kwargs.request_format.as_deref()),
    )?;
    let Some(data_arg) = a.data.clone() else {
        bail_usage!("--data is required, e.g. --data \"prompt_tokens=256,output_tokens=128\"");
    };
    let data_args = json_object("--data-args", a.data_args.as_deref())?;
    let mapper = json_object("--data-column-mapper", a.data_column_mapper.as_deref())?;
    let data = match &a.from_spec {
        Some(f) if !f.data_zip.is_empty() => {
            DataSource::load_zipped(&f.data_zip, data_args, mapper)?
        }
        _ => DataSource::load(&data_arg, data_args, mapper)?,
    };
    let profile = profile_with(
        a.profile.unwrap_or(ProfileKind::Sweep),
        rates(a.rate.as_deref())?,
        a.profile_args.as_deref(),
    )?;
    if matches!(profile, Profile::Replay(_)) && !matches!(data, DataSource::Trace(_)) {
        bail_usage!("--profile replay sends each row of a trace at its timestamp, so it needs trace data: --data kind=mooncake,source=trace.jsonl or kind=trace_synthetic,source=trace.jsonl");
    }
    let profile_options =
        profile_options(&profile, a.max_concurrency, a.sweep_strategy.as_deref())?;
    let limits = Limits::from_args(a, &profile)?;
    let by_time = match &a.from_spec {
        Some(f) => {
            let [w, c] = f.window_by.map(|m| {
                m.by_time(
                    limits.max_seconds.as_ref().map(|v| v.at(0)),
                    limits.max_requests.as_ref().map(|v| v.at(0)),
                )
            });
            if w != c && a.warmup.is_some() && a.cooldown.is_some() {
                bail_usage!("--profile: warmup and cooldown must both count time or both count requests (their modes resolve differently with these constraints)");
            }
            if a.warmup.is_some() {
                w
            } else {
                c
            }
        }
        None => limits.max_seconds.is_some(),
    };
    let window = Window::new(a.warmup, a.cooldown, &limits, by_time)?;
    let data_samples = data_samples(a.data_samples, &data)?;
    check_benchmarks_end(&limits, data_samples, a.x.dry_run, a.from_spec.is_some())?;
    let outputs = match &a.from_spec {
        Some(f) => Outputs::files(f.outputs.clone(), a.x.engine_log.as_deref(), !a.x.dry_run),
        None => Outputs::new(
            a.output_path.as_deref(),
            a.output_dir.as_deref(),
            a.outputs.as_deref(),
            a.x.engine_log.as_deref(),
            !a.x.dry_run,
        )?,
    };
    let slo = slo(a.slo.as_deref(), a.from_spec.is_some())?;
    if matches!(profile, Profile::Goodput(_)) && slo.is_none() {
        if a.from_spec.is_some() {
            bail_usage!("--profile kind=goodput searches for the highest load meeting latency targets, so it needs them: add --metrics kind=generative,slo='{{\"ttft_ms\": 500, \"tpot_ms\": 50}}'");
        }
        bail_usage!("--profile goodput searches for the highest load meeting latency targets, so it needs them: add --slo '{{\"ttft_ms\": 500, \"tpot_ms\": 50}}'");
    }
    let confidence = confidence(a.confidence.as_deref(), a.from_spec.is_some())?;
    let engine_stall_timeout = stall_timeout(a.x.engine_stall_timeout)?;
    let flag = if a.from_spec.is_some() {
        "--output"
    } else if a.output_path.is_some() {
        "--output-path"
    } else {
        "--output-dir"
    };
    outputs.check(flag, a.x.save_requests.as_deref())?;
    Plan {
        models,
        stop_on_failure: a.x.stop_on_failure,
        gpu_memory_wait: a.x.gpu_memory_wait,
        engine: kwargs.engine,
        vllm_config: kwargs.vllm_config,
        mock: kwargs.mock,
        sampling: kwargs.sampling,
        batching,
        request_format,
        data,
        data_arg,
        processor: a.processor.clone(),
        profile,
        profile_options,
        limits,
        window,
        data_samples,
        sample_requests: a.sample_requests,
        slo,
        confidence,
        seed: a.random_seed,
        python: crate::backend::worker::find_python(a.x.python.as_deref()),
        outputs: outputs.files,
        output_dir: outputs.dir,
        console: !a.x.disable_console,
        live_progress: !a.x.disable_console
            && !a.x.disable_console_interactive
            && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        print_requests: a.x.print_requests,
        warmup_requests: a.x.engine_warmup_requests,
        engine_start_timeout: a.x.engine_start_timeout,
        engine_stall_timeout,
        conversation_slots: a.x.conversation_slots,
        token_coalesce_ns: coalesce_ns(a.x.coalesce.token_coalesce_ms)?,
        offline_ceiling: match a.x.offline_ceiling {
            Some(0) => bail_usage!("--offline-ceiling must be a number of requests >= 1 (sent at once, in one non-streaming batch), not 0"),
            n => n,
        },
        engine_log_dir: outputs.engine_log_dir,
        verbose: a.x.verbose,
        dry_run: a.x.dry_run,
        save_requests: a.x.save_requests.clone(),
        labels: a
            .from_spec
            .as_ref()
            .map(|f| f.labels.clone())
            .unwrap_or_default(),
        scenario: a.from_spec.as_ref().map(|f| f.scenario.clone()),
        shard: None,
    }
    .sharded(a.x.shard.as_deref(), &|k| std::env::var(k).ok())
}

impl Plan {
    /// Multi-turn data: Some(whether conversations hold their slot); None for independent
    /// requests.
    pub fn conversations(&self) -> Option<bool> {
        match &self.data {
            DataSource::Synthetic(s) if s.turns > 1 => Some(self.conversation_slots),
            DataSource::File { rows, .. } if rows.iter().any(|r| !r.later.is_empty()) => {
                Some(self.conversation_slots)
            }
            DataSource::Trace(t) if t.has_conversations() => Some(self.conversation_slots),
            _ => None,
        }
    }
    /// With `--shard K/N`: the plan's fingerprint over every unit, then only shard K's units.
    pub fn sharded(
        mut self,
        arg: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Plan> {
        let Some(arg) = arg else { return Ok(self) };
        let (index, count, index_from) = shard::parse(arg, env)?;
        let plan_fingerprint = shard::fingerprint(&self.run_config(), self.seed);
        let total_units = self.models.len();
        let units = shard::units(index, count, total_units);
        self.models = units.iter().map(|&i| self.models[i].clone()).collect();
        self.shard = Some(shard::Shard {
            index,
            count,
            index_from,
            units,
            total_units,
            plan_fingerprint,
        });
        Ok(self)
    }
}

/// Something must end each benchmark: a limit, or one pass over a fixed number of requests.
fn check_benchmarks_end(
    limits: &Limits,
    data_samples: Option<u64>,
    dry_run: bool,
    spec_form: bool,
) -> Result<()> {
    if limits.max_seconds.is_none()
        && limits.max_requests.is_none()
        && limits.min_requests.is_none()
        && data_samples.is_none()
        && !dry_run
    {
        if spec_form {
            bail_usage!("nothing would end the benchmarks: add --constraint kind=max_duration,seconds=S or --constraint kind=max_requests,count=N or kind=min_requests,count=N (or --data-loader kind=pytorch,samples=N)");
        }
        bail_usage!("nothing would end the benchmarks: set --max-seconds, --max-requests or --min-requests (or samples= in --data)");
    }
    Ok(())
}

/// `--engine-stall-timeout`: seconds, or 0 for off.
fn stall_timeout(seconds: f64) -> Result<Option<f64>> {
    if !(seconds >= 0.0 && seconds.is_finite()) {
        bail_usage!(
            "--engine-stall-timeout must be a number of seconds >= 0 (0 turns the engine watchdog off), not {seconds}"
        );
    }
    Ok((seconds > 0.0).then_some(seconds))
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

pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json_map(m: &crate::backend::protocol::Map) -> serde_json::Map<String, serde_json::Value> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl Plan {
    /// The run's configuration as the report records it.
    pub fn run_config(&self) -> crate::report::RunConfig {
        let plan = self;
        crate::report::RunConfig {
            backend: if plan.batching.is_some() {
                "vllm_python_batch"
            } else {
                "vllm_python"
            }
            .into(),
            batching: plan.batching,
            engine: plan.engine.name().into(),
            models: plan
                .models
                .iter()
                .map(|m| crate::report::ModelConfig {
                    name: m.name.clone(),
                    overrides: json_map(&m.overrides),
                })
                .collect(),
            data: plan.data_arg.clone(),
            data_source: plan.data.describe(match &plan.profile {
                Profile::Replay(r) => Some(r.time_scale),
                _ => None,
            }),
            request_format: plan.request_format.name().into(),
            profile: plan.profile.clone(),
            profile_options: plan.profile_options.clone(),
            limits: plan.limits.clone(),
            window: crate::report::WindowConfig {
                warmup: plan.window.warmup,
                cooldown: plan.window.cooldown,
                of: if plan.window.by_time {
                    crate::report::WindowUnit::Seconds
                } else {
                    crate::report::WindowUnit::Requests
                },
            },
            engine_warmup_requests: plan.warmup_requests,
            vllm_config: json_map(&plan.vllm_config),
            sampling: json_map(&plan.sampling),
            labels: plan.labels.clone(),
            run_spec: plan.scenario.clone(),
            slo: plan.slo.clone(),
            confidence: plan
                .confidence
                .map(crate::metrics::interval::ConfidenceConfig::new),
        }
    }
}
