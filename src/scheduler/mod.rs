//! Runs one benchmark against a `Backend`: a pacer thread dispatches requests on absolute
//! targets (`pacer`); the collector (the calling thread) turns the backend's events into request
//! records and frees concurrency slots (`collector`); the constraints decide when it ends
//! (`constraints`). The clock is injected: the real one paces with `clock_nanosleep`, the unit
//! tests run every profile and constraint on a virtual one against an in-process backend.

pub mod collector;
pub mod constraints;
pub mod pacer;
pub mod saturation;
pub mod search;
pub mod strategy;
#[cfg(test)]
mod tests;

use crate::backend::Backend;
use crate::clock::Clock;
use crate::data::prompts::RequestSource;
use crate::metrics::{RequestRecord, Status};
use collector::Collector;
pub use constraints::{ConstraintKind, Constraints, Limits, PerBenchmark, ERROR_WINDOW};
use crossbeam_channel::{select, unbounded};
use pacer::{Pacer, PacerMsg};
pub use saturation::{Saturation, SaturationMode, SaturationReport};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
pub use strategy::{
    constant_offset_s, Profile, ProfileOptions, Strategy, StrategyPlan, SweepStrategy,
    SWEEP_MAX_CONCURRENCY,
};

/// Why a benchmark ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    MaxSeconds,
    MaxRequests,
    /// `min_requests` requests finished.
    MinRequests,
    MaxErrors,
    MaxErrorRate,
    MaxGlobalErrorRate,
    OverSaturated,
    DataExhausted,
    Interrupted,
    WorkerDied,
    /// No engine progress for `--engine-stall-timeout` while requests were in flight.
    EngineStalled,
    /// A goodput probe's attainment was decided by the sequential test (`decide_early`).
    AttainmentDecided,
}

pub struct Outcome {
    /// The sequential test's decision on the probe's attainment (pass: true), where one ran
    /// and decided.
    pub decision: Option<(bool, u64)>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub records: Vec<RequestRecord>,
    pub ended_by: EndReason,
    /// The worker's death, if it died during the benchmark.
    pub worker_error: Option<String>,
    /// Whether llmbench kept up: its own costs during the benchmark.
    pub harness: HarnessStats,
    /// The longest stretch without engine progress while requests were in flight.
    pub longest_stall: Stall,
    /// The over-saturation detector's verdict, when it was on.
    pub saturation: Option<SaturationReport>,
}

/// A stretch without engine progress (no token, finish, failure or engine step) while requests
/// were in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stall {
    /// Its length, seconds.
    pub seconds: f64,
    /// When it began (the last progress before it), CLOCK_MONOTONIC ns.
    #[serde(skip)]
    pub from_ns: u64,
}

/// llmbench's own costs during one benchmark, to tell a harness limit from an engine limit.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct HarnessStats {
    /// CPU seconds (user + system) the supervisor used during the benchmark.
    pub cpu_seconds_supervisor: f64,
    /// CPU seconds the worker process (vLLM's front end runs in it) used during the benchmark.
    pub cpu_seconds_worker: f64,
    /// CPU seconds the engine processes below the worker used during the benchmark.
    pub cpu_seconds_engine: f64,
    /// Peak resident memory of the supervisor so far, MiB.
    pub peak_rss_mib_supervisor: f64,
    /// Peak resident memory of the worker so far, MiB.
    pub peak_rss_mib_worker: f64,
    /// Context switches (voluntary + involuntary, every thread) of the supervisor during the
    /// benchmark: its wake-ups. Absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_switches_supervisor: Option<u64>,
    /// The same for the worker process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_switches_worker: Option<u64>,
    /// Frames of request outputs the supervisor read from the worker during the benchmark (each
    /// a wake-up of its reader): fewer than the streamed outputs where the worker coalesced
    /// them (`--token-coalesce-ms`). Absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_frames: Option<u64>,
    /// The CPUs the supervisor may run on (`Cpus_allowed_list`, e.g. "0-1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_supervisor: Option<String>,
    /// The CPUs the worker process may run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_worker: Option<String>,
    /// How late each wake-up of the worker's 50 ms event-loop ticker was, µs.
    #[serde(skip)]
    pub loop_lag_us: Vec<u64>,
    /// The engine's per-step telemetry during the benchmark (see the protocol's `stats_report`).
    #[serde(skip)]
    pub telemetry: Vec<(u64, u32, u32, f64, u64, u64, u64)>,
    /// The engine's own counters during the benchmark (see the protocol's `stats_report`).
    #[serde(skip)]
    pub engine_counters: Option<crate::backend::EngineCounters>,
}

/// Live state of a running benchmark, for the progress display.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub elapsed_s: f64,
    pub done: usize,
    pub in_flight: usize,
    pub errored: u64,
    pub output_tokens: u64,
}

/// Everything a benchmark runs with besides its strategy and constraints.
pub struct RunOptions<'a> {
    pub clock: Arc<dyn Clock>,
    /// Sampling parameters added to every request.
    pub sampling: &'a crate::backend::protocol::Map,
    pub interrupt: &'a AtomicBool,
    /// Request ids are unique per backend session: the next one to use, advanced by the run.
    pub next_id: &'a mut u64,
    pub seed: u64,
    /// Seconds over which dispatch ramps up (constant, concurrent, throughput).
    pub rampup_s: f64,
    /// Called about four times a second with the benchmark's live state.
    pub progress: Option<&'a dyn Fn(&Progress)>,
    /// How long the collector waits for an event before checking its constraints again (it
    /// wakes for the time limit itself exactly).
    pub tick: Duration,
    /// Multi-turn data: Some(whether a stream holds its conversation through think time).
    pub conversations: Option<bool>,
    /// vllm_python_batch: requests go in non-streaming micro-batches, timed by the engine.
    pub batching: Option<crate::plan::Batching>,
    /// The worker holds a streaming request's later tokens and sends them together
    /// (`--token-coalesce-ms`): those tokens are placed at the worker's own stamps.
    pub worker_token_stamps: bool,
}

/// How long in-flight requests get to come back after an abort.
const ABORT_WAIT_S: f64 = 30.0;

/// Runs one benchmark to its end. The request source goes in and comes back out so the next
/// benchmark continues the same seeded stream.
pub fn run(
    backend: &mut dyn Backend,
    source: Box<dyn RequestSource>,
    strategy: &Strategy,
    limits: &Constraints,
    o: RunOptions<'_>,
) -> (Box<dyn RequestSource>, Outcome) {
    // The worker's event-loop lag since the last benchmark is not this one's: clear it.
    let _ = backend.stats();
    let usage0 = ((self_cpu_s(), self_context_switches()), backend.usage());
    let clock = o.clock.clone();
    let start_ns = clock.now_ns() + 2_000_000; // a moment for the pacer thread to be ready
    let (slot_tx, slot_rx) = unbounded::<u64>();
    let concurrency = strategy.concurrency();
    if let Some(n) = concurrency {
        let rampup_ns = (o.rampup_s * 1e9) as u64;
        // With --rampup the streams start one by one, evenly over the ramp.
        for k in 0..n as u64 {
            let _ = slot_tx.send(start_ns + k * rampup_ns / n as u64);
        }
    }
    // An open-loop schedule under max_concurrency: one place per request allowed in flight,
    // each free from the start; a request due while none is free waits for one.
    let cap = strategy.cap();
    if let Some(n) = cap {
        for _ in 0..n {
            let _ = slot_tx.send(start_ns);
        }
    }
    let first_id = *o.next_id;
    let stop = Arc::new(AtomicBool::new(false));
    let (msg_tx, msg_rx) = unbounded::<PacerMsg>();
    let (turn_tx, turn_rx) = unbounded::<collector::TurnDone>();
    let turns = o
        .conversations
        .map(|hold| pacer::Turns { rx: turn_rx, hold });
    let pacer = Pacer {
        turns,
        source,
        submitter: backend.submitter(o.sampling, o.batching),
        clock: clock.clone(),
        stop: stop.clone(),
        strategy: strategy.clone(),
        max_requests: limits.max_requests,
        deadline: limits.deadline(start_ns),
        start_ns,
        rampup_s: o.rampup_s,
        first_id,
        seed: o.seed ^ first_id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        slot_rx,
        held_slot: Default::default(),
        tx: msg_tx,
        sharpen: clock.is_real(),
    };
    let pacer = std::thread::Builder::new()
        .name("pacer".into())
        .spawn(move || pacer.run())
        .expect("spawning the pacer thread");
    let slots = (concurrency.is_some() || cap.is_some()).then_some(slot_tx);
    let mut col = Collector::new(slots, start_ns);
    col.track_saturation = limits.saturation.is_some();
    col.engine_timed = o.batching.is_some();
    col.worker_stamps = o.worker_token_stamps;
    if let Some(hold) = o.conversations {
        col.turn_tx = Some(turn_tx);
        col.hold_conversations = hold;
    }
    let mut run = Running {
        backend,
        limits,
        o: &o,
        start_ns,
        sent_total: 0,
        worker_error: None,
        watch: limits.watch(first_id),
    };
    tracing::debug!(strategy = %strategy.label(), ?limits, "benchmark starts");
    let ended_by = run.collect(&mut col, msg_rx.clone());
    tracing::debug!(
        ?ended_by,
        sent = run.sent_total,
        done = col.done.len(),
        in_flight = col.inflight.len(),
        "benchmark ends"
    );
    stop.store(true, Ordering::Relaxed);
    let end_ns = clock.now_ns();
    let source = pacer
        .join()
        .unwrap_or_else(|_| panic!("pacer thread panicked"));
    // Late notes from the pacer (written just before it saw `stop`).
    while let Ok(m) = msg_rx.try_recv() {
        if let PacerMsg::Sent(s) = m {
            col.on_sent(s);
        }
    }
    let next = next_id(&col, first_id);
    run.finish(&mut col, ended_by, end_ns);
    let outcome = run.outcome(col, ended_by, end_ns, usage0);
    *o.next_id = next;
    (source, outcome)
}

/// Ids after the last one this benchmark used.
fn next_id(col: &Collector, first_id: u64) -> u64 {
    col.inflight
        .keys()
        .chain(col.done.iter().map(|r| &r.id))
        .max()
        .map_or(first_id, |m| m + 1)
        .max(first_id)
}

/// One benchmark in progress: the collector's loop and its ending.
struct Running<'a, 'o> {
    backend: &'a mut dyn Backend,
    limits: &'a Constraints,
    o: &'a RunOptions<'o>,
    start_ns: u64,
    sent_total: u64,
    worker_error: Option<String>,
    /// What the constraints keep between checks.
    watch: constraints::Watch,
}

impl Running<'_, '_> {
    /// Until a constraint fires, or dispatch ended and every request is back.
    fn collect(
        &mut self,
        col: &mut Collector,
        msg_rx: crossbeam_channel::Receiver<PacerMsg>,
    ) -> EndReason {
        let events = self.backend.events();
        let clock = self.o.clock.clone();
        let mut pacer_rx = msg_rx;
        let mut pacer_end: Option<EndReason> = None;
        let mut compute = ComputeWatch::default();
        let mut last_progress = 0u64;
        let deadline = self.limits.deadline(self.start_ns);
        let mut now = clock.now_ns();
        loop {
            // With nothing to read, wake for the time limit exactly, else every `tick` (the
            // watchdog, the saturation detector and the progress line need no finer grain): a
            // wake-up with nothing to do costs a core the engine needs.
            let wait = deadline.map_or(self.o.tick, |d| {
                self.o
                    .tick
                    .min(Duration::from_nanos(d.saturating_sub(now)))
                    .max(Duration::from_micros(1))
            });
            select! {
                recv(events) -> ev => match ev {
                    Ok(ev) => {
                        if let Some(why) = col.on_event(ev) {
                            self.died(why);
                        }
                    }
                    Err(_) => self.died("the worker's event stream ended".into()),
                },
                recv(pacer_rx) -> m => match m {
                    Ok(PacerMsg::Sent(s)) => {
                        self.sent_total += 1;
                        col.on_sent(s);
                    }
                    // Once the pacer is done its channel is dropped from the select: a
                    // disconnected channel is always ready and would spin this loop on a core
                    // the engine needs.
                    Ok(PacerMsg::Done(r)) => {
                        pacer_end = Some(r);
                        pacer_rx = crossbeam_channel::never();
                    }
                    Err(_) => {
                        pacer_end = pacer_end.or(Some(EndReason::DataExhausted));
                        pacer_rx = crossbeam_channel::never();
                    }
                },
                default(wait) => clock.idle(wait),
            }
            now = clock.now_ns();
            if compute.computing(&*self.backend, now) {
                col.progress(now);
            }
            col.observe_stall(now);
            self.show_progress(col, now, &mut last_progress);
            if let Some(r) = self.ended(col, now, pacer_end) {
                return r;
            }
            col.release_slots();
        }
    }

    fn died(&mut self, why: String) {
        self.backend.mark_dead();
        self.worker_error.get_or_insert(why);
    }

    fn ended(
        &mut self,
        col: &Collector,
        now: u64,
        pacer_end: Option<EndReason>,
    ) -> Option<EndReason> {
        if self.worker_error.is_some() {
            return Some(EndReason::WorkerDied);
        }
        if self.o.interrupt.load(Ordering::Relaxed) {
            return Some(EndReason::Interrupted);
        }
        if let Some(r) = self.limits.check(col, &mut self.watch, now, self.start_ns) {
            return Some(r);
        }
        // A pacer stopped by --max-seconds leaves the end to the deadline, in-flight requests
        // running until then.
        match pacer_end {
            Some(r)
                if r != EndReason::MaxSeconds
                    && col.inflight.is_empty()
                    && col.done.len() as u64 >= self.sent_total =>
            {
                Some(r)
            }
            _ => None,
        }
    }

    fn show_progress(&self, col: &Collector, now: u64, last: &mut u64) {
        let Some(p) = self.o.progress else { return };
        if now < *last + 250_000_000 {
            return;
        }
        *last = now;
        p(&Progress {
            elapsed_s: now.saturating_sub(self.start_ns) as f64 / 1e9,
            done: col.done.len(),
            in_flight: col.inflight.len(),
            errored: col.errors,
            output_tokens: col.out_tokens,
        });
    }

    /// Aborts what is still in flight (each comes back with finish "abort" and its tokens), and
    /// records whatever never came back. A wedged engine gets no abort: nothing would answer.
    fn finish(&mut self, col: &mut Collector, ended_by: EndReason, end_ns: u64) {
        if self.worker_error.is_none()
            && ended_by != EndReason::EngineStalled
            && !col.inflight.is_empty()
        {
            self.abort_inflight(col);
        }
        col.observe_stall(self.o.clock.now_ns());
        let (status, why) = match (&self.worker_error, ended_by) {
            (Some(e), _) => (
                Status::Errored,
                if e.is_empty() {
                    "the worker died".to_string()
                } else {
                    e.clone()
                },
            ),
            (None, EndReason::EngineStalled) => (
                Status::Incomplete,
                format!(
                    "engine_stalled: no engine progress for {:.1} s while requests were in flight",
                    self.limits.engine_stall_s.unwrap_or(0.0)
                ),
            ),
            (None, _) => (
                Status::Incomplete,
                "no answer from the engine after abort".to_string(),
            ),
        };
        col.close_inflight(status, &why, end_ns);
    }

    fn abort_inflight(&mut self, col: &mut Collector) {
        let ids: Vec<u64> = col.inflight.keys().copied().collect();
        tracing::debug!(n = ids.len(), "aborting the requests still in flight");
        if self.backend.abort(&ids).is_err() {
            return;
        }
        let clock = self.o.clock.clone();
        let wait = self
            .limits
            .engine_stall_s
            .unwrap_or(ABORT_WAIT_S)
            .min(ABORT_WAIT_S);
        let give_up = clock.now_ns() + (wait * 1e9) as u64;
        let events = self.backend.events();
        while !col.inflight.is_empty() && clock.now_ns() < give_up && self.worker_error.is_none() {
            match events.recv_timeout(self.o.tick) {
                Ok(ev) => {
                    if let Some(why) = col.on_event(ev) {
                        self.died(why);
                    }
                }
                Err(_) => clock.idle(self.o.tick),
            }
        }
    }

    fn outcome(
        &mut self,
        col: Collector,
        ended_by: EndReason,
        end_ns: u64,
        usage0: ((f64, u64), crate::backend::ProcessUsage),
    ) -> Outcome {
        let ended_at = if matches!(ended_by, EndReason::MaxSeconds | EndReason::Interrupted) {
            end_ns
        } else {
            col.done
                .iter()
                .filter_map(|r| r.t.end)
                .max()
                .unwrap_or(end_ns)
        };
        let u1 = self.backend.usage();
        let (s0, u0) = usage0;
        let mut harness = HarnessStats {
            context_switches_supervisor: Some(self_context_switches().saturating_sub(s0.1)),
            context_switches_worker: Some(
                u1.context_switches_worker
                    .saturating_sub(u0.context_switches_worker),
            ),
            output_frames: Some(col.frames),
            cpus_supervisor: crate::backend::reaper::allowed_cpus(std::process::id() as i32),
            cpus_worker: u1.cpus_worker.clone(),
            cpu_seconds_supervisor: self_cpu_s() - s0.0,
            cpu_seconds_worker: u1.cpu_seconds_worker - u0.cpu_seconds_worker,
            cpu_seconds_engine: (u1.cpu_seconds_engine - u0.cpu_seconds_engine).max(0.0),
            peak_rss_mib_supervisor: self_peak_rss_mib(),
            peak_rss_mib_worker: u1.peak_rss_mib_worker,
            ..Default::default()
        };
        if self.worker_error.is_none() && ended_by != EndReason::EngineStalled {
            if let Some(st) = self.backend.stats() {
                harness.loop_lag_us = st.loop_lag_us;
                harness.telemetry = st.telemetry;
                harness.engine_counters = st.engine_counters;
            }
        }
        let saturation = self
            .watch
            .saturation
            .as_mut()
            .map(|w| w.report(&col, end_ns, self.start_ns));
        let decision = self
            .watch
            .decide
            .as_ref()
            .and_then(|d| d.sprt.decision.map(|v| (v, d.sprt.n)));
        Outcome {
            decision,
            saturation,
            start_ns: self.start_ns,
            end_ns: ended_at,
            longest_stall: Stall {
                seconds: col.longest_stall.0 as f64 / 1e9,
                from_ns: col.longest_stall.1,
            },
            records: col.done,
            ended_by,
            worker_error: self.worker_error.take(),
            harness,
        }
    }
}

/// Samples the backend's compute processes twice a second: a quarter of a core or more since the
/// last sample is engine progress (a long step, with no token or step event to show for it).
#[derive(Default)]
struct ComputeWatch {
    last: Option<(u64, f64)>,
}

const COMPUTE_EVERY_NS: u64 = 500_000_000;
const COMPUTE_MIN_CORES: f64 = 0.25;

impl ComputeWatch {
    fn computing(&mut self, backend: &dyn Backend, now: u64) -> bool {
        if self.last.is_some_and(|(t, _)| now < t + COMPUTE_EVERY_NS) {
            return false;
        }
        let Some(c) = backend.compute_seconds() else {
            return false;
        };
        let busy = self.last.is_some_and(|(t, c0)| {
            let secs = now.saturating_sub(t) as f64 / 1e9;
            c - c0 >= COMPUTE_MIN_CORES * secs
        });
        self.last = Some((now, c));
        busy
    }
}

fn self_rusage() -> Option<nix::sys::resource::Usage> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()
}

/// Context switches of the supervisor so far, every thread (getrusage counts the process).
fn self_context_switches() -> u64 {
    self_rusage().map_or(0, |u| {
        (u.voluntary_context_switches() + u.involuntary_context_switches()) as u64
    })
}

fn self_cpu_s() -> f64 {
    self_rusage().map_or(0.0, |u| {
        let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        tv(u.user_time()) + tv(u.system_time())
    })
}

fn self_peak_rss_mib() -> f64 {
    self_rusage().map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}
