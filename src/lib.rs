//! llmbench: benchmarks LLM inference the way GuideLLM does, with vLLM's engine in a supervised
//! Python worker instead of behind an HTTP server.
//!
//! The run, top to bottom (`execute`): arguments → `Plan` (all validation, `plan`) → per model a
//! `session` (spawn a worker, prepare the data as exact token ids, start the engine, run each
//! benchmark through the `scheduler` against the worker's `backend` seam, write the report after
//! every benchmark, tear the worker's whole process tree down) → the GPU memory back → the
//! exporters (`render`) and the exit code. docs/architecture.md maps the modules.

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
mod session;
pub mod sources;
pub mod spec;

use anyhow::Result;
use plan::Plan;
use report::{ModelEntry, ModelStatus, Report};
use scheduler::EndReason;
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
        cli::Command::Run(r) => {
            let args = spec::run_args(&r)?;
            let plan = plan::plan(&args)?;
            run_plan(&plan, argv)
        }
        cli::Command::Export(e) => export(&e),
        cli::Command::Env => Ok(spec::env::print()),
        cli::Command::Calibrate(c) => calibrate::run(&c, argv),
    }
}

/// Reads a saved JSON report (any version this llmbench reads); `cmd` names the command in
/// errors.
fn read_report(cmd: &str, path: &std::path::Path) -> Result<Report> {
    let usage = |e: String| error::UsageError::new(format!("{cmd} {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read it ({e})")))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("not a JSON report ({e})")))?;
    if v.get("benchmarks").and_then(|b| b.as_array()).is_none() {
        return Err(usage("not an llmbench report (no \"benchmarks\" list)".into()).into());
    }
    if v.get("report_version").is_none() && v.get("llmbench_version").is_none() {
        return Err(usage("is not an llmbench report (no report_version): llmbench reads its own reports, which carry GuideLLM's view too".into()).into());
    }
    let v = report::migrate::to_current(v).map_err(usage)?;
    serde_json::from_value(v).map_err(|e| usage(format!("not an llmbench report ({e})")).into())
}

/// `benchmark from-file`: any saved JSON report, rendered again in the asked formats.
fn from_file(f: &cli::FromFileArgs) -> Result<i32> {
    let report = read_report("benchmark from-file", &f.path)?;
    let outputs = render::parse_outputs(&f.outputs).map_err(error::UsageError::new)?;
    if outputs.iter().any(|(o, _)| *o == render::Format::Console) {
        bail_usage!("--outputs console: from-file writes files (json, yaml, csv, guidellm-csv, html, plot); the console tables are printed by benchmark run");
    }
    for p in render::write_all(&report, &outputs, &f.output_dir)? {
        println!("wrote {}", p.display());
    }
    Ok(0)
}

/// `export` (GuideLLM 0.8): saved reports → the asked outputs (default: console, json, html,
/// csv in the working directory). Several reports give one combined report.
fn export(e: &cli::ExportArgs) -> Result<i32> {
    let paths = if e.paths.is_empty() {
        vec![std::path::PathBuf::from("benchmarks.json")]
    } else {
        e.paths.clone()
    };
    let reports = paths
        .iter()
        .map(|p| read_report("export", p))
        .collect::<Result<Vec<_>>>()?;
    let outputs = if e.output.is_empty() {
        spec::output_specs(
            &["kind=console", "kind=json", "kind=html", "kind=csv"].map(String::from),
        )?
    } else {
        spec::output_specs(&e.output)?
    };
    // Never overwrite an input with the combined report.
    for (_, out) in &outputs {
        if let Some(o) = out {
            if paths.iter().any(|p| same_file(p, o)) {
                bail_usage!(
                    "--output {}: that is a report being exported; write to another path",
                    o.display()
                );
            }
        }
    }
    let shards = report::merge_shards(&reports, &paths)?;
    if let Some(m) = &shards {
        if !m.missing.is_empty() {
            eprintln!(
                "warning: shards {} of {} are missing (plan {}); the combined report holds shards {}",
                m.missing.iter().map(|k| format!("{k}/{}", m.count)).collect::<Vec<_>>().join(", "),
                m.count,
                m.plan_fingerprint,
                m.present.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let mut report = report::combine(reports, &paths);
    report.shards = shards;
    if outputs.iter().any(|(f, _)| *f == render::Format::Console) {
        render::console::print_summary(&report);
    }
    for p in render::write_all(&report, &outputs, std::path::Path::new("."))? {
        println!("wrote {}", p.display());
    }
    Ok(0)
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
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
    let mut report = Report::new(argv, plan.seed, plan.run_config());
    report.shard = plan.shard.clone();
    if let Some(s) = &plan.shard {
        if plan.console {
            println!(
                "shard {}/{} of plan {}: {} of its {} unit(s){}",
                s.index,
                s.count,
                s.plan_fingerprint,
                s.units.len(),
                s.total_units,
                if s.units.is_empty() {
                    " — nothing to run"
                } else {
                    ""
                }
            );
        }
    }
    report.host.cpu_latency_hint = Some(cpu_latency_hint.is_some());
    let gpu = GpuWatch::probe(&mut report);
    for spec in &plan.models {
        if interrupt.load(Ordering::Relaxed) {
            break;
        }
        let idx = report.models.len();
        report.models.push(ModelEntry::running(&spec.name));
        let res = session::run_model(plan, spec, idx, &mut report, &interrupt);
        report.models[idx].teardown = Some(gpu.after_model(plan, &spec.name));
        let failed = match res {
            // A usage error before anything was measured: one sentence, exit 2, nothing written.
            Err(e)
                if error::exit_code(&e) == 2
                    && report.benchmarks.is_empty()
                    && plan.models.len() == 1 =>
            {
                return Err(e)
            }
            Err(e) => model_failed(plan, &mut report.models[idx], e),
            Ok(()) => {
                report.models[idx].status = ModelStatus::Ok;
                false
            }
        };
        write_report(plan, &report)?;
        if failed && plan.stop_on_failure {
            break;
        }
    }
    finish(plan, report, &interrupt)
}

fn model_failed(plan: &Plan, entry: &mut ModelEntry, e: anyhow::Error) -> bool {
    entry.status = ModelStatus::Failed;
    entry.error = Some(format!("{}: {e:#}", entry.model));
    if plan.console {
        eprintln!("error: model {}: {e:#}", entry.model);
    }
    true
}

/// The last write of the report, the console summary, and the exit code: 130 when interrupted,
/// 1 when a model failed or a worker died, else 0.
fn finish(plan: &Plan, mut report: Report, interrupt: &AtomicBool) -> Result<(i32, Report)> {
    report.interrupted = interrupt.load(Ordering::Relaxed);
    report.partial = report.interrupted;
    let written = write_report(plan, &report)?;
    if plan.console && !plan.dry_run {
        render::console::print_summary(&report);
        for p in &written {
            println!("report: {}", p.display());
        }
    }
    let failed = report
        .models
        .iter()
        .any(|m| m.status == ModelStatus::Failed)
        || report
            .benchmarks
            .iter()
            .any(|b| b.ended_by == EndReason::WorkerDied);
    let code = match (report.interrupted, failed) {
        (true, _) => 130,
        (false, true) => 1,
        (false, false) => 0,
    };
    Ok((code, report))
}

/// The GPU's memory before the first model, and the wait for it after each.
struct GpuWatch {
    gpu: Option<gpu::Probe>,
    baseline: Option<Vec<gpu::GpuMemory>>,
}

impl GpuWatch {
    fn probe(report: &mut Report) -> GpuWatch {
        let gpu = gpu::probe();
        let baseline = gpu.as_ref().and_then(|g| g.read().ok());
        report.host.gpu = Some(report::HostGpu::new(baseline.clone()));
        GpuWatch { gpu, baseline }
    }

    /// Once a model's worker is gone: nothing it started is left, and the GPU has given its
    /// memory back (waited for, bounded by --gpu-memory-wait).
    fn after_model(&self, plan: &Plan, model: &str) -> report::Teardown {
        let left = backend::reaper::descendants(std::process::id() as i32);
        if !left.is_empty() {
            backend::reaper::sweep(&[], Duration::from_secs(10));
        }
        let mut teardown = report::Teardown {
            processes_left: left.len(),
            gpu: None,
        };
        if let (Some(g), Some(base)) = (&self.gpu, &self.baseline) {
            let w = g.wait_for_baseline(base, Duration::from_secs_f64(plan.gpu_memory_wait));
            if !w.returned && plan.console {
                eprintln!("warning: GPU memory did not return to its baseline within {:.0} s after {model}: {:?} MiB used, baseline {:?}", plan.gpu_memory_wait, w.final_mib, w.baseline_mib);
            }
            teardown.gpu = Some(w);
        }
        teardown
    }
}

/// Writes every `--outputs` format (each atomically): called after every benchmark, so a crash
/// or Ctrl-C keeps what was done.
pub(crate) fn write_report(plan: &Plan, report: &Report) -> Result<Vec<std::path::PathBuf>> {
    if plan
        .outputs
        .iter()
        .all(|(f, _)| *f == render::Format::Console)
    {
        return Ok(Vec::new());
    }
    render::write_all(report, &plan.outputs, &plan.output_dir)
}
