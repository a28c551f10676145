//! llmbench: benchmarks LLM inference the way GuideLLM does, with vLLM's engine in a supervised
//! Python worker instead of behind an HTTP server.
//!
//! The run, top to bottom: arguments → `Plan` (all validation) → per model: spawn a worker,
//! handshake, build prompts as exact token ids, run each benchmark (pacer + collector), write the
//! report after every benchmark → tear the worker's whole process tree down → next model.

pub mod backend;
pub mod calibrate;
pub mod cli;
pub mod clock;
pub mod data;
pub mod error;
pub mod gpu;
pub mod metrics;
pub mod plan;
pub mod render;
pub mod report;
pub mod scheduler;
pub mod sources;

use anyhow::{anyhow, Result};
use backend::protocol::{EngineKind, FromWorker, Init, Ready, ToWorker};
use backend::worker::{Worker, WorkerOptions};
use backend::Backend;
use data::prompts::{PromptFrame, RequestSource, RequestSpec, SyntheticSource, CORPUS_TEXT};
use plan::{DataSource, Plan, RequestFormat};
use report::{ModelEntry, ModelStatus, Report};
use scheduler::{EndReason, Strategy, StrategyPlan};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn run(cli: cli::Cli, argv: Vec<String>) -> Result<i32> {
    match cli.command {
        cli::Command::Benchmark(b) => {
            let args = match b.sub {
                Some(cli::BenchmarkSub::Run(a)) => a,
                Some(cli::BenchmarkSub::FromFile(f)) => return from_file(&f),
                None => b.run,
            };
            let plan = plan::plan(&args)?;
            run_plan(&plan, argv)
        }
        cli::Command::Calibrate(c) => calibrate::run(&c, argv),
    }
}

/// `benchmark from-file`: any saved JSON report, rendered again in the asked formats.
fn from_file(f: &cli::FromFileArgs) -> Result<i32> {
    let text = std::fs::read_to_string(&f.path).map_err(|e| {
        error::UsageError::new(format!(
            "benchmark from-file {}: cannot read it ({e})",
            f.path.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        error::UsageError::new(format!(
            "benchmark from-file {}: not a JSON report ({e})",
            f.path.display()
        ))
    })?;
    if v.get("benchmarks").and_then(|b| b.as_array()).is_none() {
        bail_usage!(
            "benchmark from-file {}: not an llmbench report (no \"benchmarks\" list)",
            f.path.display()
        );
    }
    let usage = |e: String| {
        error::UsageError::new(format!("benchmark from-file {}: {e}", f.path.display()))
    };
    let v = report::migrate::to_current(v).map_err(usage)?;
    let report: Report =
        serde_json::from_value(v).map_err(|e| usage(format!("not an llmbench report ({e})")))?;
    let outputs = render::parse_outputs(&f.outputs).map_err(error::UsageError::new)?;
    if outputs.iter().any(|(o, _)| *o == render::Format::Console) {
        bail_usage!("--outputs console: from-file writes files (json, yaml, csv, html); the console tables are printed by benchmark run");
    }
    for p in render::write_all(&report, &outputs, &f.output_dir)? {
        println!("wrote {}", p.display());
    }
    Ok(0)
}

/// Ctrl-C / SIGTERM: the first stops dispatch and lets the run write its partial report; the
/// second kills every worker group at once and exits.
fn install_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM]) {
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for _ in signals.forever() {
                    if f.swap(true, Ordering::SeqCst) {
                        eprintln!("second interrupt: killing the workers now");
                        backend::worker::kill_all_live_groups();
                        std::process::exit(130);
                    }
                    eprintln!("interrupt: stopping dispatch, aborting in-flight requests, writing the partial report (again to kill at once)");
                }
            })
            .ok();
    }
    flag
}

pub fn run_plan(plan: &Plan, argv: Vec<String>) -> Result<i32> {
    execute(plan, argv).map(|(code, _)| code)
}

/// Runs a plan to its end; the exit code and the report it wrote.
pub fn execute(plan: &Plan, argv: Vec<String>) -> Result<(i32, Report)> {
    backend::reaper::become_subreaper();
    let interrupt = install_signals();
    let cpu_latency_hint = clock::hold_low_latency();
    let mut report = Report::new(argv, plan.seed, report::RunConfig::from_plan(plan));
    report.host.cpu_latency_hint = Some(cpu_latency_hint.is_some());
    let gpu = gpu::probe();
    let gpu_baseline = gpu.as_ref().and_then(|g| g.read().ok());
    report.host.gpu = Some(report::HostGpu::new(gpu_baseline.clone()));
    let mut any_failed = false;
    for spec in &plan.models {
        if interrupt.load(Ordering::Relaxed) {
            break;
        }
        let model = &spec.name;
        let idx = report.models.len();
        report.models.push(ModelEntry::running(model));
        let res = run_model(plan, spec, idx, &mut report, &interrupt);
        // The worker is gone (run_model's Worker was torn down on every path): check that
        // nothing it started is left, then wait for the GPU to give its memory back.
        let left = backend::reaper::descendants(std::process::id() as i32);
        if !left.is_empty() {
            backend::reaper::sweep(&[], Duration::from_secs(10));
        }
        let mut teardown = report::Teardown {
            processes_left: left.len(),
            gpu: None,
        };
        if let (Some(g), Some(base)) = (&gpu, &gpu_baseline) {
            let w = g.wait_for_baseline(base, Duration::from_secs_f64(plan.gpu_memory_wait));
            if !w.returned && plan.console {
                eprintln!("warning: GPU memory did not return to its baseline within {:.0} s after {model}: {:?} MiB used, baseline {:?}", plan.gpu_memory_wait, w.final_mib, w.baseline_mib);
            }
            teardown.gpu = Some(w);
        }
        report.models[idx].teardown = Some(teardown);
        if let Err(e) = res {
            // A usage error before anything was measured: one sentence, exit 2, nothing written.
            if error::exit_code(&e) == 2 && report.benchmarks.is_empty() && plan.models.len() == 1 {
                return Err(e);
            }
            any_failed = true;
            report.models[idx].status = ModelStatus::Failed;
            report.models[idx].error = Some(format!("{model}: {e:#}"));
            if plan.console {
                eprintln!("error: model {model}: {e:#}");
            }
            write_report(plan, &report)?;
            if plan.stop_on_failure {
                break;
            }
            continue;
        } else {
            report.models[idx].status = ModelStatus::Ok;
        }
        write_report(plan, &report)?;
    }
    report.interrupted = interrupt.load(Ordering::Relaxed);
    report.partial = report.interrupted;
    let written = write_report(plan, &report)?;
    if plan.console && !plan.dry_run {
        render::console::print_summary(&report);
        for p in &written {
            println!("report: {}", p.display());
        }
    }
    let code = if report.interrupted {
        130
    } else if any_failed
        || report
            .benchmarks
            .iter()
            .any(|b| b.ended_by == EndReason::WorkerDied)
    {
        1
    } else {
        0
    };
    Ok((code, report))
}

/// Writes every `--outputs` format (each atomically): called after every benchmark, so a crash
/// or Ctrl-C keeps what was done.
fn write_report(plan: &Plan, report: &Report) -> Result<Vec<std::path::PathBuf>> {
    if plan
        .outputs
        .iter()
        .all(|(f, _)| *f == render::Format::Console)
    {
        return Ok(Vec::new());
    }
    render::write_all(report, &plan.outputs, &plan.output_dir)
}

/// One model: its worker spawned, its session run, its processes ended. A failure keeps the
/// lines of the engine's own output that explain it (in the error and the model's entry).
fn run_model(
    plan: &Plan,
    spec: &plan::ModelSpec,
    idx: usize,
    report: &mut Report,
    interrupt: &AtomicBool,
) -> Result<()> {
    let opts = WorkerOptions {
        python: plan.python.clone(),
        env: Vec::new(),
        hello_timeout: Duration::from_secs(120),
        passthrough_logs: plan.verbose,
        log_path: plan.engine_log_file(idx, &spec.name),
    };
    let mut worker = Worker::spawn(&opts)?;
    let res = session(&mut worker, plan, spec, idx, report, interrupt);
    match &res {
        // A wedged engine answers nothing: no shutdown, SIGKILL to the whole group at once.
        Err(e) if e.downcast_ref::<error::EngineStalled>().is_some() => worker.kill(),
        _ => worker.teardown(Duration::from_secs(30)),
    }
    let entry = &mut report.models[idx];
    entry.engine_log = worker.log_path();
    let Err(e) = res else { return Ok(()) };
    if error::exit_code(&e) == 2 {
        // Bad input found by the worker: nothing ran, so nothing is kept.
        if let Some(p) = entry.engine_log.take() {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    // What the error itself already says is not repeated.
    let said = format!("{e}");
    entry.root_cause = worker
        .causes()
        .into_iter()
        .filter(|c| !said.contains(c.as_str()))
        .collect();
    if entry.root_cause.is_empty() {
        return Err(e);
    }
    let lines: Vec<String> = entry
        .root_cause
        .iter()
        .map(|l| format!("  | {l}"))
        .collect();
    let log = entry
        .engine_log
        .as_ref()
        .map_or("not kept: see --engine-log".into(), |p| {
            p.display().to_string()
        });
    Err(anyhow!(
        "{e:#}\nthe engine's own output says (whole log: {log}):\n{}",
        lines.join("\n")
    ))
}

/// A model's session on a spawned worker: data prepared and checked, the engine started and
/// warmed up, every benchmark run and written.
fn session(
    worker: &mut Worker,
    plan: &Plan,
    spec: &plan::ModelSpec,
    idx: usize,
    report: &mut Report,
    interrupt: &AtomicBool,
) -> Result<()> {
    let model = spec.name.as_str();
    let h = worker.hello.clone();
    report.models[idx].worker = Some(report::WorkerInfo::new(&h, worker.clock_shared));
    let init = |engine: EngineKind| Init {
        engine,
        model: model.to_string(),
        vllm_config: {
            let mut c = plan.vllm_config.clone();
            c.extend(spec.overrides.clone());
            c
        },
        mock: plan.mock.clone(),
        processor: plan.processor.clone(),
        seed: plan.seed,
        send_token_ids: false,
    };
    let start_timeout = Duration::from_secs_f64(plan.engine_start_timeout);
    // Data are prepared and checked against the model's limits before any engine loads (a GPU
    // load takes minutes): with vLLM the worker first loads only the tokenizer, then the engine.
    let (prep, ready) = if plan.engine == EngineKind::Vllm {
        let tok = worker.init(
            init(EngineKind::Tokenizer),
            Duration::from_secs(600),
            interrupt,
        )?;
        let t_prepare = std::time::Instant::now();
        let prep = prepare_data(worker, plan, &tok, model)?;
        if plan.dry_run {
            worker.teardown(Duration::from_secs(10));
            return dry_run(plan, model, prep, t_prepare);
        }
        let ready = worker.init(init(EngineKind::Vllm), start_timeout, interrupt)?;
        (prep, ready)
    } else {
        let ready = worker.init(init(plan.engine), start_timeout, interrupt)?;
        let t_prepare = std::time::Instant::now();
        let prep = prepare_data(worker, plan, &ready, model)?;
        if plan.dry_run {
            worker.teardown(Duration::from_secs(10));
            return dry_run(plan, model, prep, t_prepare);
        }
        (prep, ready)
    };
    report.models[idx].engine_starts += 1;
    report.models[idx].engine = Some(report::EngineInfo::new(&ready));
    if plan.console {
        eprintln!(
            "engine ready: {model} ({} engine on {}, vLLM {}, {:.1} s to start)",
            ready.engine,
            if ready.device.is_empty() {
                "?"
            } else {
                &ready.device
            },
            h.vllm.as_deref().unwrap_or("-"),
            ready.engine_start_ns as f64 / 1e9
        );
    }
    if let (Some(g), Some(e)) = (
        gpu::probe().and_then(|p| p.read().ok()),
        report.models[idx].engine.as_mut(),
    ) {
        e.gpu_memory_after_load = Some(g);
    }
    for w in &ready.warnings {
        eprintln!("warning: {model}: {w}");
    }
    let frame = &prep.frame;
    report.models[idx].request_format = Some(report::RequestFormatInfo::new(
        plan.request_format.name(),
        frame,
    ));
    let Prep {
        source,
        prepared,
        warm,
        ..
    } = prep;
    let mut source = source;
    let mut next_id: u64 = 1;
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::Monotonic);

    // Unrecorded engine warm-up; the prefix cache is reset after it.
    if plan.warmup_requests > 0 {
        let limits = scheduler::Constraints {
            max_requests: Some(plan.warmup_requests as u64),
            max_seconds: Some(120.0),
            engine_stall_s: plan.engine_stall_timeout,
            ..Default::default()
        };
        let strategy = Strategy::Concurrent {
            streams: plan.warmup_requests,
        };
        let mut o = run_options(plan, &clock, interrupt, &mut next_id);
        o.rampup_s = 0.0;
        let (_, out) = scheduler::run(worker, warm, &strategy, &limits, o);
        if let Some(e) = out.worker_error {
            return Err(anyhow!("engine warm-up failed: {e}"));
        }
        if out.ended_by == EndReason::EngineStalled {
            return Err(stalled_error(plan, &out));
        }
        reset(worker, plan)?;
    }

    let default_concurrency = ready
        .config
        .get("max_num_seqs")
        .and_then(|v| v.as_u64())
        .filter(|&v| v > 0)
        .map(|v| v as u32)
        .unwrap_or(256);
    let mut strategies = StrategyPlan::new(&plan.profile, default_concurrency);
    let limits = plan.limits.constraints(plan.engine_stall_timeout);
    while let Some(strategy) = strategies.next() {
        if interrupt.load(Ordering::Relaxed) {
            break;
        }
        if plan.console {
            eprintln!(
                "running benchmark {}: {model}, {}",
                report.benchmarks.len(),
                strategy.label()
            );
        }
        let live = plan.live_progress.then(|| {
            progress_line(format!(
                "[{}] {}",
                report.benchmarks.len(),
                strategy.label()
            ))
        });
        let mut o = run_options(plan, &clock, interrupt, &mut next_id);
        o.progress = live.as_ref().map(|f| f as &dyn Fn(&scheduler::Progress));
        let (src, outcome) = scheduler::run(worker, source, &strategy, &limits, o);
        if live.is_some() {
            print!("\r\x1b[2K");
        }
        source = match &prepared {
            Some(p) => Box::new(data::prompts::Prepared::new(p.clone())),
            None => src,
        };
        let worker_error = outcome.worker_error.clone();
        let stalled =
            (outcome.ended_by == EndReason::EngineStalled).then(|| stalled_error(plan, &outcome));
        let entry =
            report.add_benchmark(model, strategy, outcome, &plan.window, plan.sample_requests);
        if plan.console {
            println!(
                "benchmark {} ({model}, {}): ended by {:?}",
                entry.index,
                entry.strategy.label(),
                entry.ended_by
            );
            render::console::print_requests(entry, plan.print_requests);
        }
        let rps = entry.summary.requests_per_second;
        write_report(plan, report)?;
        if let Some(e) = worker_error {
            return Err(anyhow!(
                "{}",
                if e.is_empty() {
                    worker.died_error("mid-benchmark").to_string()
                } else {
                    format!("{e}\n{}", worker.died_error("mid-benchmark"))
                }
            ));
        }
        if let Some(e) = stalled {
            return Err(e);
        }
        strategies.measured(rps).map_err(|e| anyhow!(e))?;
        if strategies.has_next() {
            reset(worker, plan)?;
        }
    }
    Ok(())
}

fn run_options<'a>(
    plan: &'a Plan,
    clock: &Arc<dyn clock::Clock>,
    interrupt: &'a AtomicBool,
    next_id: &'a mut u64,
) -> scheduler::RunOptions<'a> {
    scheduler::RunOptions {
        clock: clock.clone(),
        sampling: &plan.sampling,
        interrupt,
        next_id,
        seed: plan.seed,
        rampup_s: plan.limits.rampup,
        progress: None,
        tick: Duration::from_millis(10),
    }
}

/// The error that fails a model whose engine stopped making progress.
fn stalled_error(plan: &Plan, o: &scheduler::Outcome) -> anyhow::Error {
    let stuck = o
        .records
        .iter()
        .filter(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("engine_stalled"))
        })
        .count();
    let since = (o.longest_stall.from_ns.saturating_sub(o.start_ns)) as f64 / 1e9;
    error::EngineStalled(format!(
        "engine_stalled: the engine made no progress for {:.0} s (--engine-stall-timeout) while {stuck} request(s) were in flight; its last progress was {since:.1} s into the benchmark; the engine was killed",
        plan.engine_stall_timeout.unwrap_or(0.0),
    ))
    .into()
}

/// One live line, redrawn in place, when stdout is a terminal and progress is not disabled.
fn progress_line(label: String) -> impl Fn(&scheduler::Progress) {
    move |p: &scheduler::Progress| {
        use std::io::Write;
        let rate = |x: f64| {
            if p.elapsed_s > 0.0 {
                x / p.elapsed_s
            } else {
                0.0
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "\r\x1b[2K{label}  {:>6.1}s  done {:>6}  in flight {:>4}  errored {:>4}  {:>8.1} req/s  {:>9.1} tok/s",
            p.elapsed_s,
            p.done,
            p.in_flight,
            p.errored,
            rate(p.done as f64),
            rate(p.output_tokens as f64)
        );
        let _ = out.flush();
    }
}

/// Between benchmarks: everything aborted, the engine idle, the prefix cache empty.
fn reset(worker: &mut Worker, plan: &Plan) -> Result<()> {
    let timeout = plan.engine_stall_timeout.unwrap_or(300.0);
    worker.reset(Duration::from_secs_f64(timeout)).map_err(|e| {
        error::EngineStalled(format!("engine_stalled: the engine did not finish its reset between benchmarks within {timeout:.0} s (--engine-stall-timeout): {e:#}")).into()
    })
}

/// `--dry-run`: prepare the requests with the tokenizer only (no engine), check them, say what
/// would be sent, and optionally save them (`--save-requests`, JSON Lines of token ids).
fn dry_run(plan: &Plan, model: &str, prep: Prep, t0: std::time::Instant) -> Result<()> {
    let n = plan
        .data_samples
        .or(plan.limits.max_requests)
        .unwrap_or(1000);
    let mut source = prep.source;
    let reqs: Vec<RequestSpec> = (0..n).map_while(|_| source.next_request()).collect();
    let secs = t0.elapsed().as_secs_f64();
    let lens: Vec<usize> = reqs.iter().map(|r| r.prompt.len()).collect();
    let tokens: usize = lens.iter().sum();
    if plan.console {
        println!(
            "dry run, {model}: prepared {} requests ({} prompt tokens; per request min {}, max {}) in {secs:.3} s after the tokenizer loaded; every check passed, no engine was started",
            reqs.len(),
            tokens,
            lens.iter().min().unwrap_or(&0),
            lens.iter().max().unwrap_or(&0)
        );
    }
    if let Some(path) = &plan.save_requests {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .map_err(|e| anyhow!("--save-requests {}: {e}", path.display()))?,
        );
        for r in &reqs {
            serde_json::to_writer(
                &mut f,
                &json!({"prompt_token_ids": r.prompt, "content_tokens": r.content_tokens, "prefix_tokens": r.prefix_tokens, "max_tokens": r.max_tokens}),
            )?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// Everything a model's benchmarks draw their requests from, prepared before the engine loads.
struct Prep {
    frame: PromptFrame,
    /// The request stream of the first benchmark.
    source: Box<dyn RequestSource>,
    /// With a fixed sample count (or a dataset file), every benchmark makes one pass over these.
    prepared: Option<Arc<Vec<RequestSpec>>>,
    /// Warm-up requests (outputs capped).
    warm: Box<dyn RequestSource>,
}

/// Builds the requests for `model` with its tokenizer (the worker's), and checks the longest
/// prompt plus its output against the model's `max_model_len`.
fn prepare_data(worker: &mut Worker, plan: &Plan, ready: &Ready, model: &str) -> Result<Prep> {
    let frame = frame_for(worker, plan, None)?;
    let (source, prepared, warm, max_prompt, max_out): (
        Box<dyn RequestSource>,
        _,
        Box<dyn RequestSource>,
        u64,
        Option<u64>,
    ) = match &plan.data {
        DataSource::Synthetic(spec) => {
            let corpus = if plan.engine == EngineKind::Mock {
                let vocab = ready.vocab_size.unwrap_or(32_000).max(64) as u32;
                (16..vocab.min(4096)).collect()
            } else {
                let mut t = tokenize(worker, vec![CORPUS_TEXT.to_string()])?;
                t.pop()
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| anyhow!("the tokenizer returned no tokens for the corpus"))?
            };
            let mut source =
                SyntheticSource::new(spec.clone(), corpus.clone(), frame.clone(), plan.seed);
            let (p, o) = source.max_lengths();
            let prepared: Option<Arc<Vec<RequestSpec>>> = plan
                .data_samples
                .map(|n| Arc::new((0..n).filter_map(|_| source.next_request()).collect()));
            let warm = Capped {
                inner: Box::new(SyntheticSource::new(
                    spec.clone(),
                    corpus,
                    frame.clone(),
                    plan.seed ^ 0x5741_524d,
                )),
                cap: 16,
            };
            let first: Box<dyn RequestSource> = match &prepared {
                Some(v) => Box::new(data::prompts::Prepared::new(v.clone())),
                None => Box::new(source),
            };
            (first, prepared, Box::new(warm), p, o)
        }
        DataSource::File {
            rows,
            output_from_reply,
            ..
        } => {
            let n = plan
                .data_samples
                .map_or(rows.len(), |n| (n as usize).min(rows.len()));
            let specs = Arc::new(file_requests(
                worker,
                plan,
                &frame,
                &rows[..n],
                *output_from_reply,
            )?);
            let p = specs
                .iter()
                .map(|r| r.prompt.len() as u64)
                .max()
                .unwrap_or(0);
            let o = specs
                .iter()
                .filter_map(|r| r.max_tokens)
                .max()
                .map(|m| m as u64);
            let warm_specs = Arc::new(
                specs
                    .iter()
                    .take(plan.warmup_requests as usize)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let warm = Capped {
                inner: Box::new(data::prompts::Prepared::new(warm_specs)),
                cap: 16,
            };
            (
                Box::new(data::prompts::Prepared::new(specs.clone())),
                Some(specs),
                Box::new(warm),
                p,
                o,
            )
        }
    };
    if let Some(limit) = ready.max_model_len {
        if max_prompt + max_out.unwrap_or(1) > limit {
            bail_usage!(
                "--data asks for prompts of up to {max_prompt} tokens{} but model {model} has max_model_len {limit}; raise it with --backend-kwargs '{{\"vllm_config\": {{\"max_model_len\": N}}}}' (up to the model's limit) or ask for shorter prompts",
                max_out.map(|o| format!(" plus {o} output tokens")).unwrap_or_default()
            );
        }
    }
    Ok(Prep {
        frame,
        source,
        prepared,
        warm,
    })
}

fn tokenize(worker: &mut Worker, texts: Vec<String>) -> Result<Vec<Vec<u32>>> {
    let reply = worker.call(
        |id| ToWorker::Tokenize {
            id,
            texts,
            add_special_tokens: false,
        },
        Duration::from_secs(300),
    )?;
    match reply {
        FromWorker::Tokenized { token_ids, .. } => Ok(token_ids),
        _ => Err(anyhow!("unexpected reply to tokenize")),
    }
}

/// The request format's token frame, with an optional system message.
fn frame_for(worker: &mut Worker, plan: &Plan, system: Option<String>) -> Result<PromptFrame> {
    if plan.engine == EngineKind::Mock && matches!(plan.data, DataSource::Synthetic(_)) {
        return Ok(PromptFrame {
            format: "plain".into(),
            ..Default::default()
        });
    }
    let (format, template) = match &plan.request_format {
        RequestFormat::Plain => ("plain", None),
        RequestFormat::DefaultTemplate => ("default-template", None),
        RequestFormat::Jinja { source, .. } => ("jinja", Some(source.clone())),
    };
    let reply = worker.call(
        |id| ToWorker::FramePrompt {
            id,
            format: format.into(),
            template,
            system,
        },
        Duration::from_secs(60),
    )?;
    let FromWorker::Framed {
        prefix_ids,
        suffix_ids,
        ..
    } = reply
    else {
        return Err(anyhow!("unexpected reply to frame_prompt"));
    };
    Ok(PromptFrame {
        format: format.into(),
        prefix: prefix_ids,
        suffix: suffix_ids,
    })
}

/// Requests from dataset rows: each text tokenized once, framed by the request format (with the
/// row's system message), cut or extended to the row's prompt-token target when it has one.
fn file_requests(
    worker: &mut Worker,
    plan: &Plan,
    plain_frame: &PromptFrame,
    rows: &[data::files::FileRow],
    output_from_reply: bool,
) -> Result<Vec<RequestSpec>> {
    let plain = matches!(plan.request_format, RequestFormat::Plain);
    // `plain` joins the messages' contents with spaces (GuideLLM's plain format).
    let texts: Vec<String> = rows
        .iter()
        .map(|r| match (&r.system, plain) {
            (Some(s), true) => format!("{s} {}", r.text),
            _ => r.text.clone(),
        })
        .collect();
    let mut ids = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        ids.extend(tokenize(worker, chunk.to_vec())?);
    }
    let replies: Vec<Option<u32>> = if output_from_reply {
        let r: Vec<String> = rows
            .iter()
            .map(|r| r.reply.clone().unwrap_or_default())
            .collect();
        let mut out = Vec::new();
        for chunk in r.chunks(256) {
            out.extend(
                tokenize(worker, chunk.to_vec())?
                    .into_iter()
                    .map(|t| (!t.is_empty()).then_some(t.len() as u32)),
            );
        }
        out
    } else {
        vec![None; rows.len()]
    };
    let mut frames: HashMap<Option<String>, PromptFrame> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, (row, mut content)) in rows.iter().zip(ids).enumerate() {
        let system = if plain { None } else { row.system.clone() };
        let frame = match frames.get(&system) {
            Some(f) => f.clone(),
            None if system.is_none() => plain_frame.clone(),
            None => {
                let f = frame_for(worker, plan, system.clone())?;
                frames.insert(system, f.clone());
                f
            }
        };
        if let Some(n) = row.prompt_tokens {
            if content.is_empty() {
                bail_usage!(
                    "--data {}: row {} has an empty prompt but asks for {n} prompt tokens",
                    plan.data_arg,
                    i + 1
                );
            }
            // With `plain` a BOS the tokenizer adds counts among the requested tokens.
            let n = if frame.counts_in_content() {
                (n as usize).saturating_sub(frame.prefix.len()).max(1)
            } else {
                n as usize
            };
            let src = content.clone();
            content = src.iter().copied().cycle().take(n).collect();
        }
        let content_tokens = content.len() as u32;
        let mut prompt =
            Vec::with_capacity(frame.prefix.len() + content.len() + frame.suffix.len());
        prompt.extend_from_slice(&frame.prefix);
        prompt.extend(content);
        prompt.extend_from_slice(&frame.suffix);
        out.push(RequestSpec {
            prompt,
            content_tokens,
            prefix_tokens: 0,
            max_tokens: row.output_tokens.or(replies[i]),
        });
    }
    Ok(out)
}

/// Warm-up requests: the benchmark's shape, outputs capped so warming is quick.
struct Capped {
    inner: Box<dyn RequestSource>,
    cap: u32,
}

impl RequestSource for Capped {
    fn next_request(&mut self) -> Option<RequestSpec> {
        let mut r = self.inner.next_request()?;
        r.max_tokens = Some(r.max_tokens.map_or(self.cap, |m| m.min(self.cap)));
        Some(r)
    }
}
