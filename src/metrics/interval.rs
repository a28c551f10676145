//! Confidence intervals (docs/metrics.md, "Confidence intervals"): how precisely one benchmark
//! located each figure it reports.
//!
//! - Distributions of successful requests (TTFT, latency, TPOT, token counts, …): a seeded
//!   percentile bootstrap **by request**. One resample draws N requests with replacement from
//!   the N measured ones and recomputes every distribution's mean and percentiles from them;
//!   1,000 resamples; the interval runs between the resamples' α/2 and 1 − α/2 quantiles.
//! - `itl_ms` pools every gap of every request, and the gaps of one request are not
//!   independent (one slow request makes all its gaps slow), so its resamples are of requests
//!   too, never of gaps. Its mean is recomputed from the resampled requests' gap sums and
//!   counts; its percentiles by Woodruff's method: the bootstrap (by request) gives the spread
//!   of the share of gaps at or below the estimate, and that spread, read back through the
//!   pooled distribution, gives the bounds. Recomputing a pooled percentile from scratch would
//!   cost every gap on every resample (a 20,000-request run of 128-token outputs: 2.5 billion
//!   steps); this costs 11 sums over the requests.
//! - Rates and concurrency: batch means. The window is cut into 10 equal spans, the figure is
//!   computed in each, and a t interval (9 degrees of freedom) is put around their mean, which
//!   is the figure itself. Resampling requests would say nothing about a rate: the count of
//!   requests is what a rate measures.
//! - SLO attainment: the Wilson score interval, GuideLLM's own (`statistics::wilson_interval`).
//!
//! Cost: one resample is N draws plus one pass over the requests per distribution, so a
//! summary costs about 1,000 × 12 × N simple steps (docs/metrics.md gives the measured time).
//! Every random draw flows from the run's `--random-seed` and the benchmark's index, so the same
//! records give the same intervals.

use super::statistics::{t_ppf, wilson_interval};
use super::{Acc, Distribution, RequestRecord, Status, Summary, PER_REQUEST};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per benchmark.
pub const RESAMPLES: usize = 1000;
/// Fewest requests a distribution needs for an interval: below this a bootstrap cannot show
/// the spread the next requests would bring (its intervals come out too narrow).
pub const MIN_REQUESTS: usize = 20;
/// Spans the window is cut into for the rates' batch means.
pub const RATE_BATCHES: usize = 10;

/// The quantiles a `Distribution` reports, in field order (`p0_1` … `p99_9`).
pub const QUANTILES: [f64; 11] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999,
];

/// What intervals are computed at: the level, and where the bootstrap's draws come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    /// Two-sided confidence level, in (0.5, 1).
    pub level: f64,
    /// The run's `--random-seed`.
    pub seed: u64,
    /// The benchmark's index: each benchmark draws its own stream.
    pub stream: u64,
}

/// A two-sided confidence interval at the run's level (`llmbench_config.confidence.level`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// Half the width: the `±` the console prints.
    pub fn half_width(&self) -> f64 {
        (self.hi - self.lo) / 2.0
    }

    /// Widened, if need be, to contain `x` (a percentile's histogram rounding, at most 0.1%,
    /// can put the estimate just outside the bounds the exact values give).
    fn containing(self, x: f64) -> Interval {
        Interval {
            lo: self.lo.min(x),
            hi: self.hi.max(x),
        }
    }
}

/// Intervals of a distribution's mean and percentiles, under the statistics' names. A
/// statistic without one is absent: too few requests (fewer than 20), or a percentile too far
/// in the tail for the sample to put observations on both sides of it (docs/metrics.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DistributionCi {
    /// Interval of `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Interval>,
    /// Interval of `p0_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p0_1: Option<Interval>,
    /// Interval of `p1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p1: Option<Interval>,
    /// Interval of `p5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p5: Option<Interval>,
    /// Interval of `p10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p10: Option<Interval>,
    /// Interval of `p25`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<Interval>,
    /// Interval of `p50` (and `median`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<Interval>,
    /// Interval of `p75`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<Interval>,
    /// Interval of `p90`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<Interval>,
    /// Interval of `p95`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<Interval>,
    /// Interval of `p99`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<Interval>,
    /// Interval of `p99_9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<Interval>,
}

impl DistributionCi {
    /// The percentile intervals in `QUANTILES` order.
    pub fn percentiles(&self) -> [Option<Interval>; 11] {
        [
            self.p0_1, self.p1, self.p5, self.p10, self.p25, self.p50, self.p75, self.p90,
            self.p95, self.p99, self.p99_9,
        ]
    }

    fn set_percentiles(&mut self, v: [Option<Interval>; 11]) {
        [
            self.p0_1, self.p1, self.p5, self.p10, self.p25, self.p50, self.p75, self.p90,
            self.p95, self.p99, self.p99_9,
        ] = v;
    }
}

impl Distribution {
    /// The distribution's percentiles in `QUANTILES` order.
    pub fn percentiles(&self) -> [f64; 11] {
        [
            self.p0_1, self.p1, self.p5, self.p10, self.p25, self.p50, self.p75, self.p90,
            self.p95, self.p99, self.p99_9,
        ]
    }
}

/// Intervals of the summary's rates (batch means), under their names; absent ones are
/// explained in `notes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SummaryCi {
    /// Interval of `requests_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<Interval>,
    /// Interval of `output_tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_second: Option<Interval>,
    /// Interval of `input_tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_per_second: Option<Interval>,
    /// Interval of `total_tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens_per_second: Option<Interval>,
    /// Interval of `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Interval>,
    /// Why figures of this benchmark that could carry an interval do not, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Intervals of the SLO summary's figures, under their names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SloCi {
    /// Wilson score interval of `attainment`; absent when nothing was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attainment: Option<Interval>,
    /// Batch-means interval of `goodput_requests_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_requests_per_second: Option<Interval>,
    /// Batch-means interval of `goodput_output_tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_output_tokens_per_second: Option<Interval>,
}

/// The interval of one target's attainment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetCi {
    /// Wilson score interval of `attainment`; absent when nothing was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attainment: Option<Interval>,
}

/// How a run's intervals were computed, recorded once in the report
/// (`llmbench_config.confidence`; absent when intervals were turned off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfidenceConfig {
    /// Two-sided confidence level of every interval.
    pub level: f64,
    /// Bootstrap resamples per benchmark (each of N requests drawn with replacement; the
    /// draws seeded from `random_seed` and the benchmark's index).
    pub resamples: u32,
    /// Fewest requests a distribution needs for an interval.
    pub min_requests: u32,
    /// Spans the measurement window is cut into for the rates' batch means.
    pub rate_batches: u32,
    /// The methods, in one sentence (docs/metrics.md, "Confidence intervals").
    pub method: String,
}

impl ConfidenceConfig {
    pub fn new(level: f64) -> ConfidenceConfig {
        ConfidenceConfig {
            level,
            resamples: RESAMPLES as u32,
            min_requests: MIN_REQUESTS as u32,
            rate_batches: RATE_BATCHES as u32,
            method: "distributions: percentile bootstrap by request (itl_ms percentiles: \
                     Woodruff's method over the same resamples); rates and goodput: batch means \
                     with a t interval; attainment: Wilson score"
                .into(),
        }
    }
}

/// Whether `n` observations can put one on each side of quantile `q` at `level` (GuideLLM's
/// rule for its order-statistic intervals): at 95%, p95 needs 72, p99 368, p99.9 3,688.
pub fn percentile_supported(n: u64, q: f64, level: f64) -> bool {
    let tail = (1.0 - level) / 2.0;
    let n = n as f64;
    q.powf(n) <= tail && (1.0 - q).powf(n) <= tail
}

/// The `p` quantile of sorted values, interpolated between neighbours.
fn quantile_of_sorted(v: &[f64], p: f64) -> f64 {
    let h = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, f) = (h.floor() as usize, h.fract());
    if i + 1 < v.len() {
        v[i] + f * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// The percentile-bootstrap interval of a statistic from its resampled values.
fn ends(mut v: Vec<f64>, level: f64) -> Option<(f64, f64)> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let a = (1.0 - level) / 2.0;
    Some((quantile_of_sorted(&v, a), quantile_of_sorted(&v, 1.0 - a)))
}

/// The resampled statistics of one distribution: its mean, then each quantile (for `itl_ms`,
/// each quantile's share deviation, below).
#[derive(Default)]
struct Resampled {
    mean: Vec<f64>,
    q: [Vec<f64>; 11],
}

impl Resampled {
    /// Another chunk's resamples after these.
    fn extend(&mut self, other: Resampled) {
        self.mean.extend(other.mean);
        for (a, b) in self.q.iter_mut().zip(other.q) {
            a.extend(b);
        }
    }
}

/// One distribution of one value per request, sorted once: a resample is then a pass over
/// it with each request weighted by how often it was drawn.
struct PerRequestMetric {
    /// (request's position among the measured successful ones, value), by value.
    sorted: Vec<(u32, f64)>,
    /// Every request has a value (so a resample's count is N).
    all: bool,
}

impl PerRequestMetric {
    /// Its members sorted by value (`values`: a request's position and its value).
    fn new(values: impl Iterator<Item = (u32, f64)>, n: usize) -> PerRequestMetric {
        let mut sorted: Vec<(u32, f64)> = values
            .map(|(i, v)| (i, v.max(0.0)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        sorted.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
        PerRequestMetric {
            all: sorted.len() == n,
            sorted,
        }
    }

    fn resample(&self, counts: &[u32], out: &mut Resampled) {
        let total: u64 = if self.all {
            counts.len() as u64
        } else {
            self.sorted
                .iter()
                .map(|&(i, _)| counts[i as usize] as u64)
                .sum()
        };
        if total == 0 {
            return;
        }
        // The rank of each quantile as the histogram takes it: the first value whose
        // cumulative count reaches ⌈q·total⌉ (at least 1).
        let ranks = QUANTILES.map(|q| ((q * total as f64).ceil() as u64).max(1));
        // No branch on a request not drawn (a third of them, at random): adding 0 changes
        // nothing, and a mispredicted branch costs more than the addition.
        let (mut cum, mut sum, mut j) = (0u64, 0.0, 0usize);
        for &(i, v) in &self.sorted {
            let k = counts[i as usize];
            cum += k as u64;
            sum += k as f64 * v;
            while j < ranks.len() && cum >= ranks[j] {
                out.q[j].push(v);
                j += 1;
            }
        }
        out.mean.push(sum / total as f64);
    }

    /// The intervals of `d` (this metric's distribution) from its resamples, None with too few
    /// requests.
    fn intervals(&self, out: Resampled, d: &Distribution, level: f64) -> Option<DistributionCi> {
        let members = self.sorted.len() as u64;
        if (members as usize) < MIN_REQUESTS || d.count == 0 {
            return None;
        }
        let mut ci = DistributionCi {
            mean: interval(out.mean, level, d.mean),
            ..Default::default()
        };
        let est = d.percentiles();
        let mut pct = [None; 11];
        for (j, v) in out.q.into_iter().enumerate() {
            if percentile_supported(members, QUANTILES[j], level) {
                pct[j] = interval(v, level, est[j]);
            }
        }
        ci.set_percentiles(pct);
        Some(ci)
    }
}

/// `itl_ms`, pooled over requests: per request its gap count, gap sum, and for each quantile
/// how many of its gaps are at or below the estimate.
struct ItlMetric {
    /// (gaps, gaps at or below each quantile's estimate) per request.
    counts: Vec<(u64, [u32; 11])>,
    sum: Vec<f64>,
    /// The estimate's own share of gaps at or below it, per quantile.
    share: [f64; 11],
}

impl ItlMetric {
    fn new(ok: &[&RequestRecord], itl: &Acc) -> ItlMetric {
        let at = QUANTILES.map(|q| itl.h.value_at_quantile(q));
        let mut m = ItlMetric {
            counts: Vec::with_capacity(ok.len()),
            sum: Vec::with_capacity(ok.len()),
            share: [0.0; 11],
        };
        let (mut total, mut below_total) = (0u64, [0u64; 11]);
        for r in ok {
            let (mut n, mut sum, mut below) = (0u64, 0.0, [0u32; 11]);
            r.itl_gaps(|g, k| {
                // As `Acc::record_n` records it.
                let v = (g / 1e6).max(0.0);
                if k == 0 || !v.is_finite() {
                    return;
                }
                n += k;
                sum += v * k as f64;
                let scaled = (v * Acc::SCALE).round() as u64;
                for (b, a) in below.iter_mut().zip(&at) {
                    if scaled <= *a {
                        *b += k as u32;
                    }
                }
            });
            total += n;
            for (t, b) in below_total.iter_mut().zip(below) {
                *t += b as u64;
            }
            m.counts.push((n, below));
            m.sum.push(sum);
        }
        if total > 0 {
            m.share = below_total.map(|b| b as f64 / total as f64);
        }
        m
    }

    /// The resample's mean gap, and for each quantile its share of gaps at or below the
    /// estimate less the estimate's own (Woodruff's deviation).
    fn resample(&self, counts: &[u32], out: &mut Resampled) {
        let (mut n, mut sum, mut below) = (0u64, 0.0, [0u64; 11]);
        for (i, &c) in counts.iter().enumerate() {
            let (gaps, b) = &self.counts[i];
            n += c as u64 * gaps;
            sum += c as f64 * self.sum[i];
            for (t, x) in below.iter_mut().zip(b) {
                *t += c as u64 * *x as u64;
            }
        }
        if n == 0 {
            return;
        }
        out.mean.push(sum / n as f64);
        for ((q, b), share) in out.q.iter_mut().zip(below).zip(self.share) {
            q.push(b as f64 / n as f64 - share);
        }
    }
}

/// Bootstrap intervals of every distribution of the successful requests `ok` (in the order
/// `PER_REQUEST` lists them, then `itl_ms`), written into `s`.
fn distributions(s: &mut Summary, ok: &[&RequestRecord], itl: &Acc, c: &Confidence) {
    let n = ok.len();
    if n < MIN_REQUESTS {
        return;
    }
    let metrics: Vec<PerRequestMetric> = PER_REQUEST
        .iter()
        .map(|(_, f)| {
            let values = ok.iter().enumerate();
            PerRequestMetric::new(values.filter_map(|(i, r)| Some((i as u32, f(r)?))), n)
        })
        .collect();
    let gaps = ItlMetric::new(ok, itl);
    // One output per distribution, `itl_ms`'s last.
    let outs = bootstrap(n, c, metrics.len() + 1, |counts, outs| {
        for (m, out) in metrics.iter().zip(outs.iter_mut()) {
            if m.sorted.len() >= MIN_REQUESTS {
                m.resample(counts, out);
            }
        }
        gaps.resample(counts, &mut outs[metrics.len()]);
    });
    let mut outs = outs.into_iter();
    for ((name, _), m) in PER_REQUEST.iter().zip(&metrics) {
        let d = super::per_request_mut(s, name);
        d.ci = m.intervals(outs.next().expect("one per metric"), d, c.level);
    }
    let itl_out = outs.next().expect("itl_ms's");
    itl_intervals(&mut s.itl_ms, itl_out, itl, c.level);
}

/// Resamples are drawn in this many chunks, each from its own stream, whatever the machine:
/// the chunks run on up to this many threads, and the intervals do not depend on how many.
const CHUNKS: u64 = 4;

/// `RESAMPLES` resamples of `n` requests, drawn with replacement from `c`'s streams: `each`
/// gets how many times each request was drawn, and `outputs` statistics' outputs to add to.
/// The outputs, every chunk's in chunk order.
fn bootstrap(
    n: usize,
    c: &Confidence,
    outputs: usize,
    each: impl Fn(&[u32], &mut [Resampled]) + Sync,
) -> Vec<Resampled> {
    let chunk = |k: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        rng.set_stream(c.stream * CHUNKS + k);
        let mut outs: Vec<Resampled> = (0..outputs).map(|_| Resampled::default()).collect();
        let mut counts = vec![0u32; n];
        // u32 draws: half the generator's output a usize range would take.
        let n32 = n as u32;
        for _ in 0..RESAMPLES as u64 / CHUNKS {
            counts.fill(0);
            for _ in 0..n {
                counts[rng.gen_range(0..n32) as usize] += 1;
            }
            each(&counts, &mut outs);
        }
        outs
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunks: Vec<Vec<Resampled>> = if threads > 1 && n >= 1000 {
        std::thread::scope(|sc| {
            let handles: Vec<_> = (0..CHUNKS).map(|k| sc.spawn(move || chunk(k))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a bootstrap chunk does not panic"))
                .collect()
        })
    } else {
        (0..CHUNKS).map(chunk).collect()
    };
    let mut all: Vec<Resampled> = (0..outputs).map(|_| Resampled::default()).collect();
    for outs in chunks {
        for (a, b) in all.iter_mut().zip(outs) {
            a.extend(b);
        }
    }
    all
}

fn interval(v: Vec<f64>, level: f64, estimate: f64) -> Option<Interval> {
    ends(v, level).map(|(lo, hi)| Interval { lo, hi }.containing(estimate))
}

/// `itl_ms`'s intervals: the mean's from its resamples; each percentile's by Woodruff's
/// method, the resampled shares' spread (`out.q`) read back through the pooled histogram.
fn itl_intervals(d: &mut Distribution, out: Resampled, itl: &Acc, level: f64) {
    if d.count == 0 {
        return;
    }
    let mut ci = DistributionCi {
        mean: interval(out.mean, level, d.mean),
        ..Default::default()
    };
    let est = d.percentiles();
    let value_at = |p: f64| {
        (itl.h.value_at_quantile(p.clamp(0.0, 1.0)) as f64 / Acc::SCALE).clamp(itl.min, itl.max)
    };
    let mut pct = [None; 11];
    for (j, dev) in out.q.into_iter().enumerate() {
        let q = QUANTILES[j];
        if !percentile_supported(d.count, q, level) {
            continue;
        }
        pct[j] = ends(dev, level).map(|(lo, hi)| {
            Interval {
                lo: value_at(q + lo),
                hi: value_at(q + hi),
            }
            .containing(est[j])
        });
    }
    ci.set_percentiles(pct);
    d.ci = Some(ci);
}

/// What the window's rates are made of, span by span.
#[derive(Default, Clone)]
struct Spans {
    completed: Vec<f64>,
    out_tokens: Vec<f64>,
    in_tokens: Vec<f64>,
    busy_s: Vec<f64>,
}

/// The window `[ws, we]` cut into `RATE_BATCHES` spans.
struct Window {
    ws: u64,
    we: u64,
    span_ns: f64,
}

impl Window {
    fn span_of(&self, t: u64) -> Option<usize> {
        (t >= self.ws && t <= self.we)
            .then(|| (((t - self.ws) as f64 / self.span_ns) as usize).min(RATE_BATCHES - 1))
    }

    /// Each request's completion, token events, prompt tokens and time in flight, by span.
    fn spans<'a>(&self, records: impl Iterator<Item = &'a RequestRecord>) -> Spans {
        let z = vec![0.0; RATE_BATCHES];
        let mut s = Spans {
            completed: z.clone(),
            out_tokens: z.clone(),
            in_tokens: z.clone(),
            busy_s: z,
        };
        for r in records {
            if r.status == Status::Successful {
                if let Some(b) = r.t.end.and_then(|t| self.span_of(t)) {
                    s.completed[b] += 1.0;
                }
            }
            for (t, n) in r.token_events.iter() {
                if let Some(b) = self.span_of(t) {
                    s.out_tokens[b] += n as f64;
                }
            }
            if let Some(b) = r.t.first_token.and_then(|t| self.span_of(t)) {
                s.in_tokens[b] += r.prompt_tokens.unwrap_or(r.prompt_tokens_sent) as f64;
            }
            if let (Some(a), Some(z)) = (r.t.sent, r.t.end) {
                let (a, z) = (a.max(self.ws), z.min(self.we));
                if z > a {
                    let (first, last) = (self.span_of(a), self.span_of(z));
                    for b in first.unwrap_or(0)..=last.unwrap_or(RATE_BATCHES - 1) {
                        let lo = self.ws as f64 + b as f64 * self.span_ns;
                        let hi = lo + self.span_ns;
                        let overlap = (z as f64).min(hi) - (a as f64).max(lo);
                        s.busy_s[b] += overlap.max(0.0) / 1e9;
                    }
                }
            }
        }
        s
    }

    /// The t interval of the mean of a figure's per-span rates (`per_span`, a count per span),
    /// containing `estimate`.
    fn batch_means(&self, per_span: &[f64], level: f64, estimate: f64) -> Interval {
        let k = per_span.len() as f64;
        let rates: Vec<f64> = per_span.iter().map(|x| x / (self.span_ns / 1e9)).collect();
        let mean = rates.iter().sum::<f64>() / k;
        let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (k - 1.0);
        let half = t_ppf((1.0 + level) / 2.0, k - 1.0) * (var / k).sqrt();
        Interval {
            lo: (mean - half).max(0.0),
            hi: mean + half,
        }
        .containing(estimate)
    }
}

/// Why the window's rates get no interval, if they get none: too few requests ended in it,
/// or spans shorter than a mean request (adjacent spans would share requests, and their
/// rates move together: the interval would be too narrow).
fn rates_unsupported(ended: usize, span_s: f64, mean_latency_s: f64) -> Option<String> {
    if ended < MIN_REQUESTS {
        return Some(format!(
            "rates and concurrency: no interval: {ended} successful requests ended in the window, fewer than {MIN_REQUESTS}"
        ));
    }
    (span_s < mean_latency_s).then(|| format!(
        "rates and concurrency: no interval: a tenth of the window ({span_s:.3} s) is shorter than the mean request latency ({mean_latency_s:.3} s); a longer benchmark gets one"
    ))
}

/// The intervals of the summary's rates and of its SLO figures.
fn rates(
    s: &mut Summary,
    records: &[RequestRecord],
    ws: u64,
    we: u64,
    c: &Confidence,
    slo: Option<&super::Slo>,
) {
    let mut ci = SummaryCi::default();
    let w = Window {
        ws,
        we,
        span_ns: we.saturating_sub(ws) as f64 / RATE_BATCHES as f64,
    };
    let sp = w.spans(records.iter());
    let ended = sp.completed.iter().sum::<f64>() as usize;
    let latency_s = s.request_latency_ms.mean / 1e3;
    let span_s = w.span_ns / 1e9;
    let why = rates_unsupported(ended, span_s, latency_s);
    let supported = why.is_none();
    ci.notes.extend(why);
    if supported {
        let total: Vec<f64> = sp
            .in_tokens
            .iter()
            .zip(&sp.out_tokens)
            .map(|(a, b)| a + b)
            .collect();
        ci.requests_per_second = Some(w.batch_means(&sp.completed, c.level, s.requests_per_second));
        ci.output_tokens_per_second =
            Some(w.batch_means(&sp.out_tokens, c.level, s.output_tokens_per_second));
        ci.input_tokens_per_second =
            Some(w.batch_means(&sp.in_tokens, c.level, s.input_tokens_per_second));
        ci.total_tokens_per_second =
            Some(w.batch_means(&total, c.level, s.total_tokens_per_second));
        ci.concurrency = Some(w.batch_means(&sp.busy_s, c.level, s.concurrency));
    }
    if s.requests.successful > 0 && (s.requests.successful as usize) < MIN_REQUESTS {
        ci.notes.push(format!(
            "distributions: no interval: {} successful requests were sent in the window, fewer than {MIN_REQUESTS}",
            s.requests.successful
        ));
    }
    if let (Some(o), Some(slo)) = (s.slo.as_mut(), slo) {
        let mut sc = SloCi {
            attainment: wilson(o.met, o.judged, c.level),
            ..Default::default()
        };
        for t in o.targets.values_mut() {
            t.ci = Some(TargetCi {
                attainment: wilson(t.met, o.judged, c.level),
            });
        }
        if supported {
            let good = records
                .iter()
                .filter(|r| r.status == Status::Successful && slo.met(r) == Some(true));
            let g = w.spans(good);
            sc.goodput_requests_per_second =
                Some(w.batch_means(&g.completed, c.level, o.goodput_requests_per_second));
            sc.goodput_output_tokens_per_second =
                Some(w.batch_means(&g.out_tokens, c.level, o.goodput_output_tokens_per_second));
        }
        o.ci = Some(sc);
    }
    s.ci = Some(ci);
}

/// The Wilson interval of `met` of `judged`, containing the share itself (GuideLLM's formula
/// gives 0.9999999999999999 as the upper bound of a share of 1).
fn wilson(met: u64, judged: u64, level: f64) -> Option<Interval> {
    (judged > 0).then(|| {
        let (lo, hi) = wilson_interval(met, judged, level);
        Interval { lo, hi }.containing(met as f64 / judged as f64)
    })
}

/// Every interval of the summary `s` of `records` over the window `[ws, we]`: the
/// distributions' from the successful requests sent in it (`measured`), the rates' and the
/// SLO's from the window. `itl` is the pooled gap histogram `s.itl_ms` came from.
pub(super) fn attach(
    s: &mut Summary,
    records: &[RequestRecord],
    measured: &[&RequestRecord],
    window: (u64, u64),
    itl: &Acc,
    slo: Option<&super::Slo>,
    c: &Confidence,
) {
    let ok: Vec<&RequestRecord> = measured
        .iter()
        .copied()
        .filter(|r| r.status == Status::Successful)
        .collect();
    distributions(s, &ok, itl, c);
    rates(s, records, window.0, window.1, c, slo);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{summarize_with, Timestamps};
    use rand_distr::{Distribution as _, Exp, LogNormal};

    const MS: u64 = 1_000_000;
    const TRIALS: u64 = 400;

    fn conf(trial: u64) -> Confidence {
        Confidence {
            level: 0.95,
            seed: 42,
            stream: trial,
        }
    }

    /// A successful request sent at `sent` ns whose tokens arrive at `events` (ns, one each).
    fn req(sent: u64, events: &[u64]) -> RequestRecord {
        RequestRecord {
            id: 0,
            status: Status::Successful,
            finish_reason: Some("length".into()),
            error: None,
            content_tokens: 4,
            prefix_tokens: 0,
            prompt_tokens_sent: 4,
            prompt_tokens: Some(4),
            output_tokens: events.len() as u32,
            max_tokens: None,
            cached_tokens: None,
            stop_reason: None,
            preemptions: 0,
            t: Timestamps {
                scheduled: Some(sent),
                sent: Some(sent),
                first_token: events.first().copied(),
                last_token: events.last().copied(),
                end: events.last().copied(),
                ..Default::default()
            },
            token_events: events.iter().map(|&t| (t, 1)).collect(),
            prefix_bucket: None,
            turn: None,
        }
    }

    /// The bootstrap intervals of one sample of per-request values, as `distributions` makes
    /// them for each of the summary's distributions.
    fn per_request(values: &[f64], c: &Confidence) -> DistributionCi {
        let n = values.len();
        let m = PerRequestMetric::new(values.iter().enumerate().map(|(i, v)| (i as u32, *v)), n);
        let out = bootstrap(n, c, 1, |counts, outs| m.resample(counts, &mut outs[0]));
        let out = out.into_iter().next().unwrap();
        assert_eq!(out.mean.len(), RESAMPLES);
        m.intervals(out, &Distribution::from_values(values.to_vec()), c.level)
            .expect("enough requests")
    }

    fn covers(i: Option<Interval>, x: f64) -> bool {
        i.is_some_and(|i| i.lo <= x && x <= i.hi)
    }

    /// Nominal 95%: covered in 90–99% of 400 trials (a binomial count's 95% range is about
    /// 371–389; the bootstrap runs a little under its level at n = 100).
    fn near_95(hits: u64, what: &str) {
        eprintln!("{what}: covered in {hits} of {TRIALS} trials");
        assert!(
            (360..=396).contains(&hits),
            "{what}: covered in {hits} of {TRIALS} trials"
        );
    }

    #[test]
    fn bootstrap_covers_the_mean_and_median_of_a_known_distribution_at_its_level() {
        // Exponential TTFTs, mean 10 ms: a skewed distribution, as latencies are.
        let exp = Exp::new(0.1).unwrap();
        let (mean, median, p90) = (10.0, 10.0 * 2f64.ln(), 10.0 * 10f64.ln());
        let (mut m, mut md, mut p) = (0, 0, 0);
        for trial in 0..TRIALS {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + trial);
            let v: Vec<f64> = (0..100).map(|_| exp.sample(&mut rng)).collect();
            let ci = per_request(&v, &conf(trial));
            m += covers(ci.mean, mean) as u64;
            md += covers(ci.p50, median) as u64;
            p += covers(ci.p90, p90) as u64;
            assert!(ci.p99.is_none(), "p99 needs 368 requests at 95%");
        }
        near_95(m, "mean");
        near_95(md, "median");
        near_95(p, "p90");
    }

    /// Requests whose gaps share the request's speed (a slow request is slow at every token),
    /// as an engine's are: `n` requests of `gaps` gaps each, ms.
    fn clustered(rng: &mut ChaCha8Rng, n: usize, gaps: usize) -> Vec<RequestRecord> {
        let speed = LogNormal::new(0.0, 0.5).unwrap();
        let jitter = LogNormal::new(0.0, 0.2).unwrap();
        (0..n)
            .map(|_| {
                let s = speed.sample(rng);
                let mut t = (100.0 * s * jitter.sample(rng) * MS as f64) as u64;
                let mut events = vec![t];
                for _ in 0..gaps {
                    t += (s * jitter.sample(rng) * MS as f64) as u64;
                    events.push(t);
                }
                req(0, &events)
            })
            .collect()
    }

    #[test]
    fn itl_resamples_requests_not_gaps_and_covers_at_its_level() {
        // log gap ~ N(0, 0.5² + 0.2²): pooled median 1 ms, mean e^(0.29/2) ms.
        let (mean, median) = ((0.29f64 / 2.0).exp(), 1.0);
        let (mut by_request, mut by_request_median, mut by_gap) = (0, 0, 0);
        for trial in 0..TRIALS {
            let mut rng = ChaCha8Rng::seed_from_u64(5000 + trial);
            let recs = clustered(&mut rng, 40, 20);
            let ok: Vec<&RequestRecord> = recs.iter().collect();
            let mut acc = Acc::default();
            let mut all = Vec::new();
            for r in &ok {
                r.itl_gaps(|g, n| acc.record_n(g / 1e6, n));
                r.itl_samples_ns(&mut all);
            }
            let mut d = acc.finish();
            let m = ItlMetric::new(&ok, &acc);
            let out = bootstrap(ok.len(), &conf(trial), 1, |counts, outs| {
                m.resample(counts, &mut outs[0])
            });
            itl_intervals(&mut d, out.into_iter().next().unwrap(), &acc, 0.95);
            let ci = d.ci.expect("intervals");
            by_request += covers(ci.mean, mean) as u64;
            by_request_median += covers(ci.p50, median) as u64;
            // What treating the 800 gaps as independent would give: a normal interval of the
            // mean with the gaps' own spread.
            let g: Vec<f64> = all.iter().map(|x| x / 1e6).collect();
            let gm = g.iter().sum::<f64>() / g.len() as f64;
            let sd =
                (g.iter().map(|x| (x - gm).powi(2)).sum::<f64>() / (g.len() - 1) as f64).sqrt();
            let half = 1.96 * sd / (g.len() as f64).sqrt();
            by_gap += ((gm - half..=gm + half).contains(&mean)) as u64;
        }
        near_95(by_request, "ITL mean, resampling requests");
        near_95(
            by_request_median,
            "ITL median, resampling requests (Woodruff)",
        );
        eprintln!("ITL mean, gaps taken as independent: covered in {by_gap} of {TRIALS} trials");
        assert!(
            by_gap < 250,
            "gaps taken as independent should cover far less often: {by_gap} of {TRIALS}"
        );
    }

    #[test]
    fn wilson_covers_attainment_at_its_level() {
        let mut hits = 0;
        for trial in 0..TRIALS {
            let mut rng = ChaCha8Rng::seed_from_u64(9000 + trial);
            let met = (0..60).filter(|_| rng.gen_bool(0.9)).count() as u64;
            hits += covers(wilson(met, 60, 0.95), 0.9) as u64;
        }
        near_95(hits, "attainment");
    }

    #[test]
    fn batch_means_cover_a_poisson_rate_at_its_level() {
        // Poisson arrivals at 50/s for 10 s, each request 40 ms long: requests_per_second.
        let (rate, secs) = (50.0, 10u64);
        let w = Window {
            ws: 0,
            we: secs * 1000 * MS,
            span_ns: (secs * 1000 * MS) as f64 / RATE_BATCHES as f64,
        };
        let mut hits = 0;
        for trial in 0..TRIALS {
            let mut rng = ChaCha8Rng::seed_from_u64(20_000 + trial);
            let gap = Exp::new(rate).unwrap();
            let mut t = 0.0;
            let mut recs = Vec::new();
            loop {
                t += gap.sample(&mut rng);
                let end = ((t + 0.04) * 1e9) as u64;
                if end > w.we {
                    break;
                }
                recs.push(req((t * 1e9) as u64, &[end]));
            }
            let sp = w.spans(recs.iter());
            let est = sp.completed.iter().sum::<f64>() / secs as f64;
            hits += covers(Some(w.batch_means(&sp.completed, 0.95, est)), rate) as u64;
        }
        near_95(hits, "requests per second");
    }

    #[test]
    fn the_summary_carries_intervals_seeded_and_around_its_estimates() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut recs = clustered(&mut rng, 300, 16);
        // Spread the requests over 3 s so that the rates get intervals too.
        for (i, r) in recs.iter_mut().enumerate() {
            let shift = i as u64 * 10 * MS;
            let ev: Vec<(u64, u32)> = r.token_events.iter().map(|(t, n)| (t + shift, n)).collect();
            r.token_events = ev.into_iter().collect();
            for t in [
                &mut r.t.scheduled,
                &mut r.t.sent,
                &mut r.t.first_token,
                &mut r.t.last_token,
                &mut r.t.end,
            ] {
                *t = t.map(|t| t + shift);
            }
        }
        let end = recs.iter().filter_map(|r| r.t.end).max().unwrap();
        let c = conf(3);
        let s = summarize_with(&recs, 0, end, None, Some(&c));
        for (name, d) in [
            ("ttft_ms", &s.ttft_ms),
            ("itl_ms", &s.itl_ms),
            ("tpot_ms", &s.tpot_ms),
            ("request_latency_ms", &s.request_latency_ms),
        ] {
            let ci =
                d.ci.as_ref()
                    .unwrap_or_else(|| panic!("{name}: no interval"));
            let m = ci.mean.unwrap();
            assert!(
                m.lo <= d.mean && d.mean <= m.hi && m.lo < m.hi,
                "{name}: {m:?} {}",
                d.mean
            );
            for (est, i) in d.percentiles().iter().zip(ci.percentiles()).skip(4).take(5) {
                let i = i.unwrap_or_else(|| panic!("{name}: p25…p95"));
                assert!(i.lo <= *est && *est <= i.hi, "{name}: {i:?} {est}");
            }
            assert!(
                ci.p99_9.is_none() || name == "itl_ms",
                "{name}: 300 requests bound no p99.9"
            );
        }
        let r = s.ci.as_ref().unwrap();
        let rps = r.requests_per_second.expect("a rate interval");
        assert!(rps.lo <= s.requests_per_second && s.requests_per_second <= rps.hi);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        // Seeded: the same records give the same intervals; the cached-token distribution
        // (no engine count here) has none.
        assert_eq!(summarize_with(&recs, 0, end, None, Some(&c)), s);
        assert!(s.cached_tokens.ci.is_none() && s.dispatch_lag_us.ci.is_none());
        let other = summarize_with(&recs, 0, end, None, Some(&conf(4)));
        assert_ne!(
            other.ttft_ms.ci, s.ttft_ms.ci,
            "another benchmark, another stream"
        );
        // Too few requests: no interval, and the summary says why.
        let few = summarize_with(&recs[..10], 0, end, None, Some(&c));
        assert!(few.ttft_ms.ci.is_none());
        assert!(few
            .ci
            .unwrap()
            .notes
            .iter()
            .any(|n| n.contains("fewer than 20")));
    }

    /// Not a test: the cost of the intervals on a 20,000-request benchmark of 128-token
    /// outputs (`BOOTSTRAP_COST_REQUESTS` for another count).
    /// `cargo test --release --lib bootstrap_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bootstrap_cost() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = std::env::var("BOOTSTRAP_COST_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let recs = clustered(&mut rng, n, 127);
        let end = recs.iter().filter_map(|r| r.t.end).max().unwrap();
        // CPU time of the whole process (every thread), beside the wall time: on a shared
        // machine the wall time says more about the neighbours.
        let cpu = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
            ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
        };
        let (t, c) = (std::time::Instant::now(), cpu());
        let plain = summarize_with(&recs, 0, end, None, None);
        let (without, without_cpu) = (t.elapsed(), cpu() - c);
        let (t, c) = (std::time::Instant::now(), cpu());
        let with = summarize_with(&recs, 0, end, None, Some(&conf(0)));
        let (took, took_cpu) = (t.elapsed(), cpu() - c);
        assert_eq!(plain.itl_ms.count, with.itl_ms.count);
        println!(
            "{n} requests, {:.2} M gaps: summary {without:?} ({without_cpu:.3} s CPU), with intervals {took:?} ({took_cpu:.3} s CPU)",
            with.itl_ms.count as f64 / 1e6
        );
    }
}
