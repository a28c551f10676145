//! Over-saturation detection: is the engine falling behind the load, so that requests pile up
//! and wait ever longer for their first token? Two detectors answer it:
//!
//! - GuideLLM 0.8.1's statistical one (`guidellm/scheduler/constraints/saturation.py`), ported
//!   line by line so that a GuideLLM scenario's `over_saturation` keys mean what they mean there:
//!   a least-squares slope of requests in flight (sampled as each request starts) and of TTFT
//!   (sampled as each first token arrives) against time, over a window bounded by
//!   `max_window_seconds` and by `maximum_window_ratio` of the samples so far; over-saturated
//!   when both slopes are positive with a relative margin of error (t-distribution at
//!   `confidence`) below `moe_threshold`, once `min_seconds` have passed, at least
//!   `minimum_window_size` samples are in the window and half of the TTFT samples exceed
//!   `minimum_ttft` seconds. The default.
//! - llmbench's own growth detector (`min_growth` selects it): both the in-flight count and the
//!   median TTFT grew by more than `min_growth` across the last `window_seconds`.
//!
//! Either one enforces (ends the benchmark) or only monitors (GuideLLM's `mode=monitor`); the
//! verdict and its figures go to the report under GuideLLM's metadata names.

use super::collector::Collector;
use crate::metrics::statistics::approx_t_ppf;
use crate::metrics::RequestRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::VecDeque;

/// What a detection does: end the benchmark, or only report it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SaturationMode {
    /// End the benchmark when over-saturation is detected.
    #[default]
    Enforce,
    /// Detect and report, never stop.
    Monitor,
}

/// Which detector judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaturationDetector {
    /// GuideLLM's slope test with margins of error.
    Statistical,
    /// llmbench's growth test (`min_growth`).
    Growth,
}

/// Over-saturation detection's settings (GuideLLM's `OverSaturationConstraintArgs`, plus
/// llmbench's `min_growth`). Reports of earlier versions hold only `min_seconds`,
/// `window_seconds` and `min_growth`: the growth detector, which they used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Saturation {
    /// enforce (end the benchmark) or monitor (only report).
    pub mode: SaturationMode,
    /// Nothing is detected before this many seconds into the benchmark.
    pub min_seconds: f64,
    /// GuideLLM's `max_window_seconds`: samples older than this leave the window (the growth
    /// detector's trend window).
    pub window_seconds: f64,
    /// Set: llmbench's growth detector, the growth (a fraction) both in-flight requests and
    /// TTFT must exceed across the window. Null: GuideLLM's statistical detector.
    pub min_growth: Option<f64>,
    /// Statistical: the largest relative margin of error of a slope that counts as positive.
    pub moe_threshold: f64,
    /// Statistical: TTFT (seconds) above which a sample counts as a violation; at least half
    /// the TTFT samples in the window must be violations.
    pub minimum_ttft: f64,
    /// Statistical: the window keeps at most this fraction of the samples seen so far.
    pub maximum_window_ratio: f64,
    /// Statistical: fewest samples in the window to estimate a slope.
    pub minimum_window_size: u32,
    /// Statistical: confidence level of the slopes' margins of error.
    pub confidence: f64,
}

impl Default for Saturation {
    /// GuideLLM 0.8.1's defaults: its statistical detector, enforcing.
    fn default() -> Self {
        Saturation {
            mode: SaturationMode::Enforce,
            min_seconds: 30.0,
            window_seconds: 120.0,
            min_growth: None,
            moe_threshold: 2.0,
            minimum_ttft: 2.5,
            maximum_window_ratio: 0.75,
            minimum_window_size: 5,
            confidence: 0.95,
        }
    }
}

/// The statistical detector's keys (GuideLLM's), refused with `min_growth`.
const STATISTICAL_KEYS: [&str; 5] = [
    "moe_threshold",
    "minimum_ttft",
    "maximum_window_ratio",
    "minimum_window_size",
    "confidence",
];

/// Every key `Saturation::parse` takes.
pub const SATURATION_KEYS: &str = "mode, min_seconds, max_window_seconds (window_seconds), moe_threshold, minimum_ttft, maximum_window_ratio, minimum_window_size, confidence, min_growth";

impl Saturation {
    /// llmbench's growth detector with its defaults (10 s, a 10 s window, 50% growth).
    pub fn growth() -> Saturation {
        Saturation {
            min_seconds: 10.0,
            window_seconds: 10.0,
            min_growth: Some(0.5),
            ..Saturation::default()
        }
    }

    pub fn detector(&self) -> SaturationDetector {
        if self.min_growth.is_some() {
            SaturationDetector::Growth
        } else {
            SaturationDetector::Statistical
        }
    }

    /// Settings from an object of GuideLLM's keys (`max_window_seconds` or llmbench's
    /// `window_seconds`) and llmbench's `min_growth`; missing keys take the chosen detector's
    /// defaults. The error is a sentence to follow the option's name.
    pub fn parse(m: &Map<String, Value>) -> Result<Saturation, String> {
        let mut s = Self::detector_of(m)?;
        if let Some(v) = m.get("mode").filter(|v| !v.is_null()) {
            s.mode = match v.as_str() {
                Some("enforce") => SaturationMode::Enforce,
                Some("monitor") => SaturationMode::Monitor,
                _ => return Err(format!("mode must be enforce or monitor, not {v}")),
            };
        }
        if m.contains_key("max_window_seconds") && m.contains_key("window_seconds") {
            return Err("give max_window_seconds or window_seconds (the same), not both".into());
        }
        let at_least_0 = |x: f64| x >= 0.0;
        let fraction = |x: f64| (0.0..=1.0).contains(&x);
        for (k, slot, ok, rule) in [
            (
                "min_seconds",
                &mut s.min_seconds,
                at_least_0 as fn(f64) -> bool,
                "0 or more",
            ),
            (
                "max_window_seconds",
                &mut s.window_seconds,
                at_least_0,
                "0 or more",
            ),
            (
                "moe_threshold",
                &mut s.moe_threshold,
                at_least_0,
                "0 or more",
            ),
            ("minimum_ttft", &mut s.minimum_ttft, at_least_0, "0 or more"),
            (
                "maximum_window_ratio",
                &mut s.maximum_window_ratio,
                fraction,
                "between 0 and 1",
            ),
            ("confidence", &mut s.confidence, fraction, "between 0 and 1"),
        ] {
            let k = if k == "max_window_seconds" && m.contains_key("window_seconds") {
                "window_seconds"
            } else {
                k
            };
            if let Some(x) = key_number(m, k)? {
                if !ok(x) {
                    return Err(format!("{k} must be {rule} (got {x})"));
                }
                *slot = x;
            }
        }
        if let Some(x) = key_number(m, "minimum_window_size")? {
            if x < 0.0 || x.fract() != 0.0 || x > u32::MAX as f64 {
                return Err(format!(
                    "minimum_window_size must be a whole number ≥ 0 (got {x})"
                ));
            }
            s.minimum_window_size = x as u32;
        }
        Ok(s)
    }

    /// The detector the keys ask for, with its defaults: llmbench's growth detector with
    /// `min_growth`, else GuideLLM's. Unknown keys, and GuideLLM's detector's keys with
    /// `min_growth`, are refused.
    fn detector_of(m: &Map<String, Value>) -> Result<Saturation, String> {
        const OTHER_KEYS: [&str; 5] = [
            "mode",
            "min_seconds",
            "max_window_seconds",
            "window_seconds",
            "min_growth",
        ];
        if let Some(k) = m
            .keys()
            .find(|k| !STATISTICAL_KEYS.contains(&k.as_str()) && !OTHER_KEYS.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key `{k}`; valid keys are {SATURATION_KEYS}"
            ));
        }
        match key_number(m, "min_growth")? {
            None => Ok(Saturation::default()),
            Some(g) if g > 0.0 => {
                if let Some(k) = STATISTICAL_KEYS.iter().find(|k| m.contains_key(**k)) {
                    return Err(format!("{k} belongs to GuideLLM's statistical detector and min_growth selects llmbench's growth detector: give one or the other (docs/metrics.md)"));
                }
                Ok(Saturation {
                    min_growth: Some(g),
                    ..Saturation::growth()
                })
            }
            Some(g) => Err(format!("min_growth must be greater than 0 (got {g})")),
        }
    }
}

/// The number under `k`, if given (null is not given).
fn key_number(m: &Map<String, Value>, k: &str) -> Result<Option<f64>, String> {
    match m.get(k).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => number(v)
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("{k} must be a number, not {v}")),
    }
}

/// A JSON number, or a string holding one (values from a YAML file or the environment).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What the collector notes for the statistical detector, in the order it saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SatSample {
    /// A request went out with `concurrent` requests in flight (itself included).
    Started { t: u64, concurrent: usize },
    /// A request's first token arrived `ttft_ns` after it was sent.
    FirstToken { t: u64, ttft_ns: u64 },
}

/// The detector's verdict on one benchmark, under GuideLLM's metadata names (what its knee
/// analysis reads from `scheduler_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaturationReport {
    /// statistical (GuideLLM's) or growth (llmbench's `min_growth`).
    pub detector: SaturationDetector,
    /// enforce (a detection ended the benchmark) or monitor (only reported).
    pub mode: SaturationMode,
    /// The verdict of the detector's last check (GuideLLM's `is_over_saturated`); with
    /// mode enforce, true exactly when it ended the benchmark.
    pub is_over_saturated: bool,
    /// When over-saturation was first detected, seconds into the benchmark; null if never.
    pub first_detected_s: Option<f64>,
    /// Slope of requests in flight against time (requests per second) at the last check that
    /// computed one; null before any did.
    pub concurrent_slope: Option<f64>,
    /// Statistical: the relative margin of error of `concurrent_slope`; null otherwise.
    pub concurrent_slope_moe: Option<f64>,
    /// In-flight samples in the window.
    pub concurrent_n: u64,
    /// Slope of TTFT against time (seconds per second), as `concurrent_slope`.
    pub ttft_slope: Option<f64>,
    /// Statistical: the relative margin of error of `ttft_slope`; null otherwise.
    pub ttft_slope_moe: Option<f64>,
    /// TTFT samples in the window.
    pub ttft_n: u64,
    /// Statistical: TTFT samples in the window above `minimum_ttft`.
    pub ttft_violations: u64,
}

/// A detector's state through one benchmark.
pub struct SaturationWatch {
    cfg: Saturation,
    detector: Detector,
    /// Collector samples already fed to the statistical detector.
    seen: usize,
    last: bool,
    first_detected_ns: Option<u64>,
}

enum Detector {
    Statistical(Box<Osd>),
    Growth(Growth),
}

impl SaturationWatch {
    pub fn new(cfg: &Saturation) -> SaturationWatch {
        let detector = match cfg.min_growth {
            Some(_) => Detector::Growth(Growth::default()),
            None => Detector::Statistical(Box::new(Osd::new(cfg))),
        };
        SaturationWatch {
            cfg: cfg.clone(),
            detector,
            seen: 0,
            last: false,
            first_detected_ns: None,
        }
    }

    /// Feeds what the collector saw since the last call; true when over-saturation was
    /// detected now (the statistical detector stops at the first sample that shows it, as
    /// GuideLLM stops queuing on the update that shows it).
    pub fn observe(&mut self, c: &Collector, now: u64, start_ns: u64) -> bool {
        let secs = |t: u64| t.saturating_sub(start_ns) as f64 / 1e9;
        let mut detected_at = None;
        match &mut self.detector {
            Detector::Statistical(osd) => {
                for s in &c.saturation_samples[self.seen..] {
                    self.seen += 1;
                    let t = match *s {
                        SatSample::Started { t, concurrent } => {
                            osd.add_started(secs(t), concurrent as f64);
                            t
                        }
                        SatSample::FirstToken { t, ttft_ns } => {
                            osd.add_finished(secs(t), ttft_ns as f64 / 1e9);
                            t
                        }
                    };
                    osd.update_duration(secs(t));
                    if osd.check_alert() {
                        detected_at = Some(t);
                        break;
                    }
                }
                if detected_at.is_none() {
                    osd.update_duration(secs(now));
                    if osd.check_alert() {
                        detected_at = Some(now);
                    }
                }
            }
            Detector::Growth(g) => {
                if g.observe(now, c.inflight.len(), &c.done, &self.cfg, start_ns) {
                    detected_at = Some(now);
                }
            }
        }
        self.last = detected_at.is_some();
        if let Some(t) = detected_at {
            self.first_detected_ns.get_or_insert(t);
        }
        self.last
    }

    /// The verdict, after a last look at the end of the benchmark.
    pub fn report(&mut self, c: &Collector, end_ns: u64, start_ns: u64) -> SaturationReport {
        if !(self.last && self.cfg.mode == SaturationMode::Enforce) {
            self.observe(c, end_ns, start_ns);
        }
        let first_detected_s = self
            .first_detected_ns
            .map(|t| t.saturating_sub(start_ns) as f64 / 1e9);
        let mut r = SaturationReport {
            detector: self.cfg.detector(),
            mode: self.cfg.mode,
            is_over_saturated: self.last,
            first_detected_s,
            concurrent_slope: None,
            concurrent_slope_moe: None,
            concurrent_n: 0,
            ttft_slope: None,
            ttft_slope_moe: None,
            ttft_n: 0,
            ttft_violations: 0,
        };
        match &self.detector {
            Detector::Statistical(o) => {
                r.concurrent_slope = o.concurrent.slope;
                r.concurrent_slope_moe = o.concurrent.margin_of_error;
                r.concurrent_n = o.concurrent.n.max(0) as u64;
                r.ttft_slope = o.ttft.slope;
                r.ttft_slope_moe = o.ttft.margin_of_error;
                r.ttft_n = o.ttft.n.max(0) as u64;
                r.ttft_violations = o.ttft_violations.max(0) as u64;
            }
            Detector::Growth(g) => {
                let n = g.samples.len() as u64;
                r.concurrent_n = n;
                r.ttft_n = n;
                if n >= 2 {
                    r.concurrent_slope = Some(g.slope(|x| x.1));
                    r.ttft_slope = Some(g.slope(|x| x.2 / 1e9));
                }
            }
        }
        r
    }
}

// ------------------------------------------------------------------------------------------
// GuideLLM 0.8.1's detector, ported (`SlopeChecker`, `OverSaturationConstraint`)
// ------------------------------------------------------------------------------------------

const EPS: f64 = 1e-12;

/// Online least-squares slope with its margin of error (GuideLLM's `SlopeChecker`).
struct SlopeChecker {
    n: i64,
    sum_x: f64,
    sum_y: f64,
    sum_xy: f64,
    sum_x2: f64,
    sum_y2: f64,
    moe_threshold: f64,
    confidence: f64,
    slope: Option<f64>,
    margin_of_error: Option<f64>,
}

impl SlopeChecker {
    fn new(moe_threshold: f64, confidence: f64) -> SlopeChecker {
        SlopeChecker {
            n: 0,
            sum_x: 0.0,
            sum_y: 0.0,
            sum_xy: 0.0,
            sum_x2: 0.0,
            sum_y2: 0.0,
            moe_threshold,
            confidence,
            slope: None,
            margin_of_error: None,
        }
    }

    fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sum_x += x;
        self.sum_y += y;
        self.sum_xy += x * y;
        self.sum_x2 += x * x;
        self.sum_y2 += y * y;
    }

    fn remove(&mut self, x: f64, y: f64) {
        self.n -= 1;
        self.sum_x -= x;
        self.sum_y -= y;
        self.sum_xy -= x * y;
        self.sum_x2 -= x * x;
        self.sum_y2 -= y * y;
    }

    /// A positive slope whose relative margin of error is under the threshold.
    fn check(&mut self, effective_n: f64) -> bool {
        if effective_n < 3.0 {
            return false;
        }
        let n = self.n as f64;
        let cxx = self.sum_x2 - self.sum_x * self.sum_x / n;
        let cxy = self.sum_xy - self.sum_x * self.sum_y / n;
        let cyy = self.sum_y2 - self.sum_y * self.sum_y / n;
        let cxx = cxx.max(EPS);
        let slope = cxy / cxx;
        let rss = (cyy - cxy * cxy / cxx).max(0.0);
        let dof = effective_n - 2.0;
        let standard_error = (rss / dof / cxx).sqrt();
        let alpha = 1.0 - self.confidence;
        let t_crit = approx_t_ppf(1.0 - alpha / 2.0, dof);
        let moe = t_crit * standard_error / slope.max(EPS);
        self.slope = Some(slope);
        self.margin_of_error = Some(moe);
        slope > 0.0 && moe < self.moe_threshold
    }
}

/// GuideLLM's `OverSaturationConstraint` state: (seconds into the benchmark, value) samples.
struct Osd {
    min_seconds: f64,
    minimum_ttft: f64,
    window_seconds: f64,
    maximum_window_ratio: f64,
    minimum_window_size: f64,
    duration: f64,
    started: VecDeque<(f64, f64)>,
    finished: VecDeque<(f64, f64)>,
    ttft_violations: i64,
    total_finished: u64,
    total_started: u64,
    concurrent: SlopeChecker,
    ttft: SlopeChecker,
}

impl Osd {
    fn new(s: &Saturation) -> Osd {
        Osd {
            min_seconds: s.min_seconds,
            minimum_ttft: s.minimum_ttft,
            window_seconds: s.window_seconds,
            maximum_window_ratio: s.maximum_window_ratio,
            minimum_window_size: s.minimum_window_size as f64,
            duration: 0.0,
            started: VecDeque::new(),
            finished: VecDeque::new(),
            ttft_violations: 0,
            total_finished: 0,
            total_started: 0,
            concurrent: SlopeChecker::new(s.moe_threshold, s.confidence),
            ttft: SlopeChecker::new(s.moe_threshold, s.confidence),
        }
    }

    fn add_finished(&mut self, t: f64, ttft: f64) {
        self.total_finished += 1;
        self.finished.push_back((t, ttft));
        if ttft > self.minimum_ttft {
            self.ttft_violations += 1;
        }
        self.ttft.add(t, ttft);
    }

    fn remove_finished(&mut self) {
        if let Some((t, ttft)) = self.finished.pop_front() {
            if ttft > self.minimum_ttft {
                self.ttft_violations -= 1;
            }
            self.ttft.remove(t, ttft);
        }
    }

    fn add_started(&mut self, t: f64, concurrent: f64) {
        self.total_started += 1;
        self.started.push_back((t, concurrent));
        self.concurrent.add(t, concurrent);
    }

    fn remove_started(&mut self) {
        if let Some((t, c)) = self.started.pop_front() {
            self.concurrent.remove(t, c);
        }
    }

    /// Moves the clock to `duration` and drops samples past the window's bounds.
    fn update_duration(&mut self, duration: f64) {
        self.duration = duration;
        let most = (self.total_finished as f64 * self.maximum_window_ratio) as usize;
        while self.finished.len() > most {
            self.remove_finished();
        }
        while self
            .finished
            .front()
            .is_some_and(|f| duration - f.0 > self.window_seconds)
        {
            self.remove_finished();
        }
        let most = (self.total_started as f64 * self.maximum_window_ratio) as usize;
        while self.started.len() > most {
            self.remove_started();
        }
        while self
            .started
            .front()
            .is_some_and(|s| duration - s.0 > self.window_seconds)
        {
            self.remove_started();
        }
    }

    /// GuideLLM's `_check_alert`. Samples of one second are highly correlated, so the
    /// effective sample size is at most the duration in seconds.
    fn check_alert(&mut self) -> bool {
        let concurrent_n = self.duration.min(self.concurrent.n as f64);
        let ttft_n = self.duration.min(self.ttft.n as f64);
        // `duration < minimum_ttft` is GuideLLM's own gate, kept as written.
        if self.duration < self.min_seconds
            || self.ttft.n > self.ttft_violations * 2
            || self.duration < self.minimum_ttft
            || concurrent_n < self.minimum_window_size
        {
            return false;
        }
        let concurrent_rising = self.concurrent.check(concurrent_n);
        if ttft_n < self.minimum_window_size {
            return concurrent_rising;
        }
        let ttft_rising = self.ttft.check(ttft_n);
        concurrent_rising && ttft_rising
    }
}

// ------------------------------------------------------------------------------------------
// llmbench's growth detector
// ------------------------------------------------------------------------------------------

/// Samples (five times per window, at most once a second): requests in flight, and the median
/// TTFT of requests that finished since the previous sample.
#[derive(Default)]
struct Growth {
    last_ns: u64,
    seen: usize,
    samples: VecDeque<(f64, f64, f64)>,
}

impl Growth {
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
        t >= s.min_seconds && self.samples.len() >= 3 && self.trending(s.min_growth.unwrap_or(0.5))
    }

    /// Least-squares slope of `f` against time over the samples.
    fn slope(&self, f: fn(&(f64, f64, f64)) -> f64) -> f64 {
        let n = self.samples.len() as f64;
        let mx = self.samples.iter().map(|x| x.0).sum::<f64>() / n;
        let my = self.samples.iter().map(f).sum::<f64>() / n;
        let sxy: f64 = self.samples.iter().map(|x| (x.0 - mx) * (f(x) - my)).sum();
        let sxx: f64 = self.samples.iter().map(|x| (x.0 - mx).powi(2)).sum();
        sxy / sxx.max(EPS)
    }

    /// Both in-flight count and TTFT grew by more than `min_growth` across the window, with
    /// positive least-squares slopes.
    fn trending(&self, min_growth: f64) -> bool {
        let (first, last) = (self.samples[0], self.samples[self.samples.len() - 1]);
        let grew = |a: f64, b: f64| a > 0.0 && b > a * (1.0 + min_growth);
        grew(first.1, last.1)
            && grew(first.2, last.2)
            && self.slope(|x| x.1) > 0.0
            && self.slope(|x| x.2) > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_guidellms_approximation() {
        // Values of GuideLLM 0.8.1's approx_t_ppf (guidellm.utils.statistics).
        for (p, df, want) in [
            (0.975, 10.0, 2.219_207),
            (0.975, 3.0, 2.989_940),
            (0.95, 30.0, 1.697_374),
        ] {
            let got = approx_t_ppf(p, df);
            assert!(
                (got - want).abs() < 1e-5,
                "t({p}, {df}) = {got}, want {want}"
            );
        }
        assert!(approx_t_ppf(0.975, 0.0).is_nan());
    }

    #[test]
    fn a_line_has_its_slope_and_no_margin_of_error() {
        let mut s = SlopeChecker::new(2.0, 0.95);
        for x in 0..10 {
            s.add(x as f64, 3.0 * x as f64 + 1.0);
        }
        assert!(s.check(10.0));
        assert!((s.slope.unwrap() - 3.0).abs() < 1e-9);
        assert!(s.margin_of_error.unwrap() < 1e-6);
        s.remove(0.0, 1.0);
        assert_eq!(s.n, 9);
        // A falling line is not a positive slope.
        let mut f = SlopeChecker::new(2.0, 0.95);
        for x in 0..10 {
            f.add(x as f64, -(x as f64));
        }
        assert!(!f.check(10.0));
    }

    /// One request starting each 0.1 s, in-flight and TTFT rising by `rise` per second
    /// around a zig-zag (real samples are never exactly on a line).
    fn feed(o: &mut Osd, seconds: f64, rise: f64) -> Option<f64> {
        let mut t = 0.0;
        let mut i = 0;
        while t < seconds {
            let wiggle = if i % 2 == 0 { 0.5 } else { -0.5 };
            i += 1;
            o.add_started(t, 5.0 + rise * t + wiggle);
            o.add_finished(t, 3.0 + rise * t + wiggle);
            o.update_duration(t);
            if o.check_alert() {
                return Some(t);
            }
            t += 0.1;
        }
        None
    }

    #[test]
    fn rising_load_and_ttft_are_over_saturation_after_min_seconds() {
        let cfg = Saturation {
            min_seconds: 5.0,
            ..Saturation::default()
        };
        let at = feed(&mut Osd::new(&cfg), 20.0, 2.0).expect("detected");
        assert!((5.0..5.2).contains(&at), "at {at}");
        // Flat: never.
        assert_eq!(feed(&mut Osd::new(&cfg), 20.0, 0.0), None);
        // TTFT under minimum_ttft for most samples: not a violation, never.
        let low = Saturation {
            minimum_ttft: 100.0,
            ..cfg.clone()
        };
        assert_eq!(feed(&mut Osd::new(&low), 20.0, 2.0), None);
    }

    #[test]
    fn window_ratio_and_seconds_bound_the_window() {
        let cfg = Saturation {
            window_seconds: 2.0,
            maximum_window_ratio: 0.5,
            ..Saturation::default()
        };
        let mut o = Osd::new(&cfg);
        for i in 0..100 {
            o.add_started(i as f64 * 0.1, 1.0);
            o.update_duration(i as f64 * 0.1);
        }
        // 9.9 s in: samples of the last 2 s (21), fewer than half of the 100 seen.
        assert_eq!(o.started.len(), 21);
        assert_eq!(o.concurrent.n, 21);
    }

    #[test]
    fn keys_and_their_refusals() {
        let p = |j: &str| Saturation::parse(&serde_json::from_str(j).unwrap());
        let s = p(r#"{"mode": "monitor", "min_seconds": 2, "moe_threshold": 3}"#).unwrap();
        assert_eq!(
            (s.mode, s.min_seconds, s.window_seconds, s.moe_threshold),
            (SaturationMode::Monitor, 2.0, 120.0, 3.0)
        );
        assert_eq!(s.detector(), SaturationDetector::Statistical);
        let g = p(r#"{"min_growth": 0.3, "window_seconds": 4}"#).unwrap();
        assert_eq!(g.detector(), SaturationDetector::Growth);
        assert_eq!((g.min_seconds, g.window_seconds), (10.0, 4.0));
        for (bad, want) in [
            (
                r#"{"min_growth": 0.5, "confidence": 0.9}"#,
                "confidence belongs to GuideLLM's statistical detector",
            ),
            (r#"{"mode": "warn"}"#, "mode must be enforce or monitor"),
            (r#"{"confidence": 2}"#, "confidence must be between 0 and 1"),
            (
                r#"{"minimum_window_size": 2.5}"#,
                "minimum_window_size must be a whole number",
            ),
            (
                r#"{"windows": 1}"#,
                "unknown key `windows`; valid keys are mode",
            ),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
        // Reports written before the statistical detector: the growth detector they used.
        let old: Saturation =
            serde_json::from_str(r#"{"min_seconds": 10, "window_seconds": 10, "min_growth": 0.5}"#)
                .unwrap();
        assert_eq!(old.detector(), SaturationDetector::Growth);
        assert_eq!(old.mode, SaturationMode::Enforce);
    }
}
