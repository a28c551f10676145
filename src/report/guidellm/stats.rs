//! GuideLLM 0.8.1's `DistributionSummary` and `StatusDistributionSummary`
//! (`guidellm/schemas/base/statistics.py`), ported operation for operation so that a
//! distribution written here is the one GuideLLM's own code computes from the same requests:
//! values carry weights, duplicates are merged, percentiles are the first value whose
//! cumulative probability reaches the quantile (no interpolation), sums are numpy's pairwise
//! sums, and rates and concurrency are time-weighted.
//!
//! GuideLLM's confidence intervals (`mean_ci`, `percentile_cis`) are its `SampleUncertainty`:
//! a t interval of the mean and order-statistic intervals of the percentiles
//! (`metrics::statistics`, a port of `guidellm/utils/statistics.py`), only for unweighted
//! values (one per request), at the level of `config.confidence`. `pdf` is not kept
//! (GuideLLM's default).

use crate::metrics::statistics::{mean_confidence_interval, quantile_confidence_interval};
use serde::Serialize;

/// Quantile of each `Percentiles` field (GuideLLM's `PERCENTILE_PROBABILITIES`).
const PERCENTILES: [f64; 11] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999,
];

/// GuideLLM's default `epsilon` and merge `threshold` (seconds).
const EPSILON: f64 = 1e-6;
const THRESHOLD: f64 = 1e-4;

/// GuideLLM's `Percentiles`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p001: f64,
    pub p01: f64,
    pub p05: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// GuideLLM's `ConfidenceInterval`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ci {
    pub lower: f64,
    pub upper: f64,
}

impl Ci {
    fn of((lower, upper): (f64, f64)) -> Ci {
        Ci { lower, upper }
    }
}

/// GuideLLM's `PercentileIntervals`: None where the sample cannot bound the percentile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PercentileCis {
    pub p001: Option<Ci>,
    pub p01: Option<Ci>,
    pub p05: Option<Ci>,
    pub p10: Option<Ci>,
    pub p25: Option<Ci>,
    pub p50: Option<Ci>,
    pub p75: Option<Ci>,
    pub p90: Option<Ci>,
    pub p95: Option<Ci>,
    pub p99: Option<Ci>,
    pub p999: Option<Ci>,
}

/// GuideLLM's `DistributionSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dist {
    pub mean: f64,
    pub median: f64,
    pub mode: f64,
    pub variance: f64,
    pub std_dev: f64,
    pub min: f64,
    pub max: f64,
    pub count: u64,
    pub total_sum: f64,
    pub percentiles: Percentiles,
    /// Not kept (GuideLLM's default, `include_pdf=False`).
    pub pdf: Option<()>,
    /// GuideLLM's `SampleUncertainty` at `config.confidence`, for unweighted values only.
    pub mean_ci: Option<Ci>,
    pub percentile_cis: Option<PercentileCis>,
}

/// GuideLLM's `StatusDistributionSummary`: one distribution per status and their union.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusDist {
    pub successful: Dist,
    pub incomplete: Dist,
    pub errored: Dist,
    pub total: Dist,
}

/// numpy's `np.sum` of a contiguous float64 array: pairwise summation in blocks of 128 with
/// eight accumulators (`pairwise_sum_DOUBLE`), so that the last bits agree with GuideLLM's.
pub fn np_sum(a: &[f64]) -> f64 {
    fn pairwise(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            let mut res = 0.0;
            for &x in a {
                res += x;
            }
            res
        } else if n <= 128 {
            let mut r = [0.0f64; 8];
            r.copy_from_slice(&a[..8]);
            let mut i = 8;
            while i < n - (n % 8) {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                res += a[i];
                i += 1;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    pairwise(a)
}

/// Python's `round()` to an integer (half to even), for counts that are sums of weights.
fn py_round(x: f64) -> u64 {
    x.round_ties_even().max(0.0) as u64
}

impl Dist {
    /// `DistributionSummary.from_pdf` of an empty pdf: every statistic 0.
    pub fn empty(count: u64) -> Dist {
        Dist {
            count,
            ..Dist::default()
        }
    }

    /// `DistributionSummary.from_pdf(validate=False)`: `values` sorted ascending and unique,
    /// `probs` summing to 1.
    fn from_pdf(values: &[f64], probs: &[f64], count: u64) -> Dist {
        if values.is_empty() {
            return Dist::empty(count);
        }
        let mut cdf = Vec::with_capacity(probs.len());
        let mut acc = 0.0;
        for &p in probs {
            acc += p;
            cdf.push(acc);
        }
        // np.searchsorted(cdf, q, side="left"): the first index whose cdf reaches q (GuideLLM
        // would index past the end if rounding left the cdf below q; the last value then).
        let at = |q: f64| values[cdf.partition_point(|&c| c < q).min(values.len() - 1)];
        let p: Vec<f64> = PERCENTILES.iter().map(|&q| at(q)).collect();
        let percentiles = Percentiles {
            p001: p[0],
            p01: p[1],
            p05: p[2],
            p10: p[3],
            p25: p[4],
            p50: p[5],
            p75: p[6],
            p90: p[7],
            p95: p[8],
            p99: p[9],
            p999: p[10],
        };
        let weighted: Vec<f64> = values.iter().zip(probs).map(|(v, p)| v * p).collect();
        let mean = np_sum(&weighted);
        // np.argmax: the first of equal maxima.
        let mut mode_at = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > probs[mode_at] {
                mode_at = i;
            }
        }
        let sq: Vec<f64> = values
            .iter()
            .zip(probs)
            .map(|(v, p)| (v - mean).powi(2) * p)
            .collect();
        let variance = np_sum(&sq);
        Dist {
            mean,
            median: percentiles.p50,
            mode: values[mode_at],
            variance,
            std_dev: variance.sqrt(),
            min: values[0],
            max: values[values.len() - 1],
            count,
            total_sum: mean * count as f64,
            percentiles,
            pdf: None,
            mean_ci: None,
            percentile_cis: None,
        }
    }

    /// `DistributionSummary.from_values`: (value, weight) pairs; `count` defaults to the
    /// rounded sum of the weights.
    pub fn from_values(vw: &[(f64, f64)], count: Option<u64>) -> Dist {
        if vw.is_empty() {
            return Dist::empty(0);
        }
        let weights: Vec<f64> = vw.iter().map(|x| x.1).collect();
        let count = count.unwrap_or_else(|| py_round(np_sum(&weights)));
        let mut sorted: Vec<(f64, f64)> = vw.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        // np.unique + np.add.at: equal values merged, their weights added in sorted order.
        let mut values: Vec<f64> = Vec::with_capacity(sorted.len());
        let mut combined: Vec<f64> = Vec::with_capacity(sorted.len());
        for (v, w) in sorted {
            if values.last() == Some(&v) {
                *combined.last_mut().expect("same length") += w;
            } else {
                values.push(v);
                combined.push(0.0 + w);
            }
        }
        let (values, mut weights): (Vec<f64>, Vec<f64>) = values
            .into_iter()
            .zip(combined)
            .filter(|(_, w)| *w > 0.0)
            .unzip();
        let mut total = np_sum(&weights);
        if total <= EPSILON {
            weights = vec![1.0; values.len()];
            total = np_sum(&weights);
        }
        let probs: Vec<f64> = weights.iter().map(|w| w / total).collect();
        Dist::from_pdf(&values, &probs, count)
    }

    /// `DistributionSummary.from_values(…, uncertainty=SampleUncertainty(confidence))`:
    /// `from_values`, with GuideLLM's intervals when `confidence` is given.
    pub fn from_values_ci(vw: &[(f64, f64)], count: Option<u64>, confidence: Option<f64>) -> Dist {
        let mut d = Dist::from_values(vw, count);
        if let (Some(c), false) = (confidence, vw.is_empty()) {
            (d.mean_ci, d.percentile_cis) = estimate(vw, c);
        }
        d
    }

    /// Unweighted values.
    pub fn of(values: &[f64]) -> Dist {
        let vw: Vec<(f64, f64)> = values.iter().map(|&v| (v, 1.0)).collect();
        Dist::from_values(&vw, None)
    }

    /// `DistributionSummary.rate_distribution_from_timings`: events (time, occurrences) →
    /// the rate around each event, weighted by the time it stands for.
    pub fn rates(events: &[(f64, f64)], start: Option<f64>, end: Option<f64>) -> Dist {
        let mut t: Vec<(f64, f64)> = events.to_vec();
        if let Some(s) = start {
            t.retain(|e| e.0 >= s);
            t.insert(0, (s, 0.0));
        }
        if let Some(e) = end {
            t.retain(|x| x.0 <= e);
            t.push((e, 0.0));
        }
        t.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let t = merge_times(t, THRESHOLD);
        if t.len() <= 1 {
            // GuideLLM passes count=len(times), which from_values drops for an empty sample.
            return Dist::empty(0);
        }
        let n = t.len();
        let mid: Vec<f64> = (0..n - 1).map(|i| (t[i + 1].0 + t[i].0) / 2.0).collect();
        let mut dur = vec![0.0; n];
        dur[0] = mid[0] - t[0].0;
        for i in 1..n - 1 {
            dur[i] = mid[i] - mid[i - 1];
        }
        dur[n - 1] = (t[n - 1].0 - mid[n - 2]).max(EPSILON);
        let occ: Vec<f64> = t.iter().map(|x| x.1).collect();
        let count = py_round(np_sum(&occ));
        let vw: Vec<(f64, f64)> = (0..n).map(|i| (occ[i] / dur[i], dur[i])).collect();
        Dist::from_values(&vw, Some(count))
    }

    /// `DistributionSummary.concurrency_distribution_from_timings`: intervals (start, end,
    /// weight) → the summed weight in flight over time, weighted by how long it lasted.
    pub fn concurrency(
        intervals: &[(f64, f64, f64)],
        start: Option<f64>,
        end: Option<f64>,
    ) -> Dist {
        let kept: Vec<&(f64, f64, f64)> = intervals
            .iter()
            .filter(|x| start.is_none_or(|s| x.1 >= s) && end.is_none_or(|e| x.0 <= e))
            .collect();
        let count = kept.len() as u64;
        let mut t: Vec<(f64, f64)> = kept.iter().map(|x| (x.0, x.2)).collect();
        t.extend(kept.iter().map(|x| (x.1, -x.2)));
        t.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut t = merge_times(t, THRESHOLD);
        if let (Some(s), false) = (start, t.is_empty()) {
            let i = t.partition_point(|x| x.0 < s);
            let prior: Vec<f64> = t[..i].iter().map(|x| x.1).collect();
            let prior = if i > 0 { np_sum(&prior) } else { 0.0 };
            t.drain(..i);
            t.insert(0, (s, prior));
        }
        if let (Some(e), false) = (end, t.is_empty()) {
            let i = t.partition_point(|x| x.0 <= e);
            t.truncate(i);
            t.push((e, 0.0));
        }
        let mut level = 0.0;
        let conc: Vec<f64> = t
            .iter()
            .map(|x| {
                level += x.1;
                level.max(0.0)
            })
            .collect();
        if conc.len() <= 1 {
            return if count == 0 {
                Dist::from_values(&[], None)
            } else {
                Dist::of(&conc)
            };
        }
        let dur: Vec<f64> = t.windows(2).map(|w| (w[1].0 - w[0].0).max(0.0)).collect();
        if !dur.iter().any(|&d| d > 0.0) {
            // As in GuideLLM: from_values([], count=…) of an empty sample has count 0.
            return Dist::empty(0);
        }
        let vw: Vec<(f64, f64)> = dur.iter().enumerate().map(|(i, &d)| (conc[i], d)).collect();
        Dist::from_values(&vw, Some(count))
    }
}

/// `SampleUncertainty.estimate`: nothing below two values or when any weight is not 1 (the
/// values are then not one observation each); else the t interval of the mean (numpy's mean
/// and population std of the values in their order) and each percentile's order-statistic
/// interval.
fn estimate(vw: &[(f64, f64)], confidence: f64) -> (Option<Ci>, Option<PercentileCis>) {
    if vw.len() < 2 || vw.iter().any(|x| x.1 != 1.0) {
        return (None, None);
    }
    let mut values: Vec<f64> = vw.iter().map(|x| x.0).collect();
    let n = values.len() as f64;
    let mean = np_sum(&values) / n;
    let sq: Vec<f64> = values.iter().map(|v| (v - mean) * (v - mean)).collect();
    let std = (np_sum(&sq) / n).sqrt();
    let mean_ci = mean_confidence_interval(vw.len() as u64, mean, std, confidence).map(Ci::of);
    values.sort_unstable_by(f64::total_cmp);
    let p: Vec<Option<Ci>> = PERCENTILES
        .iter()
        .map(|&q| quantile_confidence_interval(&values, q, confidence).map(Ci::of))
        .collect();
    let cis = PercentileCis {
        p001: p[0],
        p01: p[1],
        p05: p[2],
        p10: p[3],
        p25: p[4],
        p50: p[5],
        p75: p[6],
        p90: p[7],
        p95: p[8],
        p99: p[9],
        p999: p[10],
    };
    (mean_ci, Some(cis))
}

/// `DistributionSummary._merge_sorted_times_with_weights`: equal times merged; then, within
/// each run of times no more than `threshold` apart, a group keeps its first time and takes
/// every later time within `threshold` of it, weights summed.
fn merge_times(sorted: Vec<(f64, f64)>, threshold: f64) -> Vec<(f64, f64)> {
    let mut u: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (t, w) in sorted {
        match u.last_mut() {
            Some(last) if last.0 == t => last.1 += w,
            _ => u.push((t, 0.0 + w)),
        }
    }
    if threshold <= 0.0 || u.len() <= 1 {
        return u;
    }
    let n = u.len();
    if !(1..n).any(|i| u[i].0 - u[i - 1].0 <= threshold) {
        return u;
    }
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        // The run of times each within `threshold` of the one before.
        let mut run_end = i + 1;
        while run_end < n && u[run_end].0 - u[run_end - 1].0 <= threshold {
            run_end += 1;
        }
        if run_end - i == 1 {
            out.push(u[i]);
        } else {
            let mut g = i;
            while g < run_end {
                let limit = u[g].0 + threshold;
                let mut e = g + 1;
                while e < run_end && u[e].0 <= limit {
                    e += 1;
                }
                // np.add.reduceat sums a group's weights in order.
                let w: Vec<f64> = u[g..e].iter().map(|x| x.1).collect();
                out.push((u[g].0, sum_in_order(&w)));
                g = e;
            }
        }
        i = run_end;
    }
    out
}

/// `np.add.reduceat` over one segment (numpy reduces a segment with its pairwise sum).
fn sum_in_order(w: &[f64]) -> f64 {
    np_sum(w)
}

impl StatusDist {
    /// `StatusDistributionSummary.from_values`: per status, and their union in the order
    /// successful, incomplete, errored.
    pub fn values(s: &[(f64, f64)], i: &[(f64, f64)], e: &[(f64, f64)]) -> StatusDist {
        StatusDist::values_ci(s, i, e, None)
    }

    /// `values`, with GuideLLM's intervals at `confidence` (its `uncertainty` argument).
    pub fn values_ci(
        s: &[(f64, f64)],
        i: &[(f64, f64)],
        e: &[(f64, f64)],
        confidence: Option<f64>,
    ) -> StatusDist {
        StatusDist {
            total: Dist::from_values_ci(&[s, i, e].concat(), None, confidence),
            successful: Dist::from_values_ci(s, None, confidence),
            incomplete: Dist::from_values_ci(i, None, confidence),
            errored: Dist::from_values_ci(e, None, confidence),
        }
    }

    /// `StatusDistributionSummary.rate_distribution_from_timings`.
    pub fn rates(
        s: &[(f64, f64)],
        i: &[(f64, f64)],
        e: &[(f64, f64)],
        window: Option<(f64, f64)>,
    ) -> StatusDist {
        let (a, b) = (window.map(|w| w.0), window.map(|w| w.1));
        StatusDist {
            total: Dist::rates(&[s, i, e].concat(), a, b),
            successful: Dist::rates(s, a, b),
            incomplete: Dist::rates(i, a, b),
            errored: Dist::rates(e, a, b),
        }
    }

    /// `StatusDistributionSummary.concurrency_distribution_from_timings`.
    pub fn concurrency(
        s: &[(f64, f64, f64)],
        i: &[(f64, f64, f64)],
        e: &[(f64, f64, f64)],
        window: Option<(f64, f64)>,
    ) -> StatusDist {
        let (a, b) = (window.map(|w| w.0), window.map(|w| w.1));
        StatusDist {
            total: Dist::concurrency(&[s, i, e].concat(), a, b),
            successful: Dist::concurrency(s, a, b),
            incomplete: Dist::concurrency(i, a, b),
            errored: Dist::concurrency(e, a, b),
        }
    }

    /// Every distribution empty (a metric llmbench does not measure).
    pub fn empty() -> StatusDist {
        StatusDist::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_matches_numpy_on_awkward_values() {
        // Values whose sum depends on the order: numpy's pairwise order gives 1.0 + 2^-52 * 2
        // here where a left-to-right sum loses both small terms.
        let mut v = vec![1.0];
        v.extend(std::iter::repeat_n(f64::EPSILON / 2.0, 200));
        let pairwise = np_sum(&v);
        let naive: f64 = v.iter().sum();
        assert!(pairwise > naive, "{pairwise} vs {naive}");
        assert_eq!(np_sum(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(
            np_sum(&(1..=1000).map(f64::from).collect::<Vec<_>>()),
            500500.0
        );
    }

    #[test]
    fn percentiles_are_the_first_value_reaching_the_quantile() {
        let d = Dist::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((d.min, d.max, d.count), (1.0, 4.0, 4));
        assert_eq!(d.median, 2.0, "lower middle: the cdf reaches 0.5 at 2");
        assert_eq!(d.percentiles.p75, 3.0);
        assert_eq!(d.percentiles.p999, 4.0);
        assert_eq!(d.mean, 2.5);
        assert_eq!(d.mode, 1.0, "equal probabilities: the first");
        assert_eq!(d.variance, 1.25);
        assert_eq!(d.total_sum, 10.0);
        let w = Dist::from_values(&[(1.0, 3.0), (10.0, 1.0)], None);
        assert_eq!((w.count, w.median, w.mean), (4, 1.0, 3.25));
        assert_eq!(Dist::from_values(&[], None), Dist::empty(0));
    }

    #[test]
    fn rates_are_time_weighted_and_their_mean_is_count_over_window() {
        // Four events in a 2 s window: mean rate 2/s, whatever the spacing.
        let ev = [(0.1, 1.0), (0.2, 1.0), (1.5, 1.0), (1.9, 1.0)];
        let d = Dist::rates(&ev, Some(0.0), Some(2.0));
        assert_eq!(d.count, 4);
        assert!((d.mean - 2.0).abs() < 1e-12, "{d:?}");
        // Events within 0.1 ms merge.
        let d = Dist::rates(&[(1.0, 1.0), (1.00005, 1.0), (2.0, 1.0)], None, None);
        assert_eq!(d.count, 3);
    }

    #[test]
    fn concurrency_is_time_weighted_inside_the_window() {
        // One request over the whole window, a second over its second half: 1.5 on average.
        let d = Dist::concurrency(&[(0.0, 2.0, 1.0), (1.0, 2.0, 1.0)], Some(0.0), Some(2.0));
        assert_eq!(d.count, 2);
        assert!((d.mean - 1.5).abs() < 1e-12, "{d:?}");
        assert_eq!((d.min, d.max), (1.0, 2.0));
        assert_eq!(Dist::concurrency(&[], Some(0.0), Some(1.0)).count, 0);
    }
}
