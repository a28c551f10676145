//! `--slo` (the 0.6 form) and `--metrics kind=generative,slo={…}` (the `run` form): per-request
//! latency targets, ms (docs/metrics.md, "SLOs and goodput").

use crate::bail_usage;
use crate::metrics::slo::{Slo, SLO_KEYS};
use anyhow::Result;
use serde_json::Value;

/// The SLO JSON object `text` (None: no SLO); `spec_form` picks the option named in errors.
pub fn slo(text: Option<&str>, spec_form: bool) -> Result<Option<Slo>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let flag = if spec_form {
        "--metrics kind=generative: slo"
    } else {
        "--slo"
    };
    let valid = SLO_KEYS.join(", ");
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        Ok(Value::Null) => return Ok(None),
        Ok(v) => bail_usage!(
            "{flag} must be a JSON object of targets in ms ({valid}), e.g. {{\"ttft_ms\": 500, \"tpot_ms\": 50}}, not {}",
            crate::plan::json_kind(&v)
        ),
        Err(e) => bail_usage!(
            "{flag} must be a JSON object of targets in ms ({valid}), e.g. {{\"ttft_ms\": 500, \"tpot_ms\": 50}}: {e}"
        ),
    };
    let mut slo = Slo::default();
    for (key, v) in &map {
        if v.is_null() {
            continue;
        }
        let x = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if !SLO_KEYS.contains(&key.as_str()) {
            bail_usage!("{flag}: unknown key `{key}`; valid keys are {valid}");
        }
        match x {
            Some(x) if x > 0.0 && x.is_finite() => {
                slo.set(key, x);
            }
            _ => bail_usage!(
                "{flag}: {key} must be a number of milliseconds > 0, not {v} (valid keys are {valid})"
            ),
        }
    }
    if slo.targets().is_empty() {
        bail_usage!("{flag} sets no target: give at least one of {valid} (ms)");
    }
    Ok(Some(slo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_and_refuses_bad_ones_in_one_sentence() {
        let s = slo(Some(r#"{"ttft_ms": 500, "itl_ms": "20"}"#), false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.ttft_ms, s.itl_ms, s.tpot_ms),
            (Some(500.0), Some(20.0), None)
        );
        assert!(slo(None, false).unwrap().is_none());
        for (text, want) in [
            (
                r#"{"ttft": 5}"#,
                "--slo: unknown key `ttft`; valid keys are ttft_ms, tpot_ms, e2el_ms, itl_ms",
            ),
            (
                r#"{"tpot_ms": 0}"#,
                "--slo: tpot_ms must be a number of milliseconds > 0, not 0",
            ),
            (
                r#"{"e2el_ms": -3}"#,
                "e2el_ms must be a number of milliseconds > 0",
            ),
            (
                r#"{"e2el_ms": "x"}"#,
                "e2el_ms must be a number of milliseconds > 0",
            ),
            ("{}", "--slo sets no target"),
            ("[1]", "--slo must be a JSON object"),
        ] {
            let e = slo(Some(text), false).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.replace("e.g.", "").contains(". "), "one sentence: {e}");
        }
        let e = slo(Some(r#"{"x_ms": 1}"#), true).unwrap_err().to_string();
        assert!(
            e.starts_with("--metrics kind=generative: slo: unknown key `x_ms`"),
            "{e}"
        );
    }
}
