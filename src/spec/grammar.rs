//! GuideLLM 0.8's spec grammar: an option's value is `kind=TYPE,key=value,…` or the same as a
//! JSON or YAML object. Values are YAML scalars (`4` a number, `true` a boolean, `[4, 16]` a
//! list, `{"max_model_len": 4096}` an object); keys may be paths (`prefix.tokens=15`,
//! `items[0]=a`). Unlike GuideLLM's parser, commas inside brackets, braces or quotes do not
//! split pairs, so `streams=[4,16]` and `vllm_config={"a": 1, "b": 2}` work unquoted.

use crate::error::UsageError;
use anyhow::Result;
use serde_json::{Map, Value};

/// Parses one option's spec (`option` names it in errors) into a JSON object.
pub fn parse(option: &str, raw: &str) -> Result<Map<String, Value>> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(usage(
            option,
            "is empty; give kind=TYPE,key=value,… or a JSON object",
        ));
    }
    // `key=value` pairs when the first key ends at `=` (before any `:` or `{`), else a JSON
    // or YAML object.
    let first = split_top_level(text)[0];
    let kv = match (first.find('='), first.find([':', '{'])) {
        (Some(eq), Some(other)) => eq < other,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !kv {
        return match serde_yaml_ng::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(usage(
                option,
                &format!(
                    "must be kind=TYPE,key=value,… or a JSON/YAML object, not {}",
                    crate::plan::json_kind(&other)
                ),
            )),
            Err(e) if text.starts_with('{') => Err(usage(
                option,
                &format!(
                    "is not a valid JSON object ({})",
                    serde_json::from_str::<Value>(text)
                        .err()
                        .map_or(e.to_string(), |e| e.to_string())
                ),
            )),
            Err(_) => Err(usage(
                option,
                &format!(
                    "`{text}` is not key=value (write kind=TYPE,key=value,… or a JSON object)"
                ),
            )),
        };
    }
    let mut out = Map::new();
    for pair in split_top_level(text) {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((k, v)) = pair.split_once('=') else {
            return Err(usage(
                option,
                &format!(
                    "`{pair}` is not key=value (write kind=TYPE,key=value,… or a JSON object)"
                ),
            ));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err(usage(option, &format!("`{pair}` has no key")));
        }
        set_path(&mut out, key, scalar(v.trim()), false).map_err(|e| usage(option, &e))?;
    }
    Ok(out)
}

fn usage(option: &str, msg: &str) -> anyhow::Error {
    UsageError::new(format!("{option} {msg}")).into()
}

/// A value as YAML reads it (numbers, booleans, null, lists, objects), else the string.
pub fn scalar(v: &str) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    match serde_yaml_ng::from_str::<Value>(v) {
        Ok(x) => x,
        Err(_) => Value::String(v.to_string()),
    }
}

/// Splits on commas that are not inside (), [], {} or quotes.
pub fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// One segment of a key path: `name` or `name[index]`.
fn segments(path: &str) -> Result<Vec<(String, Option<usize>)>, String> {
    path.split('.')
        .map(|part| {
            let part = part.trim();
            if let Some(open) = part.find('[') {
                let close = part
                    .strip_suffix(']')
                    .ok_or_else(|| format!("key `{path}`: `{part}` is not name or name[index]"))?;
                let idx: usize = close[open + 1..]
                    .parse()
                    .map_err(|_| format!("key `{path}`: `{part}` has no whole-number index"))?;
                Ok((part[..open].to_string(), Some(idx)))
            } else if part.is_empty() {
                Err(format!("key `{path}` has an empty segment"))
            } else {
                Ok((part.to_string(), None))
            }
        })
        .collect()
}

/// Sets `value` at `path` (`a.b[2].c`) in `obj`, creating objects and lists on the way. With
/// `overwrite` false, a path already set is an error (a key given twice in one spec).
pub fn set_path(
    obj: &mut Map<String, Value>,
    path: &str,
    value: Value,
    overwrite: bool,
) -> Result<(), String> {
    let segs = segments(path)?;
    let mut cur: &mut Map<String, Value> = obj;
    for (i, (name, idx)) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match idx {
            None if last => {
                if !overwrite && cur.contains_key(name) {
                    return Err(format!("gives `{path}` twice"));
                }
                cur.insert(name.clone(), value);
                return Ok(());
            }
            None => {
                let slot = cur
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    if !overwrite {
                        return Err(format!("`{path}`: `{name}` is already set to a value"));
                    }
                    *slot = Value::Object(Map::new());
                }
                cur = slot.as_object_mut().expect("object");
            }
            Some(k) => {
                let slot = cur
                    .entry(name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    if !overwrite {
                        return Err(format!("`{path}`: `{name}` is already set to a value"));
                    }
                    *slot = Value::Array(Vec::new());
                }
                let list = slot.as_array_mut().expect("array");
                while list.len() <= *k {
                    list.push(Value::Null);
                }
                if last {
                    if !overwrite && !list[*k].is_null() {
                        return Err(format!("gives `{path}` twice"));
                    }
                    list[*k] = value;
                    return Ok(());
                }
                if !list[*k].is_object() {
                    list[*k] = Value::Object(Map::new());
                }
                cur = list[*k].as_object_mut().expect("object");
            }
        }
    }
    Ok(())
}

/// Lays `top` over `base`: objects merge key by key, except that an object whose `kind`
/// differs from the one below replaces it whole (keys of another kind would not apply);
/// anything else (lists included) replaces.
pub fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            let kind_changes =
                matches!((b.get("kind"), t.get("kind")), (Some(x), Some(y)) if x != y);
            if kind_changes {
                *b = t;
                return;
            }
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        Value::Object(parse("--profile", s).unwrap())
    }

    #[test]
    fn key_value_pairs_with_yaml_scalars_and_nested_json() {
        assert_eq!(
            p("kind=sweep,sweep_size=4"),
            json!({"kind": "sweep", "sweep_size": 4})
        );
        assert_eq!(
            p("kind=concurrent, streams=[4,16] ,rampup_duration=0.5"),
            json!({"kind": "concurrent", "streams": [4, 16], "rampup_duration": 0.5})
        );
        assert_eq!(
            p(
                r#"kind=vllm_python,model=Qwen/Qwen3-0.6B,vllm_config={"max_model_len": 4096, "enforce_eager": true}"#
            ),
            json!({"kind": "vllm_python", "model": "Qwen/Qwen3-0.6B",
                   "vllm_config": {"max_model_len": 4096, "enforce_eager": true}})
        );
        assert_eq!(
            p("kind=x,warmup.percent=0.1,warmup.mode=requests,items[1]=b"),
            json!({"kind": "x", "warmup": {"percent": 0.1, "mode": "requests"}, "items": [null, "b"]})
        );
        assert_eq!(
            p("kind=x,flag=true,none="),
            json!({"kind": "x", "flag": true, "none": null})
        );
    }

    #[test]
    fn json_and_yaml_objects() {
        assert_eq!(
            p(r#"{"kind": "sweep", "sweep_size": 4}"#),
            json!({"kind": "sweep", "sweep_size": 4})
        );
        assert_eq!(
            p("kind: concurrent\nstreams: [1, 8]"),
            json!({"kind": "concurrent", "streams": [1, 8]})
        );
    }

    #[test]
    fn bad_specs_name_the_option() {
        for (s, want) in [
            ("", "is empty"),
            ("kind=sweep,oops", "`oops` is not key=value"),
            ("kind=sweep,kind=poisson", "gives `kind` twice"),
            ("[1, 2]", "not an array"),
            (r#"{"kind": "sweep""#, "not a valid JSON object"),
            ("=3", "has no key"),
        ] {
            let e = parse("--profile", s).unwrap_err().to_string();
            assert!(
                e.starts_with("--profile ") && e.contains(want),
                "{s:?}: {e}"
            );
        }
    }

    #[test]
    fn merge_replaces_an_object_of_another_kind() {
        let mut base = json!({"profile": {"kind": "sweep", "sweep_size": 4}, "data": [1]});
        merge(
            &mut base,
            json!({"profile": {"kind": "sweep", "rampup_duration": 1}}),
        );
        assert_eq!(
            base["profile"],
            json!({"kind": "sweep", "sweep_size": 4, "rampup_duration": 1})
        );
        merge(
            &mut base,
            json!({"profile": {"kind": "concurrent", "streams": [2]}, "data": [2, 3]}),
        );
        assert_eq!(
            base,
            json!({"profile": {"kind": "concurrent", "streams": [2]}, "data": [2, 3]})
        );
    }
}
