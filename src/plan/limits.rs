//! What ends a benchmark (`--max-seconds`, `--max-requests`, the error limits, over-saturation),
//! how it starts (`--rampup`), and what its metrics leave out (`--warmup`, `--cooldown`).

use crate::bail_usage;
use crate::cli::RunArgs;
use crate::error::UsageError;
pub use crate::metrics::window::{Amount, Window};
pub use crate::scheduler::Limits;
use crate::scheduler::{Constraints, Profile, Saturation};
use anyhow::Result;

impl Limits {
    /// The limits flags, checked one by one and against the `profile` they apply to.
    pub fn from_args(a: &RunArgs, profile: &Profile) -> Result<Limits> {
        let limits = Limits {
            max_seconds: match a.max_seconds {
                Some(s) if !(s > 0.0) || !s.is_finite() => {
                    bail_usage!("--max-seconds must be greater than 0 (got {s})")
                }
                s => s,
            },
            max_requests: match a.max_requests {
                Some(n) if n < 1 => bail_usage!("--max-requests must be at least 1 (got {n})"),
                n => n.map(|n| n as u64),
            },
            max_errors: match a.max_errors {
                Some(n) if n < 0 => bail_usage!("--max-errors must be 0 or more (got {n})"),
                n => n.map(|n| n as u64),
            },
            max_error_rate: fraction("--max-error-rate", a.max_error_rate)?,
            max_global_error_rate: fraction("--max-global-error-rate", a.max_global_error_rate)?,
            saturation: saturation(a.over_saturation.as_deref(), a.detect_saturation)?,
            rampup: match a.rampup {
                None => 0.0,
                Some(r) if !(r >= 0.0) || !r.is_finite() => {
                    bail_usage!("--rampup must be 0 or more seconds (got {r})")
                }
                Some(r) => r,
            },
        };
        if limits.rampup > 0.0 && matches!(profile, Profile::Synchronous | Profile::Poisson(_)) {
            bail_usage!("--rampup applies to constant, concurrent and throughput benchmarks, not to --profile {}", profile.name());
        }
        Ok(limits)
    }

    /// The scheduler's constraints for one benchmark, with the engine watchdog's timeout.
    pub fn constraints(&self, engine_stall_s: Option<f64>) -> Constraints {
        Constraints {
            max_seconds: self.max_seconds,
            max_requests: self.max_requests,
            max_errors: self.max_errors,
            max_error_rate: self.max_error_rate,
            max_global_error_rate: self.max_global_error_rate,
            saturation: self.saturation.clone(),
            engine_stall_s,
        }
    }
}

fn fraction(flag: &str, v: Option<f64>) -> Result<Option<f64>> {
    match v {
        Some(x) if !(x > 0.0 && x <= 1.0) => {
            bail_usage!("{flag} must be a fraction greater than 0 and at most 1 (got {x})")
        }
        v => Ok(v),
    }
}

/// `--over-saturation JSON` (which implies `--detect-saturation`), or the defaults.
fn saturation(json: Option<&str>, detect: bool) -> Result<Option<Saturation>> {
    Ok(match (json, detect) {
        (Some(j), _) => Some(serde_json::from_str::<Saturation>(j).map_err(|e| {
            UsageError::new(format!("--over-saturation must be a JSON object with min_seconds, window_seconds, min_growth ({e})"))
        })?),
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
    /// when --max-seconds is given".
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
            max_seconds: limits.max_seconds,
        };
        let fractions = Amount::fraction(window.warmup) + Amount::fraction(window.cooldown);
        if fractions >= 1.0 {
            bail_usage!("--warmup {} and --cooldown {} leave no measurement window (their fractions must add up to less than 1)", warmup.unwrap_or(0.0), cooldown.unwrap_or(0.0));
        }
        let whole_span = if window.by_time {
            limits.max_seconds
        } else {
            limits.max_requests.map(|n| n as f64)
        };
        if let Some(span) = whole_span {
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
}
