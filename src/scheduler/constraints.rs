//! What ends a benchmark besides running out of requests: each constraint checks itself against
//! the collector's state and the clock.

use super::collector::Collector;
use super::EndReason;
use crate::metrics::RequestRecord;
use serde::Serialize;

/// Requests in the sliding window of `--max-error-rate`, and the minimum for the global rate.
pub const ERROR_WINDOW: usize = 30;

/// The limits of one benchmark. `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    pub max_seconds: Option<f64>,
    pub max_requests: Option<u64>,
    pub max_errors: Option<u64>,
    /// Error rate over the last `ERROR_WINDOW` finished requests.
    pub max_error_rate: Option<f64>,
    /// Error rate over the whole benchmark, checked from `ERROR_WINDOW` finished requests on.
    pub max_global_error_rate: Option<f64>,
    pub saturation: Option<Saturation>,
    /// The engine watchdog: this long without engine progress while requests are in flight
    /// means the engine is wedged (`--engine-stall-timeout`).
    pub engine_stall_s: Option<f64>,
}

/// The user's per-benchmark limits, as the report records them: the constraints and the ramp.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Limits {
    /// --max-seconds.
    pub max_seconds: Option<f64>,
    /// --max-requests.
    pub max_requests: Option<u64>,
    /// --max-errors: stop after more errors than this.
    pub max_errors: Option<u64>,
    /// --max-error-rate: error rate over the last 30 (`ERROR_WINDOW`) finished requests.
    pub max_error_rate: Option<f64>,
    /// --max-global-error-rate: error rate over the whole benchmark, checked from 30
    /// (`ERROR_WINDOW`) finished requests on.
    pub max_global_error_rate: Option<f64>,
    /// Over-saturation detection (--detect-saturation / --over-saturation); null when off.
    pub saturation: Option<Saturation>,
    /// --rampup: seconds over which constant, concurrent and throughput ramp up.
    #[schemars(range(min = 0.0))]
    pub rampup: f64,
}

/// Over-saturation detection: stop once, over the last `window_seconds`, both the number of
/// requests in flight and the TTFT of newly started requests grew by more than `min_growth`
/// (a fraction) with positive trends, after at least `min_seconds` of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Saturation {
    /// Earliest time to stop, seconds into the benchmark.
    pub min_seconds: f64,
    /// Trend window, seconds.
    pub window_seconds: f64,
    /// Growth (a fraction) both must exceed.
    pub min_growth: f64,
}

impl Default for Saturation {
    fn default() -> Self {
        Saturation {
            min_seconds: 10.0,
            window_seconds: 10.0,
            min_growth: 0.5,
        }
    }
}

/// The state the constraints keep between checks.
#[derive(Default)]
pub struct Watch {
    saturation: SaturationWatch,
}

impl Constraints {
    /// The end of the benchmark's dispatch time, if limited.
    pub fn deadline(&self, start_ns: u64) -> Option<u64> {
        self.max_seconds.map(|s| start_ns + (s * 1e9) as u64)
    }

    /// The first constraint that ends the benchmark now, if any.
    pub fn check(
        &self,
        c: &Collector,
        w: &mut Watch,
        now: u64,
        start_ns: u64,
    ) -> Option<EndReason> {
        if self.deadline(start_ns).is_some_and(|d| now >= d) {
            return Some(EndReason::MaxSeconds);
        }
        if self.max_errors.is_some_and(|m| c.errors > m) {
            return Some(EndReason::MaxErrors);
        }
        if let Some(r) = self.max_error_rate {
            let w = &c.recent;
            if w.len() >= ERROR_WINDOW
                && w.iter().filter(|&&e| e).count() as f64 / w.len() as f64 > r
            {
                return Some(EndReason::MaxErrorRate);
            }
        }
        if let Some(r) = self.max_global_error_rate {
            let n = c.done.len();
            if n >= ERROR_WINDOW && c.errors as f64 / n as f64 > r {
                return Some(EndReason::MaxGlobalErrorRate);
            }
        }
        if let Some(sat) = &self.saturation {
            if w.saturation
                .observe(now, c.inflight.len(), &c.done, sat, start_ns)
            {
                return Some(EndReason::OverSaturated);
            }
        }
        if let Some(s) = self.engine_stall_s {
            if c.stall_ns(now) > (s * 1e9) as u64 {
                return Some(EndReason::EngineStalled);
            }
        }
        None
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
        t >= s.min_seconds && self.samples.len() >= 3 && self.trending(s.min_growth)
    }

    /// Both in-flight count and TTFT grew by more than `min_growth` across the window, with
    /// positive least-squares slopes.
    fn trending(&self, min_growth: f64) -> bool {
        let (first, last) = (self.samples[0], self.samples[self.samples.len() - 1]);
        let grew = |a: f64, b: f64| a > 0.0 && b > a * (1.0 + min_growth);
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
