//! The pacer: a dedicated thread that dispatches requests on absolute targets.
//!
//! Why a thread with `clock_nanosleep(TIMER_ABSTIME)` rather than async timers: tokio's timer
//! wheel has millisecond granularity, and a relative sleep accumulates drift. Targets are
//! `start + i/rate` (or seeded Poisson offsets), so a late wake-up never shifts the requests
//! after it. Closed-loop strategies (synchronous, concurrent, throughput) take their targets from
//! the slots the collector frees. A replay's targets are `start + timestamp × time_scale`, each
//! row's timestamp counted from the trace's first row (`RequestSource::arrival_s`). A constant
//! or Poisson schedule under `max_concurrency` keeps its targets, and a request due while the
//! cap is full also waits for a freed slot: it is sent when the later of the two comes
//! (`admitted`), so the wait shows apart from the pacer's lag.

use super::collector::{Sent, TurnDone};
use super::strategy::{constant_offset_s, ScheduleTurn, Strategy};
use super::EndReason;
use crate::backend::Submitter;
use crate::clock::Clock;
use crate::data::prompts::{Conversation, RequestSource, RequestSpec};
use crate::metrics::TurnTag;
use crossbeam_channel::{Receiver, Sender};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use std::collections::HashMap;
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
    /// A freed slot taken from `slot_rx` that is not due yet (a ramp's later stream).
    pub held_slot: std::cell::Cell<Option<u64>>,
    pub tx: Sender<PacerMsg>,
    /// Ask for real-time priority and no timer slack (the real clock).
    pub sharpen: bool,
    /// Multi-turn data: conversations, their later turns built from the replies.
    pub turns: Option<Turns>,
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

/// A request is staged (handed to the backend ahead, its start a short message at its time) when
/// its send time is at least this far off, or it waits for a freed slot...
const STAGE_LEAD_NS: u64 = 1_000_000;
/// ...and the last two sends were at least this far apart: at thousands of requests a second
/// the second message per request would cost the worker more than the few microseconds it saves.
const STAGE_MIN_GAP_NS: u64 = 1_000_000;
/// A request with a known send time is staged this long before it (the worker builds it 1 ms
/// after the stage arrives); one waiting for a slot, at once.
const STAGE_AHEAD_NS: u64 = 2_000_000;

/// ...and this much longer for each further request of a burst staged with it.
const STAGE_MEMBER_NS: u64 = 250_000;
/// The most requests due at one time that go in one write.
const MAX_BURST: usize = 64;

/// A request taken from the source: its trace arrival, and its target where the schedule knows
/// it when the request is taken (an open loop).
struct Pulled {
    spec: RequestSpec,
    arrival: Option<f64>,
    known: Option<u64>,
}

/// Whether to stage a request that `waits` (for its time or a slot), the last two sends
/// `last_gap` apart (None: fewer than two sends yet).
fn should_stage(waits: bool, last_gap: Option<u64>) -> bool {
    waits && last_gap.is_none_or(|d| d >= STAGE_MIN_GAP_NS)
}

/// Where the open dispatch loop stands: requests taken so far, the schedule's random state, and
/// a request taken ahead of its burst.
struct Walk {
    /// Requests sent so far (the next one's index).
    i: u64,
    rng: rand_chacha::ChaCha8Rng,
    poisson_t: f64,
    /// A closed loop's targets come with a freed slot; an open loop's are known when a request
    /// is taken from the source.
    closed: bool,
    /// A request taken from the source after the burst before it, due later.
    ahead: Option<Pulled>,
    exhausted: bool,
    last_sent: Option<u64>,
    /// How far apart the last two sends were (None: fewer than two yet).
    last_gap: Option<u64>,
}

/// A burst ready to go: its requests, their frames (stages sent already, so `go`s, or whole
/// requests), and its schedule target.
struct Ready {
    burst: Vec<Pulled>,
    frames: Vec<u8>,
    scheduled: u64,
}

impl Pacer {
    /// Dispatches until a limit, the data or `stop` ends it; hands the source back.
    pub fn run(mut self) -> Box<dyn RequestSource> {
        if self.sharpen {
            sharpen_current_thread();
        }
        if let Some(turns) = self.turns.take() {
            let tx = self.tx.clone();
            let (source, end) = self.run_turns(turns);
            let _ = tx.send(PacerMsg::Done(end));
            return source;
        }
        let mut w = Walk {
            i: 0,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(self.seed),
            poisson_t: 0.0,
            closed: !matches!(
                self.strategy,
                Strategy::Constant { .. } | Strategy::Poisson { .. } | Strategy::Replay { .. }
            ),
            ahead: None,
            exhausted: false,
            last_sent: None,
            last_gap: None,
        };
        let end = loop {
            if let Err(end) = self.step(&mut w) {
                break end;
            }
        };
        let _ = self.tx.send(PacerMsg::Done(end));
        self.source
    }

    /// Sends the next request, or the next burst of requests due together, at its time.
    fn step(&mut self, w: &mut Walk) -> Result<(), EndReason> {
        if self.max_requests.is_some_and(|m| w.i >= m) {
            return Err(EndReason::MaxRequests);
        }
        // Prepare before waiting, so building and encoding the prompt never delays the send.
        let burst = self.gather(w)?;
        let frames = self.prepare_burst(w, &burst)?;
        let scheduled = match burst[0].known {
            Some(t) => t,
            None => self
                .target(w.i, burst[0].arrival, &mut w.poisson_t, &mut w.rng)
                .ok_or(EndReason::Interrupted)?,
        };
        if self.deadline.is_some_and(|d| scheduled >= d) {
            return Err(EndReason::MaxSeconds);
        }
        let mut ready = Ready {
            burst,
            frames,
            scheduled,
        };
        if w.closed {
            self.join_freed_slots(w, &mut ready);
        }
        self.dispatch(w, ready)
    }

    /// Whether a burst of `len` requests from request `i` on may take one more.
    fn burst_room(&self, i: u64, len: usize) -> bool {
        len < MAX_BURST && self.max_requests.is_none_or(|m| i + (len as u64) < m)
    }

    /// The next request, with the requests due at the same time as it where an open loop without
    /// a cap knows them (a trace's rows with one timestamp): a burst goes in one write, so the
    /// worker hands its requests to the engine one after another in one read, as a front end
    /// receiving them together would.
    fn gather(&mut self, w: &mut Walk) -> Result<Vec<Pulled>, EndReason> {
        let first = match w.ahead.take() {
            Some(p) => p,
            None if w.exhausted => return Err(EndReason::DataExhausted),
            None => self.pull(w, w.i)?.ok_or(EndReason::DataExhausted)?,
        };
        let mut burst = vec![first];
        let Some(t) = burst[0].known.filter(|_| self.strategy.cap().is_none()) else {
            return Ok(burst);
        };
        while self.burst_room(w.i, burst.len()) {
            match self.pull(w, w.i + burst.len() as u64)? {
                Some(p) if p.known == Some(t) => burst.push(p),
                Some(p) => {
                    w.ahead = Some(p);
                    break;
                }
                None => {
                    w.exhausted = true;
                    break;
                }
            }
        }
        Ok(burst)
    }

    /// The burst's frames. Where it waits (its time at least 1 ms off, or a slot to free) and
    /// sends are not too close together, its requests are staged: a known send time is waited
    /// for until shortly before it (longer for a burst, which the worker builds request by
    /// request), not beside the request just sent (whose way to the engine it would share), and
    /// the worker's code is warm again when the go comes.
    fn prepare_burst(&mut self, w: &Walk, burst: &[Pulled]) -> Result<Vec<u8>, EndReason> {
        let known = burst[0].known;
        let now = self.clock.now_ns();
        let waits = match known {
            Some(t) => t.saturating_sub(now) >= STAGE_LEAD_NS,
            None => match self.held_slot.get() {
                Some(t) => t.saturating_sub(now) >= STAGE_LEAD_NS,
                None => self.slot_rx.is_empty(),
            },
        };
        let ids = (self.first_id + w.i..).zip(burst);
        let mut frames = Vec::new();
        if !should_stage(waits, w.last_gap) {
            for (id, p) in ids {
                frames.extend(self.submitter.prepare(id, &p.spec));
            }
            return Ok(frames);
        }
        let lead = STAGE_AHEAD_NS + STAGE_MEMBER_NS * (burst.len() as u64 - 1);
        if let Some(t) = known.filter(|&t| t > now + lead) {
            if self.deadline.is_some_and(|d| t >= d) {
                return Err(EndReason::MaxSeconds);
            }
            if !self.clock.wait_until(t - lead, &self.stop) || self.stop.load(Ordering::Relaxed) {
                return Err(EndReason::Interrupted);
            }
            self.clock.dispatched();
        }
        for (id, p) in ids {
            match self.submitter.stage(id, &p.spec) {
                Some(go) => frames.extend(go),
                None => frames.extend(self.submitter.prepare(id, &p.spec)),
            }
        }
        Ok(frames)
    }

    /// A closed loop's burst: the slots freed by the send time (the first fill, or streams that
    /// ended in one engine step) take their requests in the same write. A slot freed later (a
    /// ramp's later stream) is held for the next step.
    fn join_freed_slots(&mut self, w: &mut Walk, ready: &mut Ready) {
        while self.burst_room(w.i, ready.burst.len()) {
            let Some(free) = self
                .held_slot
                .take()
                .or_else(|| self.slot_rx.try_recv().ok())
            else {
                break;
            };
            let free = free.max(self.start_ns);
            if free > ready.scheduled.max(self.clock.now_ns()) {
                self.held_slot.set(Some(free));
                break;
            }
            let n = w.i + ready.burst.len() as u64;
            match self.pull(w, n) {
                Ok(Some(mut p)) => {
                    p.known = Some(free);
                    ready
                        .frames
                        .extend(self.submitter.prepare(self.first_id + n, &p.spec));
                    ready.burst.push(p);
                }
                _ => {
                    w.exhausted = true;
                    break;
                }
            }
        }
    }

    /// Waits for the burst's time (and, under a cap, a free slot), sends it in one write and
    /// tells the collector when each of its requests went.
    fn dispatch(&mut self, w: &mut Walk, ready: Ready) -> Result<(), EndReason> {
        let Ready {
            burst,
            frames,
            scheduled,
        } = ready;
        let admitted = match self.strategy.cap() {
            None => None,
            Some(_) => {
                let free = self.slot().ok_or(EndReason::Interrupted)?;
                (free > scheduled).then_some(free)
            }
        };
        let due = admitted.unwrap_or(scheduled);
        if self.deadline.is_some_and(|d| due >= d) {
            return Err(EndReason::MaxSeconds);
        }
        if !self.clock.wait_until(due, &self.stop) || self.stop.load(Ordering::Relaxed) {
            return Err(EndReason::Interrupted);
        }
        if self.submitter.send(&frames).is_err() {
            return Err(EndReason::WorkerDied);
        }
        let sent = self.clock.now_ns();
        self.clock.dispatched();
        w.last_gap = w.last_sent.map(|t| sent.saturating_sub(t));
        w.last_sent = Some(sent);
        for p in burst {
            let spec = p.spec;
            let _ = self.tx.send(PacerMsg::Sent(Sent {
                id: self.first_id + w.i,
                scheduled: p.known.unwrap_or(scheduled),
                admitted,
                sent,
                content: spec.content_tokens,
                prefix: spec.prefix_tokens,
                prompt_len: spec.prompt.len() as u32,
                max_tokens: spec.max_tokens,
                prefix_bucket: spec.prefix_bucket,
                turn: None,
            }));
            w.i += 1;
        }
        Ok(())
    }

    /// Request `n` from the source, with its target if the schedule knows it now (an open loop;
    /// a closed loop's comes with a freed slot). Ok(None): the data is exhausted.
    fn pull(&mut self, w: &mut Walk, n: u64) -> Result<Option<Pulled>, EndReason> {
        let Some(spec) = self.source.next_request() else {
            return Ok(None);
        };
        let arrival = self.source.arrival_s();
        let known = if w.closed {
            None
        } else {
            Some(
                self.target(n, arrival, &mut w.poisson_t, &mut w.rng)
                    .ok_or(EndReason::Interrupted)?,
            )
        };
        Ok(Some(Pulled {
            spec,
            arrival,
            known,
        }))
    }

    /// The send target of request `i`; None when stopped while waiting for a slot.
    fn target(
        &self,
        i: u64,
        arrival_s: Option<f64>,
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
            // The plan gives the replay profile trace data only: a row without a timestamp is
            // sent at once.
            Strategy::Replay { time_scale, .. } => Some(
                self.start_ns
                    .saturating_add((arrival_s.unwrap_or(0.0) * time_scale * 1e9).round() as u64),
            ),
            _ => self.slot(),
        }
    }

    /// The next free concurrency slot (when it was freed); None when stopped while waiting.
    fn slot(&self) -> Option<u64> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(t) = self.held_slot.take() {
                return Some(t);
            }
            if let Ok(t) = self.slot_rx.recv_timeout(Duration::from_millis(20)) {
                return Some(t.max(self.start_ns));
            }
        }
    }
}

/// Multi-turn data: the collector's notes of ended turns, from which the pacer builds the
/// conversations' next turns, and whether a stream holds its conversation through think time.
pub struct Turns {
    pub rx: Receiver<TurnDone>,
    /// `--conversation-slots`: a concurrency slot (or an open-loop arrival) is a conversation,
    /// whose later turns go at reply + think time. Otherwise (GuideLLM's way) every turn takes
    /// a slot or an arrival of its own, and think time frees the slot.
    pub hold: bool,
}

/// A conversation whose current turn is in flight.
struct Open {
    conv: u64,
    index: u32,
    prompt: Vec<u32>,
    rest: Box<Conversation>,
}

/// A later turn, built, waiting for its time.
struct Due {
    at: u64,
    spec: RequestSpec,
    tag: TurnTag,
}

#[derive(Default)]
struct Conversations {
    open: HashMap<u64, Open>,
    due: Vec<Due>,
    /// A replay: (its time_scale, schedule_turn, start), for a trace conversation's later rows.
    replay: Option<(f64, ScheduleTurn, u64)>,
}

impl Conversations {
    /// A turn ended: its conversation's next turn is built on the reply, due after the think
    /// time; a turn that failed (or was aborted) ends its conversation.
    fn ended(&mut self, d: TurnDone) {
        let Some(o) = self.open.remove(&d.id) else {
            return;
        };
        let Some(reply) = d.reply else {
            return;
        };
        let mut rest = o.rest;
        let Some(next) = rest.next_prompt(o.prompt, &reply, d.stopped) else {
            return;
        };
        let at = match (next.trace, self.replay) {
            (None, _) => d.end.saturating_add(rest.delay_ns),
            // GuideLLM's TraceReplayStrategy: the recorded idle gap after the previous row's
            // actual end, or the row's own time (not before the previous row has ended).
            (Some(t), Some((scale, ScheduleTurn::IdleGap, _))) => {
                d.end.saturating_add((t.gap_s * scale * 1e9).round() as u64)
            }
            (Some(t), Some((scale, ScheduleTurn::Timestamp, start))) => d
                .end
                .max(start.saturating_add((t.at_s * scale * 1e9).round() as u64)),
            // Not a replay: the trace's times are unused, the next row follows at once.
            (Some(_), None) => d.end,
        };
        let last = rest.later.is_empty();
        self.due.push(Due {
            at,
            spec: RequestSpec {
                prompt: next.prompt,
                content_tokens: next.content,
                prefix_tokens: 0,
                max_tokens: next.max_tokens,
                messages: next.messages,
                conversation: (!last).then_some(rest),
                // The bucket is the first turn's, whose prompt carries the prefix.
                prefix_bucket: None,
            },
            tag: TurnTag {
                conversation: o.conv,
                index: o.index + 1,
                history_tokens: next.history,
                last,
            },
        });
    }

    fn earliest(&self) -> Option<u64> {
        self.due.iter().map(|d| d.at).min()
    }

    /// The earliest built turn, if it is due by `now`.
    fn take_due(&mut self, now: u64) -> Option<Due> {
        let (k, _) = self
            .due
            .iter()
            .enumerate()
            .filter(|(_, d)| d.at <= now)
            .min_by_key(|(_, d)| d.at)?;
        Some(self.due.swap_remove(k))
    }

    fn live(&self) -> bool {
        !self.open.is_empty() || !self.due.is_empty()
    }
}

/// What ended a wait of the conversation loop.
enum Wake {
    Reached,
    Turn(TurnDone),
    Slot(u64),
    Stopped,
}

impl Pacer {
    /// Waits until `until` (forever without one), or until a turn ends or (with `slots`) a
    /// concurrency slot frees, whichever comes first.
    fn wait_for(&self, until: Option<u64>, rx: &Receiver<TurnDone>, slots: bool) -> Wake {
        let never = crossbeam_channel::never();
        let slot_rx = if slots { &self.slot_rx } else { &never };
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Wake::Stopped;
            }
            let now = self.clock.now_ns();
            let mut timeout = Duration::from_millis(20);
            if let Some(u) = until {
                if now >= u {
                    return Wake::Reached;
                }
                // The last stretch is the clock's precise wait (no event can come sooner
                // than a millisecond's worth of difference to a dispatch).
                if u - now <= 1_000_000 || !self.clock.is_real() {
                    return if self.clock.wait_until(u, &self.stop) {
                        Wake::Reached
                    } else {
                        Wake::Stopped
                    };
                }
                timeout = timeout.min(Duration::from_nanos(u - now - 1_000_000));
            }
            crossbeam_channel::select! {
                recv(rx) -> m => match m {
                    Ok(d) => return Wake::Turn(d),
                    Err(_) => return Wake::Stopped,
                },
                recv(slot_rx) -> t => if let Ok(t) = t {
                    return Wake::Slot(t.max(self.start_ns));
                },
                default(timeout) => {}
            }
        }
    }
}

/// Where the conversation loop stands.
struct TurnWalk {
    rng: rand_chacha::ChaCha8Rng,
    poisson_t: f64,
    convs: Conversations,
    /// Slots come as they free (closed-loop profiles); else the schedule gives the targets.
    closed: bool,
    capped: bool,
    /// Turns sent, and conversations opened, so far.
    sent_n: u64,
    opened: u64,
    /// No new conversation left in the source.
    exhausted: bool,
    /// A dispatch opportunity in hand: a freed slot, or the schedule's next arrival.
    opp: Option<u64>,
}

impl TurnWalk {
    /// Applies what ended a wait.
    fn woke(&mut self, wake: Wake) -> Result<(), EndReason> {
        match wake {
            Wake::Stopped => return Err(EndReason::Interrupted),
            Wake::Turn(d) => self.convs.ended(d),
            Wake::Slot(s) => self.opp = Some(s),
            Wake::Reached => {}
        }
        Ok(())
    }
}

/// A turn picked to go: its request, its tag (None: a conversation's first turn), its target,
/// and when a capped schedule's slot freed for it if later than that.
type Pick = (RequestSpec, Option<TurnTag>, u64, Option<u64>);

impl Pacer {
    /// Dispatches conversations: first turns from the source, later turns built by
    /// `Conversations` as their previous turns end.
    fn run_turns(mut self, mut turns: Turns) -> (Box<dyn RequestSource>, EndReason) {
        let mut t = TurnWalk {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(self.seed),
            poisson_t: 0.0,
            convs: Conversations::default(),
            closed: self.strategy.concurrency().is_some(),
            capped: self.strategy.cap().is_some(),
            sent_n: 0,
            opened: 0,
            exhausted: false,
            opp: None,
        };
        // A replay opens each conversation at its first row's time, and its later rows go at
        // theirs: the conversation-level loop, whatever --conversation-slots says.
        if let Strategy::Replay {
            time_scale,
            schedule_turn,
        } = self.strategy
        {
            t.convs.replay = Some((time_scale, schedule_turn, self.start_ns));
            turns.hold = true;
        }
        let end = loop {
            if let Err(end) = self.turn_step(&mut t, &turns) {
                break end;
            }
        };
        (self.source, end)
    }

    /// One pass of the conversation loop: takes the ended turns in, and sends a turn if one is
    /// due (else waits for the next event).
    fn turn_step(&mut self, t: &mut TurnWalk, turns: &Turns) -> Result<(), EndReason> {
        if self.max_requests.is_some_and(|m| t.sent_n >= m) {
            return Err(EndReason::MaxRequests);
        }
        while let Ok(d) = turns.rx.try_recv() {
            t.convs.ended(d);
        }
        if t.exhausted && !t.convs.live() {
            return Err(EndReason::DataExhausted);
        }
        // The next opportunity: slots for closed-loop profiles (a slot arrives when one frees),
        // the schedule's targets for open-loop ones (counted per request, or per conversation
        // when conversations hold their slot).
        if t.opp.is_none() && !(turns.hold && t.exhausted) {
            if t.closed {
                if let Ok(s) = self.slot_rx.try_recv() {
                    t.opp = Some(s.max(self.start_ns));
                }
            } else {
                let k = if turns.hold { t.opened } else { t.sent_n };
                // A replay's next conversation opens at its first row's time.
                let arrival = self.source.next_arrival_s();
                t.opp = Some(
                    self.target(k, arrival, &mut t.poisson_t, &mut t.rng)
                        .ok_or(EndReason::Interrupted)?,
                );
            }
        }
        let pick = if turns.hold {
            self.pick_held(t, &turns.rx)?
        } else {
            self.pick_each(t, &turns.rx)?
        };
        match pick {
            Some(pick) => self.send_turn(t, pick),
            None => Ok(()),
        }
    }

    /// Conversations that hold their slot: later turns go at their time, a new conversation at
    /// an opportunity. None: nothing was due (it waited for the next event instead).
    fn pick_held(
        &mut self,
        t: &mut TurnWalk,
        rx: &Receiver<TurnDone>,
    ) -> Result<Option<Pick>, EndReason> {
        let now = self.clock.now_ns();
        let next = match (t.convs.earliest(), t.opp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next.is_some_and(|n| self.deadline.is_some_and(|d| n >= d)) {
            return Err(EndReason::MaxSeconds);
        }
        if next.is_none_or(|n| n > now) {
            let wake = self.wait_for(next, rx, t.closed && t.opp.is_none());
            t.woke(wake)?;
            return Ok(None);
        }
        if let Some(d) = t.convs.take_due(now) {
            return Ok(Some((d.spec, Some(d.tag), d.at, None)));
        }
        let at = t.opp.take().expect("an opportunity is due");
        match self.source.next_request() {
            Some(spec) => Ok(Some((spec, None, at, None))),
            None => {
                t.exhausted = true;
                Ok(None)
            }
        }
    }

    /// Every opportunity takes a due later turn, else opens a conversation. None: nothing went
    /// (it waited for the next event instead).
    fn pick_each(
        &mut self,
        t: &mut TurnWalk,
        rx: &Receiver<TurnDone>,
    ) -> Result<Option<Pick>, EndReason> {
        let Some(at) = t.opp else {
            let wake = self.wait_for(None, rx, t.closed);
            t.woke(wake)?;
            return Ok(None);
        };
        if self.deadline.is_some_and(|d| at >= d) {
            return Err(EndReason::MaxSeconds);
        }
        if at > self.clock.now_ns() {
            let wake = self.wait_for(Some(at), rx, false);
            t.woke(wake)?;
            return Ok(None);
        }
        let admitted = if t.capped {
            let free = self.slot().ok_or(EndReason::Interrupted)?;
            (free > at).then_some(free)
        } else {
            None
        };
        let now = self.clock.now_ns();
        if let Some(d) = t.convs.take_due(now) {
            t.opp = None;
            return Ok(Some((d.spec, Some(d.tag), at.max(d.at), admitted)));
        }
        if t.exhausted {
            // No new conversation left: the opportunity waits for a later turn.
            let wake = self.wait_for(t.convs.earliest(), rx, false);
            t.woke(wake)?;
            return Ok(None);
        }
        match self.source.next_request() {
            Some(spec) => {
                t.opp = None;
                Ok(Some((spec, None, at, admitted)))
            }
            None => {
                t.exhausted = true;
                Ok(None)
            }
        }
    }

    /// Sends a picked turn, keeps the rest of its conversation, and tells the collector.
    fn send_turn(&mut self, t: &mut TurnWalk, pick: Pick) -> Result<(), EndReason> {
        let (mut spec, tag, scheduled, admitted) = pick;
        let id = self.first_id + t.sent_n;
        let tag = tag.unwrap_or(TurnTag {
            conversation: id,
            index: 0,
            history_tokens: 0,
            last: spec.conversation.is_none(),
        });
        let prepared = self.submitter.prepare(id, &spec);
        if self.deadline.is_some_and(|d| self.clock.now_ns() >= d) {
            return Err(EndReason::MaxSeconds);
        }
        if self.submitter.send(&prepared).is_err() {
            return Err(EndReason::WorkerDied);
        }
        let sent = self.clock.now_ns();
        self.clock.dispatched();
        if tag.index == 0 {
            t.opened += 1;
        }
        let prompt_len = spec.prompt.len() as u32;
        if let Some(rest) = spec.conversation.take() {
            t.convs.open.insert(
                id,
                Open {
                    conv: tag.conversation,
                    index: tag.index,
                    prompt: std::mem::take(&mut spec.prompt),
                    rest,
                },
            );
        }
        let _ = self.tx.send(PacerMsg::Sent(Sent {
            id,
            scheduled,
            admitted,
            sent,
            content: spec.content_tokens,
            prefix: spec.prefix_tokens,
            prompt_len,
            max_tokens: spec.max_tokens,
            turn: Some(tag),
            prefix_bucket: spec.prefix_bucket,
        }));
        t.sent_n += 1;
        Ok(())
    }
}
