//! The report as YAML: the same data as the JSON report, key for key (`serde_yaml_ng`).

use serde_json::Value;

/// The report as a YAML document. Integers stay integers, floats keep their shortest exact
/// form, and strings YAML would read as something else (`yes`, `1.0`, `null`…) are quoted, so
/// parsing the YAML back gives the JSON report's values.
pub fn render(report: &Value) -> String {
    match serde_yaml_ng::to_string(report) {
        Ok(s) => s,
        // A `serde_json::Value` always serializes; keep the output a valid YAML document anyway.
        Err(e) => format!("# llmbench could not render this report as YAML: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
