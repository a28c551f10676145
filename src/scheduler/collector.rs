//! The collector: turns the pacer's notes and the backend's events into request records, frees
//! concurrency slots, and keeps what the constraints look at (errors, the engine's progress).

use super::constraints::ERROR_WINDOW;
use super::saturation::SatSample;
use crate::backend::{BackendEvent, OutputItem};
use crate::metrics::{RequestRecord, Status, Timestamps, TurnTag};
use crossbeam_channel::Sender;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;

/// The pacer's note that a request went out.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: u64,
    pub scheduled: u64,
    /// When `max_concurrency` let a request go that was due while the cap was full (a place
    /// freed after `scheduled`); None when it did not wait for one.
    pub admitted: Option<u64>,
    pub sent: u64,
    pub content: u32,
    pub prefix: u32,
    pub prompt_len: u32,
    pub max_tokens: Option<u32>,
    pub prefix_bucket: Option<u16>,
    /// Its place in a conversation, if it is a turn of one.
    pub turn: Option<TurnTag>,
}

/// The collector's note to the pacer that a conversation's turn (not its last) ended: with the
/// reply's token ids when it succeeded (the next turn is built on them), None when it did not
/// (the conversation ends there).
#[derive(Debug, Clone)]
pub struct TurnDone {
    pub id: u64,
    pub end: u64,
    pub reply: Option<Vec<u32>>,
    /// The engine stopped the reply (finish reason "stop": an end-of-turn or stop token).
    pub stopped: bool,
}

pub struct Collector {
    pub inflight: HashMap<u64, RequestRecord>,
    pub done: Vec<RequestRecord>,
    pub errors: u64,
    /// Errored-or-not of the last `ERROR_WINDOW` finished requests.
    pub recent: VecDeque<bool>,
    pub out_tokens: u64,
    /// Where freed concurrency slots go (closed-loop strategies), stamped with the time freed.
    slot_tx: Option<Sender<u64>>,
    /// Slots freed since the last `release_slots`: handed to the pacer only once the
    /// constraints have been checked, so no request is sent after one of them has fired.
    freed: Vec<u64>,
    /// The latest sign of engine progress: a token, a finish, a failure, a completed step — or
    /// the moment requests went in flight with none before.
    last_progress: u64,
    /// The longest stretch without engine progress while requests were in flight: (ns, start).
    pub longest_stall: (u64, u64),
    /// Requests started and first tokens, in the order seen, for the over-saturation detector
    /// (kept only when `track_saturation`).
    pub saturation_samples: Vec<SatSample>,
    pub track_saturation: bool,
    /// vllm_python_batch: outputs are not streamed, so a request's one item carries every
    /// token, and its first and last tokens are placed by vLLM's own stamps.
    pub engine_timed: bool,
    /// The worker holds a streaming request's later tokens and sends them together: a token
    /// neither first nor last is placed at the worker's stamp (`t_ns`), not at the frame's read.
    pub worker_stamps: bool,
    /// Frames of outputs read (`BackendEvent::Outputs`).
    pub frames: u64,
    /// Where ended conversation turns go (multi-turn data): the pacer builds the next turns.
    pub turn_tx: Option<Sender<TurnDone>>,
    /// A stream holds its conversation through think time (`--conversation-slots`): a turn
    /// that succeeded and is not the last frees no slot.
    pub hold_conversations: bool,
    /// Reply token ids of requests that asked for them (conversation turns), until they end.
    replies: HashMap<u64, Vec<u32>>,
}

pub fn blank(id: u64) -> RequestRecord {
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
        stop_reason: None,
        preemptions: 0,
        t: Timestamps::default(),
        token_events: Default::default(),
        prefix_bucket: None,
        turn: None,
    }
}

impl Collector {
    pub fn new(slot_tx: Option<Sender<u64>>, start_ns: u64) -> Collector {
        Collector {
            inflight: HashMap::default(),
            done: Vec::new(),
            errors: 0,
            recent: VecDeque::new(),
            out_tokens: 0,
            slot_tx,
            freed: Vec::new(),
            last_progress: start_ns,
            longest_stall: (0, start_ns),
            saturation_samples: Vec::new(),
            track_saturation: false,
            engine_timed: false,
            worker_stamps: false,
            frames: 0,
            turn_tx: None,
            hold_conversations: false,
            replies: HashMap::default(),
        }
    }

    /// How long the engine has gone without progress while requests are in flight (0 when none
    /// is).
    pub fn stall_ns(&self, now: u64) -> u64 {
        if self.inflight.is_empty() {
            0
        } else {
            now.saturating_sub(self.last_progress)
        }
    }

    /// Notes the stall so far as the longest if it is; called before progress ends it and when
    /// the benchmark ends.
    pub fn observe_stall(&mut self, now: u64) {
        let s = self.stall_ns(now);
        if s > self.longest_stall.0 {
            self.longest_stall = (s, self.last_progress);
        }
    }

    /// Engine progress at `t` that came with no event (a step computing).
    pub fn progress(&mut self, t: u64) {
        self.observe_stall(t);
        self.last_progress = self.last_progress.max(t);
    }

    pub fn on_sent(&mut self, s: Sent) {
        if self.inflight.is_empty() {
            // Nothing was in flight: the watchdog's clock starts now.
            self.last_progress = self.last_progress.max(s.sent);
        }
        let r = self.inflight.entry(s.id).or_insert_with(|| blank(s.id));
        // The pacer stamps `sent` after its write returned; descheduled in between, it may stamp
        // later than the collector read the response. The request was sent before any of its
        // responses was read, so `sent` is never later than the first of them.
        let first_read = [r.t.first_token, r.t.end].into_iter().flatten().min();
        let sent = first_read.map_or(s.sent, |t| t.min(s.sent));
        let s = Sent { sent, ..s };
        r.t.scheduled = Some(s.scheduled);
        r.t.admitted = s.admitted;
        r.t.sent = Some(s.sent);
        r.content_tokens = s.content;
        r.prefix_tokens = s.prefix;
        r.prompt_tokens_sent = s.prompt_len;
        r.max_tokens = s.max_tokens;
        r.prefix_bucket = s.prefix_bucket;
        r.turn = s.turn;
        if self.track_saturation {
            let concurrent = self.inflight.len();
            let r = &self.inflight[&s.id];
            self.saturation_samples.push(SatSample::Started {
                t: s.sent,
                concurrent,
            });
            // Its first token overtook the pacer's note.
            if let Some(ft) = r.t.first_token {
                self.saturation_samples.push(SatSample::FirstToken {
                    t: ft,
                    ttft_ns: ft.saturating_sub(s.sent),
                });
            }
        }
        let r = &self.inflight[&s.id];
        if let Some(end) = r.t.end {
            // Its outputs (or its failure) overtook the pacer's note: it is complete now.
            let r = self.inflight.remove(&s.id).expect("present");
            self.finish(r, end);
        }
    }

    /// Handles one backend event; the backend's death comes back as its text.
    pub fn on_event(&mut self, ev: BackendEvent) -> Option<String> {
        match ev {
            BackendEvent::Outputs(t, items) => {
                self.frames += 1;
                self.progress(t);
                for it in items {
                    self.on_item(t, it);
                }
            }
            BackendEvent::Failed { t, id, error } => {
                self.progress(t);
                let r = self.inflight.entry(id).or_insert_with(|| blank(id));
                r.status = Status::Errored;
                r.error = Some(error);
                r.t.end = Some(t);
                // Failed before the pacer's note arrived (an immediate failure overtakes it):
                // on_sent completes it, as it does a request whose last output came first.
                // Finishing it here left the note to open a second, never-ending record of the
                // same id, waited on until the abort timed out.
                if r.t.sent.is_some() {
                    let r = self.inflight.remove(&id).expect("present");
                    self.finish(r, t);
                }
            }
            BackendEvent::Progress { t, .. } => self.progress(t),
            BackendEvent::Died(why) => return Some(why),
        }
        None
    }

    fn on_item(&mut self, t: u64, mut it: OutputItem) {
        let r = self.inflight.entry(it.id).or_insert_with(|| blank(it.id));
        if let Some(x) = it.received_ns {
            r.t.worker_received = Some(x);
        }
        if let Some(x) = it.submitted_ns {
            r.t.worker_submitted = Some(x);
        }
        if it.n > 0 && self.engine_timed && it.finish.is_some() && r.t.first_token.is_none() {
            // Not streamed: the engine's stamps say when the first and the last token were
            // made (the same clock); without them (stats off) every token arrived at `t`.
            let e = it.engine.as_ref();
            let first = e
                .and_then(|e| e.first_token_ns)
                .filter(|&f| f <= t)
                .unwrap_or(t);
            let last = e
                .and_then(|e| e.last_token_ns)
                .filter(|&l| l >= first && l <= t)
                .unwrap_or(t);
            r.t.first_token = Some(first);
            r.t.last_token = Some(last);
            r.output_tokens += it.n;
            r.token_events.push(first, 1);
            if it.n > 1 {
                r.token_events.push(last, it.n - 1);
            }
            self.out_tokens += it.n as u64;
            if let (true, Some(sent)) = (self.track_saturation, r.t.sent) {
                self.saturation_samples.push(SatSample::FirstToken {
                    t,
                    ttft_ns: first.saturating_sub(sent),
                });
            }
        } else {
            // A held token is placed at the worker's stamp (see place_tokens); the final
            // item's at this frame's read.
            let held = self.worker_stamps && it.finish.is_none();
            let (n, first) = match it.steps.take() {
                // Several held outputs in one item: each placed as an item of its own would be.
                Some(steps) => steps.chunks_exact(2).fold((0, false), |(n, first), s| {
                    let k = s[0] as u32;
                    (n + k, place_tokens(r, t, k, s[1], held) || first)
                }),
                None => (it.n, place_tokens(r, t, it.n, it.t_ns, held)),
            };
            self.out_tokens += n as u64;
            if let (true, true, Some(sent)) = (first, self.track_saturation, r.t.sent) {
                self.saturation_samples.push(SatSample::FirstToken {
                    t,
                    ttft_ns: t.saturating_sub(sent),
                });
            }
        }
        if let Some(ids) = it.token_ids.take() {
            self.replies.entry(it.id).or_default().extend(ids);
        }
        let Some(finish) = it.finish.take() else {
            return;
        };
        apply_finish(r, t, finish, &it);
        let id = it.id;
        // Completed before the pacer's note arrived: on_sent finishes it.
        if r.t.sent.is_some() {
            let r = self.inflight.remove(&id).expect("present");
            self.finish(r, t);
        }
    }

    /// Counts a finished request for the error limits.
    fn count_error(&mut self, errored: bool) {
        if errored {
            self.errors += 1;
        }
        if self.recent.len() == ERROR_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(errored);
    }

    fn finish(&mut self, r: RequestRecord, t: u64) {
        self.count_error(r.status == Status::Errored);
        let reply = self.replies.remove(&r.id);
        let ok = r.status == Status::Successful;
        let more = r.turn.is_some_and(|tt| !tt.last);
        if self.slot_tx.is_some() && !(self.hold_conversations && more && ok) {
            self.freed.push(t);
        }
        if more {
            if let Some(tx) = &self.turn_tx {
                let _ = tx.send(TurnDone {
                    id: r.id,
                    end: t,
                    reply: if ok {
                        Some(reply.unwrap_or_default())
                    } else {
                        None
                    },
                    stopped: r.finish_reason.as_deref() == Some("stop"),
                });
            }
        }
        self.done.push(r);
    }

    /// Hands the slots freed since the last call to the pacer.
    pub fn release_slots(&mut self) {
        if let Some(tx) = &self.slot_tx {
            for t in self.freed.drain(..) {
                let _ = tx.send(t);
            }
        }
    }

    /// Ends every request still in flight with `status` and `why`, at `end_ns` unless it ended.
    pub fn close_inflight(&mut self, status: Status, why: &str, end_ns: u64) {
        for (_, mut r) in self.inflight.drain() {
            r.status = status;
            r.error = Some(why.to_string());
            r.t.end = r.t.end.or(Some(end_ns));
            self.done.push(r);
        }
        self.done.sort_by_key(|r| r.id);
    }
}

/// `n` streamed tokens of `r` that the worker stamped `t_ns`, read in a frame at `t`; true when
/// they hold its first token. A `held` token (a streaming request's, where the worker's stamps
/// are used) arrived at the worker at `t_ns`, on the same clock: it is placed there, never
/// before the tokens already seen nor after this frame's read; any other at `t`.
fn place_tokens(r: &mut RequestRecord, t: u64, n: u32, t_ns: u64, held: bool) -> bool {
    if n == 0 {
        return false;
    }
    let first = r.t.first_token.is_none();
    if first {
        r.t.first_token = Some(t);
        r.t.worker_first_token = Some(t_ns);
    }
    let at = match r.t.last_token {
        Some(prev) if held => t_ns.max(prev).min(t),
        _ => t,
    };
    r.t.last_token = Some(at);
    r.t.worker_last_token = Some(t_ns);
    r.output_tokens += n;
    r.token_events.push(at, n);
    first
}

/// A request's last item: its end, counts, vLLM's stamps and status.
fn apply_finish(r: &mut RequestRecord, t: u64, finish: String, it: &OutputItem) {
    r.t.end = Some(t);
    r.prompt_tokens = it.prompt_tokens.or(r.prompt_tokens);
    r.cached_tokens = it.cached_tokens;
    r.stop_reason = it.stop_reason.clone();
    if let Some(e) = &it.engine {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: u64, at: u64) -> Sent {
        Sent {
            id,
            scheduled: at,
            admitted: None,
            sent: at,
            content: 4,
            prefix: 0,
            prompt_len: 4,
            max_tokens: Some(8),
            prefix_bucket: None,
            turn: None,
        }
    }

    #[test]
    fn a_failure_that_overtakes_the_pacers_note_is_one_errored_record() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut c = Collector::new(Some(tx), 0);
        let failed = |id, t| BackendEvent::Failed {
            t,
            id,
            error: "mock: failure injected".into(),
        };
        // In order: the note, then the failure.
        c.on_sent(sent(1, 10));
        assert!(c.on_event(failed(1, 20)).is_none());
        // Overtaken: the failure first.
        assert!(c.on_event(failed(2, 30)).is_none());
        c.on_sent(sent(2, 25));
        assert!(c.inflight.is_empty(), "nothing left to wait for");
        assert_eq!(c.done.len(), 2);
        for r in &c.done {
            assert_eq!(r.status, Status::Errored);
            assert!(r.t.sent.is_some() && r.t.end.is_some(), "{r:?}");
        }
        assert_eq!(c.errors, 2);
        c.release_slots();
        assert_eq!(rx.try_iter().count(), 2, "each frees its slot once");
        // The pacer stamped its send after the failure was read (descheduled between its write
        // and its stamp): the request was sent no later than that read.
        assert!(c.on_event(failed(3, 40)).is_none());
        let mut late = sent(3, 38);
        late.sent = 43;
        c.on_sent(late);
        let r = c.done.iter().find(|r| r.id == 3).unwrap();
        assert_eq!((r.t.sent, r.t.end), (Some(40), Some(40)));
    }

    #[test]
    fn a_batched_request_is_timed_by_the_engines_stamps() {
        use crate::backend::protocol::{EngineStamps, OutputItem};
        let final_item = |id, n, engine| OutputItem {
            id,
            n,
            t_ns: 95,
            token_ids: None,
            finish: Some("length".into()),
            received_ns: Some(12),
            submitted_ns: Some(20),
            prompt_tokens: Some(4),
            cached_tokens: Some(0),
            stop_reason: None,
            engine,
            steps: None,
        };
        let mut c = Collector::new(None, 0);
        c.engine_timed = true;
        c.on_sent(sent(1, 10));
        c.on_sent(sent(2, 10));
        let stamps = EngineStamps {
            queued_ns: Some(21),
            scheduled_ns: Some(22),
            first_token_ns: Some(30),
            last_token_ns: Some(90),
            preemptions: 0,
        };
        let _ = c.on_event(BackendEvent::Outputs(
            100,
            vec![final_item(1, 7, Some(stamps))],
        ));
        // vLLM kept no stats: every token at the supervisor's read
        let _ = c.on_event(BackendEvent::Outputs(100, vec![final_item(2, 3, None)]));
        let r = |id| c.done.iter().find(|r| r.id == id).unwrap();
        let a = r(1);
        assert_eq!(
            (a.t.first_token, a.t.last_token, a.t.end),
            (Some(30), Some(90), Some(100))
        );
        assert_eq!(
            (a.t.worker_first_token, a.t.worker_last_token),
            (None, None)
        );
        assert_eq!(a.output_tokens, 7);
        assert_eq!(a.ttft_ns(), Some(20));
        let mut gaps = Vec::new();
        a.itl_samples_ns(&mut gaps);
        assert_eq!(gaps, vec![10.0; 6], "each gap is the request's mean");
        let b = r(2);
        assert_eq!(
            (b.t.first_token, b.t.last_token, b.output_tokens),
            (Some(100), Some(100), 3)
        );
        assert_eq!(c.out_tokens, 10);
    }

    #[test]
    fn held_outputs_merged_in_one_item_are_placed_at_their_own_stamps() {
        use crate::backend::sim::item;
        let mut c = Collector::new(None, 0);
        c.worker_stamps = true;
        c.on_sent(sent(1, 10));
        let _ = c.on_event(BackendEvent::Outputs(20, vec![item(1, 1, 19, None)]));
        // Three held outputs read at 40: 1 token stamped 18 (before the first token's read: not
        // placed before it), 2 stamped 25, 1 stamped 31.
        let mut held = item(1, 4, 31, None);
        held.steps = Some(vec![1, 18, 2, 25, 1, 31]);
        let _ = c.on_event(BackendEvent::Outputs(40, vec![held]));
        let _ = c.on_event(BackendEvent::Outputs(
            50,
            vec![item(1, 1, 49, Some("length"))],
        ));
        let r = c.done.iter().find(|r| r.id == 1).unwrap();
        assert_eq!(r.output_tokens, 6);
        assert_eq!(c.out_tokens, 6);
        let mut gaps = Vec::new();
        r.itl_samples_ns(&mut gaps);
        assert_eq!(gaps, vec![0.0, 2.5, 2.5, 6.0, 19.0]);
        assert_eq!(
            (r.t.first_token, r.t.last_token, r.t.worker_last_token),
            (Some(20), Some(50), Some(49))
        );
    }
}
