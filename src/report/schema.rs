//! docs/report-schema.json, generated from the `Report` type (schemars, JSON Schema 2020-12).
//! The type's doc comments are the schema's descriptions; the few constraints serde's derive
//! cannot say (a deprecated key name, the tag of a tagged enum, limits on types owned by the
//! scheduler) are added here. `tests/report_schema.rs` fails when the committed file differs;
//! `LLMBENCH_BLESS=1 cargo test --test report_schema` rewrites it.

use schemars::Schema;
use serde_json::{json, Value};

/// The schema's `$id`, naming the report version it describes.
pub const SCHEMA_ID: &str = "urn:llmbench:report-schema:2";

/// The JSON Schema of `Report`, as docs/report-schema.json holds it.
pub fn report_schema() -> Value {
    let gen = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut v = gen.into_root_schema_for::<super::Report>().to_value();
    if let Some(root) = v.as_object_mut() {
        root.insert("$id".into(), json!(SCHEMA_ID));
        // The header first, `$defs` last, as a reader opens the file.
        let mut m = serde_json::Map::new();
        for k in ["$schema", "$id", "title", "description"] {
            m.extend(root.remove_entry(k));
        }
        let defs = root.remove_entry("$defs");
        m.append(root);
        m.extend(defs);
        *root = m;
    }
    if let Some(variants) = v
        .pointer_mut("/$defs/Strategy/oneOf")
        .and_then(Value::as_array_mut)
    {
        strategy_limits(variants);
    }
    document_variant_keys(&mut v);
    unwrap_descriptions(&mut v);
    v
}

/// Doc comments wrap at 100 columns; a description is one line (paragraphs kept apart).
fn unwrap_descriptions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(d)) = m.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            m.values_mut().for_each(unwrap_descriptions);
        }
        Value::Array(a) => a.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The strategy parameters' limits: at least one stream, a positive rate.
fn strategy_limits(variants: &mut [Value]) {
    for props in variants
        .iter_mut()
        .filter_map(|s| s.get_mut("properties").and_then(Value::as_object_mut))
    {
        for (k, p) in props.iter_mut() {
            match k.as_str() {
                "streams" | "max_concurrency" => p["minimum"] = json!(1),
                "rate" => p["exclusiveMinimum"] = json!(0),
                _ => {}
            }
        }
    }
}

/// A tagged enum's variants carry their doc comment on the variant, not on the key that names
/// it: give that key (`type`'s constant, or an externally tagged variant's one key) the
/// variant's description, so every property of the schema is documented.
fn document_variant_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for key in ["oneOf", "anyOf"] {
                for s in m
                    .get_mut(key)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    describe_keys_of_variant(s);
                }
            }
            m.values_mut().for_each(document_variant_keys);
        }
        Value::Array(a) => a.iter_mut().for_each(document_variant_keys),
        _ => {}
    }
}

fn describe_keys_of_variant(s: &mut Value) {
    let Some(desc) = s
        .get("description")
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return;
    };
    let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let single = props.len() == 1;
    for p in props
        .values_mut()
        .filter(|p| p.get("description").is_none())
    {
        if let Some(c) = p.get("const").and_then(Value::as_str) {
            p["description"] = json!(format!("`{c}`: {desc}"));
        } else if single {
            p["description"] = json!(desc);
        }
    }
}

/// `Headroom`: the scheduler's cost figures (flattened into it) are never negative.
pub fn nonnegative_costs(s: &mut Schema) {
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        for (k, p) in props.iter_mut() {
            if k.starts_with("cpu_seconds_") || k.starts_with("peak_rss_mib_") {
                p["minimum"] = json!(0);
            }
        }
    }
}
