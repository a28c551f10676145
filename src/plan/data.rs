//! `--data`, `--data-args`, `--data-column-mapper` and `--data-samples`: where requests come
//! from, and how many are prepared per benchmark.

use crate::bail_usage;
use crate::data::synthetic::{self, SyntheticSpec};
use crate::error::UsageError;
use anyhow::Result;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where requests come from: a synthetic spec, or the rows of a dataset file.
#[derive(Debug, Clone)]
pub enum DataSource {
    Synthetic(SyntheticSpec),
    File {
        path: PathBuf,
        rows: std::sync::Arc<Vec<crate::data::files::FileRow>>,
        /// Use the length of each conversation's reply as its output target (`--data-args
        /// '{"output_tokens_from_reply": true}'`).
        output_from_reply: bool,
        /// The split read from a dataset directory.
        split: Option<String>,
        /// Later turns of file conversations carry the recorded replies as history, their
        /// lengths as output targets (`--data-args '{"recorded_replies": true}'`).
        recorded_replies: bool,
    },
    /// A trace (`kind=mooncake` or `kind=trace_synthetic`): rows with arrival times.
    Trace(std::sync::Arc<crate::data::trace::Trace>),
}

impl DataSource {
    /// The report's description; `time_scale` is the replay profile's, if it replays.
    pub fn describe(&self, time_scale: Option<f64>) -> crate::report::DataSourceInfo {
        use crate::report::DataSourceInfo;
        match self {
            DataSource::Trace(t) => {
                let mooncake = t.spec.kind == crate::data::trace::TraceKind::Mooncake;
                let timing = &t.spec.timing;
                let span = if timing.is_set() {
                    t.sessions()
                        .iter()
                        .flat_map(|s| s.turns.iter().map(|x| x.at_s))
                        .fold(0.0, f64::max)
                } else {
                    t.duration_s()
                };
                let mut conversations = std::collections::HashMap::new();
                for c in t.rows.iter().filter_map(|r| r.conversation) {
                    *conversations.entry(c).or_insert(0u32) += 1;
                }
                DataSourceInfo::Trace {
                    trace_kind: t.spec.kind.name().into(),
                    path: t.spec.path.display().to_string(),
                    rows: t.rows.len(),
                    timestamp_unit: t.spec.unit.name().into(),
                    hash_id_block_size: mooncake.then_some(t.spec.block_size),
                    distinct_blocks: mooncake.then_some(t.distinct_blocks),
                    duration_s: t.duration_s(),
                    replay_duration_s: time_scale.map(|s| span * s),
                    conversations: conversations.values().filter(|&&n| n > 1).count(),
                    session_timing: timing.is_set().then(|| crate::report::SessionTimingInfo {
                        max_wait: timing.max_wait,
                        max_session_wait: timing.max_session_wait,
                        min_concurrent_sessions: timing.min_concurrent_sessions,
                        time_scale: timing.time_scale,
                        copies: timing.copies,
                        copy_offset: timing.copy_offset,
                    }),
                }
            }
            DataSource::Synthetic(s) => DataSourceInfo::Synthetic { spec: s.clone() },
            DataSource::File {
                path,
                rows,
                output_from_reply,
                split,
                recorded_replies,
            } => DataSourceInfo::File {
                path: path.display().to_string(),
                rows: rows.len(),
                output_tokens_from_reply: *output_from_reply,
                split: split.clone(),
                conversations: rows.iter().filter(|r| !r.later.is_empty()).count(),
                recorded_replies: *recorded_replies,
            },
        }
    }

    /// Several dataset files zipped row by row (`llmbench run` with several `--data`): see
    /// `files::load_zipped`.
    pub fn load_zipped(
        paths: &[String],
        data_args: Option<Value>,
        column_mapper: Option<Value>,
    ) -> Result<DataSource> {
        let output_from_reply = output_tokens_from_reply(data_args.as_ref());
        let recorded_replies = data_flag(data_args.as_ref(), "recorded_replies");
        let opts = crate::data::files::LoadOptions {
            column_mapper,
            data_args,
        };
        let files: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let rows = crate::data::files::load_zipped(&files, &opts)?;
        if rows.is_empty() {
            bail_usage!(
                "--data: zipping {} gives no rows (one of them is empty)",
                paths.join(" and ")
            );
        }
        Ok(DataSource::File {
            path: PathBuf::from(paths.join(" + ")),
            rows: std::sync::Arc::new(rows),
            output_from_reply,
            split: None,
            recorded_replies,
        })
    }

    /// `--data`: a synthetic spec (inline, or a .yaml/.json file of spec keys) or a dataset file
    /// read with `data_args` and `column_mapper` (which a synthetic spec refuses).
    pub fn load(
        arg: &str,
        data_args: Option<Value>,
        column_mapper: Option<Value>,
    ) -> Result<DataSource> {
        let for_file_only = data_args.is_some() || column_mapper.is_some();
        if crate::data::trace::is_trace_spec(arg) {
            if for_file_only {
                bail_usage!("--data-args and --data-column-mapper apply to dataset files, not to a trace (give its keys in --data)");
            }
            let m = crate::spec::grammar::parse("--data", arg)?;
            crate::spec::fields::Spec::read(
                "--data",
                &Value::Object(m.clone()),
                crate::spec::kinds::DATA,
                None,
            )?;
            let spec = crate::data::trace::TraceSpec::from_map(&m)?;
            let trace = crate::data::trace::Trace::load(spec)?;
            return Ok(DataSource::Trace(std::sync::Arc::new(trace)));
        }
        let spec = match spec_file(arg)? {
            Some(spec) => Some(spec),
            None if synthetic::looks_like_spec(arg) => Some(synthetic::parse(arg)?),
            None => None,
        };
        if let Some(spec) = spec {
            if for_file_only {
                bail_usage!("--data-args and --data-column-mapper apply to dataset files, not to a synthetic spec");
            }
            return Ok(DataSource::Synthetic(spec));
        }
        let path = Path::new(arg);
        if !path.exists() {
            if looks_like_hub_id(arg) {
                bail_usage!("{}", hub_id_refusal(arg));
            }
            bail_usage!("--data {arg}: no such file or directory, and not a synthetic spec such as \"prompt_tokens=256,output_tokens=128\"");
        }
        let output_from_reply = output_tokens_from_reply(data_args.as_ref());
        let recorded_replies = data_flag(data_args.as_ref(), "recorded_replies");
        let opts = crate::data::files::LoadOptions {
            column_mapper,
            data_args,
        };
        let (rows, split) = if path.is_dir() {
            crate::data::dataset_dir::load(path, &opts)?
        } else {
            (crate::data::files::load(path, &opts)?, None)
        };
        if let Some(i) = rows.iter().position(|r| r.prompt_tokens == Some(0)) {
            bail_usage!(
                "--data {arg}: row {} asks for 0 prompt tokens; a prompt needs at least 1",
                i + 1
            );
        }
        Ok(DataSource::File {
            path: path.to_path_buf(),
            rows: std::sync::Arc::new(rows),
            output_from_reply,
            split,
            recorded_replies,
        })
    }
}

/// `org/name` (or a bare `name`) with no extension: a Hugging Face Hub dataset id.
pub fn looks_like_hub_id(arg: &str) -> bool {
    let p = Path::new(arg);
    !arg.is_empty()
        && p.extension().is_none()
        && !arg.starts_with(['.', '/', '~'])
        && arg.split('/').count() <= 2
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// The one sentence for a Hub dataset id.
pub fn hub_id_refusal(id: &str) -> String {
    format!(
        "--data {id} is not a local file or directory, and llmbench does not download from the Hugging Face Hub (no network access); download it with `datasets` (load_dataset(\"{id}\").save_to_disk(\"DIR\")) and give DIR, or give a local dataset file"
    )
}

/// `--data-args '{"output_tokens_from_reply": true}'`: a conversation's reply length is its
/// output target.
fn data_flag(data_args: Option<&Value>, key: &str) -> bool {
    data_args
        .and_then(|v| v.get(key))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn output_tokens_from_reply(data_args: Option<&Value>) -> bool {
    data_args
        .and_then(|v| v.get("output_tokens_from_reply"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// A .yaml/.yml file, or a .json file holding `prompt_tokens`, is a synthetic spec; any other
/// .json file is a dataset.
fn spec_file(arg: &str) -> Result<Option<SyntheticSpec>> {
    let path = Path::new(arg);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if !path.is_file() || !matches!(ext.as_deref(), Some("yaml" | "yml" | "json")) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("--data {arg}: cannot read it ({e})")))?;
    let yaml = ext.as_deref() != Some("json");
    let v: Value = if yaml {
        serde_yaml_ng::from_str(&text)
            .map_err(|e| UsageError::new(format!("--data {arg}: not valid YAML ({e})")))?
    } else {
        match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        }
    };
    match v {
        Value::Object(m) if m.contains_key("prompt_tokens") || yaml => {
            Ok(Some(synthetic::parse(&Value::Object(m).to_string())?))
        }
        _ => Ok(None),
    }
}

/// `--data-args` and `--data-column-mapper`: a JSON object, when given.
pub fn json_object(flag: &str, arg: Option<&str>) -> Result<Option<Value>> {
    match arg {
        None => Ok(None),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            _ => {
                bail_usage!("{flag} must be a JSON object, e.g. '{{\"text_column\": \"article\"}}'")
            }
        },
    }
}

/// `--data-samples`: requests prepared per benchmark pass; by default the spec's `samples=` or
/// every row of a dataset file.
pub fn data_samples(arg: Option<i64>, data: &DataSource) -> Result<Option<u64>> {
    match arg {
        None | Some(-1) => Ok(match data {
            DataSource::Synthetic(s) => s.samples,
            DataSource::File { rows, .. } => Some(rows.len() as u64),
            DataSource::Trace(t) => Some(t.rows.len() as u64),
        }),
        Some(n) if n >= 1 => Ok(Some(n as u64)),
        Some(n) => {
            bail_usage!("--data-samples must be -1 (as many as needed) or at least 1 (got {n})")
        }
    }
}
