//! Reading a saved report of an older version: `benchmark from-file` migrates it on read.
//!
//! Version 1 → 2 (docs/cli.md, "Report layout"): the top-level `config` became
//! `llmbench_config` and each benchmark's `requests` list became `records`, freeing both names
//! for GuideLLM's report. Distributions of early version-1 reports named `p99_9` `p999` and had
//! no `p50`; `p50` is their median (the same percentile).

use serde_json::Value;

/// `v` in the current layout, or one sentence saying why it cannot be read.
pub fn to_current(mut v: Value) -> Result<Value, String> {
    let version = v.get("report_version").and_then(Value::as_u64);
    match version {
        Some(1) => {
            v1_to_v2(&mut v);
            Ok(v)
        }
        Some(n) if n == super::REPORT_VERSION as u64 => Ok(v),
        Some(n) => Err(format!(
            "report version {n} is newer than this llmbench reads (up to {}); upgrade llmbench",
            super::REPORT_VERSION
        )),
        None => Err("not an llmbench report (no \"report_version\")".into()),
    }
}

fn rename(m: &mut serde_json::Map<String, Value>, from: &str, to: &str) {
    if let Some(x) = m.remove(from) {
        m.insert(to.into(), x);
    }
}

fn v1_to_v2(v: &mut Value) {
    let Some(root) = v.as_object_mut() else {
        return;
    };
    root.insert("report_version".into(), Value::from(2));
    rename(root, "config", "llmbench_config");
    // Keep the key order of a version-2 report (`llmbench_config` after `host`).
    let order = [
        "report_version",
        "llmbench_version",
        "partial",
        "interrupted",
        "command",
        "random_seed",
        "clock",
        "host",
        "llmbench_config",
        "models",
        "benchmarks",
    ];
    let mut sorted: serde_json::Map<String, Value> = serde_json::Map::new();
    for k in order {
        if let Some(x) = root.remove(k) {
            sorted.insert(k.into(), x);
        }
    }
    sorted.extend(std::mem::take(root));
    *root = sorted;
    for b in root
        .get_mut("benchmarks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        rename(b, "requests", "records");
        for k in ["summary", "headroom"] {
            if let Some(x) = b.get_mut(k) {
                old_distributions(x);
            }
        }
    }
}

/// `p999` → `p99_9`, and a missing `p50` from the median, in every distribution below `v`.
fn old_distributions(v: &mut Value) {
    let Some(m) = v.as_object_mut() else {
        return;
    };
    if m.contains_key("count") && m.contains_key("mean") {
        if !m.contains_key("p99_9") {
            rename(m, "p999", "p99_9");
        }
        if let (false, Some(med)) = (m.contains_key("p50"), m.get("median").cloned()) {
            m.insert("p50".into(), med);
        }
        return;
    }
    m.values_mut().for_each(old_distributions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_1_names_move_and_newer_versions_are_refused() {
        let v1 = json!({"report_version": 1, "config": {"engine": "mock"}, "models": [],
            "benchmarks": [{"requests": [{"id": 1}], "summary": {"ttft_ms": {"count": 1, "mean": 2.0, "median": 2.0, "p999": 3.0}}}]});
        let v2 = to_current(v1).unwrap();
        assert_eq!(v2["report_version"], 2);
        assert_eq!(v2["llmbench_config"]["engine"], "mock");
        assert!(v2.get("config").is_none());
        assert_eq!(v2["benchmarks"][0]["records"][0]["id"], 1);
        assert!(v2["benchmarks"][0].get("requests").is_none());
        let d = &v2["benchmarks"][0]["summary"]["ttft_ms"];
        assert_eq!(
            (d["p99_9"].clone(), d["p50"].clone()),
            (json!(3.0), json!(2.0))
        );
        let e = to_current(json!({"report_version": 7, "benchmarks": []})).unwrap_err();
        assert!(
            e.contains("report version 7") && e.contains("upgrade llmbench"),
            "{e}"
        );
    }
}
