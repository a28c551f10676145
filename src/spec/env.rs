//! GuideLLM's environment variables, as llmbench reads them.
//!
//! The `run` form (GuideLLM 0.8) reads `GUIDELLM__SPEC__<FIELD>` (a spec as JSON, or a value
//! at a deeper `__` path), `GUIDELLM__METADATA__LABELS`, `GUIDELLM__BENCHMARKS` and
//! `GUIDELLM__DEFAULT_RESULTS_DIR`. The 0.6 form reads `GUIDELLM_<FLAG>` and `LLMBENCH_<FLAG>`
//! (`sources.rs`). A set `GUIDELLM_*`/`GUIDELLM__*` variable that the form in use does not
//! read is named in a warning, never dropped silently. `llmbench env` prints both.

use super::grammar;
use crate::error::UsageError;
use anyhow::Result;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Which command line is reading the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `llmbench run` (GuideLLM 0.8).
    Run,
    /// `llmbench benchmark run` (GuideLLM 0.6).
    Benchmark,
}

/// llmbench's own variables, read by both forms.
pub const LLMBENCH_VARS: &[(&str, &str)] = &[
    (
        "LLMBENCH_PYTHON",
        "the worker's Python interpreter (default: the active venv, python3)",
    ),
    ("LLMBENCH_NVIDIA_SMI", "a replacement for nvidia-smi"),
    (
        "LLMBENCH_NO_CPU_LATENCY_HINT",
        "do not hold /dev/cpu_dma_latency at 0 during runs",
    ),
    (
        "LLMBENCH_CPU_PLACEMENT",
        "off: llmbench stays on every CPU, not only those the engine leaves unbound",
    ),
    (
        "LLMBENCH_NO_STAGING",
        "1: every request is written whole at its send time, none staged ahead",
    ),
];

/// The `GUIDELLM*` variables that are set, in name order.
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    pub fn read() -> Environment {
        let mut vars: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("GUIDELLM_"))
            .collect();
        vars.sort();
        Environment { vars }
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` is read by `form` (and what it sets), or not.
    pub fn reads(form: Form, name: &str) -> Option<String> {
        match form {
            Form::Run => {
                if let Some(rest) = name.strip_prefix("GUIDELLM__SPEC__") {
                    let field = rest.split("__").next().unwrap_or("").to_ascii_lowercase();
                    return super::SPEC_FIELDS
                        .iter()
                        .find(|(f, _)| *f == field)
                        .map(|(f, opt)| format!("spec.{f} ({opt})"));
                }
                match name {
                    "GUIDELLM__METADATA__LABELS" => Some("metadata.labels (--label)".into()),
                    "GUIDELLM__BENCHMARKS" => Some("benchmarks (--override)".into()),
                    "GUIDELLM__DEFAULT_RESULTS_DIR" => {
                        Some("where outputs without a path go".into())
                    }
                    _ => None,
                }
            }
            Form::Benchmark => {
                let flag = name.strip_prefix("GUIDELLM_")?;
                if flag.starts_with('_') {
                    return None;
                }
                let long = flag.to_ascii_lowercase().replace('_', "-");
                crate::sources::run_flag(&long).map(|f| format!("--{f}"))
            }
        }
    }

    /// Prints one warning naming every set `GUIDELLM*` variable that `form` does not read.
    pub fn warn_unread(&self, form: Form) {
        let unread: Vec<&str> = self
            .vars
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| Self::reads(form, k).is_none())
            .collect();
        if unread.is_empty() {
            return;
        }
        let hint = match form {
            Form::Run => "llmbench run reads GUIDELLM__SPEC__<FIELD>, GUIDELLM__METADATA__LABELS, GUIDELLM__BENCHMARKS and GUIDELLM__DEFAULT_RESULTS_DIR",
            Form::Benchmark => "llmbench benchmark run reads GUIDELLM_<FLAG> for its own flags; GUIDELLM__SPEC__* is read by llmbench run",
        };
        eprintln!(
            "warning: environment variable{} {} {} not read ({hint}); `llmbench env` lists what is in force",
            if unread.len() == 1 { "" } else { "s" },
            unread.join(", "),
            if unread.len() == 1 { "is" } else { "are" },
        );
    }

    /// The scenario layer the environment gives the `run` form.
    pub fn scenario(&self) -> Result<Value> {
        let mut spec = Map::new();
        let mut out = Map::new();
        for (k, v) in &self.vars {
            if let Some(rest) = k.strip_prefix("GUIDELLM__SPEC__") {
                if Self::reads(Form::Run, k).is_none() || v.is_empty() {
                    continue;
                }
                let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
                let value = parse_value(k, v)?;
                grammar::set_path(&mut spec, &path.join("."), value, true)
                    .map_err(|e| UsageError::new(format!("{k}: {e}")))?;
            }
        }
        if let Some(l) = self.get("GUIDELLM__METADATA__LABELS") {
            match parse_value("GUIDELLM__METADATA__LABELS", l)? {
                v @ Value::Object(_) => {
                    out.insert("metadata".into(), serde_json::json!({ "labels": v }));
                }
                _ => {
                    return Err(UsageError::new(format!(
                        "GUIDELLM__METADATA__LABELS must be a JSON object such as {{\"team\": \"infra\"}}, not {l}"
                    ))
                    .into())
                }
            }
        }
        if let Some(b) = self.get("GUIDELLM__BENCHMARKS") {
            match parse_value("GUIDELLM__BENCHMARKS", b)? {
                v @ Value::Array(_) => {
                    out.insert("benchmarks".into(), v);
                }
                _ => {
                    return Err(UsageError::new(format!(
                        "GUIDELLM__BENCHMARKS must be a JSON list of override objects such as [{{\"profile.streams\": 1}}], not {b}"
                    ))
                    .into())
                }
            }
        }
        out.insert("spec".into(), Value::Object(spec));
        Ok(Value::Object(out))
    }

    /// `GUIDELLM__DEFAULT_RESULTS_DIR`, or the working directory.
    pub fn results_dir(&self) -> PathBuf {
        self.get("GUIDELLM__DEFAULT_RESULTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_default()
    }
}

/// A variable's value: JSON (or YAML) when it parses as such, else the string.
fn parse_value(name: &str, v: &str) -> Result<Value> {
    let t = v.trim();
    if t.starts_with('{') || t.starts_with('[') {
        return serde_json::from_str(t)
            .or_else(|_| serde_yaml_ng::from_str(t))
            .map_err(|e| UsageError::new(format!("{name} is not valid JSON ({e})")).into());
    }
    Ok(grammar::scalar(t))
}

/// `llmbench env`: every variable llmbench reads, its value and where it came from, and the
/// set ones that no form reads.
pub fn print() -> i32 {
    let env = Environment::read();
    println!(
        "llmbench {} — settings from the environment",
        env!("CARGO_PKG_VERSION")
    );
    println!();
    println!(
        "llmbench run (GuideLLM 0.8 form; precedence: command line > --config file > environment):"
    );
    let mut any = false;
    for (k, v) in &env.vars {
        if let Some(what) = Environment::reads(Form::Run, k) {
            println!("  {k}={v}\n      sets {what}  [environment]");
            any = true;
        }
    }
    if !any {
        println!("  no GUIDELLM__SPEC__*, GUIDELLM__METADATA__LABELS or GUIDELLM__BENCHMARKS set");
    }
    match env.get("GUIDELLM__DEFAULT_RESULTS_DIR") {
        Some(_) => {}
        None => println!("  GUIDELLM__DEFAULT_RESULTS_DIR unset: outputs without a path go to the working directory  [default]"),
    }
    println!();
    println!("llmbench benchmark run (GuideLLM 0.6 form; precedence: command line > environment > --scenario file):");
    any = false;
    for (k, v) in &env.vars {
        if let Some(what) = Environment::reads(Form::Benchmark, k) {
            println!("  {k}={v}\n      sets {what}  [environment]");
            any = true;
        }
    }
    for (k, v) in std::env::vars() {
        if let Some(flag) = k.strip_prefix("LLMBENCH_") {
            let long = flag.to_ascii_lowercase().replace('_', "-");
            if let Some(f) = crate::sources::run_flag(&long) {
                println!("  {k}={v}\n      sets --{f}  [environment]");
                any = true;
            }
        }
    }
    if !any {
        println!("  no GUIDELLM_<FLAG> or LLMBENCH_<FLAG> set");
    }
    println!();
    println!("llmbench's own:");
    for (k, what) in LLMBENCH_VARS {
        match std::env::var(k) {
            Ok(v) => println!("  {k}={v}\n      {what}  [environment]"),
            Err(_) => println!("  {k} unset: {what}  [default]"),
        }
    }
    let unread: Vec<&str> = env
        .vars
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            Environment::reads(Form::Run, k).is_none()
                && Environment::reads(Form::Benchmark, k).is_none()
        })
        .collect();
    if !unread.is_empty() {
        println!();
        println!("set but not read by llmbench: {}", unread.join(", "));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_fields_and_deeper_paths() {
        let e = Environment::from_pairs(&[
            (
                "GUIDELLM__SPEC__PROFILE",
                r#"{"kind":"concurrent","streams":[1,8]}"#,
            ),
            ("GUIDELLM__SPEC__BACKEND__KIND", "vllm_python"),
            ("GUIDELLM__SPEC__BACKEND__MODEL", "m"),
            ("GUIDELLM__METADATA__LABELS", r#"{"team": "infra"}"#),
            ("GUIDELLM__MAX_CONCURRENCY", "3"),
        ]);
        assert_eq!(
            e.scenario().unwrap(),
            json!({
                "metadata": {"labels": {"team": "infra"}},
                "spec": {"profile": {"kind": "concurrent", "streams": [1, 8]},
                         "backend": {"kind": "vllm_python", "model": "m"}}
            })
        );
        assert!(Environment::reads(Form::Run, "GUIDELLM__MAX_CONCURRENCY").is_none());
        assert!(Environment::reads(Form::Run, "GUIDELLM__SPEC__NOPE").is_none());
        assert!(Environment::reads(Form::Run, "GUIDELLM_RATE").is_none());
        assert_eq!(
            Environment::reads(Form::Benchmark, "GUIDELLM_RATE").as_deref(),
            Some("--rate")
        );
        assert!(Environment::reads(Form::Benchmark, "GUIDELLM__SPEC__PROFILE").is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = Environment::from_pairs(&[("GUIDELLM__METADATA__LABELS", "[1]")]);
        let msg = e.scenario().unwrap_err().to_string();
        assert!(
            msg.contains("GUIDELLM__METADATA__LABELS must be a JSON object"),
            "{msg}"
        );
        let e = Environment::from_pairs(&[("GUIDELLM__SPEC__PROFILE", "{oops")]);
        let msg = e.scenario().unwrap_err().to_string();
        assert!(
            msg.contains("GUIDELLM__SPEC__PROFILE is not valid JSON"),
            "{msg}"
        );
    }
}
