//! Runs one benchmark: a pacer thread dispatches requests on absolute targets; the collector
//! (the calling thread) routes the worker's outputs into request records, frees concurrency
//! slots, and enforces the constraints.
//!
//! Why a dedicated pacer thread with `clock_nanosleep(TIMER_ABSTIME)` rather than async timers:
//! tokio's timer wheel has millisecond granularity, and a relative sleep accumulates drift.
//! Targets are `start + i/rate` (or seeded Poisson offsets), so a late wake-up never shifts the
//! requests after it.

use crate::backend::protocol::{encode_frame, FromWorker, GenerateRef, Map, OutputItem, ToWorker};
use crate::backend::worker::{Event, Worker};
use crate::clock::{now_ns, sleep_until_ns};
use crate::data::prompts::RequestSource;
use crate::metrics::{RequestRecord, Status, Timestamps};
use crate::plan::{Limits, Saturation, ERROR_WINDOW};
use crossbeam_channel::{select, unbounded, Receiver, Sender};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How requests were sent in one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Strategy {
    /// One request in flight.
    Synchronous,
    /// A fixed number of streams.
    Concurrent {
        /// Number of streams.
        streams: u32,
    },
    /// Everything at once, up to max_concurrency.
    Throughput {
        /// The most requests in flight.
        max_concurrency: u32,
    },
    /// Request i at start + i/rate.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// Exponential gaps at rate.
    Poisson {
        /// Requests per second.
        rate: f64,
    },
}

impl Strategy {
    fn concurrency(&self) -> Option<u32> {
        match self {
            Strategy::Synchronous => Some(1),
            Strategy::Concurrent { streams } => Some(*streams),
            Strategy::Throughput { max_concurrency } => Some(*max_concurrency),
            _ => None,
        }
    }
    pub fn label(&self) -> String {
        match self {
            Strategy::Synchronous => "synchronous".into(),
            Strategy::Concurrent { streams } => format!("concurrent@{streams}"),
            Strategy::Throughput { max_concurrency } => format!("throughput@{max_concurrency}"),
            Strategy::Constant { rate } => format!("constant@{rate:.2}"),
            Strategy::Poisson { rate } => format!("poisson@{rate:.2}"),
        }
    }
}

/// Why a benchmark ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    MaxSeconds,
    MaxRequests,
    MaxErrors,
    MaxErrorRate,
    MaxGlobalErrorRate,
    OverSaturated,
    DataExhausted,
    Interrupted,
    WorkerDied,
}

pub struct Outcome {
    pub start_ns: u64,
    pub end_ns: u64,
    pub records: Vec<RequestRecord>,
    pub ended_by: EndReason,
    /// The worker's death, if it died during the benchmark.
    pub worker_error: Option<String>,
    /// Whether llmbench kept up: its own costs during the benchmark.
    pub harness: HarnessStats,
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
    /// How late each wake-up of the worker's 10 ms event-loop ticker was, µs.
    #[serde(skip)]
    pub loop_lag_us: Vec<u64>,
    /// The engine's per-step telemetry during the benchmark (see the protocol's `stats_report`).
    #[serde(skip)]
    pub telemetry: Vec<(u64, u32, u32, f64, u64, u64, u64)>,
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf with a constant name.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// utime + stime of a process, seconds (0 when it is gone).
fn proc_cpu_s(pid: i32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = s.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = s[close + 2..].split_whitespace().collect();
    // Fields after the command name: state is [0], utime is field 14 of stat → [11], stime [12].
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / clk_tck()
}

fn self_cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn self_peak_rss_mib() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn peak_rss_mib(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// (supervisor, worker, engine) CPU seconds so far.
fn cpu_now(worker_pid: i32) -> (f64, f64, f64) {
    let engine = crate::backend::reaper::descendants(worker_pid)
        .into_iter()
        .map(proc_cpu_s)
        .sum();
    (self_cpu_s(), proc_cpu_s(worker_pid), engine)
}

enum PacerMsg {
    Sent {
        id: u64,
        scheduled: u64,
        sent: u64,
        content: u32,
        prefix: u32,
        prompt_len: u32,
        max_tokens: Option<u32>,
    },
    Done(EndReason),
}

pub struct Shared<'a> {
    pub worker: &'a mut Worker,
    pub sampling: &'a Map,
    pub interrupt: &'a AtomicBool,
    /// Request ids are unique per worker session.
    pub next_id: &'a mut u64,
    pub seed: u64,
    /// Called about four times a second with the benchmark's live state.
    pub progress: Option<&'a dyn Fn(&Progress)>,
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

/// Runs one benchmark to its end. The request source goes in and comes back out so the next
/// benchmark continues the same seeded stream.
pub fn run_benchmark(
    sh: Shared<'_>,
    source: Box<dyn RequestSource>,
    strategy: &Strategy,
    limits: &Limits,
) -> (Box<dyn RequestSource>, Outcome) {
    // The worker's event-loop lag since the last benchmark is not this one's: clear it.
    let _ = sh.worker.call(
        |id| ToWorker::Stats { id },
        Duration::from_secs(10),
        |_, _| {},
    );
    let worker_pid = sh.worker.pid;
    let cpu0 = cpu_now(worker_pid);
    let stop = Arc::new(AtomicBool::new(false));
    let (msg_tx, msg_rx) = unbounded::<PacerMsg>();
    let (slot_tx, slot_rx) = unbounded::<u64>();
    let start_ns = now_ns() + 2_000_000; // a moment for the pacer thread to be ready
    let concurrency = strategy.concurrency();
    let rampup_ns = (limits.rampup * 1e9) as u64;
    if let Some(n) = concurrency {
        // With --rampup the streams start one by one, evenly over the ramp.
        for k in 0..n as u64 {
            let _ = slot_tx.send(
                start_ns
                    + if rampup_ns > 0 {
                        k * rampup_ns / n as u64
                    } else {
                        0
                    },
            );
        }
    }
    let first_id = *sh.next_id;
    let pacer = {
        let stop = stop.clone();
        let writer = sh.worker.writer();
        let sampling = sh.sampling.clone();
        let strategy = strategy.clone();
        let max_requests = limits.max_requests;
        let limits_rampup = limits.rampup;
        let seed = sh.seed ^ first_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || {
                pace(PacerArgs {
                    source,
                    stop,
                    writer,
                    sampling,
                    strategy,
                    max_requests,
                    start_ns,
                    rampup_s: limits_rampup,
                    first_id,
                    seed,
                    slot_rx,
                    tx: msg_tx,
                })
            })
            .expect("spawning the pacer thread")
    };

    let mut col = Collector {
        inflight: HashMap::new(),
        done: Vec::new(),
        errors: 0,
        recent: std::collections::VecDeque::new(),
        out_tokens: 0,
        slot_tx: concurrency.map(|_| slot_tx),
    };
    let deadline = limits.max_seconds.map(|s| start_ns + (s * 1e9) as u64);
    let mut pacer_end: Option<EndReason> = None;
    let mut sent_total: u64 = 0;
    let ended_by: EndReason;
    let mut worker_error: Option<String> = None;
    let events = sh.worker.events().clone();
    let tick = Duration::from_millis(10);
    let mut saturation = SaturationWatch::default();
    let mut pacer_rx = msg_rx.clone();
    let mut last_progress = 0u64;

    // Main loop: until a constraint fires or dispatch ended and every request is back.
    loop {
        select! {
            recv(events) -> ev => match ev {
                Ok(Event::Msg(t, m)) => col.on_worker(t, m, &mut worker_error),
                Ok(Event::Closed(why)) => {
                    sh.worker.mark_closed();
                    worker_error = Some(why.unwrap_or_default());
                }
                Err(_) => worker_error = Some("worker channel closed".into()),
            },
            recv(pacer_rx) -> m => match m {
                Ok(PacerMsg::Sent { id, scheduled, sent, content, prefix, prompt_len, max_tokens }) => {
                    sent_total += 1;
                    col.on_sent(id, scheduled, sent, content, prefix, prompt_len, max_tokens);
                }
                // Once the pacer is done its channel is dropped from the select: a disconnected
                // channel is always ready and would spin this loop on a core the engine needs.
                Ok(PacerMsg::Done(r)) => {
                    pacer_end = Some(r);
                    pacer_rx = crossbeam_channel::never();
                }
                Err(_) => {
                    pacer_end = pacer_end.or(Some(EndReason::DataExhausted));
                    pacer_rx = crossbeam_channel::never();
                }
            },
            default(tick) => {}
        }
        if let Some(p) = sh.progress {
            let now = now_ns();
            if now >= last_progress + 250_000_000 {
                last_progress = now;
                p(&Progress {
                    elapsed_s: now.saturating_sub(start_ns) as f64 / 1e9,
                    done: col.done.len(),
                    in_flight: col.inflight.len(),
                    errored: col.errors,
                    output_tokens: col.out_tokens,
                });
            }
        }
        if worker_error.is_some() {
            ended_by = EndReason::WorkerDied;
            break;
        }
        if sh.interrupt.load(Ordering::Relaxed) {
            ended_by = EndReason::Interrupted;
            break;
        }
        if deadline.is_some_and(|d| now_ns() >= d) {
            ended_by = EndReason::MaxSeconds;
            break;
        }
        if limits.max_errors.is_some_and(|m| col.errors > m) {
            ended_by = EndReason::MaxErrors;
            break;
        }
        if let Some(r) = limits.max_error_rate {
            let w = &col.recent;
            if w.len() >= ERROR_WINDOW
                && w.iter().filter(|&&e| e).count() as f64 / w.len() as f64 > r
            {
                ended_by = EndReason::MaxErrorRate;
                break;
            }
        }
        if let Some(r) = limits.max_global_error_rate {
            let n = col.done.len();
            if n >= ERROR_WINDOW && col.errors as f64 / n as f64 > r {
                ended_by = EndReason::MaxGlobalErrorRate;
                break;
            }
        }
        if let Some(sat) = &limits.saturation {
            if saturation.observe(now_ns(), col.inflight.len(), &col.done, sat, start_ns) {
                ended_by = EndReason::OverSaturated;
                break;
            }
        }
        if let Some(r) = pacer_end {
            if col.inflight.is_empty() && col.done.len() as u64 >= sent_total {
                ended_by = r;
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let end_ns = now_ns();
    let source = pacer
        .join()
        .unwrap_or_else(|_| panic!("pacer thread panicked"));
    // Late Sent messages from the pacer (written just before it saw `stop`).
    while let Ok(m) = msg_rx.try_recv() {
        if let PacerMsg::Sent {
            id,
            scheduled,
            sent,
            content,
            prefix,
            prompt_len,
            max_tokens,
        } = m
        {
            col.on_sent(id, scheduled, sent, content, prefix, prompt_len, max_tokens);
        }
    }
    *sh.next_id = col
        .inflight
        .keys()
        .chain(col.done.iter().map(|r| &r.id))
        .max()
        .map_or(*sh.next_id, |m| m + 1)
        .max(first_id);

    if worker_error.is_none() && !col.inflight.is_empty() {
        // Abort what is still in flight; each comes back with finish "abort" and its tokens.
        let ids: Vec<u64> = col.inflight.keys().copied().collect();
        if sh.worker.send(&ToWorker::Abort { ids }).is_ok() {
            let give_up = now_ns() + 30_000_000_000;
            while !col.inflight.is_empty() && now_ns() < give_up && worker_error.is_none() {
                match events.recv_timeout(tick) {
                    Ok(Event::Msg(t, m)) => col.on_worker(t, m, &mut worker_error),
                    Ok(Event::Closed(why)) => {
                        sh.worker.mark_closed();
                        worker_error = Some(why.unwrap_or_default());
                    }
                    Err(_) => {}
                }
            }
        }
    }
    // Whatever is left never came back.
    let status = if worker_error.is_some() {
        Status::Errored
    } else {
        Status::Incomplete
    };
    let why = worker_error.clone().map(|e| {
        if e.is_empty() {
            "the worker died".to_string()
        } else {
            e
        }
    });
    for (_, mut r) in col.inflight.drain() {
        r.status = status;
        r.error = why
            .clone()
            .or(Some("no answer from the engine after abort".into()));
        r.t.end = r.t.end.or(Some(end_ns));
        col.done.push(r);
    }
    col.done.sort_by_key(|r| r.id);
    let ended_at = if matches!(ended_by, EndReason::MaxSeconds | EndReason::Interrupted) {
        end_ns
    } else {
        col.done
            .iter()
            .filter_map(|r| r.t.end)
            .max()
            .unwrap_or(end_ns)
    };
    let cpu1 = cpu_now(worker_pid);
    let mut harness = HarnessStats {
        cpu_seconds_supervisor: cpu1.0 - cpu0.0,
        cpu_seconds_worker: cpu1.1 - cpu0.1,
        cpu_seconds_engine: (cpu1.2 - cpu0.2).max(0.0),
        peak_rss_mib_supervisor: self_peak_rss_mib(),
        peak_rss_mib_worker: peak_rss_mib(worker_pid),
        loop_lag_us: Vec::new(),
        telemetry: Vec::new(),
    };
    if worker_error.is_none() {
        if let Ok(FromWorker::StatsReport {
            loop_lag_us,
            telemetry,
            ..
        }) = sh.worker.call(
            |id| ToWorker::Stats { id },
            Duration::from_secs(10),
            |_, _| {},
        ) {
            harness.loop_lag_us = loop_lag_us;
            harness.telemetry = telemetry;
        }
    }
    (
        source,
        Outcome {
            start_ns,
            end_ns: ended_at,
            records: col.done,
            ended_by,
            worker_error,
            harness,
        },
    )
}

struct PacerArgs {
    source: Box<dyn RequestSource>,
    stop: Arc<AtomicBool>,
    writer: Arc<std::sync::Mutex<std::os::unix::net::UnixStream>>,
    sampling: Map,
    strategy: Strategy,
    max_requests: Option<u64>,
    start_ns: u64,
    rampup_s: f64,
    first_id: u64,
    seed: u64,
    slot_rx: Receiver<u64>,
    tx: Sender<PacerMsg>,
}

/// The last stretch before a send target is spun, not slept.
const SPIN_NS: u64 = 20_000;

/// Makes the calling (pacer) thread wake on time: no timer slack, and real-time priority where
/// the system allows it (root or CAP_SYS_NICE). Returns whether real-time priority was granted.
pub fn sharpen_current_thread() -> bool {
    // SAFETY: prctl and sched_setscheduler on the calling thread, with plain integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0);
        let p = libc::sched_param { sched_priority: 1 };
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0
    }
}

fn pace(mut a: PacerArgs) -> Box<dyn RequestSource> {
    sharpen_current_thread();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let mut poisson_t = 0.0f64;
    let mut i: u64 = 0;
    let end = loop {
        if a.max_requests.is_some_and(|m| i >= m) {
            break EndReason::MaxRequests;
        }
        // Prepare before waiting, so building and encoding the prompt never delays the send.
        let Some(spec) = a.source.next_request() else {
            break EndReason::DataExhausted;
        };
        let id = a.first_id + i;
        let frame = encode_frame(&GenerateRef {
            kind: "generate",
            id,
            prompt_token_ids: &spec.prompt,
            max_tokens: spec.max_tokens,
            ignore_eos: spec.max_tokens.is_some(),
            sampling: &a.sampling,
        });
        let scheduled = match &a.strategy {
            Strategy::Constant { rate } => a
                .start_ns
                .saturating_add((constant_offset_s(i, *rate, a.rampup_s) * 1e9) as u64),
            Strategy::Poisson { rate } => {
                if i > 0 {
                    poisson_t += Exp::new(*rate)
                        .map(|e| e.sample(&mut rng))
                        .unwrap_or(1.0 / rate);
                }
                a.start_ns.saturating_add((poisson_t * 1e9) as u64)
            }
            _ => loop {
                if a.stop.load(Ordering::Relaxed) {
                    break 0;
                }
                if let Ok(t) = a.slot_rx.recv_timeout(Duration::from_millis(20)) {
                    break t.max(a.start_ns);
                }
            },
        };
        if a.stop.load(Ordering::Relaxed) {
            break EndReason::Interrupted;
        }
        // Sleep coarse in slices (to notice `stop`), then to just before the target, then spin
        // the last few microseconds (a wake-up is never exactly on time).
        loop {
            let now = now_ns();
            if now + SPIN_NS >= scheduled {
                while now_ns() < scheduled {
                    std::hint::spin_loop();
                }
                break;
            }
            sleep_until_ns((scheduled - SPIN_NS).min(now + 50_000_000));
            if a.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if a.stop.load(Ordering::Relaxed) {
            break EndReason::Interrupted;
        }
        let ok = match a.writer.lock() {
            Ok(mut w) => w.write_all(&frame).is_ok(),
            Err(_) => false,
        };
        if !ok {
            break EndReason::WorkerDied;
        }
        let sent = now_ns();
        let _ = a.tx.send(PacerMsg::Sent {
            id,
            scheduled,
            sent,
            content: spec.content_tokens,
            prefix: spec.prefix_tokens,
            prompt_len: spec.prompt.len() as u32,
            max_tokens: spec.max_tokens,
        });
        i += 1;
    };
    let _ = a.tx.send(PacerMsg::Done(end));
    a.source
}

struct Collector {
    inflight: HashMap<u64, RequestRecord>,
    done: Vec<RequestRecord>,
    errors: u64,
    /// Errored-or-not of the last `ERROR_WINDOW` finished requests.
    recent: std::collections::VecDeque<bool>,
    out_tokens: u64,
    slot_tx: Option<Sender<u64>>,
}

fn blank(id: u64) -> RequestRecord {
    RequestRecord {
        id,
        status: Status::Incomplete,
        finish_reason: None,
        error: None,
        content_tokens: 0,
        prefix_tokens: 0,
        prompt_tokens_sent: 0,
        prompt_tokens: None,
        output_tokens: 0,
        max_tokens: None,
        cached_tokens: None,
        preemptions: 0,
        t: Timestamps::default(),
        token_events: Default::default(),
    }
}

impl Collector {
    #[allow(clippy::too_many_arguments)]
    fn on_sent(
        &mut self,
        id: u64,
        scheduled: u64,
        sent: u64,
        content: u32,
        prefix: u32,
        prompt_len: u32,
        max_tokens: Option<u32>,
    ) {
        let r = self.inflight.entry(id).or_insert_with(|| blank(id));
        r.t.scheduled = Some(scheduled);
        r.t.sent = Some(sent);
        r.content_tokens = content;
        r.prefix_tokens = prefix;
        r.prompt_tokens_sent = prompt_len;
        r.max_tokens = max_tokens;
        if r.t.end.is_some() {
            // Its outputs overtook the pacer's note: it is complete now.
            let r = self.inflight.remove(&id).expect("present");
            self.done.push(r);
        }
    }

    fn on_worker(&mut self, t: u64, m: FromWorker, worker_error: &mut Option<String>) {
        match m {
            FromWorker::Outputs { items } => {
                for it in items {
                    self.on_item(t, it);
                }
            }
            FromWorker::Failed { id, error } => {
                let mut r = self.inflight.remove(&id).unwrap_or_else(|| blank(id));
                r.status = Status::Errored;
                r.error = Some(error);
                r.t.end = Some(t);
                self.finish(r, t);
            }
            FromWorker::Fatal(f) => *worker_error = Some(f.error),
            _ => {}
        }
    }

    fn on_item(&mut self, t: u64, it: OutputItem) {
        let r = self.inflight.entry(it.id).or_insert_with(|| blank(it.id));
        if let Some(x) = it.received_ns {
            r.t.worker_received = Some(x);
        }
        if let Some(x) = it.submitted_ns {
            r.t.worker_submitted = Some(x);
        }
        if it.n > 0 {
            if r.t.first_token.is_none() {
                r.t.first_token = Some(t);
                r.t.worker_first_token = Some(it.t_ns);
            }
            r.t.last_token = Some(t);
            r.t.worker_last_token = Some(it.t_ns);
            r.output_tokens += it.n;
            r.token_events.push(t, it.n);
            self.out_tokens += it.n as u64;
        }
        let Some(finish) = it.finish else { return };
        r.t.end = Some(t);
        r.prompt_tokens = it.prompt_tokens.or(r.prompt_tokens);
        r.cached_tokens = it.cached_tokens;
        if let Some(e) = it.engine {
            r.t.engine_queued = e.queued_ns;
            r.t.engine_scheduled = e.scheduled_ns;
            r.t.engine_first_token = e.first_token_ns;
            r.t.engine_last_token = e.last_token_ns;
            r.preemptions = e.preemptions;
        }
        r.status = match finish.as_str() {
            "abort" => Status::Incomplete,
            "error" => Status::Errored,
            _ => Status::Successful,
        };
        if r.status == Status::Errored {
            r.error = Some("the engine ended the request with finish_reason 'error'".into());
        }
        r.finish_reason = Some(finish);
        let id = it.id;
        if r.t.sent.is_some() {
            let r = self.inflight.remove(&id).expect("present");
            self.finish(r, t);
        } else if let Some(tx) = &self.slot_tx {
            // Completed before the pacer's note arrived; it is moved to `done` in on_sent.
            let _ = tx.send(t);
        }
    }

    fn finish(&mut self, r: RequestRecord, t: u64) {
        let errored = r.status == Status::Errored;
        if errored {
            self.errors += 1;
        }
        if self.recent.len() == ERROR_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(errored);
        if let Some(tx) = &self.slot_tx {
            if r.t.sent.is_some() {
                let _ = tx.send(t);
            }
        }
        self.done.push(r);
    }
}

/// Offset of request `i` of a constant-rate benchmark. With a ramp of `r` seconds the rate grows
/// linearly from 0 to `rate` over the ramp (n(t) = rate·t²/2r), then stays constant.
pub fn constant_offset_s(i: u64, rate: f64, rampup: f64) -> f64 {
    let i = i as f64;
    if rampup <= 0.0 {
        return i / rate;
    }
    if i < rate * rampup / 2.0 {
        (2.0 * rampup * i / rate).sqrt()
    } else {
        i / rate + rampup / 2.0
    }
}

/// Samples (five times per window, at most once a second): requests in flight, and the median
/// TTFT of requests that finished since the previous sample.
#[derive(Default)]
struct SaturationWatch {
    last_ns: u64,
    seen: usize,
    samples: std::collections::VecDeque<(f64, f64, f64)>,
}

impl SaturationWatch {
    fn observe(
        &mut self,
        now: u64,
        inflight: usize,
        done: &[RequestRecord],
        s: &Saturation,
        start_ns: u64,
    ) -> bool {
        // About five samples per window, so that a trend can be seen within it.
        let every = (s.window_seconds / 5.0).clamp(0.1, 1.0);
        if now < self.last_ns + (every * 1e9) as u64 || now < start_ns {
            return false;
        }
        self.last_ns = now;
        let mut ttfts: Vec<f64> = done[self.seen..]
            .iter()
            .filter_map(|r| r.ttft_ns())
            .map(|v| v as f64)
            .collect();
        self.seen = done.len();
        ttfts.sort_by(|a, b| a.total_cmp(b));
        let Some(&ttft) = ttfts.get(ttfts.len() / 2) else {
            return false;
        };
        let t = (now - start_ns) as f64 / 1e9;
        self.samples.push_back((t, inflight as f64, ttft));
        while self
            .samples
            .front()
            .is_some_and(|f| f.0 < t - s.window_seconds)
        {
            self.samples.pop_front();
        }
        if t < s.min_seconds || self.samples.len() < 3 {
            return false;
        }
        let (first, last) = (self.samples[0], self.samples[self.samples.len() - 1]);
        let grew = |a: f64, b: f64| a > 0.0 && b > a * (1.0 + s.min_growth);
        let slope = |f: fn(&(f64, f64, f64)) -> f64| {
            let n = self.samples.len() as f64;
            let mx = self.samples.iter().map(|x| x.0).sum::<f64>() / n;
            let my = self.samples.iter().map(f).sum::<f64>() / n;
            self.samples
                .iter()
                .map(|x| (x.0 - mx) * (f(x) - my))
                .sum::<f64>()
        };
        grew(first.1, last.1)
            && grew(first.2, last.2)
            && slope(|x| x.1) > 0.0
            && slope(|x| x.2) > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_pacing_is_exact_and_ramps_linearly() {
        assert_eq!(constant_offset_s(10, 5.0, 0.0), 2.0);
        // 10 req/s ramped over 4 s: 20 requests during the ramp, then 10/s shifted by 2 s.
        let r = 4.0;
        assert!((constant_offset_s(20, 10.0, r) - 4.0).abs() < 1e-9);
        assert!((constant_offset_s(30, 10.0, r) - 5.0).abs() < 1e-9);
        // During the ramp gaps shrink.
        let g1 = constant_offset_s(2, 10.0, r) - constant_offset_s(1, 10.0, r);
        let g2 = constant_offset_s(15, 10.0, r) - constant_offset_s(14, 10.0, r);
        assert!(g1 > g2 && g2 > 0.1);
        // Continuous at the end of the ramp.
        let before = constant_offset_s(19, 10.0, r);
        assert!(before < 4.0 && 4.0 - before < 0.11);
    }
}
