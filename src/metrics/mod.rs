//! Per-request records and the statistics computed from them (docs/metrics.md defines each).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Successful,
    Incomplete,
    Errored,
}

/// The named timestamps of one request, absolute CLOCK_MONOTONIC nanoseconds, in chain order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timestamps {
    /// When the request was due (its target time, or the moment its concurrency slot freed).
    pub scheduled: Option<u64>,
    /// When the write of its `generate` frame returned.
    pub sent: Option<u64>,
    pub worker_received: Option<u64>,
    pub worker_submitted: Option<u64>,
    pub engine_queued: Option<u64>,
    pub engine_scheduled: Option<u64>,
    pub engine_first_token: Option<u64>,
    pub worker_first_token: Option<u64>,
    /// When the supervisor read the frame holding the first output token.
    pub first_token: Option<u64>,
    pub engine_last_token: Option<u64>,
    pub worker_last_token: Option<u64>,
    pub last_token: Option<u64>,
    /// When the supervisor read the request's final output (or gave up on it).
    pub end: Option<u64>,
}

impl Timestamps {
    /// The chain in order, by name, for checks and reports.
    pub fn chain(&self) -> [(&'static str, Option<u64>); 13] {
        [
            ("scheduled", self.scheduled),
            ("sent", self.sent),
            ("worker_received", self.worker_received),
            ("worker_submitted", self.worker_submitted),
            ("engine_queued", self.engine_queued),
            ("engine_scheduled", self.engine_scheduled),
            ("engine_first_token", self.engine_first_token),
            ("worker_first_token", self.worker_first_token),
            ("first_token", self.first_token),
            ("engine_last_token", self.engine_last_token),
            ("worker_last_token", self.worker_last_token),
            ("last_token", self.last_token),
            ("end", self.end),
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub id: u64,
    pub status: Status,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    /// Prompt tokens the data asked for (content; template tokens excluded).
    pub content_tokens: u32,
    /// Shared-prefix tokens included in the prompt.
    pub prefix_tokens: u32,
    /// Length of the token-id prompt llmbench sent.
    pub prompt_tokens_sent: u32,
    /// The engine's own prompt token count (None if the request never reached it).
    pub prompt_tokens: Option<u32>,
    pub output_tokens: u32,
    pub max_tokens: Option<u32>,
    pub cached_tokens: Option<u32>,
    pub preemptions: u32,
    pub t: Timestamps,
    /// (supervisor receive time, tokens) of every output event, in order.
    pub token_events: Vec<(u64, u32)>,
}

impl RequestRecord {
    pub fn ttft_ns(&self) -> Option<u64> {
        Some(self.t.first_token?.saturating_sub(self.t.sent?))
    }
    pub fn latency_ns(&self) -> Option<u64> {
        Some(self.t.end?.saturating_sub(self.t.sent?))
    }
    /// Inter-token gaps: an event carrying k tokens after a gap g gives k samples of g/k; extra
    /// tokens in the first event arrived together with the first token and give samples of 0.
    pub fn itl_samples_ns(&self, out: &mut Vec<f64>) {
        let mut prev: Option<u64> = None;
        for &(t, n) in &self.token_events {
            if n == 0 {
                continue;
            }
            match prev {
                None => out.extend(std::iter::repeat(0.0).take(n as usize - 1)),
                Some(p) => {
                    let g = t.saturating_sub(p) as f64 / n as f64;
                    out.extend(std::iter::repeat(g).take(n as usize));
                }
            }
            prev = Some(t);
        }
    }
}

/// Summary statistics of a sample, exact (sorted), in the unit the caller chose.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub median: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub p1: f64,
    pub p5: f64,
    pub p10: f64,
    pub p25: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

impl Distribution {
    pub fn from_values(mut v: Vec<f64>) -> Distribution {
        if v.is_empty() {
            return Distribution::default();
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Nearest-rank percentile: the smallest value with at least p% of the sample at or below it.
        let pct = |p: f64| v[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Distribution {
            count: n as u64,
            mean,
            median: pct(50.0),
            std: var.sqrt(),
            min: v[0],
            max: v[n - 1],
            p1: pct(1.0),
            p5: pct(5.0),
            p10: pct(10.0),
            p25: pct(25.0),
            p75: pct(75.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            p999: pct(99.9),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub successful: u64,
    pub incomplete: u64,
    pub errored: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub requests: Counts,
    pub duration_s: f64,
    pub requests_per_second: f64,
    pub output_tokens_per_second: f64,
    pub input_tokens_per_second: f64,
    /// Time-weighted mean number of requests in flight.
    pub concurrency: f64,
    /// Output tokens credited to the window.
    pub output_tokens_total: u64,
    pub prompt_tokens: Distribution,
    pub output_tokens: Distribution,
    pub ttft_ms: Distribution,
    pub itl_ms: Distribution,
    pub tpot_ms: Distribution,
    pub request_latency_ms: Distribution,
    pub latency_from_scheduled_ms: Distribution,
    pub dispatch_lag_us: Distribution,
}

/// Statistics of one benchmark over its measurement window `[ws, we]` (docs/metrics.md):
/// rates credit each token *event* inside the window, so a request straddling a window edge
/// contributes only its in-window tokens; distributions use the requests sent inside it.
pub fn summarize(records: &[RequestRecord], ws: u64, we: u64) -> Summary {
    let ms = |ns: u64| ns as f64 / 1e6;
    let inside = |t: Option<u64>| t.is_some_and(|t| t >= ws && t <= we);
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| inside(r.t.sent)).collect();
    let ok: Vec<&RequestRecord> = measured
        .iter()
        .copied()
        .filter(|r| r.status == Status::Successful)
        .collect();
    let mut counts = Counts::default();
    for r in &measured {
        match r.status {
            Status::Successful => counts.successful += 1,
            Status::Incomplete => counts.incomplete += 1,
            Status::Errored => counts.errored += 1,
        }
    }
    let duration_s = we.saturating_sub(ws) as f64 / 1e9;
    let per_s = |x: f64| {
        if duration_s > 0.0 {
            x / duration_s
        } else {
            0.0
        }
    };
    let out_tokens: u64 = records
        .iter()
        .flat_map(|r| r.token_events.iter())
        .filter(|(t, _)| *t >= ws && *t <= we)
        .map(|&(_, n)| n as u64)
        .sum();
    let completed = records
        .iter()
        .filter(|r| r.status == Status::Successful && inside(r.t.end))
        .count();
    let in_tokens: u64 = records
        .iter()
        .filter(|r| inside(r.t.first_token))
        .map(|r| r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as u64)
        .sum();
    // Time-weighted concurrency: the in-flight intervals [sent, end] clipped to the window.
    let busy_ns: f64 = records
        .iter()
        .filter_map(|r| {
            let (a, b) = (r.t.sent?.max(ws), r.t.end?.min(we));
            Some(b.saturating_sub(a) as f64)
        })
        .sum();
    let mut itl = Vec::new();
    for r in &ok {
        r.itl_samples_ns(&mut itl);
    }
    Summary {
        duration_s,
        requests_per_second: per_s(completed as f64),
        output_tokens_per_second: per_s(out_tokens as f64),
        input_tokens_per_second: per_s(in_tokens as f64),
        concurrency: if duration_s > 0.0 {
            busy_ns / 1e9 / duration_s
        } else {
            0.0
        },
        output_tokens_total: out_tokens,
        requests: counts,
        prompt_tokens: Distribution::from_values(
            ok.iter()
                .map(|r| r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as f64)
                .collect(),
        ),
        output_tokens: Distribution::from_values(
            ok.iter().map(|r| r.output_tokens as f64).collect(),
        ),
        ttft_ms: Distribution::from_values(ok.iter().filter_map(|r| r.ttft_ns()).map(ms).collect()),
        itl_ms: Distribution::from_values(itl.into_iter().map(|g| g / 1e6).collect()),
        tpot_ms: Distribution::from_values(
            ok.iter()
                .filter(|r| r.output_tokens > 1)
                .filter_map(|r| {
                    Some(
                        ms(r.t.last_token?.saturating_sub(r.t.first_token?))
                            / (r.output_tokens - 1) as f64,
                    )
                })
                .collect(),
        ),
        request_latency_ms: Distribution::from_values(
            ok.iter().filter_map(|r| r.latency_ns()).map(ms).collect(),
        ),
        latency_from_scheduled_ms: Distribution::from_values(
            ok.iter()
                .filter_map(|r| Some(ms(r.t.end?.saturating_sub(r.t.scheduled?))))
                .collect(),
        ),
        dispatch_lag_us: Distribution::from_values(
            measured
                .iter()
                .filter_map(|r| Some(r.t.sent?.saturating_sub(r.t.scheduled?) as f64 / 1e3))
                .collect(),
        ),
    }
}

/// Resolves `--warmup`/`--cooldown` for one benchmark that ran from `start` to `end`:
/// of time when `--max-seconds` was given, else of its requests in dispatch order (the window
/// then runs from the first measured request's `sent` to the first cool-down request's `sent`).
pub fn resolve_window(
    w: &crate::plan::Window,
    records: &[RequestRecord],
    start: u64,
    end: u64,
) -> (u64, u64) {
    use crate::plan::Amount;
    if w.warmup.is_none() && w.cooldown.is_none() {
        return (start, end);
    }
    if w.by_time {
        let span = end.saturating_sub(start) as f64 / 1e9;
        let secs = |a: Option<Amount>| match a {
            None => 0.0,
            Some(Amount::Fraction(f)) => f * w.max_seconds.unwrap_or(span),
            Some(Amount::Absolute(s)) => s,
        };
        let ws = start + (secs(w.warmup) * 1e9) as u64;
        let we = end.saturating_sub((secs(w.cooldown) * 1e9) as u64);
        return (ws.min(end), we.max(ws.min(end)));
    }
    let mut sent: Vec<u64> = records.iter().filter_map(|r| r.t.sent).collect();
    sent.sort_unstable();
    let n = sent.len();
    let count = |a: Option<Amount>| match a {
        None => 0,
        Some(Amount::Fraction(f)) => (f * n as f64).round() as usize,
        Some(Amount::Absolute(k)) => k as usize,
    };
    let (skip, cool) = (count(w.warmup).min(n), count(w.cooldown).min(n));
    let ws = if skip == 0 {
        start
    } else {
        sent.get(skip).copied().unwrap_or(end)
    };
    let we = if cool == 0 {
        end
    } else {
        sent.get(n.saturating_sub(cool))
            .copied()
            .unwrap_or(end)
            .saturating_sub(1)
    };
    (ws, we.max(ws))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(events: &[(u64, u32)]) -> RequestRecord {
        RequestRecord {
            id: 0,
            status: Status::Successful,
            finish_reason: Some("length".into()),
            error: None,
            content_tokens: 4,
            prefix_tokens: 0,
            prompt_tokens_sent: 4,
            prompt_tokens: Some(4),
            output_tokens: events.iter().map(|e| e.1).sum(),
            max_tokens: None,
            cached_tokens: None,
            preemptions: 0,
            t: Timestamps {
                scheduled: Some(0),
                sent: Some(10),
                first_token: events.first().map(|e| e.0),
                last_token: events.last().map(|e| e.0),
                end: events.last().map(|e| e.0),
                ..Default::default()
            },
            token_events: events.to_vec(),
        }
    }

    #[test]
    fn itl_counts_every_token_of_a_multi_token_gap() {
        let mut v = Vec::new();
        rec(&[(100, 1), (200, 1), (500, 3)]).itl_samples_ns(&mut v);
        assert_eq!(v, vec![100.0, 100.0, 100.0, 100.0]);
        let mut v = Vec::new();
        rec(&[(100, 2), (300, 1)]).itl_samples_ns(&mut v);
        assert_eq!(v, vec![0.0, 200.0]);
    }

    #[test]
    fn itl_mean_equals_tpot() {
        let r = rec(&[(1_000, 2), (5_000, 3), (6_000, 1)]);
        let mut v = Vec::new();
        r.itl_samples_ns(&mut v);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let tpot = (6_000 - 1_000) as f64 / (r.output_tokens - 1) as f64;
        assert!((mean - tpot).abs() < 1e-9);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let d = Distribution::from_values((1..=100).map(|x| x as f64).collect());
        assert_eq!(
            (d.min, d.median, d.p90, d.p99, d.max),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(d.count, 100);
    }

    #[test]
    fn summary_counts_statuses_and_rates() {
        let mut a = rec(&[(100, 1), (200, 1)]);
        let mut b = a.clone();
        b.status = Status::Incomplete;
        b.output_tokens = 1;
        b.token_events.truncate(1);
        a.t.end = Some(1_000_000_010);
        let s = summarize(&[a, b], 0, 2_000_000_000);
        assert_eq!((s.requests.successful, s.requests.incomplete), (1, 1));
        assert!((s.requests_per_second - 0.5).abs() < 1e-12);
        assert!((s.output_tokens_per_second - 1.5).abs() < 1e-12);
        assert!((s.request_latency_ms.median - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn window_edges_cut_token_events_not_requests() {
        // One request streaming a token every second from 1 s to 10 s, sent at 0.5 s.
        let s = 1_000_000_000u64;
        let events: Vec<(u64, u32)> = (1..=10).map(|k| (k * s, 1)).collect();
        let mut r = rec(&events);
        r.t.sent = Some(s / 2);
        r.t.scheduled = Some(s / 2);
        let w = crate::plan::Window {
            warmup: Some(crate::plan::Amount::Absolute(2.5)),
            cooldown: Some(crate::plan::Amount::Absolute(2.5)),
            by_time: true,
            max_seconds: Some(10.0),
        };
        let (ws, we) = resolve_window(&w, std::slice::from_ref(&r), 0, 10 * s);
        assert_eq!((ws, we), (2_500_000_000, 7_500_000_000));
        let sum = summarize(std::slice::from_ref(&r), ws, we);
        assert_eq!(sum.output_tokens_total, 5, "tokens at 3,4,5,6,7 s only");
        assert!((sum.output_tokens_per_second - 1.0).abs() < 1e-9);
        assert!(
            (sum.concurrency - 1.0).abs() < 1e-9,
            "in flight for the whole window"
        );
        assert_eq!(
            sum.requests.successful, 0,
            "sent before the window: not in the latency statistics"
        );
    }

    #[test]
    fn request_count_windows_follow_dispatch_order() {
        let w = crate::plan::Window {
            warmup: Some(crate::plan::Amount::Fraction(0.2)),
            cooldown: Some(crate::plan::Amount::Absolute(2.0)),
            by_time: false,
            max_seconds: None,
        };
        let recs: Vec<RequestRecord> = (0..10u64)
            .map(|i| {
                let mut r = rec(&[(i * 100 + 50, 1)]);
                r.t.sent = Some(i * 100);
                r
            })
            .collect();
        let (ws, we) = resolve_window(&w, &recs, 0, 1000);
        assert_eq!((ws, we), (200, 799));
        let sum = summarize(&recs, ws, we);
        assert_eq!(sum.requests.successful, 6, "requests 2..=7");
    }
}
