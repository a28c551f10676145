//! `--model` and `--models-file`: the models of the run, in order, each with its own
//! `vllm_config` overrides.

use crate::backend::protocol::Map;
use crate::bail_usage;
use crate::error::UsageError;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// One model of the run, with its own `vllm_config` overrides (from `--models-file`).
#[derive(Debug, Clone, Serialize)]
pub struct ModelSpec {
    pub name: String,
    pub overrides: Map,
}

impl ModelSpec {
    pub fn named(name: &str) -> ModelSpec {
        ModelSpec {
            name: name.to_string(),
            overrides: Map::new(),
        }
    }
}

/// The `--model`s, then the models of `--models-file`; at least one.
pub fn models(names: &[String], file: Option<&Path>) -> Result<Vec<ModelSpec>> {
    let mut models: Vec<ModelSpec> = names.iter().map(|m| ModelSpec::named(m)).collect();
    if let Some(f) = file {
        models.extend(read_models_file(f)?);
    }
    if models.is_empty() {
        bail_usage!(
            "--model is required: a local model directory or a model id (or --models-file FILE)"
        );
    }
    Ok(models)
}

/// vLLM loads a model that looks like a path from that path: it must exist (the mock engine
/// loads nothing).
pub fn check_local_models(models: &[ModelSpec]) -> Result<()> {
    for m in models.iter().map(|m| &m.name) {
        let looks_local =
            m.starts_with('/') || m.starts_with("./") || m.starts_with("../") || m.starts_with('~');
        if looks_local && !Path::new(m).exists() {
            bail_usage!("--model {m}: no such file or directory; give a local model directory or a model id");
        }
    }
    Ok(())
}

/// `--models-file`: `MODEL [JSON object of vllm_config overrides]` per line.
fn read_models_file(path: &Path) -> Result<Vec<ModelSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError::new(format!(
            "--models-file {}: cannot read it ({e})",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.split_once(char::is_whitespace) {
            Some((n, r)) => (n, r.trim()),
            None => (line, ""),
        };
        let overrides = if rest.is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<serde_json::Value>(rest) {
                Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
                _ => bail_usage!(
                    "--models-file {} line {}: after the model, only a JSON object of vllm_config overrides may follow, e.g. {name} {{\"max_model_len\": 2048}}",
                    path.display(),
                    i + 1
                ),
            }
        };
        out.push(ModelSpec {
            name: name.to_string(),
            overrides,
        });
    }
    if out.is_empty() {
        bail_usage!(
            "--models-file {}: no models in it (one per line; # starts a comment)",
            path.display()
        );
    }
    Ok(out)
}
