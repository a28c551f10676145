//! One model's session: its worker spawned, its data prepared and checked (with the tokenizer,
//! before any engine loads), its engine started and warmed up, every benchmark of the profile run
//! and written, its processes ended — and, when it fails, the engine's own explanation kept.

mod prepare;

use crate::backend::protocol::{EngineKind, Init, Ready};
use crate::backend::worker::{Worker, WorkerOptions};
use crate::backend::Backend;
use crate::clock::{Clock, Monotonic};
use crate::data::prompts::{Prepared, RequestSource, RequestSpec};
use crate::error;
use crate::plan::{DataSource, ModelSpec, Plan};
use crate::report::{self, Report};
use crate::scheduler::search::Measured;
use crate::scheduler::{self, EndReason, Outcome, Strategy, StrategyPlan};
use anyhow::{anyhow, Result};
use prepare::Prep;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the model at `idx` of the report: spawn, session, teardown. A failure keeps the lines
/// of the engine's own output that explain it, in the error and the model's entry.
pub fn run_model(
    plan: &Plan,
    spec: &ModelSpec,
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
    let ray = ray_before(plan, spec);
    let worker = Worker::spawn(&opts)?;
    let mut s = Session {
        plan,
        spec,
        idx,
        worker,
        interrupt,
        clock: Arc::new(Monotonic),
        next_id: 1,
    };
    let res = s.run(report);
    match &res {
        // A wedged engine answers nothing: no shutdown, SIGKILL to the whole group at once.
        Err(e) if e.downcast_ref::<error::EngineStalled>().is_some() => s.worker.kill(),
        _ => s.worker.teardown(Duration::from_secs(30)),
    }
    if let Some((mut info, before)) = ray {
        if let Some(before) = before {
            info.after(&plan.python, &before, Duration::from_secs(120));
            if !info.left.is_empty() {
                eprintln!(
                    "warning: Ray still holds the engine's {} two minutes after its worker ended",
                    info.left.join(", ")
                );
            }
        }
        report.models[idx].ray = Some(info);
    }
    explain_failure(&s.worker, &mut report.models[idx], res)
}

/// An engine on Ray: what the cluster holds before it starts (with `RAY_ADDRESS`), so that
/// what the engine took can be checked for release after its worker is gone.
fn ray_before(
    plan: &Plan,
    spec: &ModelSpec,
) -> Option<(
    crate::backend::ray::RayInfo,
    Option<crate::backend::ray::Snapshot>,
)> {
    use crate::backend::ray;
    let mut vllm_config = plan.vllm_config.clone();
    vllm_config.extend(spec.overrides.clone());
    let on_ray = match plan.engine {
        EngineKind::Mock => ray::in_play(&Default::default(), &plan.mock),
        _ => ray::in_play(&vllm_config, &Default::default()),
    };
    if !on_ray || plan.dry_run {
        return None;
    }
    let Some(address) = std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty()) else {
        return Some((ray::RayInfo::local(), None));
    };
    match ray::snapshot(&plan.python, &address, Duration::from_secs(60)) {
        Ok(s) => Some((ray::RayInfo::before(&address, &s), Some(s))),
        Err(e) => {
            eprintln!("warning: {e:#}; the engine's Ray actors cannot be checked for release");
            let mut info = ray::RayInfo::before(&address, &ray::Snapshot::empty());
            (
                info.nodes_alive,
                info.actors_alive_before,
                info.placement_groups_before,
            ) = (None, None, None);
            info.left = vec![format!("{e:#}")];
            Some((info, None))
        }
    }
}

/// Records where the engine log is, and on a failure the engine's own explaining lines.
fn explain_failure(w: &Worker, entry: &mut report::ModelEntry, res: Result<()>) -> Result<()> {
    entry.engine_log = w.log_path();
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
    entry.root_cause = w
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

struct Session<'a> {
    plan: &'a Plan,
    spec: &'a ModelSpec,
    idx: usize,
    worker: Worker,
    interrupt: &'a AtomicBool,
    clock: Arc<dyn Clock>,
    /// Request ids are unique across the session's benchmarks.
    next_id: u64,
}

impl Session<'_> {
    fn run(&mut self, report: &mut Report) -> Result<()> {
        let h = self.worker.hello.clone();
        report.models[self.idx].worker =
            Some(report::WorkerInfo::new(&h, self.worker.clock_shared));
        let Some((prep, ready)) = self.start()? else {
            return Ok(()); // --dry-run
        };
        self.record_engine(report, &ready, &prep);
        let Prep {
            source,
            prepared,
            warm,
            ..
        } = prep;
        self.warm_up(warm)?;
        self.benchmarks(report, source, prepared, &ready)
    }

    fn init(&self, engine: EngineKind) -> Init {
        let mut vllm_config = self.plan.vllm_config.clone();
        vllm_config.extend(self.spec.overrides.clone());
        Init {
            engine,
            model: self.spec.name.clone(),
            vllm_config,
            mock: self.plan.mock.clone(),
            processor: self.plan.processor.clone(),
            seed: self.plan.seed,
            send_token_ids: false,
            coalesce_ns: self.coalesce_ns(),
        }
    }

    /// Later tokens are held in the worker and stamped by it only where its clock is ours.
    fn coalesce_ns(&self) -> u64 {
        if self.worker.clock_shared {
            self.plan.token_coalesce_ns
        } else {
            0
        }
    }

    /// Data are prepared and checked against the model's limits before any engine loads (a GPU
    /// load takes minutes): with vLLM the worker first loads only the tokenizer, then the engine.
    /// None after a dry run.
    fn start(&mut self) -> Result<Option<(Prep, Ready)>> {
        let (plan, model) = (self.plan, self.spec.name.as_str());
        let start_timeout = Duration::from_secs_f64(plan.engine_start_timeout);
        let vllm = plan.engine == EngineKind::Vllm;
        let first = if vllm {
            EngineKind::Tokenizer
        } else {
            plan.engine
        };
        let timeout = if vllm {
            Duration::from_secs(600)
        } else {
            start_timeout
        };
        let ready = self
            .worker
            .init(self.init(first), timeout, self.interrupt)?;
        let t_prepare = std::time::Instant::now();
        let prep = prepare::prepare_data(&mut self.worker, plan, &ready, model)?;
        if plan.dry_run {
            self.worker.teardown(Duration::from_secs(10));
            prepare::dry_run(plan, model, prep, t_prepare)?;
            return Ok(None);
        }
        let ready = if vllm {
            self.worker
                .init(self.init(EngineKind::Vllm), start_timeout, self.interrupt)?
        } else {
            ready
        };
        Ok(Some((prep, ready)))
    }

    fn record_engine(&self, report: &mut Report, ready: &Ready, prep: &Prep) {
        let (plan, model) = (self.plan, self.spec.name.as_str());
        let entry = &mut report.models[self.idx];
        entry.engine_starts += 1;
        entry.engine = Some(report::EngineInfo::new(ready));
        // Off the CPUs the engine binds (vLLM's CPU backend pins its OpenMP threads), where the
        // worker found others; back to every CPU for an engine that binds none.
        let cpus = ready.config.get("llmbench_cpus").and_then(|v| v.as_str());
        crate::backend::reaper::place_supervisor(cpus);
        if plan.console {
            let device = if ready.device.is_empty() {
                "?"
            } else {
                &ready.device
            };
            eprintln!(
                "engine ready: {model} ({} engine on {device}, vLLM {}, {:.1} s to start)",
                ready.engine,
                self.worker.hello.vllm.as_deref().unwrap_or("-"),
                ready.engine_start_ns as f64 / 1e9
            );
        }
        if let (Some(g), Some(e)) = (
            crate::gpu::probe().and_then(|p| p.read().ok()),
            entry.engine.as_mut(),
        ) {
            e.gpu_memory_after_load = Some(g);
        }
        for w in &ready.warnings {
            eprintln!("warning: {model}: {w}");
        }
        // A trace's conversations send each row's own prompt: nothing is spliced or rendered.
        let turns = plan.conversations().is_some() && !matches!(plan.data, DataSource::Trace(_));
        if let (true, Some(note)) = (turns, &prep.frame.turn_note) {
            eprintln!("warning: {model}: {note}; later turns are therefore rendered from the conversation's messages by the chat template (each message's token ids decoded, the conversation rendered and tokenized again), not spliced: summary.conversations.turns[].rendered_minus_spliced_tokens says by how much the engine's prompts differ from the spliced ones");
        }
        entry.request_format = Some(report::RequestFormatInfo::new(
            plan.request_format.name(),
            &prep.frame,
            turns,
        ));
    }

    /// Unrecorded engine warm-up; the prefix cache is reset after it.
    fn warm_up(&mut self, warm: Box<dyn RequestSource>) -> Result<()> {
        let n = self.plan.warmup_requests;
        if n == 0 {
            return Ok(());
        }
        let limits = scheduler::Constraints {
            max_requests: Some(n as u64),
            max_seconds: Some(120.0),
            engine_stall_s: self.plan.engine_stall_timeout,
            ..Default::default()
        };
        let strategy = Strategy::Concurrent { streams: n };
        let (plan, interrupt, clock) = (self.plan, self.interrupt, self.clock.clone());
        let stamps = self.coalesce_ns() > 0;
        let mut o = options(plan, &clock, interrupt, &mut self.next_id, stamps);
        o.rampup_s = 0.0;
        o.conversations = None;
        let (_, out) = scheduler::run(&mut self.worker, warm, &strategy, &limits, o);
        if let Some(e) = out.worker_error {
            return Err(anyhow!("engine warm-up failed: {e}"));
        }
        if out.ended_by == EndReason::EngineStalled {
            return Err(stalled_error(self.plan, &out));
        }
        self.reset()
    }

    /// Every benchmark of the profile, each written as it ends. A benchmark ended by a
    /// constraint with `stopping_scope=all` ends the profile (GuideLLM's
    /// `_should_stop_escalating`), where the plan says it does.
    fn benchmarks(
        &mut self,
        report: &mut Report,
        source: Box<dyn RequestSource>,
        prepared: Option<Arc<Vec<RequestSpec>>>,
        ready: &Ready,
    ) -> Result<()> {
        let default_concurrency = ready
            .config
            .get("max_num_seqs")
            .and_then(|v| v.as_u64())
            .filter(|&v| v > 0)
            .map(|v| v as u32)
            .unwrap_or(256);
        let mut strategies = StrategyPlan::new(&self.plan.profile, default_concurrency)
            .with_options(&self.plan.profile_options);
        let (t0, first) = (Instant::now(), report.benchmarks.len());
        let mut source = Some(source);
        let mut result = Ok(());
        while let Some(strategy) = strategies.next() {
            if self.interrupt.load(Ordering::Relaxed) {
                break;
            }
            if report.benchmarks.len() > first {
                if let Err(e) = self.reset() {
                    result = Err(e);
                    break;
                }
            }
            // Benchmark i of the model's profile takes the i-th value of a limit list.
            let index = report.benchmarks.len() - first;
            let src = source.take().expect("a source for each benchmark");
            let (src, measured) = match self.benchmark(report, strategy.clone(), index, src, None) {
                Ok(x) => x,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            source = Some(match &prepared {
                Some(p) => Box::new(Prepared::new(p.clone())),
                None => src,
            });
            if measured.stopped_all
                && strategies.scope_all_stops_after(&strategy)
                && self.plan.console
            {
                let b = report.benchmarks.last().expect("just run");
                println!(
                    "{} stopped: {} (stopping_scope=all) ended benchmark {}; no further benchmarks for {}",
                    self.plan.profile.name(),
                    b.stopped_by_scope_all.map_or("a constraint", |k| k.name()),
                    b.index,
                    self.spec.name
                );
            }
            if let Err(e) = strategies.measured(&strategy, &measured) {
                result = Err(anyhow!(e));
                break;
            }
        }
        // The offline ceiling, on the same engine, after the profile's benchmarks.
        if let (Some(n), Ok(()), false) = (
            self.plan.offline_ceiling,
            &result,
            self.interrupt.load(Ordering::Relaxed),
        ) {
            if report.benchmarks.len() > first {
                result = self.reset();
            }
            let src: Option<Box<dyn RequestSource>> = match &prepared {
                Some(p) => Some(Box::new(Prepared::new(p.clone()))),
                None => source.take(),
            };
            if let (Ok(()), Some(src)) = (&result, src) {
                let strategy = Strategy::Throughput { max_concurrency: n };
                result = self
                    .benchmark(report, strategy, 0, src, Some(n))
                    .map(|_| ());
                if result.is_ok() {
                    report.note_offline_ceiling(first);
                    if self.plan.console {
                        if let Some(line) =
                            crate::render::console::ceiling_line(&report.benchmarks[first..])
                        {
                            println!("{line}");
                        }
                    }
                    crate::write_report(self.plan, report)?;
                }
            }
        }
        // A search's answer, from the probes it ran (also when it failed part-way).
        if let Some(search) = strategies.search() {
            let m = &report.models[self.idx];
            let c = crate::report::conclusion::conclude(
                &self.spec.name,
                search,
                self.plan.slo.as_ref(),
                &report.benchmarks[first..],
                m.engine_starts,
                m.engine.as_ref().map(|e| e.engine_start_s),
                t0.elapsed().as_secs_f64(),
                self.interrupt.load(Ordering::Relaxed) || result.is_err(),
            );
            report.conclusions.retain(|x| x.model != c.model);
            report.conclusions.push(c);
            crate::write_report(self.plan, report)?;
        }
        result
    }

    /// One benchmark, the `index`-th of the model's profile, added to the report and written.
    /// The worker's death or a stalled engine fail the model after the benchmark is written.
    fn benchmark(
        &mut self,
        report: &mut Report,
        strategy: Strategy,
        index: usize,
        source: Box<dyn RequestSource>,
        ceiling: Option<u32>,
    ) -> Result<(Box<dyn RequestSource>, Measured)> {
        let (plan, model) = (self.plan, self.spec.name.as_str());
        let label = format!("[{}] {}", report.benchmarks.len(), strategy.label());
        if plan.console {
            eprintln!(
                "running benchmark {}: {model}, {}",
                report.benchmarks.len(),
                strategy.label()
            );
        }
        let live = plan.live_progress.then(|| progress_line(label));
        let mut limits = plan.limits.constraints(index, plan.engine_stall_timeout);
        limits.decide = decide(plan, &limits, index);
        let mut window = plan.window.at(&plan.limits, index);
        let (interrupt, clock) = (self.interrupt, self.clock.clone());
        let stamps = self.coalesce_ns() > 0;
        let mut o = options(plan, &clock, interrupt, &mut self.next_id, stamps);
        o.progress = live.as_ref().map(|f| f as &dyn Fn(&scheduler::Progress));
        if let Some(n) = ceiling {
            // The offline ceiling: n requests at once, one non-streaming batch, all measured.
            limits = scheduler::Constraints {
                max_requests: Some(n as u64),
                engine_stall_s: plan.engine_stall_timeout,
                ..Default::default()
            };
            window = Default::default();
            o.batching = Some(crate::plan::Batching {
                batch_size: n,
                ..crate::plan::Batching::DEFAULT
            });
        }
        let (src, outcome) = scheduler::run(&mut self.worker, source, &strategy, &limits, o);
        if live.is_some() {
            print!("\r\x1b[2K");
        }
        let worker_error = outcome.worker_error.clone();
        let stalled =
            (outcome.ended_by == EndReason::EngineStalled).then(|| stalled_error(plan, &outcome));
        let scope_all = plan.limits.scope_all(outcome.ended_by);
        let decided = outcome.decision;
        report.add_benchmark(
            model,
            strategy,
            outcome,
            &window,
            plan.sample_requests,
            crate::report::Judge {
                slo: plan.slo.as_ref(),
                confidence: plan.confidence,
            },
        );
        let entry = report.benchmarks.last_mut().expect("just added");
        entry.stopped_by_scope_all = scope_all;
        if ceiling.is_some() {
            entry.offline_ceiling = Some(crate::report::CeilingNote {
                is_ceiling: true,
                output_tokens_per_second: entry.summary.output_tokens_per_second,
                share: 1.0,
            });
        }
        let entry = &*entry;
        if plan.console {
            println!(
                "benchmark {} ({model}, {}): ended by {}",
                entry.index,
                entry.strategy.label(),
                crate::render::console::name_of(&entry.ended_by)
            );
            let notes = [
                crate::render::console::saturation_line(entry),
                crate::render::console::cap_line(entry),
                crate::render::console::prefix_bucket_line(entry),
                crate::render::console::replay_line(entry, &report.llmbench_config.data_source),
            ];
            for line in notes.into_iter().flatten() {
                println!("{line}");
            }
            crate::render::console::print_requests(entry, plan.print_requests);
        }
        let measured = Measured {
            requests_per_second: entry.summary.requests_per_second,
            output_tokens_per_second: entry.summary.output_tokens_per_second,
            attainment: entry
                .summary
                .slo
                .as_ref()
                .and_then(|s| s.attainment.map(|a| (a, s.judged))),
            goodput_requests_per_second: entry
                .summary
                .slo
                .as_ref()
                .map(|s| s.goodput_requests_per_second),
            stopped_all: entry.stopped_by_scope_all.is_some(),
            over_saturated: entry.over_saturation.as_ref().map(|s| s.is_over_saturated),
            decided: decided.filter(|_| entry.ended_by == EndReason::AttainmentDecided),
        };
        crate::write_report(plan, report)?;
        if let Some(e) = worker_error {
            let died = self.worker.died_error("mid-benchmark");
            return Err(if e.is_empty() {
                died
            } else {
                anyhow!("{e}\n{died}")
            });
        }
        match stalled {
            Some(e) => Err(e),
            None => Ok((src, measured)),
        }
    }

    /// Between benchmarks: everything aborted, the engine idle, the prefix cache empty.
    fn reset(&mut self) -> Result<()> {
        let timeout = self.plan.engine_stall_timeout.unwrap_or(300.0);
        self.worker
            .reset(Duration::from_secs_f64(timeout))
            .map_err(|e| {
                error::EngineStalled(format!("engine_stalled: the engine did not finish its reset between benchmarks within {timeout:.0} s (--engine-stall-timeout): {e:#}")).into()
            })
    }
}

/// A goodput probe's sequential test (`decide_early`), counting from the end of the warm-up
/// the measurement window leaves out.
fn decide(
    plan: &Plan,
    limits: &scheduler::Constraints,
    index: usize,
) -> Option<scheduler::constraints::Decide> {
    use crate::metrics::window::Amount;
    let scheduler::Profile::Goodput(g) = &plan.profile else {
        return None;
    };
    if !g.decide_early {
        return None;
    }
    let w = plan.window.at(&plan.limits, index);
    let (mut skip_seconds, mut skip_requests) = (0.0, 0);
    match (w.warmup, w.by_time) {
        (None, _) => {}
        (Some(Amount::Absolute(x)), true) => skip_seconds = x,
        (Some(Amount::Fraction(f)), true) => skip_seconds = f * w.max_seconds.unwrap_or(0.0),
        (Some(Amount::Absolute(x)), false) => skip_requests = x as u64,
        (Some(Amount::Fraction(f)), false) => {
            skip_requests = (f * limits.max_requests.unwrap_or(0) as f64).round() as u64
        }
    }
    Some(scheduler::constraints::Decide {
        slo: plan.slo.clone()?,
        target: g.target_attainment,
        margin: g.decide_margin,
        alpha: 1.0 - g.confidence,
        skip_seconds,
        skip_requests,
    })
}

fn options<'a>(
    plan: &'a Plan,
    clock: &Arc<dyn Clock>,
    interrupt: &'a AtomicBool,
    next_id: &'a mut u64,
    worker_token_stamps: bool,
) -> scheduler::RunOptions<'a> {
    scheduler::RunOptions {
        clock: clock.clone(),
        sampling: &plan.sampling,
        interrupt,
        next_id,
        seed: plan.seed,
        rampup_s: plan.limits.rampup,
        progress: None,
        tick: Duration::from_millis(100),
        conversations: plan.conversations(),
        batching: plan.batching,
        worker_token_stamps,
    }
}

/// The error that fails a model whose engine stopped making progress.
fn stalled_error(plan: &Plan, o: &Outcome) -> anyhow::Error {
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
