//! Reading one spec object: its `kind` checked against the option's kinds, its keys against
//! that kind's keys, and each value's type — every error one sentence naming the option, the
//! kind, the key and what would be valid.

use crate::error::UsageError;
use anyhow::Result;
use serde_json::{Map, Value};

/// What llmbench does with a kind or a key GuideLLM 0.8.1 has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Honoured.
    Yes,
    /// Parsed, and refused until another open issue builds it.
    NotYet,
}

/// A kind of an option: its name (and aliases), and its keys with their support.
pub struct Kind {
    pub names: &'static [&'static str],
    pub keys: &'static [(&'static str, Support)],
    /// Why the kind is refused (`None`: it is accepted, or not yet supported by `support`).
    pub refused: Option<&'static str>,
    pub support: Support,
}

/// One spec object, with the option it came from, being read key by key.
pub struct Spec {
    pub option: String,
    pub kind: String,
    pub map: Map<String, Value>,
}

impl Spec {
    /// Checks `value` (an object with `kind`) against `kinds`, and each key against the
    /// kind's keys; `default_kind` is used when `kind` is missing, if given.
    pub fn read(
        option: &str,
        value: &Value,
        kinds: &'static [Kind],
        default_kind: Option<&str>,
    ) -> Result<(Spec, &'static Kind)> {
        let all: Vec<&str> = kinds.iter().map(|k| k.names[0]).collect();
        let Value::Object(map) = value else {
            return Err(usage(format!(
                "{option} must be kind=TYPE,key=value,… or an object, not {}",
                crate::plan::json_kind(value)
            )));
        };
        let kind = match map.get("kind") {
            Some(Value::String(k)) => k.clone(),
            None => match default_kind {
                Some(k) => k.to_string(),
                None => {
                    return Err(usage(format!(
                        "{option} needs a kind: kind={}",
                        all.join("|")
                    )))
                }
            },
            Some(other) => {
                return Err(usage(format!(
                    "{option}: kind must be a string ({}), not {other}",
                    all.join(", ")
                )))
            }
        };
        let Some(k) = kinds.iter().find(|k| k.names.contains(&kind.as_str())) else {
            return Err(usage(format!(
                "{option}: unknown kind `{kind}`; valid kinds are {}",
                all.join(", ")
            )));
        };
        if let Some(why) = k.refused {
            return Err(usage(format!("{option} kind={kind} is refused: {why}")));
        }
        if k.support == Support::NotYet {
            return Err(usage(format!(
                "{option} kind={kind} is not supported yet by llmbench; supported kinds are {}",
                kinds
                    .iter()
                    .filter(|k| k.refused.is_none() && k.support == Support::Yes)
                    .map(|k| k.names[0])
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for key in map.keys().filter(|key| key.as_str() != "kind") {
            let norm = key.replace('-', "_");
            match k.keys.iter().find(|(n, _)| *n == norm) {
                None => {
                    let valid: Vec<&str> = k.keys.iter().map(|(n, _)| *n).collect();
                    return Err(usage(format!(
                        "{option} kind={kind}: unknown key `{key}`; valid keys are {}",
                        if valid.is_empty() {
                            "none (kind only)".to_string()
                        } else {
                            valid.join(", ")
                        }
                    )));
                }
                Some((_, Support::NotYet)) if !map[key].is_null() => {
                    return Err(usage(format!(
                        "{option} kind={kind}: `{key}` is not supported yet by llmbench"
                    )));
                }
                Some(_) => {}
            }
        }
        let map = map
            .iter()
            .map(|(k, v)| (k.replace('-', "_"), v.clone()))
            .collect();
        Ok((
            Spec {
                option: option.to_string(),
                kind,
                map,
            },
            k,
        ))
    }

    fn at(&self) -> String {
        format!("{} kind={}", self.option, self.kind)
    }

    pub fn err(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        usage(format!("{}: {msg}", self.at()))
    }

    /// The value of `key`, treating null as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The value of `key`, null included (for a key whose null means something).
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| self.err(format!("{key} must be a number, not {v}"))),
        }
    }

    /// A number ≥ 0 that is whole.
    pub fn count(&self, key: &str) -> Result<Option<u64>> {
        match self.f64(key)? {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 => Ok(Some(x as u64)),
            Some(x) => Err(self.err(format!("{key} must be a whole number ≥ 0, not {x}"))),
        }
    }

    pub fn str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(self.err(format!("{key} must be a string, not {v}"))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(self.err(format!("{key} must be true or false, not {v}"))),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            // A JSON object given as a string (e.g. from a YAML file).
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(self.err(format!("{key} must be a JSON object, not {s:?}"))),
            },
            Some(v) => Err(self.err(format!("{key} must be a JSON object, not {v}"))),
        }
    }

    /// A number or a list of numbers (GuideLLM's rate-like fields).
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    number(v).ok_or_else(|| {
                        self.err(format!(
                            "{key} must be a number or a list of numbers, not {v}"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => number(v).map(|x| Some(vec![x])).ok_or_else(|| {
                self.err(format!(
                    "{key} must be a number or a list of numbers, not {v}"
                ))
            }),
        }
    }

    /// Refuses `key` unless it is absent or equal to GuideLLM's default `default` (a value
    /// GuideLLM writes back when it saves a spec); `why` ends the sentence.
    pub fn default_only(&self, key: &str, default: &Value, why: &str) -> Result<()> {
        match self.get(key) {
            Some(v) if !same(v, default) => Err(self.err(format!("{key}={v} {why}"))),
            _ => Ok(()),
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A JSON number, or a string holding one (values from a YAML file or the environment).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn usage(msg: String) -> anyhow::Error {
    UsageError::new(msg).into()
}
