//! The pacer: a dedicated thread that dispatches requests on absolute targets.
//!
//! Why a thread with `clock_nanosleep(TIMER_ABSTIME)` rather than async timers: tokio's timer
//! wheel has millisecond granularity, and a relative sleep accumulates drift. Targets are
//! `start + i/rate` (or seeded Poisson offsets), so a late wake-up never shifts the requests
//! after it. Closed-loop strategies (synchronous, concurrent, throughput) take their targets from
//! the slots the collector frees. A constant or Poisson schedule under `max_concurrency` keeps
//! its targets, and a request due while the cap is full also waits for a freed slot: it is sent
//! when the later of the two comes (`admitted`), so the wait shows apart from the pacer's lag.

use super::collector::Sent;
use super::strategy::{constant_offset_s, Strategy};
use super::EndReason;
use crate::backend::Submitter;
use crate::clock::Clock;
use crate::data::prompts::RequestSource;
use crossbeam_channel::{Receiver, Sender};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub enum PacerMsg {
    Sent(Sent),
    Done(EndReason),
}

pub struct Pacer {
    pub source: Box<dyn RequestSource>,
    pub submitter: Box<dyn Submitter>,
    pub clock: Arc<dyn Clock>,
    pub stop: Arc<AtomicBool>,
    pub strategy: Strategy,
    pub max_requests: Option<u64>,
    /// No request is sent at or after this time (`--max-seconds`).
    pub deadline: Option<u64>,
    pub start_ns: u64,
    pub rampup_s: f64,
    pub first_id: u64,
    pub seed: u64,
    pub slot_rx: Receiver<u64>,
    pub tx: Sender<PacerMsg>,
    /// Ask for real-time priority and no timer slack (the real clock).
    pub sharpen: bool,
}

/// Makes the calling (pacer) thread wake on time: no timer slack, and real-time priority where
/// the system allows it (root or CAP_SYS_NICE). Returns whether real-time priority was granted.
pub fn sharpen_current_thread() -> bool {
    let _ = nix::sys::prctl::set_timerslack(1);
    let p = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler on the calling thread with a parameter we own (nix has no
    // wrapper for it).
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0 }
}

impl Pacer {
    /// Dispatches until a limit, the data or `stop` ends it; hands the source back.
    pub fn run(mut self) -> Box<dyn RequestSource> {
        if self.sharpen {
            sharpen_current_thread();
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut poisson_t = 0.0f64;
        let mut i: u64 = 0;
        let end = loop {
            if self.max_requests.is_some_and(|m| i >= m) {
                break EndReason::MaxRequests;
            }
            // Prepare before waiting, so building and encoding the prompt never delays the send.
            let Some(spec) = self.source.next_request() else {
                break EndReason::DataExhausted;
            };
            let id = self.first_id + i;
            let prepared = self.submitter.prepare(id, &spec);
            let Some(scheduled) = self.target(i, &mut poisson_t, &mut rng) else {
                break EndReason::Interrupted;
            };
            if self.deadline.is_some_and(|d| scheduled >= d) {
                break EndReason::MaxSeconds;
            }
            let admitted = match self.strategy.cap() {
                None => None,
                Some(_) => match self.slot() {
                    None => break EndReason::Interrupted,
                    Some(free) => (free > scheduled).then_some(free),
                },
            };
            let due = admitted.unwrap_or(scheduled);
            if self.deadline.is_some_and(|d| due >= d) {
                break EndReason::MaxSeconds;
            }
            if !self.clock.wait_until(due, &self.stop) || self.stop.load(Ordering::Relaxed) {
                break EndReason::Interrupted;
            }
            if self.submitter.send(&prepared).is_err() {
                break EndReason::WorkerDied;
            }
            let sent = self.clock.now_ns();
            self.clock.dispatched();
            let _ = self.tx.send(PacerMsg::Sent(Sent {
                id,
                scheduled,
                admitted,
                sent,
                content: spec.content_tokens,
                prefix: spec.prefix_tokens,
                prompt_len: spec.prompt.len() as u32,
                max_tokens: spec.max_tokens,
                prefix_bucket: spec.prefix_bucket,
            }));
            i += 1;
        };
        let _ = self.tx.send(PacerMsg::Done(end));
        self.source
    }

    /// The send target of request `i`; None when stopped while waiting for a slot.
    fn target(
        &self,
        i: u64,
        poisson_t: &mut f64,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Option<u64> {
        match &self.strategy {
            Strategy::Constant { rate, .. } => Some(
                self.start_ns
                    .saturating_add((constant_offset_s(i, *rate, self.rampup_s) * 1e9) as u64),
            ),
            Strategy::Poisson { rate, .. } => {
                if i > 0 {
                    *poisson_t += Exp::new(*rate).map(|e| e.sample(rng)).unwrap_or(1.0 / rate);
                }
                Some(self.start_ns.saturating_add((*poisson_t * 1e9) as u64))
            }
            _ => self.slot(),
        }
    }

    /// The next free concurrency slot (when it was freed); None when stopped while waiting.
    fn slot(&self) -> Option<u64> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Ok(t) = self.slot_rx.recv_timeout(Duration::from_millis(20)) {
                return Some(t.max(self.start_ns));
            }
        }
    }
}
