//! What ends a benchmark (`--max-seconds`, `--max-requests`, `--min-requests`, the error limits,
//! over-saturation; each a value or one per benchmark), whether that also ends the profile
//! (`--stopping-scope-all`), how it starts (`--rampup`), and what its metrics leave out
//! (`--warmup`, `--cooldown`).

use crate::bail_usage;
use crate::cli::{RunArgs, Values};
use crate::error::UsageError;
pub use crate::metrics::window::{Amount, Window};
use crate::scheduler::saturation::SATURATION_KEYS;
pub use crate::scheduler::Limits;
use crate::scheduler::{ConstraintKind, PerBenchmark, Profile, Saturation};
use anyhow::Result;

impl Limits {
    /// The limits flags, checked one by one and against the `profile` they apply to.
    pub fn from_args(a: &RunArgs, profile: &Profile) -> Result<Limits> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        let mut limits = Limits {
            max_seconds: per_benchmark(
                "--max-seconds",
                &a.max_seconds,
                positive,
                ["greater than 0"; 2],
                |x| x,
            )?,
            max_requests: per_benchmark(
                "--max-requests",
                &a.max_requests,
                |x| x >= 1.0 && x.fract() == 0.0,
                ["a whole number ≥ 1", "whole numbers ≥ 1"],
                |x| x as u64,
            )?,
            min_requests: per_benchmark(
                "--min-requests",
                &a.min_requests,
                |x| x >= 1.0 && x.fract() == 0.0,
                ["a whole number ≥ 1", "whole numbers ≥ 1"],
                |x| x as u64,
            )?,
            max_errors: per_benchmark(
                "--max-errors",
                &a.max_errors,
                |x| x >= 0.0 && x.fract() == 0.0,
                ["a whole number ≥ 0", "whole numbers ≥ 0"],
                |x| x as u64,
            )?,
            max_error_rate: per_benchmark(
                "--max-error-rate",
                &a.max_error_rate,
                |x| x > 0.0 && x <= 1.0,
                [
                    "a fraction greater than 0 and at most 1",
                    "fractions greater than 0 and at most 1",
                ],
                |x| x,
            )?,
            max_global_error_rate: per_benchmark(
                "--max-global-error-rate",
                &a.max_global_error_rate,
                |x| x > 0.0 && x <= 1.0,
                [
                    "a fraction greater than 0 and at most 1",
                    "fractions greater than 0 and at most 1",
                ],
                |x| x,
            )?,
            saturation: saturation(a.over_saturation.as_deref(), a.detect_saturation)?,
            rampup: match a.rampup {
                None => 0.0,
                Some(r) if !(r >= 0.0) || !r.is_finite() => {
                    bail_usage!("--rampup must be 0 or more seconds (got {r})")
                }
                Some(r) => r,
            },
            stopping_scope_all: Vec::new(),
        };
        limits.stopping_scope_all = scope_all(a.stopping_scope_all.as_deref(), &limits)?;
        if limits.rampup > 0.0
            && matches!(
                profile,
                Profile::Synchronous | Profile::Poisson(_) | Profile::Replay(_)
            )
        {
            bail_usage!("--rampup applies to constant, concurrent and throughput benchmarks, not to --profile {}", profile.name());
        }
        Ok(limits)
    }
}

/// A limit flag's values, one per benchmark, each checked by `ok`; `what` is the rule for one
/// value and for several ("greater than 0", "whole numbers ≥ 1").
fn per_benchmark<T: Copy>(
    flag: &str,
    v: &Option<Values>,
    ok: impl Fn(f64) -> bool,
    what: [&str; 2],
    to: impl Fn(f64) -> T,
) -> Result<Option<PerBenchmark<T>>> {
    let Some(Values(values)) = v else {
        return Ok(None);
    };
    if let Some(bad) = values.iter().find(|x| !ok(**x)) {
        if values.len() == 1 {
            bail_usage!("{flag} must be {} (got {bad})", what[0]);
        }
        bail_usage!("{flag} values must be {} (got {bad})", what[1]);
    }
    Ok(PerBenchmark::new(values.iter().map(|x| to(*x)).collect()))
}

/// `--stopping-scope-all`: constraint kinds, each of them set.
fn scope_all(list: Option<&str>, l: &Limits) -> Result<Vec<ConstraintKind>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let valid = ConstraintKind::ALL.map(|k| k.name()).join(", ");
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(k) = ConstraintKind::from_name(name) else {
            bail_usage!(
                "--stopping-scope-all: unknown constraint `{name}`; valid ones are {valid}"
            );
        };
        if !l.has(k) {
            let flag = match k {
                ConstraintKind::MaxDuration => "--max-seconds",
                ConstraintKind::MaxRequests => "--max-requests",
                ConstraintKind::MinRequests => "--min-requests",
                ConstraintKind::MaxErrors => "--max-errors",
                ConstraintKind::MaxErrorRate => "--max-error-rate",
                ConstraintKind::MaxGlobalErrorRate => "--max-global-error-rate",
                ConstraintKind::OverSaturation => "--detect-saturation or --over-saturation",
            };
            bail_usage!("--stopping-scope-all {name}: that constraint is not set; set {flag} too");
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        bail_usage!("--stopping-scope-all needs constraint names: {valid}");
    }
    Ok(out)
}

/// `--over-saturation JSON` (which implies `--detect-saturation`), or GuideLLM's defaults.
fn saturation(json: Option<&str>, detect: bool) -> Result<Option<Saturation>> {
    Ok(match (json, detect) {
        (Some(j), _) => {
            let m = match serde_json::from_str::<serde_json::Value>(j) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => bail_usage!("--over-saturation must be a JSON object of {SATURATION_KEYS}, e.g. '{{\"min_seconds\": 30}}'"),
            };
            Some(
                Saturation::parse(&m)
                    .map_err(|e| UsageError::new(format!("--over-saturation: {e}")))?,
            )
        }
        (None, true) => Some(Saturation::default()),
        (None, false) => None,
    })
}

impl Amount {
    fn parse(flag: &str, v: Option<f64>) -> Result<Option<Amount>> {
        match v {
            None => Ok(None),
            Some(x) if !(x >= 0.0) || !x.is_finite() => {
                bail_usage!("{flag} must be 0 or more (got {x})")
            }
            Some(x) if x == 0.0 => Ok(None),
            Some(x) if x < 1.0 => Ok(Some(Amount::Fraction(x))),
            Some(x) => Ok(Some(Amount::Absolute(x))),
        }
    }

    fn fraction(a: Option<Amount>) -> f64 {
        match a {
            Some(Amount::Fraction(f)) => f,
            _ => 0.0,
        }
    }

    fn absolute(a: Option<Amount>) -> f64 {
        match a {
            Some(Amount::Absolute(x)) => x,
            _ => 0.0,
        }
    }
}

impl Window {
    /// `--warmup` and `--cooldown`, which must leave some of each benchmark to measure.
    /// `by_time`: the amounts are of time (else of requests); the 0.6 form's rule is "of time
    /// when --max-seconds is given". The window holds benchmark 0's `--max-seconds`; `at` gives
    /// another benchmark's.
    pub fn new(
        warmup: Option<f64>,
        cooldown: Option<f64>,
        limits: &Limits,
        by_time: bool,
    ) -> Result<Window> {
        let window = Window {
            warmup: Amount::parse("--warmup", warmup)?,
            cooldown: Amount::parse("--cooldown", cooldown)?,
            by_time,
            max_seconds: limits.max_seconds.as_ref().map(|v| v.at(0)),
        };
        let fractions = Amount::fraction(window.warmup) + Amount::fraction(window.cooldown);
        if fractions >= 1.0 {
            bail_usage!("--warmup {} and --cooldown {} leave no measurement window (their fractions must add up to less than 1)", warmup.unwrap_or(0.0), cooldown.unwrap_or(0.0));
        }
        let spans: Vec<f64> = if window.by_time {
            limits
                .max_seconds
                .iter()
                .flat_map(|v| v.values().to_vec())
                .collect()
        } else {
            let n = limits.max_requests.iter().flat_map(|v| v.values().to_vec());
            n.map(|n| n as f64).collect()
        };
        for span in spans {
            let cut = Amount::absolute(window.warmup)
                + Amount::absolute(window.cooldown)
                + fractions * span;
            if cut >= span {
                let unit = if window.by_time {
                    "seconds of --max-seconds"
                } else {
                    "requests of --max-requests"
                };
                bail_usage!("--warmup and --cooldown cut {cut} of the {span} {unit}, leaving no measurement window");
            }
        }
        Ok(window)
    }

    /// The window of benchmark `index` of a model's profile (its own `--max-seconds`).
    pub fn at(&self, limits: &Limits, index: usize) -> Window {
        Window {
            max_seconds: limits.max_seconds.as_ref().map(|v| v.at(index)),
            ..self.clone()
        }
    }
}
