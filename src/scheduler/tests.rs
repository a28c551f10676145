//! The scheduler against the in-process backend on a virtual clock (`backend::sim`): every
//! profile's dispatch, each constraint, the watchdog, aborts and window cutting — no Python.

use super::*;
use crate::backend::sim::{Shape, SimBackend, T0};
use crate::data::prompts::RequestSpec;
use crate::metrics::{RequestRecord, Status};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Requests of `tokens` output tokens; `limit` of them, or endless.
struct Source {
    tokens: u32,
    limit: Option<usize>,
    given: usize,
}

impl RequestSource for Source {
    fn next_request(&mut self) -> Option<RequestSpec> {
        if self.limit.is_some_and(|l| self.given >= l) {
            return None;
        }
        self.given += 1;
        Some(RequestSpec {
            prompt: vec![1, 2, 3, 4],
            content_tokens: 4,
            prefix_tokens: 0,
            max_tokens: Some(self.tokens),
            prefix_bucket: None,
            conversation: None,
            messages: None,
        })
    }
}

fn endless(tokens: u32) -> Box<dyn RequestSource> {
    Box::new(Source {
        tokens,
        limit: None,
        given: 0,
    })
}

struct Bench {
    backend: SimBackend,
    interrupt: AtomicBool,
    next_id: u64,
    rampup_s: f64,
    conversations: Option<bool>,
}

impl Bench {
    fn new(shape: Shape) -> Bench {
        Bench {
            backend: SimBackend::new(shape, 5 * MS),
            interrupt: AtomicBool::new(false),
            next_id: 1,
            rampup_s: 0.0,
            conversations: None,
        }
    }

    fn run(&mut self, source: Box<dyn RequestSource>, s: Strategy, c: Constraints) -> Outcome {
        let sampling = Default::default();
        let o = RunOptions {
            clock: self.backend.clock.clone(),
            sampling: &sampling,
            interrupt: &self.interrupt,
            next_id: &mut self.next_id,
            seed: 7,
            rampup_s: self.rampup_s,
            progress: None,
            tick: Duration::from_micros(200),
            conversations: self.conversations,
            batching: None,
            worker_token_stamps: false,
        };
        run(&mut self.backend, source, &s, &c, o).1
    }
}

fn constant(rate: f64) -> Strategy {
    Strategy::Constant {
        rate,
        max_concurrency: None,
    }
}

fn poisson(rate: f64) -> Strategy {
    Strategy::Poisson {
        rate,
        max_concurrency: None,
    }
}

fn requests(n: u64) -> Constraints {
    Constraints {
        max_requests: Some(n),
        ..Default::default()
    }
}

fn sent(o: &Outcome) -> Vec<u64> {
    o.records.iter().map(|r| r.t.sent.unwrap()).collect()
}

fn scheduled(o: &Outcome) -> Vec<u64> {
    o.records
        .iter()
        .map(|r| r.t.scheduled.unwrap() - o.start_ns)
        .collect()
}

/// The most requests in flight at once, from each record's sent..end interval.
fn peak_in_flight(o: &Outcome) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for r in &o.records {
        edges.push((r.t.sent.unwrap(), 1));
        edges.push((r.t.end.unwrap(), -1));
    }
    edges.sort(); // an end and a send at the same instant: the end (-1) first
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

fn statuses(o: &Outcome, s: Status) -> usize {
    o.records.iter().filter(|r| r.status == s).count()
}

#[test]
fn synchronous_sends_each_request_after_the_previous_ended() {
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(4), Strategy::Synchronous, requests(5));
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(
        o.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(statuses(&o, Status::Successful), 5);
    for w in o.records.windows(2) {
        assert!(
            w[1].t.sent.unwrap() >= w[0].t.end.unwrap(),
            "overlap: {:?}",
            sent(&o)
        );
    }
    assert!(o.records.iter().all(|r| r.output_tokens == 4));
    // The next benchmark continues the ids.
    assert_eq!(b.next_id, 6);
}

#[test]
fn a_request_that_waits_is_staged_ahead_and_a_fast_schedule_is_not() {
    // Synchronous: every request after the first waits for the one before it to end.
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(4), Strategy::Synchronous, requests(5));
    assert_eq!(statuses(&o, Status::Successful), 5);
    assert_eq!(b.backend.staged(), 4);
    // 20 req/s: the run starts 2 ms after the pacer, the others 50 ms after the one before.
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(2), constant(20.0), requests(10));
    assert_eq!(statuses(&o, Status::Successful), 10);
    assert_eq!(b.backend.staged(), 10);
    // 5,000 req/s: after the first, each is due 0.2 ms after the last, sooner than staging
    // pays off.
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(2), constant(5000.0), requests(50));
    assert_eq!(statuses(&o, Status::Successful), 50);
    assert_eq!(b.backend.staged(), 1);
}

#[test]
fn a_closed_loops_first_fill_goes_in_one_write() {
    // Four streams free at the start: their four requests share one write and one send time.
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(4), Strategy::Concurrent { streams: 4 }, requests(4));
    assert_eq!(statuses(&o, Status::Successful), 4);
    assert_eq!(b.backend.writes(), 1);
    let s = sent(&o);
    assert!(s.iter().all(|&t| t == s[0]), "{s:?}");
    // With a ramp the streams start one by one: one write each, at its own time.
    let mut b = Bench::new(Shape::default());
    b.rampup_s = 0.2;
    let o = b.run(endless(4), Strategy::Concurrent { streams: 4 }, requests(4));
    assert_eq!(statuses(&o, Status::Successful), 4);
    assert_eq!(b.backend.writes(), 4);
    let s = sent(&o);
    assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
}

#[test]
fn concurrent_keeps_n_streams_busy_and_never_more() {
    let mut b = Bench::new(Shape::default());
    let o = b.run(
        endless(3),
        Strategy::Concurrent { streams: 3 },
        requests(12),
    );
    assert_eq!(statuses(&o, Status::Successful), 12);
    assert_eq!(peak_in_flight(&o), 3);
    // The first three go out at the start, together.
    assert_eq!(&scheduled(&o)[..3], &[0, 0, 0]);
}

#[test]
fn throughput_sends_up_to_its_cap_at_once() {
    let mut b = Bench::new(Shape::default());
    let o = b.run(
        endless(2),
        Strategy::Throughput { max_concurrency: 8 },
        requests(20),
    );
    assert_eq!(statuses(&o, Status::Successful), 20);
    assert_eq!(peak_in_flight(&o), 8);
    assert!(scheduled(&o)[..8].iter().all(|&t| t == 0));
}

#[test]
fn constant_rate_targets_are_exact_offsets() {
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(2), constant(20.0), requests(10));
    let want: Vec<u64> = (0..10).map(|i| i * 50 * MS).collect();
    assert_eq!(scheduled(&o), want);
    // Sent no earlier than scheduled, and in order.
    assert!(o.records.iter().all(|r| r.t.sent >= r.t.scheduled));
}

#[test]
fn rampup_spreads_the_constant_rate_and_the_streams() {
    let mut b = Bench::new(Shape::default());
    b.rampup_s = 1.0;
    let o = b.run(endless(1), constant(10.0), requests(8));
    let want: Vec<u64> = (0..8)
        .map(|i| (constant_offset_s(i, 10.0, 1.0) * 1e9) as u64)
        .collect();
    assert_eq!(scheduled(&o), want);
    let o = b.run(
        endless(50),
        Strategy::Concurrent { streams: 4 },
        requests(4),
    );
    assert_eq!(scheduled(&o), [0, 250 * MS, 500 * MS, 750 * MS]);
}

#[test]
fn poisson_arrivals_are_seeded_and_average_the_rate() {
    let run = || {
        let mut b = Bench::new(Shape::default());
        b.run(endless(1), poisson(50.0), requests(200))
    };
    let (a, b) = (run(), run());
    assert_eq!(scheduled(&a), scheduled(&b), "same seed, same arrivals");
    let span = *scheduled(&a).last().unwrap() as f64 / 1e9;
    let rate = 199.0 / span;
    assert!((30.0..80.0).contains(&rate), "mean rate {rate}");
    let gaps: Vec<u64> = scheduled(&a).windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().any(|&g| g != gaps[0]), "gaps vary");
}

#[test]
fn max_seconds_sends_only_before_the_deadline_and_aborts_the_rest() {
    // 10 req/s for 1.05 s: targets 0, 0.1, …, 1.0 → 11 requests; each runs 0.3 s, so the last
    // ones are still in flight at the deadline and are aborted (incomplete, with their tokens).
    let shape = Shape {
        ttft_ns: 100 * MS,
        itl_ns: 100 * MS,
        ..Default::default()
    };
    let mut b = Bench::new(shape);
    let c = Constraints {
        max_seconds: Some(1.05),
        ..Default::default()
    };
    let o = b.run(endless(3), constant(10.0), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
    assert_eq!(o.records.len(), 11);
    assert_eq!(statuses(&o, Status::Successful), 8);
    assert_eq!(statuses(&o, Status::Incomplete), 3);
    assert_eq!(b.backend.aborted.len(), 1);
    assert_eq!(b.backend.aborted[0].len(), 3);
    // Request 9 (sent at 0.8 s) had tokens at 0.9 and 1.0 s; request 11 (1.0 s) had none yet.
    let tokens = |id| o.records.iter().find(|r| r.id == id).unwrap().output_tokens;
    let cut = o.records.iter().find(|r| r.id == 9).unwrap();
    assert_eq!(cut.finish_reason.as_deref(), Some("abort"));
    assert_eq!(tokens(9), 2, "an aborted request keeps the tokens it had");
    assert_eq!(tokens(11), 0);
    assert!(o.end_ns - o.start_ns >= 1_050 * MS);
}

#[test]
fn a_max_seconds_benchmark_lasts_until_its_deadline() {
    // Only two requests, done long before the deadline: the benchmark still spans its time.
    let mut b = Bench::new(Shape::default());
    let c = Constraints {
        max_seconds: Some(0.5),
        ..Default::default()
    };
    let src = Box::new(Source {
        tokens: 1,
        limit: Some(2),
        given: 0,
    });
    let o = b.run(src, constant(100.0), c);
    assert_eq!(o.records.len(), 2);
    assert_eq!(o.ended_by, EndReason::DataExhausted);
    let o = b.run(
        endless(1),
        constant(1.0),
        Constraints {
            max_seconds: Some(0.5),
            ..Default::default()
        },
    );
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
    assert_eq!(o.records.len(), 1);
    assert!(o.end_ns - o.start_ns >= 500 * MS);
}

#[test]
fn data_exhausted_ends_once_every_request_is_back() {
    let mut b = Bench::new(Shape::default());
    let src = Box::new(Source {
        tokens: 5,
        limit: Some(7),
        given: 0,
    });
    let o = b.run(
        src,
        Strategy::Concurrent { streams: 2 },
        Constraints::default(),
    );
    assert_eq!(o.ended_by, EndReason::DataExhausted);
    assert_eq!(statuses(&o, Status::Successful), 7);
}

#[test]
fn max_errors_stops_after_one_error_too_many() {
    let mut b = Bench::new(Shape {
        fail_every: 2,
        ..Default::default()
    });
    let c = Constraints {
        max_errors: Some(3),
        ..Default::default()
    };
    let o = b.run(endless(1), Strategy::Synchronous, c);
    assert_eq!(o.ended_by, EndReason::MaxErrors);
    assert_eq!(statuses(&o, Status::Errored), 4);
    assert_eq!(o.records.len(), 8);
}

#[test]
fn error_rates_need_a_full_window() {
    let mut b = Bench::new(Shape {
        fail_every: 2,
        ..Default::default()
    });
    let c = Constraints {
        max_error_rate: Some(0.4),
        ..Default::default()
    };
    let o = b.run(endless(1), Strategy::Synchronous, c);
    assert_eq!(o.ended_by, EndReason::MaxErrorRate);
    assert_eq!(o.records.len(), ERROR_WINDOW);
    let c = Constraints {
        max_global_error_rate: Some(0.4),
        ..Default::default()
    };
    let o = b.run(endless(1), Strategy::Synchronous, c);
    assert_eq!(o.ended_by, EndReason::MaxGlobalErrorRate);
    assert_eq!(o.records.len(), ERROR_WINDOW);
    // Below the rate: runs to its request limit.
    let c = Constraints {
        max_error_rate: Some(0.6),
        max_requests: Some(40),
        ..Default::default()
    };
    assert_eq!(
        b.run(endless(1), Strategy::Synchronous, c).ended_by,
        EndReason::MaxRequests
    );
}

#[test]
fn an_overloaded_engine_is_detected_as_over_saturated() {
    // One request at a time, 50 ms each, offered 40 req/s: the queue and TTFT grow without end.
    let mut b = Bench::new(Shape {
        capacity: 1,
        ttft_ns: 50 * MS,
        itl_ns: 0,
        ..Default::default()
    });
    let c = Constraints {
        max_seconds: Some(30.0),
        saturation: Some(Saturation {
            min_seconds: 2.0,
            window_seconds: 2.0,
            min_growth: Some(0.5),
            ..Saturation::default()
        }),
        ..Default::default()
    };
    let o = b.run(endless(1), constant(40.0), c.clone());
    assert_eq!(o.ended_by, EndReason::OverSaturated);
    assert!(o.end_ns - o.start_ns < 10 * S);
    // The same engine offered 10 req/s keeps up: the benchmark runs to its time limit.
    let mut c = c;
    c.max_seconds = Some(5.0);
    let o = b.run(endless(1), constant(10.0), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
}

#[test]
fn a_wedged_engine_ends_the_benchmark_as_stalled_without_an_abort() {
    let mut b = Bench::new(Shape {
        hang_at_ns: Some(T0 + S),
        ..Default::default()
    });
    let c = Constraints {
        max_requests: Some(1000),
        engine_stall_s: Some(2.0),
        ..Default::default()
    };
    let o = b.run(endless(4), Strategy::Concurrent { streams: 2 }, c);
    assert_eq!(o.ended_by, EndReason::EngineStalled);
    assert!(
        b.backend.aborted.is_empty(),
        "nothing is left to answer an abort"
    );
    let stuck: Vec<_> = o
        .records
        .iter()
        .filter(|r| r.status == Status::Incomplete)
        .collect();
    assert_eq!(stuck.len(), 2);
    assert!(stuck
        .iter()
        .all(|r| r.error.as_deref().unwrap().starts_with("engine_stalled")));
    assert!(o.longest_stall.seconds >= 2.0 && o.longest_stall.seconds < 2.1);
    // The stall began with the last token before the hang (or a send just after it), and the
    // benchmark ended one timeout later, not at the request limit.
    assert!(
        o.longest_stall.from_ns + 20 * MS >= T0 + S,
        "{:?}",
        o.longest_stall
    );
    let ended_after = o.end_ns - o.longest_stall.from_ns;
    assert!(
        (2_000 * MS..2_100 * MS).contains(&ended_after),
        "{ended_after}"
    );
}

#[test]
fn a_pause_below_the_timeout_is_measured_not_fatal() {
    let mut b = Bench::new(Shape {
        pause: Some((T0 + 500 * MS, T0 + 2_000 * MS)),
        ..Default::default()
    });
    let c = Constraints {
        max_requests: Some(40),
        engine_stall_s: Some(5.0),
        ..Default::default()
    };
    let o = b.run(endless(4), Strategy::Concurrent { streams: 2 }, c);
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(statuses(&o, Status::Successful), 40);
    let s = o.longest_stall.seconds;
    assert!((1.45..1.6).contains(&s), "longest stall {s} s");
    // Without the watchdog the stall is still measured.
    let o = b.run(endless(4), Strategy::Synchronous, requests(3));
    assert!(o.longest_stall.seconds < 0.1);
}

#[test]
fn a_long_step_with_its_compute_processes_busy_is_not_a_stall() {
    // No token and no step for 3 s (one long prefill step), the model worker computing all the
    // while: with a 1 s watchdog the benchmark runs on to its request limit.
    let long_step = (T0 + 500 * MS, T0 + 3_500 * MS);
    let c = Constraints {
        max_requests: Some(20),
        engine_stall_s: Some(1.0),
        ..Default::default()
    };
    let mut b = Bench::new(Shape {
        pause: Some(long_step),
        compute: Some(long_step),
        ..Default::default()
    });
    let o = b.run(endless(4), Strategy::Concurrent { streams: 2 }, c.clone());
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(statuses(&o, Status::Successful), 20);
    assert!(o.longest_stall.seconds < 1.0, "{:?}", o.longest_stall);
    // The same silence with nothing computing is a wedged engine.
    let mut b = Bench::new(Shape {
        pause: Some(long_step),
        compute: Some((0, 1)),
        ..Default::default()
    });
    let o = b.run(endless(4), Strategy::Concurrent { streams: 2 }, c);
    assert_eq!(o.ended_by, EndReason::EngineStalled);
}

#[test]
fn idle_time_with_nothing_in_flight_is_no_stall() {
    // 1 req/s of 30 ms requests: the engine is idle 97% of the time, never stalled.
    let mut b = Bench::new(Shape::default());
    let c = Constraints {
        max_requests: Some(4),
        engine_stall_s: Some(0.5),
        ..Default::default()
    };
    let o = b.run(endless(2), constant(1.0), c);
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert!(o.longest_stall.seconds < 0.05, "{:?}", o.longest_stall);
}

#[test]
fn the_backend_dying_ends_the_benchmark_and_keeps_the_finished_records() {
    let mut b = Bench::new(Shape {
        hang_at_ns: Some(T0 + 300 * MS),
        ..Default::default()
    });
    b.backend.die("worker exited with status 1");
    let o = b.run(endless(2), Strategy::Synchronous, requests(100));
    assert_eq!(o.ended_by, EndReason::WorkerDied);
    assert_eq!(
        o.worker_error.as_deref(),
        Some("worker exited with status 1")
    );
    assert!(o.records.iter().all(|r| r.status != Status::Incomplete));
}

#[test]
fn an_interrupt_stops_dispatch_and_aborts_in_flight() {
    let mut b = Bench::new(Shape {
        ttft_ns: 10 * S,
        ..Default::default()
    });
    b.interrupt.store(true, Ordering::Relaxed);
    let o = b.run(
        endless(2),
        Strategy::Concurrent { streams: 2 },
        requests(10),
    );
    assert_eq!(o.ended_by, EndReason::Interrupted);
    assert!(o.records.len() <= 2);
    assert!(o.records.iter().all(|r| r.status == Status::Incomplete));
}

#[test]
fn the_collector_waits_instead_of_spinning_once_dispatch_is_done() {
    // Regression: once the pacer was done, its disconnected channel stayed in the select and the
    // collector spun a core for the rest of every benchmark. One request of 20 s in flight after
    // dispatch ended: the collector must idle (4,000 virtual steps), not read the clock millions
    // of times (the sim clock panics past 5 million reads).
    let mut b = Bench::new(Shape {
        ttft_ns: 20 * S,
        ..Default::default()
    });
    let o = b.run(endless(1), Strategy::Synchronous, requests(1));
    assert_eq!(statuses(&o, Status::Successful), 1);
    let reads = b.backend.clock.reads.load(Ordering::Relaxed);
    assert!(reads < 40_000, "{reads} clock reads for 4,000 idle steps");
}

#[test]
fn warmup_and_cooldown_cut_token_events_not_requests() {
    use crate::metrics::window::{Amount, Window};
    use crate::metrics::{resolve_window, summarize};
    let mut b = Bench::new(Shape {
        ttft_ns: 100 * MS,
        itl_ns: 100 * MS,
        ..Default::default()
    });
    let c = Constraints {
        max_seconds: Some(4.0),
        ..Default::default()
    };
    let o = b.run(endless(10), constant(5.0), c);
    let w = Window {
        warmup: Some(Amount::Absolute(1.0)),
        cooldown: Some(Amount::Absolute(1.0)),
        by_time: true,
        max_seconds: Some(4.0),
    };
    let (ws, we) = resolve_window(&w, &o.records, o.start_ns, o.end_ns);
    assert_eq!((ws - o.start_ns, o.end_ns - we), (S, S));
    let inside: u64 = o
        .records
        .iter()
        .flat_map(|r| r.token_events.iter())
        .filter(|&(t, _)| t >= ws && t <= we)
        .map(|(_, n)| n as u64)
        .sum();
    let all = summarize(&o.records, o.start_ns, o.end_ns);
    let cut = summarize(&o.records, ws, we);
    // 5 tokens/s per request in flight × 2 requests in flight ≈ 10 tok/s over the 2 s window.
    assert!(inside > 0 && inside < o.records.iter().map(|r| r.output_tokens as u64).sum());
    assert!(
        (cut.output_tokens_per_second - inside as f64 / 2.0).abs() < 1e-6,
        "{}",
        cut.output_tokens_per_second
    );
    assert!(cut.requests.successful < all.requests.successful);
}

#[test]
fn min_requests_ends_once_that_many_finished_sending_until_then() {
    // One slot, 50 ms per request, offered 100 req/s: requests pile up behind the engine.
    // GuideLLM's min_requests keeps queuing until 5 have finished, then stops everything.
    let mut b = Bench::new(Shape {
        capacity: 1,
        ttft_ns: 50 * MS,
        itl_ns: 0,
        ..Default::default()
    });
    let c = Constraints {
        min_requests: Some(5),
        ..Default::default()
    };
    let o = b.run(endless(1), constant(100.0), c);
    assert_eq!(o.ended_by, EndReason::MinRequests);
    assert_eq!(statuses(&o, Status::Successful), 5);
    let sent = o.records.len();
    assert!(
        sent > 20,
        "sent past 5 while waiting for 5 to finish: {sent}"
    );
    assert_eq!(
        statuses(&o, Status::Incomplete),
        sent - 5,
        "the rest aborted"
    );
    // max_requests still caps what is sent: 3 sent, 3 finished, then the data is done.
    let c = Constraints {
        min_requests: Some(5),
        max_requests: Some(3),
        ..Default::default()
    };
    let o = b.run(endless(1), constant(100.0), c);
    assert_eq!((o.ended_by, o.records.len()), (EndReason::MaxRequests, 3));
}

fn capped(rate: f64, cap: u32) -> Strategy {
    Strategy::Constant {
        rate,
        max_concurrency: Some(cap),
    }
}

#[test]
fn max_concurrency_holds_an_open_loop_schedule_to_that_many_in_flight() {
    // 100 req/s against an engine that takes 100 ms a request, capped at 2 in flight.
    let mut b = Bench::new(Shape {
        ttft_ns: 100 * MS,
        itl_ns: 0,
        ..Default::default()
    });
    let o = b.run(endless(1), capped(100.0, 2), requests(12));
    assert_eq!(statuses(&o, Status::Successful), 12);
    assert!(peak_in_flight(&o) <= 2, "peak {}", peak_in_flight(&o));
    // The schedule is kept (10 ms apart); all but the first two waited for a place.
    let want: Vec<u64> = (0..12).map(|i| i * 10 * MS).collect();
    assert_eq!(scheduled(&o), want);
    let waited: Vec<&RequestRecord> = o
        .records
        .iter()
        .filter(|r| r.t.admitted.is_some())
        .collect();
    assert_eq!(waited.len(), 10);
    for r in &o.records {
        let ready = r.t.admitted.unwrap_or(r.t.scheduled.unwrap());
        assert!(
            r.t.scheduled.unwrap() <= ready && ready <= r.t.sent.unwrap(),
            "{:?}",
            r.t
        );
    }
    // The report tells the cap's wait apart from the pacer's lag.
    let s = crate::metrics::summarize(&o.records, o.start_ns, o.end_ns);
    let cap = s.cap_wait.expect("the cap held requests back");
    assert_eq!(cap.delayed, 10);
    assert!((cap.share - 10.0 / 12.0).abs() < 1e-9);
    assert!(
        cap.wait_ms.max >= 400.0,
        "the last waited about half a second: {:?}",
        cap.wait_ms
    );
    assert!(
        s.dispatch_lag_us.max < cap.wait_ms.min * 1e3,
        "pacer lag apart from the cap's wait"
    );
    assert_eq!(s.stages_ms.cap_wait.count, s.stages_ms.dispatch.count);
    // Under the cap nothing waits: no cap_wait figures.
    let o = b.run(endless(1), capped(5.0, 2), requests(4));
    assert!(o.records.iter().all(|r| r.t.admitted.is_none()));
    let s = crate::metrics::summarize(&o.records, o.start_ns, o.end_ns);
    assert!(s.cap_wait.is_none() && s.stages_ms.cap_wait.count == 0);
}

#[test]
fn a_capped_schedule_sends_nothing_at_or_after_its_deadline() {
    let mut b = Bench::new(Shape {
        ttft_ns: 400 * MS,
        itl_ns: 0,
        ..Default::default()
    });
    let c = Constraints {
        max_seconds: Some(1.0),
        ..Default::default()
    };
    let o = b.run(endless(1), capped(50.0, 1), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
    // One at a time, 0.4 s each: sent at 0, 0.4 and 0.8 s.
    assert_eq!(o.records.len(), 3);
    assert!(o.records.iter().all(|r| r.t.sent.unwrap() < o.start_ns + S));
}

/// An engine serving one request at a time, 50 ms each, offered 40 req/s: requests in flight
/// and TTFT grow without end.
fn overloaded() -> Bench {
    Bench::new(Shape {
        capacity: 1,
        ttft_ns: 50 * MS,
        itl_ns: 0,
        ..Default::default()
    })
}

#[test]
fn guidellms_detector_finds_the_overload_and_reports_its_slopes() {
    let sat = Saturation {
        min_seconds: 3.0,
        minimum_ttft: 0.5,
        ..Saturation::default()
    };
    let c = Constraints {
        max_seconds: Some(30.0),
        saturation: Some(sat.clone()),
        ..Default::default()
    };
    let o = overloaded().run(endless(1), constant(40.0), c.clone());
    assert_eq!(o.ended_by, EndReason::OverSaturated);
    let r = o.saturation.expect("a verdict");
    assert!(r.is_over_saturated);
    let at = r.first_detected_s.unwrap();
    assert!((3.0..10.0).contains(&at), "detected at {at} s");
    assert!(r.concurrent_slope.unwrap() > 0.0 && r.ttft_slope.unwrap() > 0.0);
    assert!(r.concurrent_slope_moe.unwrap() < 2.0);
    assert!(r.concurrent_n >= 5 && r.ttft_n >= 5 && r.ttft_violations > 0);
    // The same engine offered 10 req/s keeps up: never over-saturated.
    let c = Constraints {
        max_seconds: Some(6.0),
        ..c
    };
    let o = overloaded().run(endless(1), constant(10.0), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
    let r = o.saturation.unwrap();
    assert!(!r.is_over_saturated && r.first_detected_s.is_none());
}

#[test]
fn monitor_mode_reports_over_saturation_without_stopping() {
    let c = Constraints {
        max_seconds: Some(8.0),
        saturation: Some(Saturation {
            mode: SaturationMode::Monitor,
            min_seconds: 3.0,
            minimum_ttft: 0.5,
            ..Saturation::default()
        }),
        ..Default::default()
    };
    let o = overloaded().run(endless(1), constant(40.0), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds, "not stopped");
    let r = o.saturation.unwrap();
    assert_eq!(r.mode, SaturationMode::Monitor);
    assert!(r.is_over_saturated, "still over-saturated at the end");
    assert!(r.first_detected_s.unwrap() < 8.0);
}

/// A trace's rows (arrival seconds), through the replay profile's source.
fn trace(arrivals: &[f64]) -> Box<dyn RequestSource> {
    let specs: Vec<RequestSpec> = arrivals
        .iter()
        .map(|_| RequestSpec {
            prompt: vec![1, 2, 3, 4],
            content_tokens: 4,
            prefix_tokens: 0,
            max_tokens: Some(2),
            conversation: None,
            messages: None,
            prefix_bucket: None,
        })
        .collect();
    Box::new(crate::data::trace::TraceSource::new(
        std::sync::Arc::new(specs),
        std::sync::Arc::new(arrivals.to_vec()),
    ))
}

fn replay(time_scale: f64) -> Strategy {
    Strategy::Replay {
        time_scale,
        schedule_turn: Default::default(),
    }
}

#[test]
fn replay_sends_each_row_at_its_scaled_timestamp_until_the_trace_ends() {
    // Bursts and gaps, two rows at the same instant, as a trace has them.
    let at = [0.0, 0.25, 0.25, 1.0, 3.5, 3.75];
    for scale in [1.0, 0.5, 2.0] {
        let mut b = Bench::new(Shape::default());
        let o = b.run(trace(&at), replay(scale), Constraints::default());
        assert_eq!(o.ended_by, EndReason::DataExhausted);
        let want: Vec<u64> = at
            .iter()
            .map(|t| (t * scale * 1e9).round() as u64)
            .collect();
        assert_eq!(scheduled(&o), want, "time_scale {scale}");
        // Sent in trace order, never before its time (how late depends on the host's load:
        // the virtual clock moves on when the pacer thread is slow to run).
        let s = sent(&o);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        for r in &o.records {
            assert!(r.t.sent.unwrap() >= r.t.scheduled.unwrap());
        }
    }
}

#[test]
fn rows_due_together_go_in_one_write_and_share_their_send_time() {
    // Four rows at 0.1 s and two at 0.5 s: a burst each, staged ahead and started by one write.
    let at = [0.0, 0.1, 0.1, 0.1, 0.1, 0.3, 0.5, 0.5];
    let mut b = Bench::new(Shape::default());
    let o = b.run(trace(&at), replay(1.0), Constraints::default());
    assert_eq!(o.ended_by, EndReason::DataExhausted);
    assert_eq!(statuses(&o, Status::Successful), 8);
    assert_eq!(
        o.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(b.backend.writes(), 4);
    assert_eq!(b.backend.staged(), 8);
    let s = sent(&o);
    assert!(s[1..5].iter().all(|&t| t == s[1]) && s[6] == s[7], "{s:?}");
    assert!(s[0] < s[1] && s[4] < s[5] && s[5] < s[6], "{s:?}");
    // A limit cuts a burst: the third row of the burst is not sent.
    let mut b = Bench::new(Shape::default());
    let o = b.run(trace(&at), replay(1.0), requests(3));
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(o.records.len(), 3);
    assert_eq!(b.backend.writes(), 2);
    // A constant rate's requests are each due at their own time: one write each.
    let mut b = Bench::new(Shape::default());
    let o = b.run(endless(2), constant(20.0), requests(6));
    assert_eq!(statuses(&o, Status::Successful), 6);
    assert_eq!(b.backend.writes(), 6);
}

#[test]
fn replay_stops_at_the_constraints() {
    let at: Vec<f64> = (0..20).map(|i| i as f64 * 0.1).collect();
    let mut b = Bench::new(Shape::default());
    let o = b.run(trace(&at), replay(1.0), requests(5));
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(o.records.len(), 5);
    let mut b = Bench::new(Shape::default());
    let c = Constraints {
        max_seconds: Some(0.55),
        ..Default::default()
    };
    let o = b.run(trace(&at), replay(1.0), c);
    assert_eq!(o.ended_by, EndReason::MaxSeconds);
    assert_eq!(o.records.len(), 6, "rows at 0 … 0.5 s");
}

/// Conversations of `turns` turns (4-token messages, `tokens` output tokens each), `delay` of
/// think time after each reply.
struct Chats {
    turns: usize,
    tokens: u32,
    delay: u64,
}

impl RequestSource for Chats {
    fn next_request(&mut self) -> Option<RequestSpec> {
        use crate::data::prompts::{Conversation, LaterTurn};
        Some(RequestSpec {
            prompt: vec![1, 2, 3, 4],
            content_tokens: 4,
            prefix_tokens: 0,
            max_tokens: Some(self.tokens),
            conversation: Some(Box::new(Conversation {
                later: (1..self.turns)
                    .map(|_| LaterTurn {
                        content: vec![5, 6, 7, 8],
                        max_tokens: Some(self.tokens),
                        trace: None,
                        recorded_reply: None,
                    })
                    .collect(),
                delay_ns: self.delay,
                frame: Default::default(),
                suffix: Default::default(),
                messages: None,
            })),
            prefix_bucket: None,
            messages: None,
        })
    }
}

/// Each conversation's turns in order, with every later turn sent no sooner than the think time
/// after its previous reply, and its prompt the previous one + the new message.
fn check_conversations(
    o: &Outcome,
    turns: u32,
    delay: u64,
) -> std::collections::BTreeMap<u64, Vec<&RequestRecord>> {
    let mut by_conv: std::collections::BTreeMap<u64, Vec<&RequestRecord>> = Default::default();
    for r in &o.records {
        let t = r.turn.expect("every request is a turn");
        by_conv.entry(t.conversation).or_default().push(r);
    }
    for (c, rs) in &by_conv {
        assert_eq!(rs[0].id, *c, "a conversation is named by its first request");
        for (k, r) in rs.iter().enumerate() {
            let t = r.turn.unwrap();
            assert_eq!(t.index as usize, k, "conversation {c}: turns in order");
            assert_eq!(t.last, k as u32 == turns - 1);
            assert_eq!(
                r.prompt_tokens_sent,
                4 * (k as u32 + 1),
                "history + the new message"
            );
            if k > 0 {
                let prev = rs[k - 1];
                assert!(
                    r.t.sent.unwrap() >= prev.t.end.unwrap() + delay,
                    "conversation {c} turn {k}: think time"
                );
                assert_eq!(t.history_tokens, 4 * k as u32);
            }
        }
    }
    by_conv
}

#[test]
fn conversation_turns_take_their_own_slots_and_think_time_frees_them() {
    let mut b = Bench::new(Shape::default());
    b.conversations = Some(false);
    let chats = Chats {
        turns: 3,
        tokens: 4,
        delay: 200 * MS,
    };
    let o = b.run(
        Box::new(chats),
        Strategy::Concurrent { streams: 2 },
        requests(18),
    );
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    assert_eq!(o.records.len(), 18);
    assert!(peak_in_flight(&o) <= 2);
    let by_conv = check_conversations(&o, 3, 200 * MS);
    // GuideLLM's way: while a conversation thinks its slot opens another, so more than two
    // conversations are under way.
    assert!(by_conv.len() > 2, "{} conversations", by_conv.len());
}

#[test]
fn conversation_slots_hold_a_stream_through_think_time() {
    let mut b = Bench::new(Shape::default());
    b.conversations = Some(true);
    let chats = Chats {
        turns: 3,
        tokens: 4,
        delay: 200 * MS,
    };
    let o = b.run(
        Box::new(chats),
        Strategy::Concurrent { streams: 2 },
        requests(12),
    );
    assert_eq!(o.ended_by, EndReason::MaxRequests);
    let by_conv = check_conversations(&o, 3, 200 * MS);
    // Two streams, each a whole conversation at a time: 12 turns are 4 complete conversations.
    assert_eq!(by_conv.len(), 4);
    assert!(by_conv.values().all(|rs| rs.len() == 3));
    for rs in by_conv.values() {
        for w in rs.windows(2) {
            let (prev, next) = (w[0], w[1]);
            assert_eq!(
                next.t.scheduled.unwrap(),
                prev.t.end.unwrap() + 200 * MS,
                "a later turn is due at reply + think time"
            );
        }
    }
}

/// A trace with conversations: session (first row's arrival s, later rows as (at s, gap s)).
fn trace_sessions(sessions: &[(f64, &[(f64, f64)])]) -> Box<dyn RequestSource> {
    use crate::data::prompts::{Conversation, LaterTurn, TraceTiming};
    let row = |n: u32| RequestSpec {
        prompt: (0..n).collect(),
        content_tokens: n,
        max_tokens: Some(2),
        ..Default::default()
    };
    let specs: Vec<RequestSpec> = sessions
        .iter()
        .map(|(_, later)| {
            let mut first = row(4);
            if !later.is_empty() {
                first.conversation = Some(Box::new(Conversation {
                    later: later
                        .iter()
                        .map(|&(at_s, gap_s)| LaterTurn {
                            content: row(6).prompt,
                            max_tokens: Some(2),
                            recorded_reply: None,
                            trace: Some(TraceTiming {
                                at_s,
                                gap_s,
                                content_tokens: 6,
                            }),
                        })
                        .collect(),
                    delay_ns: 0,
                    frame: Default::default(),
                    suffix: Default::default(),
                    messages: None,
                }));
            }
            first
        })
        .collect();
    Box::new(crate::data::trace::TraceSource::new(
        std::sync::Arc::new(specs),
        std::sync::Arc::new(sessions.iter().map(|s| s.0).collect()),
    ))
}

#[test]
fn a_trace_conversation_sends_its_later_rows_by_schedule_turn() {
    // Session A: rows at 0, then 0.5 s (idle gap 0.3 s after its recorded duration), 2.0 s
    // (gap 0.1 s); session B one row at 0.2 s.
    let sessions: &[(f64, &[(f64, f64)])] = &[(0.0, &[(0.5, 0.3), (2.0, 0.1)]), (0.2, &[])];
    for (turn, scale) in [
        (crate::scheduler::strategy::ScheduleTurn::IdleGap, 1.0),
        (crate::scheduler::strategy::ScheduleTurn::IdleGap, 0.5),
        (crate::scheduler::strategy::ScheduleTurn::Timestamp, 1.0),
        (crate::scheduler::strategy::ScheduleTurn::Timestamp, 0.5),
    ] {
        let mut b = Bench::new(Shape::default());
        b.conversations = Some(false);
        let strategy = Strategy::Replay {
            time_scale: scale,
            schedule_turn: turn,
        };
        let o = b.run(trace_sessions(sessions), strategy, Constraints::default());
        assert_eq!(o.ended_by, EndReason::DataExhausted, "{turn:?}");
        assert_eq!(o.records.len(), 4);
        let mut by_conv: std::collections::BTreeMap<u64, Vec<&RequestRecord>> = Default::default();
        for r in &o.records {
            by_conv
                .entry(r.turn.unwrap().conversation)
                .or_default()
                .push(r);
        }
        let convs: Vec<&Vec<&RequestRecord>> = by_conv.values().collect();
        assert_eq!(convs.len(), 2);
        let (a, b) = (convs[0], convs[1]);
        assert_eq!(a.len(), 3);
        assert_eq!(b.len(), 1);
        let start = a[0].t.scheduled.unwrap();
        assert_eq!(
            b[0].t.scheduled.unwrap() - start,
            (0.2 * scale * 1e9) as u64
        );
        for k in 1..3 {
            let (prev, r) = (a[k - 1], a[k]);
            let (at, gap) = sessions[0].1[k - 1];
            let end = prev.t.end.unwrap();
            let want = match turn {
                crate::scheduler::strategy::ScheduleTurn::IdleGap => {
                    end + (gap * scale * 1e9).round() as u64
                }
                crate::scheduler::strategy::ScheduleTurn::Timestamp => {
                    end.max(start + (at * scale * 1e9).round() as u64)
                }
            };
            assert_eq!(r.t.scheduled.unwrap(), want, "{turn:?} ×{scale} row {k}");
            assert!(r.t.sent.unwrap() >= want);
            let t = r.turn.unwrap();
            assert_eq!(
                (t.index, t.history_tokens),
                (k as u32, 0),
                "rows are whole prompts"
            );
            assert_eq!(
                r.prompt_tokens_sent, 6,
                "a later row's own prompt, not spliced"
            );
        }
    }
}
