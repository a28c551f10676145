//! Per-request records and the statistics computed from them (docs/metrics.md defines each).

pub mod interval;
pub mod slo;
pub mod statistics;
pub mod turns;
pub mod window;

pub use interval::{Confidence, Interval};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use slo::{Slo, SloSummary};
pub use window::resolve_window;

/// successful (finish reason length, stop or repetition), incomplete (aborted by a limit or an
/// interrupt; its tokens still count) or errored (finish reason error, a failed request, or in
/// flight when the worker died).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    /// When `max_concurrency` let it go, if it was due while the cap was full (a place freed
    /// after `scheduled`); None when it did not wait for one.
    pub admitted: Option<u64>,
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
    pub fn chain(&self) -> [(&'static str, Option<u64>); 14] {
        [
            ("scheduled", self.scheduled),
            ("admitted", self.admitted),
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

/// Output events of one request: 4 bytes per event in the common case (a gap under 4.29 s
/// carrying one token), exact in every case. A 100,000-request run of 128-token outputs keeps
/// all its events in about 50 MB instead of 200.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenEvents {
    first: u64,
    /// Nanoseconds since the previous event (the first is 0); `u32::MAX` marks a gap kept in `long`.
    gaps: Vec<u32>,
    /// (event index, gap) for gaps of 4.29 s or more.
    long: Vec<(u32, u64)>,
    /// (event index, tokens) for events carrying other than one token.
    multi: Vec<(u32, u32)>,
    last: u64,
}

impl TokenEvents {
    pub fn push(&mut self, t: u64, n: u32) {
        let i = self.gaps.len() as u32;
        let gap = if self.gaps.is_empty() {
            self.first = t;
            0
        } else {
            t.saturating_sub(self.last)
        };
        if gap >= u32::MAX as u64 {
            self.gaps.push(u32::MAX);
            self.long.push((i, gap));
        } else {
            self.gaps.push(gap as u32);
        }
        if n != 1 {
            self.multi.push((i, n));
        }
        self.last = t.max(self.last);
    }

    pub fn len(&self) -> usize {
        self.gaps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gaps.is_empty()
    }

    /// (time, tokens) of each event, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let (mut t, mut li, mut mi) = (self.first, 0usize, 0usize);
        self.gaps.iter().enumerate().map(move |(i, &g)| {
            let gap = if g == u32::MAX {
                li += 1;
                self.long[li - 1].1
            } else {
                g as u64
            };
            t += gap;
            let n = if self.multi.get(mi).is_some_and(|m| m.0 as usize == i) {
                mi += 1;
                self.multi[mi - 1].1
            } else {
                1
            };
            (t, n)
        })
    }
}

impl FromIterator<(u64, u32)> for TokenEvents {
    fn from_iter<I: IntoIterator<Item = (u64, u32)>>(it: I) -> Self {
        let mut e = TokenEvents::default();
        for (t, n) in it {
            e.push(t, n);
        }
        e
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
    /// The stop string or token id that ended it (vLLM's stop_reason).
    pub stop_reason: Option<crate::backend::StopReason>,
    pub preemptions: u32,
    pub t: Timestamps,
    /// (supervisor receive time, tokens) of every output event, in order, stored compactly.
    pub token_events: TokenEvents,
    /// The synthetic spec's `prefix_buckets` entry the request was drawn into.
    pub prefix_bucket: Option<u16>,
    /// Its place in a conversation (multi-turn data); None for an independent request.
    pub turn: Option<TurnTag>,
}

/// A request's place in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnTag {
    /// The conversation: the id of its first turn's request.
    pub conversation: u64,
    /// Turn index, from 0.
    pub index: u32,
    /// Prompt tokens carried over from the earlier turns: their prompts, the engine's replies
    /// and the template's framing between them (0 for the first turn).
    pub history_tokens: u32,
    /// Whether this is the conversation's last turn.
    #[serde(skip)]
    pub last: bool,
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
    /// `f(gap_ns, count)`.
    pub fn itl_gaps(&self, mut f: impl FnMut(f64, u64)) {
        let mut prev: Option<u64> = None;
        for (t, n) in self.token_events.iter() {
            if n == 0 {
                continue;
            }
            match prev {
                None => f(0.0, n as u64 - 1),
                Some(p) => f(t.saturating_sub(p) as f64 / n as f64, n as u64),
            }
            prev = Some(t);
        }
    }

    /// The same gaps as a list (tests and small reports).
    pub fn itl_samples_ns(&self, out: &mut Vec<f64>) {
        self.itl_gaps(|g, n| out.extend(std::iter::repeat(g).take(n as usize)));
    }
}

/// Summary statistics of a sample, in the unit the caller chose. Count, mean, std, min and max
/// are exact; percentiles come from an HDR histogram holding values at 1/1000 of the unit
/// (µs for millisecond metrics) with three significant digits.
///
/// In the report: summary statistics of one sample, in the unit its key names (`_ms`
/// milliseconds, `_us` microseconds, `tokens` token counts). Reports written before `p99_9`
/// named it `p999` and had no `p0_1` or `p50`; they still load (`p0_1` then reads 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = distribution_accepts_p999)]
pub struct Distribution {
    /// Number of samples. With 0 samples every other statistic is 0.
    pub count: u64,
    /// Arithmetic mean (exact).
    pub mean: f64,
    /// 50th percentile.
    pub median: f64,
    /// Population standard deviation (exact).
    #[schemars(range(min = 0.0))]
    pub std: f64,
    /// Smallest sample (exact).
    pub min: f64,
    /// Largest sample (exact).
    pub max: f64,
    /// 0.1th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    #[serde(default)]
    pub p0_1: f64,
    /// 1st percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p1: f64,
    /// 5th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p5: f64,
    /// 10th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p10: f64,
    /// 25th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p25: f64,
    /// 50th percentile (same as median).
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    #[serde(default)]
    pub p50: f64,
    /// 75th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p75: f64,
    /// 90th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p90: f64,
    /// 95th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p95: f64,
    /// 99th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    pub p99: f64,
    /// 99.9th percentile.
    ///
    /// Percentiles come from an HDR histogram at 1/1000 of the unit with three significant digits, clamped to [min, max].
    #[serde(alias = "p999")]
    pub p99_9: f64,
    /// Confidence intervals of the mean and percentiles (docs/metrics.md, "Confidence
    /// intervals"); absent when intervals are off, or for a distribution that carries none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<interval::DistributionCi>,
}

/// Streaming accumulator behind `Distribution`: constant memory however many samples.
pub struct Acc {
    h: hdrhistogram::Histogram<u64>,
    n: u64,
    sum: f64,
    sumsq: f64,
    min: f64,
    max: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            h: hdrhistogram::Histogram::new(3).expect("3 significant digits is a valid precision"),
            n: 0,
            sum: 0.0,
            sumsq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Acc {
    const SCALE: f64 = 1000.0;

    pub fn record(&mut self, v: f64) {
        self.record_n(v, 1);
    }

    /// Records `v` `n` times.
    pub fn record_n(&mut self, v: f64, n: u64) {
        if n == 0 || !v.is_finite() {
            return;
        }
        let v = v.max(0.0);
        self.n += n;
        self.sum += v * n as f64;
        self.sumsq += v * v * n as f64;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let _ = self.h.record_n((v * Self::SCALE).round() as u64, n);
    }

    pub fn finish(&self) -> Distribution {
        if self.n == 0 {
            return Distribution::default();
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = (self.sumsq / n - mean * mean).max(0.0);
        let q = |p: f64| {
            (self.h.value_at_quantile(p / 100.0) as f64 / Self::SCALE).clamp(self.min, self.max)
        };
        Distribution {
            count: self.n,
            mean,
            median: q(50.0),
            std: var.sqrt(),
            min: self.min,
            max: self.max,
            p0_1: q(0.1),
            p1: q(1.0),
            p5: q(5.0),
            p10: q(10.0),
            p25: q(25.0),
            p50: q(50.0),
            p75: q(75.0),
            p90: q(90.0),
            p95: q(95.0),
            p99: q(99.0),
            p99_9: q(99.9),
            ci: None,
        }
    }
}

impl Distribution {
    /// No samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn from_values(v: Vec<f64>) -> Distribution {
        let mut a = Acc::default();
        for x in v {
            a.record(x);
        }
        a.finish()
    }
}

/// Where the time went, per successful request whose timestamp chain is complete
/// (docs/metrics.md): consecutive stretches that add up to end − scheduled, ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stages {
    /// scheduled → admitted: waiting under `max_concurrency` for a place (0 for requests that
    /// did not wait); only in benchmarks where some request waited, absent otherwise.
    #[serde(default, skip_serializing_if = "Distribution::is_empty")]
    pub cap_wait: Distribution,
    /// scheduled (admitted, after a wait under `max_concurrency`) → sent: llmbench's own
    /// dispatch delay.
    pub dispatch: Distribution,
    /// sent → engine_queued: socket, worker, and vLLM's input processing.
    pub handover: Distribution,
    /// engine_queued → engine_scheduled: waiting for a batch slot.
    pub queue: Distribution,
    /// engine_scheduled → engine_first_token.
    pub prefill: Distribution,
    /// engine_first_token → engine_last_token.
    pub decode: Distribution,
    /// engine_last_token → end: the supervisor read the final output.
    pub delivery: Distribution,
}

/// What `max_concurrency` did to a constant or Poisson schedule: requests due while that many
/// were in flight waited for a place (docs/metrics.md, "Concurrency cap").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CapWait {
    /// Requests sent in the window that were due while the cap was full and waited.
    pub delayed: u64,
    /// `delayed` / requests sent in the window (0–1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share: f64,
    /// admitted − scheduled of the delayed requests, ms: the wait the cap added to their
    /// schedule (counted in the `*_from_scheduled_ms` latencies, not in `dispatch_lag_us`).
    pub wait_ms: Distribution,
}

/// Distributions of the requests of one non-successful status, kept apart from the successful
/// ones (successful ones are the main summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusSummary {
    /// TTFT, ms.
    pub ttft_ms: Distribution,
    /// Latency (end − sent), ms.
    pub request_latency_ms: Distribution,
    /// Prompt tokens (the engine's count, else the tokens sent).
    pub prompt_tokens: Distribution,
    /// Output tokens.
    pub output_tokens: Distribution,
}

/// Requests sent inside the measurement window, per status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// Requests that finished normally.
    pub successful: u64,
    /// Requests aborted by a limit or an interrupt.
    pub incomplete: u64,
    /// Requests that failed.
    pub errored: u64,
}

/// Statistics over the benchmark's measurement window (docs/metrics.md). Distributions other
/// than dispatch_lag_us, incomplete and errored are over successful requests sent inside the
/// window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Requests sent inside the measurement window, per status.
    pub requests: Counts,
    /// Length of the measurement window, seconds (the benchmark's run time less warm-up and
    /// cool-down).
    #[schemars(range(min = 0.0))]
    pub duration_s: f64,
    /// Successful requests that ended inside the window / duration_s.
    #[schemars(range(min = 0.0))]
    pub requests_per_second: f64,
    /// Output tokens of all requests (incomplete ones included) whose token events fall in the
    /// window / duration_s.
    #[schemars(range(min = 0.0))]
    pub output_tokens_per_second: f64,
    /// Prompt tokens of the requests whose first token came inside the window / duration_s.
    #[schemars(range(min = 0.0))]
    pub input_tokens_per_second: f64,
    /// (input + output tokens) / duration_s.
    // Absent from reports of early version 1.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub total_tokens_per_second: f64,
    /// Time-weighted mean number of requests in flight (sent → end) over the window.
    #[schemars(range(min = 0.0))]
    pub concurrency: f64,
    /// Output tokens credited to the window.
    pub output_tokens_total: u64,
    /// Prompt tokens per successful request (the engine's count, else the tokens sent).
    pub prompt_tokens: Distribution,
    /// Output tokens per successful request.
    pub output_tokens: Distribution,
    /// Prefix-cache hit tokens per successful request (where the engine reported them).
    pub cached_tokens: Distribution,
    /// Preemptions per successful request.
    pub preemptions: Distribution,
    /// Time to first token, first_token − sent, ms, successful requests.
    pub ttft_ms: Distribution,
    /// first_token − scheduled, ms: TTFT including any dispatch delay (coordinated omission).
    pub ttft_from_scheduled_ms: Distribution,
    /// Every inter-token gap of successful requests, ms: an output carrying k tokens after a gap
    /// g gives k samples of g/k; tokens arriving with the first token give samples of 0 (not a
    /// per-request average, unlike GuideLLM).
    pub itl_ms: Distribution,
    /// vLLM's time per output token per request, (last_token − first_token) /
    /// (output_tokens − 1), ms; TTFT excluded.
    pub tpot_ms: Distribution,
    /// GuideLLM's time per output token, (last_token − sent) / output_tokens, ms; TTFT included.
    pub tpot_incl_ttft_ms: Distribution,
    /// Request latency, end − sent, ms, successful requests.
    pub request_latency_ms: Distribution,
    /// end − scheduled, ms: latency including any dispatch delay (coordinated omission).
    pub latency_from_scheduled_ms: Distribution,
    /// sent − scheduled over every request sent in the window, µs: llmbench's own lag (for a
    /// request that waited under `max_concurrency`, from the moment it was admitted).
    pub dispatch_lag_us: Distribution,
    /// `max_concurrency` of a constant or Poisson benchmark: the requests it held back. Absent
    /// when the benchmark had no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_wait: Option<CapWait>,
    /// Where the time went, per successful request whose timestamp chain is complete:
    /// consecutive stretches that add up to end − scheduled, ms.
    // Absent from reports of early version 1.
    #[serde(default)]
    pub stages_ms: Stages,
    /// Distributions of the incomplete requests, kept apart from the successful ones.
    pub incomplete: StatusSummary,
    /// Distributions of the errored requests, kept apart from the successful ones.
    pub errored: StatusSummary,
    /// SLO attainment and goodput (docs/metrics.md, "SLOs and goodput"); absent when no SLO
    /// was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSummary>,
    /// Confidence intervals of the rates (docs/metrics.md, "Confidence intervals"), and why
    /// any this benchmark could have had are missing; absent when intervals are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<interval::SummaryCi>,
    /// Multi-turn data: conversations started, completed and cut, and the figures by turn
    /// index (docs/metrics.md, "Conversations"); absent for independent requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<turns::ConversationSummary>,
    /// With a synthetic spec's `prefix_buckets`: the realised mix of the requests sent inside
    /// the window, and the engine's prefix-cache hits per bucket, by bucket index. Absent
    /// without buckets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_buckets: Vec<PrefixBucketMix>,
}

/// One `prefix_buckets` entry in a benchmark (docs/metrics.md, "Prefix buckets").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrefixBucketMix {
    /// The bucket's index in the spec's `prefix_buckets`, from 0.
    pub bucket: u16,
    /// Requests sent inside the window that were drawn into this bucket, any status.
    pub requests: u64,
    /// requests / the requests sent inside the window (the realised share of the mix).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share: f64,
    /// Prompt tokens of the bucket's successful requests whose engine reported cached tokens
    /// (the engine's count, else the tokens sent).
    pub prompt_tokens: u64,
    /// The engine's prefix-cache hit tokens (num_cached_tokens) of those requests, summed.
    pub cached_tokens: u64,
    /// cached_tokens / prompt_tokens: the share of the bucket's prompt tokens the engine's
    /// prefix cache served; null when no successful request of the bucket reported them.
    pub cache_hit_share: Option<f64>,
}

/// The realised `prefix_buckets` mix of the measured requests; empty without buckets.
fn prefix_bucket_mix(measured: &[&RequestRecord]) -> Vec<PrefixBucketMix> {
    let mut by: std::collections::BTreeMap<u16, PrefixBucketMix> = Default::default();
    for r in measured {
        let Some(b) = r.prefix_bucket else { continue };
        let m = by.entry(b).or_insert_with(|| PrefixBucketMix {
            bucket: b,
            ..Default::default()
        });
        m.requests += 1;
        if let (Status::Successful, Some(c)) = (r.status, r.cached_tokens) {
            m.prompt_tokens += u64::from(r.prompt_tokens.unwrap_or(r.prompt_tokens_sent));
            m.cached_tokens += u64::from(c);
        }
    }
    let n = measured.len().max(1) as f64;
    by.into_values()
        .map(|mut m| {
            m.share = m.requests as f64 / n;
            m.cache_hit_share =
                (m.prompt_tokens > 0).then(|| m.cached_tokens as f64 / m.prompt_tokens as f64);
            m
        })
        .collect()
}

/// Statistics of one benchmark over its measurement window `[ws, we]` (docs/metrics.md):
/// rates credit each token *event* inside the window, so a request straddling a window edge
/// contributes only its in-window tokens; distributions use the requests sent inside it.
pub fn summarize(records: &[RequestRecord], ws: u64, we: u64) -> Summary {
    summarize_with(records, ws, we, None, None)
}

/// `summarize`, with SLO attainment and goodput when `slo` is given.
pub fn summarize_with_slo(
    records: &[RequestRecord],
    ws: u64,
    we: u64,
    slo: Option<&Slo>,
) -> Summary {
    summarize_with(records, ws, we, slo, None)
}

/// `summarize`, with SLO attainment and goodput when `slo` is given and confidence intervals
/// when `confidence` is (docs/metrics.md, "Confidence intervals").
pub fn summarize_with(
    records: &[RequestRecord],
    ws: u64,
    we: u64,
    slo: Option<&Slo>,
    confidence: Option<&Confidence>,
) -> Summary {
    let inside = |t: Option<u64>| t.is_some_and(|t| t >= ws && t <= we);
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| inside(r.t.sent)).collect();
    let mut d = Dists {
        capped: measured.iter().any(|r| r.t.admitted.is_some()),
        ..Dists::default()
    };
    for r in &measured {
        d.request(r);
    }
    let rt = Rates::of(records, ws, we);
    let per_s = |x: f64| {
        if rt.duration_s > 0.0 {
            x / rt.duration_s
        } else {
            0.0
        }
    };
    let status = |p: &str| StatusSummary {
        ttft_ms: d.get(&format!("{p}ttft")),
        request_latency_ms: d.get(&format!("{p}latency")),
        prompt_tokens: d.get(&format!("{p}prompt")),
        output_tokens: d.get(&format!("{p}output")),
    };
    let mut s = Summary {
        duration_s: rt.duration_s,
        requests_per_second: per_s(rt.completed as f64),
        output_tokens_per_second: per_s(rt.out_tokens as f64),
        input_tokens_per_second: per_s(rt.in_tokens as f64),
        total_tokens_per_second: per_s((rt.in_tokens + rt.out_tokens) as f64),
        concurrency: per_s(rt.busy_ns / 1e9),
        output_tokens_total: rt.out_tokens,
        requests: counts(&measured),
        itl_ms: d.itl.finish(),
        dispatch_lag_us: d.get("dispatch_lag"),
        cap_wait: d.capped.then(|| CapWait {
            delayed: d.get("cap_wait").count,
            share: d.get("cap_wait").count as f64 / measured.len().max(1) as f64,
            wait_ms: d.get("cap_wait"),
        }),
        stages_ms: Stages {
            cap_wait: d.get("stage.cap_wait"),
            dispatch: d.get("stage.dispatch"),
            handover: d.get("stage.handover"),
            queue: d.get("stage.queue"),
            prefill: d.get("stage.prefill"),
            decode: d.get("stage.decode"),
            delivery: d.get("stage.delivery"),
        },
        incomplete: status("incomplete."),
        errored: status("errored."),
        slo: slo.map(|s| slo::slo_summary(s, records, &measured, ws, we, rt.duration_s)),
        prefix_buckets: prefix_bucket_mix(&measured),
        ..Default::default()
    };
    for (name, _) in PER_REQUEST {
        *per_request_mut(&mut s, name) = d.get(name);
    }
    s.conversations = turns::summarize(records, &measured);
    if let Some(c) = confidence {
        interval::attach(&mut s, records, &measured, (ws, we), &d.itl, slo, c);
    }
    s
}

/// A value a successful request has once (None: it has none, e.g. TPOT of one token).
type PerRequest = fn(&RequestRecord) -> Option<f64>;

/// The summary's distributions of one value per successful request, by their names in the
/// summary (`itl_ms`, every gap, is apart). The one place their values are defined: the
/// summary and the confidence intervals both read them from here.
pub(crate) const PER_REQUEST: [(&str, PerRequest); 10] = [
    ("prompt_tokens", |r| {
        Some(r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as f64)
    }),
    ("output_tokens", |r| Some(r.output_tokens as f64)),
    ("cached_tokens", |r| r.cached_tokens.map(f64::from)),
    ("preemptions", |r| Some(r.preemptions as f64)),
    ("ttft_ms", |r| r.ttft_ns().map(ms)),
    ("ttft_from_scheduled_ms", |r| {
        span(r.t.scheduled, r.t.first_token)
    }),
    ("tpot_ms", |r| {
        let t = &r.t;
        (r.output_tokens > 1)
            .then(|| span(t.first_token, t.last_token).map(|d| d / (r.output_tokens - 1) as f64))
            .flatten()
    }),
    ("tpot_incl_ttft_ms", |r| {
        (r.output_tokens > 0)
            .then(|| span(r.t.sent, r.t.last_token).map(|d| d / r.output_tokens as f64))
            .flatten()
    }),
    ("request_latency_ms", |r| r.latency_ns().map(ms)),
    ("latency_from_scheduled_ms", |r| {
        span(r.t.scheduled, r.t.end)
    }),
];

/// The summary's distribution `PER_REQUEST` names `name`.
pub(crate) fn per_request_mut<'a>(s: &'a mut Summary, name: &str) -> &'a mut Distribution {
    match name {
        "prompt_tokens" => &mut s.prompt_tokens,
        "output_tokens" => &mut s.output_tokens,
        "cached_tokens" => &mut s.cached_tokens,
        "preemptions" => &mut s.preemptions,
        "ttft_ms" => &mut s.ttft_ms,
        "ttft_from_scheduled_ms" => &mut s.ttft_from_scheduled_ms,
        "tpot_ms" => &mut s.tpot_ms,
        "tpot_incl_ttft_ms" => &mut s.tpot_incl_ttft_ms,
        "request_latency_ms" => &mut s.request_latency_ms,
        "latency_from_scheduled_ms" => &mut s.latency_from_scheduled_ms,
        other => unreachable!("{other} is not in PER_REQUEST"),
    }
}

fn counts(measured: &[&RequestRecord]) -> Counts {
    let mut c = Counts::default();
    for r in measured {
        match r.status {
            Status::Successful => c.successful += 1,
            Status::Incomplete => c.incomplete += 1,
            Status::Errored => c.errored += 1,
        }
    }
    c
}

/// What the window's rates are made of.
struct Rates {
    duration_s: f64,
    /// Successful requests that ended in the window.
    completed: usize,
    /// Output tokens of the token events in the window.
    out_tokens: u64,
    /// Prompt tokens of the requests whose first token came in the window.
    in_tokens: u64,
    /// The in-flight intervals [sent, end] clipped to the window, summed (ns).
    busy_ns: f64,
}

impl Rates {
    fn of(records: &[RequestRecord], ws: u64, we: u64) -> Rates {
        let inside = |t: Option<u64>| t.is_some_and(|t| t >= ws && t <= we);
        Rates {
            duration_s: we.saturating_sub(ws) as f64 / 1e9,
            completed: records
                .iter()
                .filter(|r| r.status == Status::Successful && inside(r.t.end))
                .count(),
            out_tokens: records
                .iter()
                .flat_map(|r| r.token_events.iter())
                .filter(|(t, _)| *t >= ws && *t <= we)
                .map(|(_, n)| n as u64)
                .sum(),
            in_tokens: records
                .iter()
                .filter(|r| inside(r.t.first_token))
                .map(|r| r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as u64)
                .sum(),
            busy_ns: records
                .iter()
                .filter_map(|r| {
                    let (a, b) = (r.t.sent?.max(ws), r.t.end?.min(we));
                    Some(b.saturating_sub(a) as f64)
                })
                .sum(),
        }
    }
}

/// The distributions of one benchmark, by name; `incomplete.`/`errored.` prefix the names of
/// requests that did not succeed (kept apart from the successful ones).
#[derive(Default)]
struct Dists {
    acc: std::collections::HashMap<String, Acc>,
    itl: Acc,
    /// Some request waited under `max_concurrency`: the stages get `cap_wait`.
    capped: bool,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn span(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    Some(ms(b?.checked_sub(a?)?))
}

impl Dists {
    fn rec(&mut self, k: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.acc.entry(k.to_string()).or_default().record(v);
        }
    }

    fn get(&self, k: &str) -> Distribution {
        self.acc.get(k).map(Acc::finish).unwrap_or_default()
    }

    fn request(&mut self, r: &RequestRecord) {
        let t = &r.t;
        let ready = t.admitted.or(t.scheduled);
        let lag = t.sent.unwrap_or(0).saturating_sub(ready.unwrap_or(0));
        self.rec("dispatch_lag", Some(lag as f64 / 1e3));
        if t.admitted.is_some() {
            self.rec("cap_wait", span(t.scheduled, t.admitted));
        }
        let prefix = match r.status {
            Status::Successful => return self.successful(r),
            Status::Incomplete => "incomplete.",
            Status::Errored => "errored.",
        };
        self.rec(&format!("{prefix}ttft"), r.ttft_ns().map(ms));
        self.rec(&format!("{prefix}latency"), r.latency_ns().map(ms));
        let prompt = r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as f64;
        self.rec(&format!("{prefix}prompt"), Some(prompt));
        self.rec(&format!("{prefix}output"), Some(r.output_tokens as f64));
    }

    fn successful(&mut self, r: &RequestRecord) {
        for (name, value) in PER_REQUEST {
            self.rec(name, value(r));
        }
        self.stages(&r.t);
        let itl = &mut self.itl;
        r.itl_gaps(|g, n| itl.record_n(g / 1e6, n));
    }

    /// Where the time went, only for a complete chain, so that the stages add up.
    fn stages(&mut self, t: &Timestamps) {
        let chain = [
            t.scheduled,
            t.sent,
            t.engine_queued,
            t.engine_scheduled,
            t.engine_first_token,
            t.engine_last_token,
            t.end,
        ];
        if !chain.iter().all(Option::is_some) {
            return;
        }
        let ready = t.admitted.or(t.scheduled);
        if self.capped {
            self.rec("stage.cap_wait", span(t.scheduled, ready));
        }
        self.rec("stage.dispatch", span(ready, t.sent));
        self.rec("stage.handover", span(t.sent, t.engine_queued));
        self.rec("stage.queue", span(t.engine_queued, t.engine_scheduled));
        self.rec(
            "stage.prefill",
            span(t.engine_scheduled, t.engine_first_token),
        );
        self.rec(
            "stage.decode",
            span(t.engine_first_token, t.engine_last_token),
        );
        self.rec("stage.delivery", span(t.engine_last_token, t.end));
    }
}

/// `Distribution`: `p99_9` or the older name `p999` (reports written before `p99_9`).
fn distribution_accepts_p999(s: &mut schemars::Schema) {
    use serde_json::{json, Value};
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        let note = props
            .get("p99_9")
            .and_then(|p| p.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace("99.9th percentile.", "");
        props.insert(
            "p999".into(),
            json!({
                "type": "number",
                "description": format!("99.9th percentile, the name reports written before `p99_9` used (deprecated: read `p99_9` when present).{note}"),
            }),
        );
    }
    if let Some(req) = s.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|k| k != "p99_9");
    }
    s.insert(
        "anyOf".into(),
        json!([{"required": ["p99_9"]}, {"required": ["p999"]}]),
    );
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
            stop_reason: None,
            preemptions: 0,
            t: Timestamps {
                scheduled: Some(0),
                sent: Some(10),
                first_token: events.first().map(|e| e.0),
                last_token: events.last().map(|e| e.0),
                end: events.last().map(|e| e.0),
                ..Default::default()
            },
            token_events: events.iter().copied().collect(),
            prefix_bucket: None,
            turn: None,
        }
    }

    #[test]
    fn prefix_bucket_mix_counts_every_measured_request_and_caches_of_successful_ones() {
        let mk = |bucket: u16, prompt: u32, cached: Option<u32>, status: Status| RequestRecord {
            prefix_bucket: Some(bucket),
            prompt_tokens: Some(prompt),
            cached_tokens: cached,
            status,
            ..rec(&[(20, 1), (30, 1)])
        };
        let records = vec![
            mk(0, 300, Some(0), Status::Successful),
            mk(0, 300, Some(256), Status::Successful),
            mk(0, 300, Some(256), Status::Successful),
            mk(1, 100, Some(0), Status::Successful),
            mk(1, 100, Some(99), Status::Errored),
        ];
        let s = summarize(&records, 0, 1_000);
        assert_eq!(
            s.prefix_buckets,
            vec![
                PrefixBucketMix {
                    bucket: 0,
                    requests: 3,
                    share: 0.6,
                    prompt_tokens: 900,
                    cached_tokens: 512,
                    cache_hit_share: Some(512.0 / 900.0),
                },
                PrefixBucketMix {
                    bucket: 1,
                    requests: 2,
                    share: 0.4,
                    prompt_tokens: 100,
                    cached_tokens: 0,
                    cache_hit_share: Some(0.0),
                },
            ]
        );
        // Without buckets there is no mix (and the report has no key).
        assert!(summarize(&[rec(&[(20, 1)])], 0, 1_000)
            .prefix_buckets
            .is_empty());
    }

    #[test]
    fn token_events_are_stored_compactly_and_exactly() {
        let ev = vec![
            (5u64, 1u32),
            (10, 3),
            (10 + 5_000_000_000, 1),
            (10 + 5_000_000_007, 2),
            (10 + 5_000_000_008, 1),
        ];
        let t: TokenEvents = ev.iter().copied().collect();
        assert_eq!(t.iter().collect::<Vec<_>>(), ev);
        assert_eq!(t.len(), 5);
        assert_eq!((t.long.len(), t.multi.len()), (1, 2));
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
    fn percentiles_within_a_thousandth_and_exact_moments() {
        let d = Distribution::from_values((1..=100).map(|x| x as f64).collect());
        let close = |a: f64, b: f64| (a - b).abs() <= b * 1e-3;
        assert_eq!((d.min, d.max, d.count), (1.0, 100.0, 100));
        assert!(
            close(d.median, 50.0) && close(d.p90, 90.0) && close(d.p99, 99.0),
            "{d:?}"
        );
        assert!((d.mean - 50.5).abs() < 1e-12, "mean is exact");
        // Constant memory whatever the count: a million samples.
        let mut a = Acc::default();
        for i in 0..1_000_000u64 {
            a.record((i % 1000) as f64 * 0.01);
        }
        let d = a.finish();
        assert_eq!(d.count, 1_000_000);
        assert!(
            (d.p50 - 5.0).abs() < 0.011 && (d.p99_9 - 9.99).abs() < 0.011,
            "{d:?}"
        );
    }

    #[test]
    fn summary_counts_statuses_and_rates() {
        let mut a = rec(&[(100, 1), (200, 1)]);
        let mut b = a.clone();
        b.status = Status::Incomplete;
        b.output_tokens = 1;
        b.token_events = a.token_events.iter().take(1).collect();
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
        let w = window::Window {
            warmup: Some(window::Amount::Absolute(2.5)),
            cooldown: Some(window::Amount::Absolute(2.5)),
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
        let w = window::Window {
            warmup: Some(window::Amount::Fraction(0.2)),
            cooldown: Some(window::Amount::Absolute(2.0)),
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
