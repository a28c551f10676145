//! Command-line arguments: only what the user typed (GuideLLM v0.6 `benchmark run` names and
//! aliases). Nothing here does I/O or cross-flag validation; `plan.rs` turns `RunArgs` into a
//! `Plan` and names the flag at fault when it cannot.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "llmbench",
    version,
    about = "Benchmark LLM inference: vLLM's engine in a supervised worker, GuideLLM's command line"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run benchmarks, GuideLLM 0.8's form: each option takes a spec (`kind=TYPE,key=value,…`,
    /// or the same as JSON/YAML), e.g. `run --backend kind=vllm_python,model=M --profile
    /// kind=sweep --constraint kind=max_duration,seconds=20 --data
    /// kind=synthetic_text,prompt_tokens=256,output_tokens=128`.
    Run(SpecRunArgs),
    /// Run benchmarks, GuideLLM 0.6's form (`llmbench benchmark` alone means `benchmark run`).
    Benchmark(BenchmarkCmd),
    /// Render saved JSON reports again in any output (GuideLLM 0.8's `export`); several
    /// reports give one combined report.
    Export(ExportArgs),
    /// Print the GUIDELLM__*/LLMBENCH_* settings in force and where each value came from.
    Env,
    /// Measure llmbench's own ceiling on this machine (supervisor + IPC + worker, with the
    /// worker's mock engine): how far above an engine's rates llmbench can go.
    Calibrate(CalibrateArgs),
}

/// `--token-coalesce-ms`, shared by `benchmark run`/`run` and `calibrate`.
#[derive(Debug, Clone, Args)]
pub struct TokenCoalesce {
    /// Milliseconds over which the worker gathers a streaming request's later tokens (after its
    /// first, before its last) into one frame, each token keeping the worker's own arrival
    /// stamp; 0 sends every engine output at once. Fewer frames cost llmbench fewer wake-ups on
    /// cores the engine needs (docs/performance.md); first tokens and ends are never held.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 20.0,
        allow_hyphen_values = true
    )]
    pub token_coalesce_ms: f64,
}

impl Default for TokenCoalesce {
    /// The flag's own default.
    fn default() -> Self {
        TokenCoalesce {
            token_coalesce_ms: 20.0,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// Total time to spend, spread over a ladder of request rates.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub seconds: f64,

    /// Python interpreter for the worker (default: $LLMBENCH_PYTHON, the active venv, python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Also write the calibration runs' full report (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub output_path: Option<PathBuf>,

    #[command(flatten)]
    pub coalesce: TokenCoalesce,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchmarkCmd {
    #[command(subcommand)]
    pub sub: Option<BenchmarkSub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchmarkSub {
    /// Run benchmarks against a model.
    Run(RunArgs),
    /// Render a saved JSON report again, in any format.
    FromFile(FromFileArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FromFileArgs {
    /// A JSON report written by `llmbench benchmark run`.
    pub path: PathBuf,

    /// Comma list of json, yaml, csv, html, or file names whose extension picks the format.
    #[arg(long, value_name = "LIST", default_value = "json,csv")]
    pub outputs: String,

    /// Where to write (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
}

/// `llmbench run`: GuideLLM 0.8's spec options (parsed and checked by `spec`), then llmbench's
/// own options.
#[derive(Debug, Clone, Default, Args)]
pub struct SpecRunArgs {
    /// `kind=vllm_python,model=M[,vllm_config={…},request_format=…]`; repeatable, or
    /// `model=[A, B]`: each model runs in its own worker, in turn.
    #[arg(long, value_name = "SPEC")]
    pub backend: Vec<String>,

    /// Required: `kind=synchronous|concurrent|throughput|constant|poisson|sweep,…` with
    /// `streams`, `rate`, `max_concurrency`, `sweep_size`, `strategy_type`, `rampup_duration`,
    /// `warmup`, `cooldown`.
    #[arg(long, value_name = "SPEC")]
    pub profile: Option<String>,

    /// Repeatable: `kind=max_duration,seconds=S`, `max_requests,count=N`, `min_requests`,
    /// `max_errors`, `max_error_rate`, `max_global_error_rate`, `over_saturation`; a threshold
    /// may be a list (one value per benchmark), and `stopping_scope=all` ends the profile.
    #[arg(long, value_name = "SPEC")]
    pub constraint: Vec<String>,

    /// `kind=synthetic_text,prompt_tokens=…,output_tokens=…`, or a file:
    /// `kind=json_file|csv_file|text_file|parquet_file,path=FILE`.
    #[arg(long, value_name = "SPEC")]
    pub data: Vec<String>,

    /// `kind=huggingface_auto,model=PATH` (default: the model's tokenizer).
    #[arg(long, value_name = "SPEC")]
    pub tokenizer: Option<String>,

    /// `kind=generative_column_mapper,column_mappings={"text_column": …}`.
    #[arg(long, value_name = "SPEC")]
    pub data_column_mapper: Option<String>,

    /// `kind=encode_media` (the default; nothing to encode for text).
    #[arg(long, value_name = "SPEC")]
    pub data_preprocessor: Vec<String>,

    /// `kind=generative` (the default).
    #[arg(long, value_name = "SPEC")]
    pub data_finalizer: Option<String>,

    /// `kind=pytorch,samples=N`: prepare N requests; each benchmark makes one pass over them.
    #[arg(long, value_name = "SPEC")]
    pub data_loader: Option<String>,

    /// `kind=static,value=SEED` (default 42): seeds data and arrivals.
    #[arg(long, value_name = "SPEC")]
    pub seed: Option<String>,

    /// Repeatable: `kind=json|yaml|csv|html|plot|console[,path=FILE]` (default: json and csv
    /// in the results directory).
    #[arg(long, value_name = "SPEC")]
    pub output: Vec<String>,

    /// `kind=generative,sample_size=N`: per-request records kept per status.
    #[arg(long, value_name = "SPEC")]
    pub metrics: Option<String>,

    /// A JSON/YAML file `{metadata: {labels}, spec: {…}, benchmarks: […]}`, or a saved report
    /// (its `config`); the command line wins over it, and it over GUIDELLM__* variables.
    #[arg(short = 'c', long, visible_alias = "scenario", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// `key=value` written to the report's labels; repeatable.
    #[arg(short = 'l', long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// `KEY VALUES`: one value per sub-benchmark, e.g. `--override profile.streams 1,4,16`;
    /// repeatable.
    #[arg(long = "override", num_args = 2, value_names = ["KEY", "VALUES"], action = clap::ArgAction::Append)]
    pub overrides: Vec<String>,

    #[command(flatten)]
    pub x: LlmbenchArgs,
}

/// `llmbench export`: saved reports → outputs.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// JSON reports written by llmbench (default: ./benchmarks.json); several give one report.
    #[arg(value_name = "REPORT")]
    pub paths: Vec<PathBuf>,

    /// Repeatable: `kind=json|yaml|csv|html|plot|console[,path=FILE]` (default: console, json,
    /// html and csv in the current directory).
    #[arg(long, value_name = "SPEC")]
    pub output: Vec<String>,
}

/// `--profile`: what `--rate` means and how requests are sent (`plan::profile` reads the rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileKind {
    /// One request at a time.
    Synchronous,
    /// N streams, each sending its next request when the last one ends; one benchmark per N.
    Concurrent,
    /// Everything at once, up to a concurrency cap.
    Throughput,
    /// Requests per second on a fixed schedule; one benchmark per rate.
    #[value(alias = "async")]
    Constant,
    /// Requests per second with Poisson arrivals (seeded); one benchmark per rate.
    Poisson,
    /// Synchronous, throughput, then constant rates between the two.
    Sweep,
    /// A search for the highest concurrency whose SLO attainment meets a target (needs --slo);
    /// --rate: the first concurrency (default 4); more keys in --profile-args.
    Goodput,
    /// Concurrent benchmarks and the knee of their output throughput; --rate: at least 5
    /// increasing stream counts (or min_streams, max_streams, count in --profile-args).
    Knee,
    /// Each row of a trace (--data kind=mooncake or kind=trace_synthetic) at its timestamp;
    /// --rate unused; time_scale and schedule_turn in --profile-args.
    Replay,
}

impl ProfileKind {
    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Synchronous => "synchronous",
            ProfileKind::Concurrent => "concurrent",
            ProfileKind::Throughput => "throughput",
            ProfileKind::Constant => "constant",
            ProfileKind::Poisson => "poisson",
            ProfileKind::Sweep => "sweep",
            ProfileKind::Goodput => "goodput",
            ProfileKind::Knee => "knee",
            ProfileKind::Replay => "replay",
        }
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Backend kind. Only `vllm_python` (vLLM's engine in a supervised Python worker) exists.
    #[arg(long, visible_alias = "backend-type", value_name = "KIND")]
    pub backend: Option<String>,

    /// Server address, for HTTP backends only; refused with `vllm_python`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Model id or local directory. Repeatable: each model runs in its own worker, in turn.
    #[arg(long, value_name = "MODEL")]
    pub model: Vec<String>,

    /// JSON object: `vllm_config` (vLLM AsyncEngineArgs fields), `request_format`, `sampling`
    /// (extra SamplingParams for every request), `engine` (`vllm` or `mock`), `mock` (mock shape).
    #[arg(long, visible_alias = "backend-args", value_name = "JSON")]
    pub backend_kwargs: Option<String>,

    /// `plain`, `default-template`, a Jinja file, or an inline Jinja template.
    #[arg(long, visible_alias = "request-type", value_name = "FORMAT")]
    pub request_format: Option<String>,

    /// Synthetic data spec, e.g. "prompt_tokens=256,output_tokens=128" (or the same as JSON).
    #[arg(long, value_name = "SPEC")]
    pub data: Option<String>,

    /// Tokenizer for data preparation (default: the model's).
    #[arg(long, value_name = "PATH")]
    pub processor: Option<String>,

    /// The load profile (default: sweep); `async` is an alias of constant.
    #[arg(long, visible_alias = "rate-type", value_name = "PROFILE")]
    pub profile: Option<ProfileKind>,

    /// Comma list; its meaning depends on --profile (streams, max concurrency, req/s, or the
    /// number of sweep benchmarks).
    #[arg(long, value_name = "RATE[,RATE…]", allow_hyphen_values = true)]
    pub rate: Option<String>,

    /// The goodput and knee profiles' other settings, GuideLLM's keys as key=value,… or JSON:
    /// goodput: target_attainment, initial_streams, max_streams, tolerance, max_probes,
    /// confidence; knee: initial_streams, min_streams, max_streams, count, adaptive,
    /// points_each_side, max_step (docs/cli.md).
    #[arg(long, value_name = "KEY=VALUE,…")]
    pub profile_args: Option<String>,

    /// Seconds over which constant, concurrent and throughput benchmarks ramp up (not poisson or
    /// synchronous).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub rampup: Option<f64>,

    /// Warm-up excluded from the metrics: < 1 a fraction of the benchmark (of its duration with
    /// --max-seconds, else of its requests), ≥ 1 seconds (with --max-seconds) or requests.
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub warmup: Option<f64>,

    /// Cool-down excluded from the metrics, as --warmup.
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub cooldown: Option<f64>,

    /// Per-benchmark time limit in seconds; a comma list gives one per benchmark of the profile
    /// (the last repeats).
    #[arg(long, value_name = "SECONDS[,…]", allow_hyphen_values = true, value_parser = values)]
    pub max_seconds: Option<Values>,

    /// Per-benchmark request limit: no request is sent after N; a comma list gives one per
    /// benchmark.
    #[arg(long, value_name = "N[,…]", allow_hyphen_values = true, value_parser = values)]
    pub max_requests: Option<Values>,

    /// End a benchmark once N requests have finished, sending requests until then (GuideLLM's
    /// min_requests); a comma list gives one per benchmark.
    #[arg(long, value_name = "N[,…]", allow_hyphen_values = true, value_parser = values)]
    pub min_requests: Option<Values>,

    /// Stop a benchmark once more than N requests have errored; a comma list gives one per
    /// benchmark.
    #[arg(long, value_name = "N[,…]", allow_hyphen_values = true, value_parser = values)]
    pub max_errors: Option<Values>,

    /// Stop a benchmark when the error rate over the last 30 requests exceeds this (0–1); a
    /// comma list gives one per benchmark.
    #[arg(long, value_name = "RATE[,…]", allow_hyphen_values = true, value_parser = values)]
    pub max_error_rate: Option<Values>,

    /// Stop a benchmark when its error rate (after at least 30 requests) exceeds this (0–1); a
    /// comma list gives one per benchmark.
    #[arg(long, value_name = "RATE[,…]", allow_hyphen_values = true, value_parser = values)]
    pub max_global_error_rate: Option<Values>,

    /// Stop a benchmark once the engine is over-saturated (requests in flight and TTFT keep
    /// rising), by GuideLLM's statistical detector with its defaults.
    #[arg(long)]
    pub detect_saturation: bool,

    /// Over-saturation detection with options, as JSON: GuideLLM's keys (mode enforce or
    /// monitor, min_seconds, max_window_seconds, moe_threshold, minimum_ttft,
    /// maximum_window_ratio, minimum_window_size, confidence), or min_growth for llmbench's
    /// growth detector. Implies --detect-saturation.
    #[arg(long, value_name = "JSON")]
    pub over_saturation: Option<String>,

    /// Constraints whose firing also ends the profile for the model: no further rates or
    /// streams are run (GuideLLM's stopping_scope=all). Comma list of max_duration,
    /// max_requests, min_requests, max_errors, max_error_rate, max_global_error_rate,
    /// over_saturation; each must be set.
    #[arg(long, value_name = "KIND[,…]")]
    pub stopping_scope_all: Option<String>,

    /// constant, poisson and sweep: at most N requests in flight; a request due while N are
    /// waits for a place (GuideLLM's max_concurrency). A sweep's throughput benchmark runs at
    /// N too (default: the engine's max_num_seqs; its rate benchmarks' default cap is 512).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub max_concurrency: Option<i64>,

    /// sweep: its rate benchmarks are constant (default) or poisson (GuideLLM's
    /// strategy_type).
    #[arg(long, value_name = "constant|poisson")]
    pub sweep_strategy: Option<String>,

    /// Prepare N requests; each benchmark makes one pass over them. -1: as many as needed.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub data_samples: Option<i64>,

    /// Loader options for dataset files (JSON).
    #[arg(long, value_name = "JSON")]
    pub data_args: Option<String>,

    /// Column names for dataset files (JSON), e.g. {"text_column": "article"}.
    #[arg(long, value_name = "JSON")]
    pub data_column_mapper: Option<String>,

    /// Per-request latency targets, JSON, ms: any of {"ttft_ms": 500, "tpot_ms": 50,
    /// "e2el_ms": 10000, "itl_ms": 100} (itl_ms bounds every inter-token gap). Each benchmark
    /// reports SLO attainment and goodput against them.
    #[arg(long, value_name = "JSON")]
    pub slo: Option<String>,

    /// Confidence level of the intervals around each benchmark's figures (means, percentiles,
    /// rates, SLO attainment), between 0.5 and 1 (default 0.95), or none to turn them off.
    #[arg(long, value_name = "LEVEL|none")]
    pub confidence: Option<String>,

    /// Keep N per-request records per status in the JSON (default: all).
    #[arg(long, visible_aliases = ["request-samples", "output-sampling"], value_name = "N")]
    pub sample_requests: Option<usize>,

    /// GuideLLM 0.6 flags llmbench refuses with its equivalent (`plan::refuse_06_flags`).
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub warmup_percent: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub cooldown_percent: Option<String>,
    #[arg(long, hide = true)]
    pub processor_args: Option<String>,
    #[arg(long, hide = true)]
    pub data_sampler: Option<String>,

    /// A JSON or YAML file of options (the same names as these flags); flags typed on the command
    /// line and LLMBENCH_*/GUIDELLM_* environment variables win over it.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// One seed for data and arrivals; recorded in the report.
    #[arg(long, value_name = "SEED", default_value_t = 42)]
    pub random_seed: u64,

    /// Where the report files go (`benchmarks.json`).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// A report file (its extension picks the format) or a directory.
    #[arg(long, value_name = "PATH")]
    pub output_path: Option<PathBuf>,

    /// Comma list of formats (json, yaml, csv, guidellm-csv, html, plot, console) or file names
    /// whose extension picks the format (.svg or .png: the plot).
    #[arg(long, value_name = "LIST")]
    pub outputs: Option<String>,

    /// llmbench's own options (also taken by `run`).
    #[command(flatten)]
    pub x: LlmbenchArgs,

    /// Set by `run` (the GuideLLM 0.8 form), never typed: see `spec`.
    #[arg(skip)]
    pub from_spec: Option<crate::spec::FromSpec>,
}

/// A comma list of numbers (`10` or `10,20,30`): one value for every benchmark, or one per
/// benchmark of the profile. Whether they must be whole or in a range is checked by the plan,
/// which names the flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Values(pub Vec<f64>);

impl Values {
    pub fn one(v: f64) -> Values {
        Values(vec![v])
    }
}

fn values(s: &str) -> Result<Values, String> {
    s.split(',')
        .map(|p| {
            p.trim().parse::<f64>().map_err(|_| {
                format!(
                    "'{}' is not a number (give a number or a comma list)",
                    p.trim()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Values)
}

/// llmbench's own options: no GuideLLM equivalent; `benchmark run` and `run` both take them.
#[derive(Debug, Clone, Default, Args)]
pub struct LlmbenchArgs {
    /// A file of models, one per line, each optionally followed by a JSON object of
    /// `vllm_config` overrides for that model; blank lines and `#` comments are ignored.
    #[arg(long, value_name = "FILE")]
    pub models_file: Option<PathBuf>,

    /// Run only shard K of N of the plan's models (every N-th, from the K-th); `auto/N` reads
    /// K from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm). `llmbench
    /// export` merges the shards' reports.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Stop at the first model that fails instead of going on to the next.
    #[arg(long)]
    pub stop_on_failure: bool,

    /// Seconds to wait, after a model's worker is gone, for GPU memory to return to the
    /// baseline measured before the first model.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub gpu_memory_wait: f64,

    /// Python interpreter for the worker (default: $LLMBENCH_PYTHON, the active venv, python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Per-request lines printed as each benchmark ends: none by default, 20 with
    /// `--print-requests` alone, N with `--print-requests N` (the JSON has every request).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        num_args = 0..=1,
        default_missing_value = "20"
    )]
    pub print_requests: usize,

    /// Unrecorded requests sent to each engine before its first benchmark.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub engine_warmup_requests: u32,

    /// Seconds to wait for an engine to load before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    pub engine_start_timeout: f64,

    /// Multi-turn data: a concurrency slot (or an arrival of a rate profile) is a whole
    /// conversation, held through think time; its later turns go at reply + think time. Without
    /// it (GuideLLM's way) every turn takes a slot or an arrival of its own and think time frees
    /// the slot.
    #[arg(long)]
    pub conversation_slots: bool,

    /// After each model's benchmarks, on the same engine: N requests of the same data sent at
    /// once in one non-streaming batch (as `vllm bench throughput` does), the model's offline
    /// ceiling; the report gives each benchmark's output throughput as a share of it.
    #[arg(long, value_name = "N")]
    pub offline_ceiling: Option<u32>,

    /// The engine watchdog: seconds without engine progress (a token, a finished request, a
    /// completed engine step, an answer) while requests are in flight or an abort, reset or
    /// shutdown is awaited, after which the engine counts as wedged and the model fails; 0 = off.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300.0,
        allow_hyphen_values = true
    )]
    pub engine_stall_timeout: f64,

    #[command(flatten)]
    pub coalesce: TokenCoalesce,

    /// Directory for each model's whole engine log (the worker's and vLLM's processes' output,
    /// `engine-<N>-<model>.log`), or `none`. Default: beside the report file(s), when any is
    /// written.
    #[arg(long, value_name = "DIR|none")]
    pub engine_log: Option<String>,

    /// No live progress display.
    #[arg(long, visible_alias = "disable-progress")]
    pub disable_console_interactive: bool,

    /// No console output at all (reports are still written).
    #[arg(long, visible_alias = "disable-console-outputs")]
    pub disable_console: bool,

    /// Prepare and check the data with the model's tokenizer only, then stop: no engine loads.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: write the prepared requests (token ids) as JSON Lines to FILE.
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub save_requests: Option<PathBuf>,

    /// Show the worker's and vLLM's own log lines on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}
