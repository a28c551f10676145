//! What ends a benchmark besides running out of requests: each constraint checks itself against
//! the collector's state and the clock. The user's limits (`Limits`) may give one value per
//! benchmark of the profile; `Limits::constraints` picks benchmark i's (`Constraints`).

use super::collector::Collector;
use super::saturation::{Saturation, SaturationMode, SaturationWatch};
use super::EndReason;
use serde::{Deserialize, Serialize};

/// Requests in the sliding window of `--max-error-rate`, and the minimum for the global rate.
pub const ERROR_WINDOW: usize = 30;

/// The limits of one benchmark. `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    pub max_seconds: Option<f64>,
    pub max_requests: Option<u64>,
    /// End once this many requests have finished (any status), dispatching until then.
    pub min_requests: Option<u64>,
    pub max_errors: Option<u64>,
    /// Error rate over the last `ERROR_WINDOW` finished requests.
    pub max_error_rate: Option<f64>,
    /// Error rate over the whole benchmark, checked from `ERROR_WINDOW` finished requests on.
    pub max_global_error_rate: Option<f64>,
    pub saturation: Option<Saturation>,
    /// The engine watchdog: this long without engine progress while requests are in flight
    /// means the engine is wedged (`--engine-stall-timeout`).
    pub engine_stall_s: Option<f64>,
    /// A goodput probe ends once the sequential test has decided its attainment.
    pub decide: Option<Decide>,
}

/// Deciding a goodput probe early (docs/metrics.md, "Searches"): Wald's SPRT over the
/// requests' SLO outcomes in the order they were sent, after the warm-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decide {
    pub slo: crate::metrics::Slo,
    pub target: f64,
    pub margin: f64,
    pub alpha: f64,
    /// Requests sent this long after the start are the first counted (a warm-up of time).
    pub skip_seconds: f64,
    /// The first this many requests are not counted (a warm-up of requests).
    pub skip_requests: u64,
}

/// The sequential test's state: outcomes are taken in send order (request ids), each once the
/// request has finished, so a slow request still in flight holds back the ones sent after it —
/// the test never sees only the fast ones.
pub struct DecideWatch {
    pub sprt: super::search::Sprt,
    next: u64,
    seen: usize,
    pending: std::collections::BTreeMap<u64, Option<bool>>,
}

impl DecideWatch {
    fn observe(&mut self, d: &Decide, c: &Collector, start_ns: u64, first_id: u64) -> Option<bool> {
        use crate::metrics::Status;
        for r in &c.done[self.seen..] {
            let counted = r.id >= first_id + d.skip_requests
                && r.t
                    .sent
                    .is_some_and(|t| t >= start_ns + (d.skip_seconds * 1e9) as u64);
            let outcome = match r.status {
                _ if !counted => None,
                Status::Errored => Some(false),
                Status::Successful => d.slo.met(r),
                Status::Incomplete => None,
            };
            self.pending.insert(r.id, outcome);
        }
        self.seen = c.done.len();
        while let Some(o) = self.pending.remove(&self.next) {
            self.next += 1;
            if let Some(met) = o {
                self.sprt.push(met);
            }
        }
        self.sprt.decision
    }
}

/// A limit with one value per benchmark of a model's profile (GuideLLM 0.8.1's list-valued
/// constraints, `seconds=[10,20,30]`): benchmark i takes value i, the last value repeats once
/// the list runs out, and values past the profile's last benchmark are never used (GuideLLM's
/// `current_index`, `args.seconds[min(current_index, len - 1)]`). Never empty. Written as a
/// number when it is one value, else as a list.
#[derive(Debug, Clone, PartialEq)]
pub struct PerBenchmark<T>(Vec<T>);

impl<T: Copy> PerBenchmark<T> {
    /// None for an empty list.
    pub fn new(values: Vec<T>) -> Option<PerBenchmark<T>> {
        (!values.is_empty()).then_some(PerBenchmark(values))
    }

    pub fn one(value: T) -> PerBenchmark<T> {
        PerBenchmark(vec![value])
    }

    /// The value of benchmark `index` (from 0) of the profile.
    pub fn at(&self, index: usize) -> T {
        self.0[index.min(self.0.len() - 1)]
    }

    pub fn values(&self) -> &[T] {
        &self.0
    }
}

impl<T: Serialize> Serialize for PerBenchmark<T> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(ser),
            many => many.serialize(ser),
        }
    }
}

impl<'de, T: Deserialize<'de> + Copy> Deserialize<'de> for PerBenchmark<T> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany<T> {
            One(T),
            Many(Vec<T>),
        }
        match OneOrMany::<T>::deserialize(de)? {
            OneOrMany::One(v) => Ok(PerBenchmark(vec![v])),
            OneOrMany::Many(v) => PerBenchmark::new(v)
                .ok_or_else(|| serde::de::Error::custom("an empty list of per-benchmark values")),
        }
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for PerBenchmark<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("PerBenchmark_{}", T::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = g.subschema_for::<T>();
        schemars::json_schema!({
            "description": "One value for every benchmark, or one per benchmark of the profile (the last repeats).",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}]
        })
    }
}

/// A GuideLLM constraint kind, by its `--constraint kind=` name (the names its scheduler state
/// keys constraints by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    MaxDuration,
    MaxRequests,
    MinRequests,
    MaxErrors,
    MaxErrorRate,
    MaxGlobalErrorRate,
    OverSaturation,
}

impl ConstraintKind {
    pub const ALL: [ConstraintKind; 7] = [
        ConstraintKind::MaxDuration,
        ConstraintKind::MaxRequests,
        ConstraintKind::MinRequests,
        ConstraintKind::MaxErrors,
        ConstraintKind::MaxErrorRate,
        ConstraintKind::MaxGlobalErrorRate,
        ConstraintKind::OverSaturation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConstraintKind::MaxDuration => "max_duration",
            ConstraintKind::MaxRequests => "max_requests",
            ConstraintKind::MinRequests => "min_requests",
            ConstraintKind::MaxErrors => "max_errors",
            ConstraintKind::MaxErrorRate => "max_error_rate",
            ConstraintKind::MaxGlobalErrorRate => "max_global_error_rate",
            ConstraintKind::OverSaturation => "over_saturation",
        }
    }

    pub fn from_name(name: &str) -> Option<ConstraintKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The constraint behind an end reason; None for the endings no constraint causes (the
    /// data ran out, an interrupt, the worker or the engine).
    pub fn of(e: EndReason) -> Option<ConstraintKind> {
        Some(match e {
            EndReason::MaxSeconds => ConstraintKind::MaxDuration,
            EndReason::MaxRequests => ConstraintKind::MaxRequests,
            EndReason::MinRequests => ConstraintKind::MinRequests,
            EndReason::MaxErrors => ConstraintKind::MaxErrors,
            EndReason::MaxErrorRate => ConstraintKind::MaxErrorRate,
            EndReason::MaxGlobalErrorRate => ConstraintKind::MaxGlobalErrorRate,
            EndReason::OverSaturated => ConstraintKind::OverSaturation,
            EndReason::DataExhausted
            | EndReason::AttainmentDecided
            | EndReason::Interrupted
            | EndReason::WorkerDied
            | EndReason::EngineStalled => return None,
        })
    }
}

/// The user's per-benchmark limits, as the report records them: the constraints and the ramp.
/// A limit is a number, or a list with one value per benchmark of the profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Limits {
    /// --max-seconds (`max_duration`).
    pub max_seconds: Option<PerBenchmark<f64>>,
    /// --max-requests: no request is sent after this many.
    pub max_requests: Option<PerBenchmark<u64>>,
    /// --min-requests (GuideLLM's `min_requests`): the benchmark ends once this many requests
    /// have finished (any status), requests being sent until then; those still in flight are
    /// aborted (incomplete). Absent when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<PerBenchmark<u64>>,
    /// --max-errors: stop after more errors than this.
    pub max_errors: Option<PerBenchmark<u64>>,
    /// --max-error-rate: error rate over the last 30 (`ERROR_WINDOW`) finished requests.
    pub max_error_rate: Option<PerBenchmark<f64>>,
    /// --max-global-error-rate: error rate over the whole benchmark, checked from 30
    /// (`ERROR_WINDOW`) finished requests on.
    pub max_global_error_rate: Option<PerBenchmark<f64>>,
    /// Over-saturation detection (--detect-saturation / --over-saturation); null when off.
    pub saturation: Option<Saturation>,
    /// --rampup: seconds over which constant, concurrent and throughput ramp up.
    #[schemars(range(min = 0.0))]
    pub rampup: f64,
    /// The constraints with GuideLLM's `stopping_scope=all` (--stopping-scope-all): when one of
    /// them ends a benchmark, the profile runs no further benchmarks for that model (a sweep
    /// only from its rate benchmarks on, as in GuideLLM). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopping_scope_all: Vec<ConstraintKind>,
}

impl Limits {
    /// The constraints of benchmark `index` (from 0) of a model's profile, with the engine
    /// watchdog's timeout.
    pub fn constraints(&self, index: usize, engine_stall_s: Option<f64>) -> Constraints {
        Constraints {
            max_seconds: self.max_seconds.as_ref().map(|v| v.at(index)),
            max_requests: self.max_requests.as_ref().map(|v| v.at(index)),
            min_requests: self.min_requests.as_ref().map(|v| v.at(index)),
            max_errors: self.max_errors.as_ref().map(|v| v.at(index)),
            max_error_rate: self.max_error_rate.as_ref().map(|v| v.at(index)),
            max_global_error_rate: self.max_global_error_rate.as_ref().map(|v| v.at(index)),
            saturation: self.saturation.clone(),
            engine_stall_s,
            decide: None,
        }
    }

    /// Whether `kind` is one of the constraints given (and so may have a stopping scope).
    pub fn has(&self, kind: ConstraintKind) -> bool {
        match kind {
            ConstraintKind::MaxDuration => self.max_seconds.is_some(),
            ConstraintKind::MaxRequests => self.max_requests.is_some(),
            ConstraintKind::MinRequests => self.min_requests.is_some(),
            ConstraintKind::MaxErrors => self.max_errors.is_some(),
            ConstraintKind::MaxErrorRate => self.max_error_rate.is_some(),
            ConstraintKind::MaxGlobalErrorRate => self.max_global_error_rate.is_some(),
            ConstraintKind::OverSaturation => self.saturation.is_some(),
        }
    }

    /// GuideLLM's `stopping_scope` of a constraint kind: "all" or "current".
    pub fn scope(&self, kind: ConstraintKind) -> &'static str {
        if self.stopping_scope_all.contains(&kind) {
            "all"
        } else {
            "current"
        }
    }

    /// The constraint with `stopping_scope=all` that ended a benchmark by `ended_by`, if any.
    pub fn scope_all(&self, ended_by: EndReason) -> Option<ConstraintKind> {
        ConstraintKind::of(ended_by).filter(|k| self.stopping_scope_all.contains(k))
    }
}

/// The state the constraints keep between checks.
#[derive(Default)]
pub struct Watch {
    pub saturation: Option<SaturationWatch>,
    pub decide: Option<DecideWatch>,
    first_id: u64,
}

impl Constraints {
    /// The end of the benchmark's dispatch time, if limited.
    pub fn deadline(&self, start_ns: u64) -> Option<u64> {
        self.max_seconds.map(|s| start_ns + (s * 1e9) as u64)
    }

    /// The state the constraints keep through one benchmark.
    /// `first_id`: the benchmark's first request id (ids follow the send order).
    pub fn watch(&self, first_id: u64) -> Watch {
        Watch {
            saturation: self.saturation.as_ref().map(SaturationWatch::new),
            decide: self.decide.as_ref().map(|d| DecideWatch {
                sprt: super::search::Sprt::new(d.target, d.margin, d.alpha),
                next: first_id,
                seen: 0,
                pending: Default::default(),
            }),
            first_id,
        }
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
        if self.min_requests.is_some_and(|m| c.done.len() as u64 >= m) {
            return Some(EndReason::MinRequests);
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
        if let (Some(sat), Some(watch)) = (&self.saturation, w.saturation.as_mut()) {
            if watch.observe(c, now, start_ns) && sat.mode == SaturationMode::Enforce {
                return Some(EndReason::OverSaturated);
            }
        }
        if let Some(s) = self.engine_stall_s {
            if c.stall_ns(now) > (s * 1e9) as u64 {
                return Some(EndReason::EngineStalled);
            }
        }
        if let (Some(d), Some(dw)) = (&self.decide, w.decide.as_mut()) {
            if dw.observe(d, c, start_ns, w.first_id).is_some() {
                return Some(EndReason::AttainmentDecided);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_benchmark_values_index_as_guidellm_does() {
        let v = PerBenchmark::new(vec![10.0, 20.0]).unwrap();
        assert_eq!(
            (v.at(0), v.at(1), v.at(2), v.at(9)),
            (10.0, 20.0, 20.0, 20.0)
        );
        assert!(PerBenchmark::<f64>::new(vec![]).is_none());
        assert_eq!(
            serde_json::to_string(&PerBenchmark::one(5u64)).unwrap(),
            "5"
        );
        assert_eq!(serde_json::to_string(&v).unwrap(), "[10.0,20.0]");
        let back: PerBenchmark<f64> = serde_json::from_str("7.5").unwrap();
        assert_eq!(back, PerBenchmark::one(7.5));
        let back: PerBenchmark<u64> = serde_json::from_str("[1, 2]").unwrap();
        assert_eq!(back.values(), &[1, 2]);
        assert!(serde_json::from_str::<PerBenchmark<u64>>("[]").is_err());
    }

    #[test]
    fn each_benchmark_gets_its_own_values() {
        let l = Limits {
            max_requests: PerBenchmark::new(vec![5, 10]),
            max_seconds: Some(PerBenchmark::one(30.0)),
            ..Default::default()
        };
        let at = |i| l.constraints(i, None);
        assert_eq!(at(0).max_requests, Some(5));
        assert_eq!(at(1).max_requests, Some(10));
        assert_eq!(at(2).max_requests, Some(10), "the last value repeats");
        assert_eq!(at(2).max_seconds, Some(30.0));
    }

    #[test]
    fn the_scope_all_of_an_ending() {
        let l = Limits {
            max_errors: Some(PerBenchmark::one(1)),
            stopping_scope_all: vec![ConstraintKind::MaxErrors],
            ..Default::default()
        };
        assert_eq!(
            l.scope_all(EndReason::MaxErrors),
            Some(ConstraintKind::MaxErrors)
        );
        assert_eq!(l.scope_all(EndReason::MaxSeconds), None);
        assert_eq!(l.scope_all(EndReason::Interrupted), None);
        assert_eq!(
            (
                l.scope(ConstraintKind::MaxErrors),
                l.scope(ConstraintKind::MaxDuration)
            ),
            ("all", "current")
        );
    }
}
