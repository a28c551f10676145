//! The report as YAML: the same data as the JSON report, key for key (`serde_yaml_ng`, the
//! maintained fork of the archived `serde_yaml`).

use anyhow::Result;
use serde::Serialize;

/// The report (or any serializable value) as a YAML document. Integers stay integers, floats
/// keep their shortest exact form, and strings YAML would read as something else (`yes`, `1.0`,
/// `null`…) are quoted, so parsing the YAML back gives the JSON report's values.
pub fn render<T: Serialize>(report: &T) -> String {
    let mut out = Vec::new();
    match write(report, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        // Keep the output a valid YAML document anyway.
        Err(e) => format!("# llmbench could not render this report as YAML: {e}\n"),
    }
}

/// The report as YAML, streamed to `w`. An enum with data is written as the one-key map JSON
/// has (`profile: {concurrent: [1, 2]}`), not as a YAML tag (`!concurrent`).
pub fn write<T: Serialize>(report: &T, w: &mut dyn std::io::Write) -> Result<()> {
    let mut ser = serde_yaml_ng::Serializer::new(w);
    serde_yaml_ng::with::singleton_map_recursive::serialize(report, &mut ser)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn round_trips_awkward_values() {
        let v = json!({
            "a": 1, "b": -2.5, "c": 0.1, "d": 1e-9, "e": 18446744073709551615u64,
            "strings": ["yes", "no", "null", "1.0", "~", "", "a: b", "- x", "#c", "multi\nline"],
            "n": null, "t": true, "nested": {"p99_9": 3.25, "list": []}
        });
        let back: Value = serde_yaml_ng::from_str(&render(&v)).unwrap();
        assert_eq!(back, v);
    }
}
