//! Where `benchmark run` options come from, strongest first: the command line, then environment
//! variables (`LLMBENCH_<FLAG>`, and `GUIDELLM_<FLAG>` so existing GuideLLM scripts keep working),
//! then a `--scenario` file (JSON or YAML, the same option names), then the defaults.
//!
//! Implemented as a re-parse: options the user did not type are appended as command-line tokens
//! from the weaker sources, so every value goes through the same clap parsers and the same
//! validation in `plan.rs`, whatever its source.

use crate::error::UsageError;
use anyhow::Result;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory};
use std::ffi::OsString;

/// Parses `argv`, filling options the user did not type from the environment and the scenario.
pub fn parse_with_sources(argv: Vec<OsString>) -> Result<crate::cli::Cli, clap::Error> {
    let cmd = crate::cli::Cli::command();
    if let Some(e) = repeated_06_flag(&argv) {
        let mut c = crate::cli::Cli::command();
        return Err(c.error(clap::error::ErrorKind::ArgumentConflict, e));
    }
    let m = cmd.clone().try_get_matches_from(&argv)?;
    let Some(extra) = extra_tokens(&cmd, &m).map_err(|e| {
        let mut c = crate::cli::Cli::command();
        c.error(clap::error::ErrorKind::ValueValidation, e.to_string())
    })?
    else {
        return clap::FromArgMatches::from_arg_matches(&m);
    };
    let mut full = argv;
    full.extend(extra);
    let m = cmd.try_get_matches_from(&full)?;
    clap::FromArgMatches::from_arg_matches(&m)
}

/// GuideLLM 0.6 took `--rate`, `--data` and `--outputs` more than once; llmbench takes one of
/// each (a comma list for `--rate` and `--outputs`): say so, with the equivalent.
fn repeated_06_flag(argv: &[OsString]) -> Option<String> {
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).map(String::as_str) != Some("benchmark") {
        return None;
    }
    for (flag, hint) in [
        ("--rate", "give one comma list, e.g. --rate 1,4,16"),
        (
            "--outputs",
            "give one comma list, e.g. --outputs json,csv,html",
        ),
        (
            "--data",
            "one data source per run (llmbench run's --data has the same limit for now)",
        ),
    ] {
        let n = args
            .iter()
            .filter(|a| *a == flag || a.starts_with(&format!("{flag}=")))
            .count();
        if n > 1 {
            return Some(format!("{flag} is given {n} times: {hint}"));
        }
    }
    None
}

/// The run options' matches and their clap command, wherever `run` sits.
fn run_matches<'a>(
    cmd: &'a clap::Command,
    m: &'a ArgMatches,
) -> Option<(&'a clap::Command, &'a ArgMatches)> {
    let (name, bm) = m.subcommand()?;
    if name != "benchmark" {
        return None;
    }
    let bcmd = cmd.find_subcommand("benchmark")?;
    match bm.subcommand() {
        Some(("run", rm)) => Some((bcmd.find_subcommand("run")?, rm)),
        _ => Some((bcmd, bm)),
    }
}

fn extra_tokens(cmd: &clap::Command, m: &ArgMatches) -> Result<Option<Vec<OsString>>> {
    let Some((rcmd, rm)) = run_matches(cmd, m) else {
        return Ok(None);
    };
    if !rm.get_flag("disable_console") {
        crate::spec::env::Environment::read().warn_unread(crate::spec::env::Form::Benchmark);
    }
    let scenario = match rm.get_one::<std::path::PathBuf>("scenario") {
        Some(p) => load_scenario(p)?,
        None => match env_value(&["scenario"]) {
            Some(p) => load_scenario(std::path::Path::new(&p))?,
            None => serde_json::Map::new(),
        },
    };
    let mut known: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for arg in rcmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let mut names: Vec<&str> = vec![long];
        names.extend(arg.get_all_aliases().unwrap_or_default());
        known.extend(names.iter().map(|n| n.replace('-', "_")));
        if long == "scenario" {
            continue;
        }
        let id = arg.get_id().as_str();
        if rm.value_source(id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let is_flag = matches!(arg.get_action(), ArgAction::SetTrue);
        if let Some(v) = env_value(&names) {
            push(&mut out, long, is_flag, &[v], "environment variable")?;
            continue;
        }
        let key = names
            .iter()
            .map(|n| n.replace('-', "_"))
            .find(|k| scenario.contains_key(k));
        if let Some(k) = key {
            let vals = scenario_values(&k, &scenario[&k])?;
            push(&mut out, long, is_flag, &vals, "scenario")?;
        }
    }
    for k in scenario.keys() {
        if !known.contains(&k.replace('-', "_")) {
            return Err(UsageError::new(format!("--scenario: unknown option '{k}'; use the names of llmbench benchmark run's flags, e.g. profile, rate, max_seconds")).into());
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// The long name of the `benchmark run` flag called `name` (its long name or an alias), if any.
pub fn run_flag(name: &str) -> Option<String> {
    let cmd = crate::cli::Cli::command();
    let run = cmd.find_subcommand("benchmark")?.find_subcommand("run")?;
    let found = run.get_arguments().find_map(|a| {
        let long = a.get_long()?;
        let mut names = vec![long];
        names.extend(a.get_all_aliases().unwrap_or_default());
        names.contains(&name).then(|| long.to_string())
    });
    found
}

fn env_value(names: &[&str]) -> Option<String> {
    for prefix in ["LLMBENCH_", "GUIDELLM_"] {
        for n in names {
            let var = format!("{prefix}{}", n.to_uppercase().replace('-', "_"));
            if let Ok(v) = std::env::var(&var) {
                if !v.is_empty() {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn push(
    out: &mut Vec<OsString>,
    long: &str,
    is_flag: bool,
    vals: &[String],
    from: &str,
) -> Result<()> {
    if is_flag {
        match vals.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("1" | "true" | "yes" | "on") => out.push(format!("--{long}").into()),
            Some("0" | "false" | "no" | "off" | "") | None => {}
            Some(other) => {
                return Err(UsageError::new(format!(
                    "{from} value for --{long} must be true or false, not '{other}'"
                ))
                .into())
            }
        }
        return Ok(());
    }
    for v in vals {
        out.push(format!("--{long}={v}").into());
    }
    Ok(())
}

fn scenario_values(key: &str, v: &serde_json::Value) -> Result<Vec<String>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        // A list: repeated option for `model`, else a comma list (`rate: [1, 4, 16]`).
        Value::Array(a) if key == "model" => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Value::Array(a) => vec![a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(",")],
        // Objects (backend_kwargs, data, over_saturation) travel as JSON.
        Value::Object(_) => vec![v.to_string()],
    })
}

fn load_scenario(p: &std::path::Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(p).map_err(|e| {
        UsageError::new(format!("--scenario {}: cannot read it ({e})", p.display()))
    })?;
    let v: serde_json::Value = if p.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            UsageError::new(format!("--scenario {}: not valid JSON ({e})", p.display()))
        })?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| {
            UsageError::new(format!(
                "--scenario {}: not valid YAML or JSON ({e})",
                p.display()
            ))
        })?
    };
    match v {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(UsageError::new(format!(
            "--scenario {}: must hold a mapping of option names to values",
            p.display()
        ))
        .into()),
    }
}
