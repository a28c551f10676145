//! An in-process backend on a virtual clock, for the scheduler's unit tests: every profile,
//! constraint and ending runs deterministically in milliseconds, without Python.
//!
//! Time moves only when the collector idles (`Clock::idle`) — never past a target the pacer is
//! waiting for, and never while the pacer still owes the send of the target it was woken for —
//! so the requests sent, their order and their stamps do not depend on thread timing. The engine
//! serves requests FIFO on `capacity` slots: prefill `ttft_ns` then one token every `itl_ns`.

use super::{Backend, BackendEvent, BackendStats, OutputItem, Submitter};
use crate::clock::Clock;
use crate::data::prompts::RequestSpec;
use anyhow::{bail, Result};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How the simulated engine behaves.
#[derive(Debug, Clone)]
pub struct Shape {
    pub ttft_ns: u64,
    pub itl_ns: u64,
    /// Output tokens when a request sets no max_tokens.
    pub default_tokens: u32,
    /// Requests served at once (FIFO queue behind them); 0 = unlimited.
    pub capacity: usize,
    /// Every n-th request fails (0 = never).
    pub fail_every: u64,
    /// From this virtual time on, the engine makes no progress at all (a wedged engine).
    pub hang_at_ns: Option<u64>,
    /// The engine makes no progress in [from, to) and resumes after (a stall below the timeout).
    pub pause: Option<(u64, u64)>,
    /// Its compute processes use one core in [from, to) (a long step), none otherwise; None: it
    /// reports no compute time at all (like a GPU engine).
    pub compute: Option<(u64, u64)>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            ttft_ns: 20_000_000,
            itl_ns: 10_000_000,
            default_tokens: 8,
            capacity: 0,
            fail_every: 0,
            hang_at_ns: None,
            pause: None,
            compute: None,
        }
    }
}

pub const T0: u64 = 1_000_000_000;

struct ClockState {
    now: u64,
    /// The target the pacer is waiting for.
    waiter: Option<u64>,
    /// The pacer was woken and has not sent yet.
    pacer_owes: bool,
    /// Events by (time, sequence), released when time reaches them.
    pending: BTreeMap<(u64, u64), BackendEvent>,
    seq: u64,
}

/// The virtual clock; it also holds the engine's future events.
pub struct SimClock {
    st: Mutex<ClockState>,
    cv: Condvar,
    tx: Sender<BackendEvent>,
    /// Virtual time one idle of the collector moves.
    step_ns: u64,
    /// Calls of `now_ns`: a collector that spins instead of waiting shows up here.
    pub reads: AtomicU64,
}

impl SimClock {
    fn schedule(&self, st: &mut ClockState, t: u64, ev: BackendEvent) {
        st.seq += 1;
        let seq = st.seq;
        st.pending.insert((t, seq), ev);
    }

    /// Moves time to `t`, or to the pacer's target if that comes first; releases due events.
    fn advance_to(&self, t: u64) {
        let mut st = self.st.lock().unwrap();
        let mut waited = 0;
        while st.pacer_owes && waited < 400 {
            st = self
                .cv
                .wait_timeout(st, Duration::from_millis(5))
                .unwrap()
                .0;
            waited += 1;
        }
        let to = match st.waiter {
            Some(w) if w <= t => w,
            _ => t,
        };
        st.now = st.now.max(to);
        let now = st.now;
        let due: Vec<(u64, u64)> = st
            .pending
            .range(..=(now, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            let ev = st.pending.remove(&k).expect("present");
            let _ = self.tx.send(ev);
        }
        self.cv.notify_all();
    }
}

impl Clock for SimClock {
    fn now_ns(&self) -> u64 {
        if self.reads.fetch_add(1, Ordering::Relaxed) > 5_000_000 {
            panic!("the collector reads the clock in a busy loop");
        }
        self.st.lock().unwrap().now
    }
    fn wait_until(&self, t: u64, stop: &AtomicBool) -> bool {
        let mut st = self.st.lock().unwrap();
        st.waiter = Some(t);
        while st.now < t {
            if stop.load(Ordering::Relaxed) {
                st.waiter = None;
                return false;
            }
            st = self
                .cv
                .wait_timeout(st, Duration::from_millis(2))
                .unwrap()
                .0;
        }
        st.waiter = None;
        st.pacer_owes = !stop.load(Ordering::Relaxed);
        true
    }
    fn idle(&self, _d: Duration) {
        let t = self.st.lock().unwrap().now + self.step_ns;
        self.advance_to(t);
    }
    fn dispatched(&self) {
        self.st.lock().unwrap().pacer_owes = false;
        self.cv.notify_all();
    }
}

/// The simulated engine's bookkeeping.
struct Engine {
    shape: Shape,
    /// When each serving slot is next free.
    slots: Vec<u64>,
    submitted: u64,
    /// Requests the pacer staged ahead of their send.
    staged: u64,
    /// The pacer's writes (a burst of requests due together is one).
    writes: u64,
}

pub struct SimBackend {
    pub clock: Arc<SimClock>,
    engine: Arc<Mutex<Engine>>,
    rx: Receiver<BackendEvent>,
    /// Every abort the scheduler sent, in order.
    pub aborted: Vec<Vec<u64>>,
    pub resets: usize,
}

impl SimBackend {
    pub fn new(shape: Shape, step_ns: u64) -> SimBackend {
        let (tx, rx) = unbounded();
        let clock = Arc::new(SimClock {
            st: Mutex::new(ClockState {
                now: T0,
                waiter: None,
                pacer_owes: false,
                pending: BTreeMap::new(),
                seq: 0,
            }),
            cv: Condvar::new(),
            tx,
            step_ns,
            reads: AtomicU64::new(0),
        });
        let slots = vec![0; shape.capacity];
        SimBackend {
            clock,
            engine: Arc::new(Mutex::new(Engine {
                shape,
                slots,
                submitted: 0,
                staged: 0,
                writes: 0,
            })),
            rx,
            aborted: Vec::new(),
            resets: 0,
        }
    }

    /// How many requests the pacer staged ahead of their send so far.
    pub fn staged(&self) -> u64 {
        self.engine.lock().unwrap().staged
    }

    /// How many writes the pacer's requests took so far.
    pub fn writes(&self) -> u64 {
        self.engine.lock().unwrap().writes
    }

    /// Kills the simulated engine now: the scheduler sees it die.
    pub fn die(&self, why: &str) {
        let _ = self.clock.tx.send(BackendEvent::Died(why.into()));
    }
}

/// Moves `t` past any time the engine makes no progress.
fn live_time(shape: &Shape, t: u64) -> Option<u64> {
    if shape.hang_at_ns.is_some_and(|h| t >= h) {
        return None;
    }
    match shape.pause {
        Some((a, b)) if t >= a && t < b => Some(b + (t - a)),
        _ => Some(t),
    }
}

pub(crate) fn item(id: u64, n: u32, t: u64, finish: Option<&str>) -> OutputItem {
    OutputItem {
        id,
        n,
        t_ns: t,
        token_ids: None,
        finish: finish.map(str::to_string),
        received_ns: None,
        submitted_ns: None,
        prompt_tokens: finish.map(|_| 4),
        cached_tokens: finish.map(|_| 0),
        stop_reason: None,
        engine: None,
        steps: None,
    }
}

impl Engine {
    /// The request's events from `now` on: (time, event).
    fn serve(&mut self, id: u64, max_tokens: Option<u32>, now: u64) -> Vec<(u64, BackendEvent)> {
        self.submitted += 1;
        let s = &self.shape;
        if s.fail_every > 0 && self.submitted % s.fail_every == 0 {
            let t = now + s.ttft_ns / 2;
            let error = "simulated failure".to_string();
            return vec![(t, BackendEvent::Failed { t, id, error })];
        }
        let n = max_tokens.unwrap_or(s.default_tokens).max(1);
        let start = match self.slots.iter_mut().min() {
            Some(free) => {
                let start = (*free).max(now);
                *free = start + s.ttft_ns + s.itl_ns * (n as u64 - 1);
                start
            }
            None => now,
        };
        let mut evs = Vec::new();
        for k in 0..n {
            let Some(t) = live_time(s, start + s.ttft_ns + s.itl_ns * k as u64) else {
                break;
            };
            let fin = (k + 1 == n).then_some("length");
            evs.push((t, BackendEvent::Outputs(t, vec![item(id, 1, t, fin)])));
        }
        evs
    }
}

struct SimSubmitter {
    clock: Arc<SimClock>,
    engine: Arc<Mutex<Engine>>,
}

impl Submitter for SimSubmitter {
    fn prepare(&mut self, id: u64, spec: &RequestSpec) -> Vec<u8> {
        let mut b = id.to_le_bytes().to_vec();
        b.extend(spec.max_tokens.map_or(u32::MAX, |m| m).to_le_bytes());
        b
    }
    fn stage(&mut self, id: u64, spec: &RequestSpec) -> Option<Vec<u8>> {
        self.engine.lock().unwrap().staged += 1;
        Some(self.prepare(id, spec))
    }
    /// One write: one or more requests, in order.
    fn send(&mut self, p: &[u8]) -> Result<()> {
        let mut st = self.clock.st.lock().unwrap();
        let now = st.now;
        let mut engine = self.engine.lock().unwrap();
        engine.writes += 1;
        for r in p.chunks(12) {
            let id = u64::from_le_bytes(r[..8].try_into()?);
            let m = u32::from_le_bytes(r[8..12].try_into()?);
            for (t, ev) in engine.serve(id, (m != u32::MAX).then_some(m), now) {
                self.clock.schedule(&mut st, t, ev);
            }
        }
        Ok(())
    }
}

impl Backend for SimBackend {
    fn submitter(
        &self,
        _sampling: &super::protocol::Map,
        _batching: Option<crate::plan::Batching>,
    ) -> Box<dyn Submitter> {
        Box::new(SimSubmitter {
            clock: self.clock.clone(),
            engine: self.engine.clone(),
        })
    }
    fn events(&self) -> Receiver<BackendEvent> {
        self.rx.clone()
    }
    /// Aborted requests end at once with the tokens they had (a wedged engine answers too: the
    /// worker's front end does).
    fn abort(&mut self, ids: &[u64]) -> Result<()> {
        self.aborted.push(ids.to_vec());
        let mut st = self.clock.st.lock().unwrap();
        let now = st.now;
        st.pending.retain(|_, ev| match ev {
            BackendEvent::Outputs(_, items) => !ids.contains(&items[0].id),
            BackendEvent::Failed { id, .. } => !ids.contains(id),
            _ => true,
        });
        for &id in ids {
            let ev = BackendEvent::Outputs(now, vec![item(id, 0, now, Some("abort"))]);
            let _ = self.clock.tx.send(ev);
        }
        Ok(())
    }
    fn reset(&mut self, _timeout: Duration) -> Result<()> {
        self.resets += 1;
        if self.engine.lock().unwrap().shape.hang_at_ns.is_some() {
            bail!("the simulated engine is wedged");
        }
        self.clock.st.lock().unwrap().pending.clear();
        while self.rx.try_recv().is_ok() {}
        Ok(())
    }
    fn stats(&mut self) -> Option<BackendStats> {
        Some(BackendStats::default())
    }
    fn compute_seconds(&self) -> Option<f64> {
        let (a, b) = self.engine.lock().unwrap().shape.compute?;
        let now = self.clock.st.lock().unwrap().now;
        Some(now.clamp(a, b).saturating_sub(a) as f64 / 1e9)
    }
}
