//! `--confidence` (the 0.6 form) and `--metrics kind=generative,confidence=…` (the `run` form):
//! the level of the confidence intervals around each benchmark's figures, or none
//! (docs/metrics.md, "Confidence intervals").

use crate::bail_usage;
use anyhow::Result;

/// GuideLLM's default level, and llmbench's.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// The level `text` asks for (None: the default, 0.95); `none`, `null` or `off` turn intervals
/// off. `spec_form` picks the option named in errors.
pub fn confidence(text: Option<&str>, spec_form: bool) -> Result<Option<f64>> {
    let Some(text) = text.map(str::trim) else {
        return Ok(Some(DEFAULT_CONFIDENCE));
    };
    if ["none", "null", "off"].contains(&text.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    let (flag, off) = if spec_form {
        ("--metrics kind=generative: confidence", "null")
    } else {
        ("--confidence", "none")
    };
    match text.parse::<f64>() {
        Ok(x) if x > 0.5 && x < 1.0 => Ok(Some(x)),
        _ => bail_usage!(
            "{flag} must be a level between 0.5 and 1, both excluded (e.g. 0.95), or {off} to turn confidence intervals off, not {text}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_between_a_half_and_one_or_none() {
        assert_eq!(confidence(None, false).unwrap(), Some(0.95));
        assert_eq!(confidence(Some("0.99"), false).unwrap(), Some(0.99));
        assert_eq!(confidence(Some(" 0.9 "), true).unwrap(), Some(0.9));
        for off in ["none", "null", "Off"] {
            assert_eq!(confidence(Some(off), false).unwrap(), None);
        }
        for bad in ["0.5", "1", "95", "-0.9", "abc", "", "NaN"] {
            let e = confidence(Some(bad), false).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--confidence must be a level between 0.5 and 1, both excluded (e.g. 0.95), or none to turn confidence intervals off, not {bad}")
            );
        }
        let e = confidence(Some("2"), true).unwrap_err().to_string();
        assert!(
            e.starts_with("--metrics kind=generative: confidence must be") && e.contains("or null"),
            "{e}"
        );
    }
}
