//! `--backend`, `--target` and `--backend-kwargs`: which engine runs, and the user's options for
//! it. The options stay JSON values (`protocol::Map`) from the command line to the `init` and
//! `generate` messages and into the report: no other representation in between.

use super::json_kind;
use crate::backend::protocol::{EngineKind, Map};
use crate::bail_usage;
use crate::error::UsageError;
use anyhow::Result;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `--backend vllm_python_batch` (GuideLLM 0.8's batch backend): requests go to the engine in
/// non-streaming micro-batches (the worker's `Batcher`, docs/protocol.md), timed from vLLM's
/// per-request stamps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Batching {
    /// Requests per micro-batch at most (GuideLLM's default 32).
    pub batch_size: u32,
    /// Seconds a partial batch waits for more requests after its first (default 0.01).
    pub batch_timeout: f64,
}

impl Batching {
    pub const DEFAULT: Batching = Batching {
        batch_size: 32,
        batch_timeout: 0.01,
    };

    pub fn timeout_ns(&self) -> u64 {
        (self.batch_timeout * 1e9).round() as u64
    }

    /// From `--backend-kwargs`' batch keys, for the batch backend only.
    pub fn from_kwargs(batch: bool, k: &BackendKwargs) -> Result<Option<Batching>> {
        if !batch {
            if let Some(key) = [
                k.batch_size.map(|_| "batch_size"),
                k.batch_timeout.map(|_| "batch_timeout"),
            ]
            .into_iter()
            .flatten()
            .next()
            {
                bail_usage!("--backend-kwargs: '{key}' is for --backend vllm_python_batch (non-streaming micro-batches); remove it, or choose that backend");
            }
            return Ok(None);
        }
        let mut b = Batching::DEFAULT;
        if let Some(n) = k.batch_size {
            b.batch_size = n;
        }
        if let Some(t) = k.batch_timeout {
            b.batch_timeout = t;
        }
        if b.batch_size == 0 {
            bail_usage!("--backend-kwargs: 'batch_size' must be an integer >= 1 (requests per micro-batch), not 0");
        }
        if !(b.batch_timeout > 0.0 && b.batch_timeout <= 3600.0) {
            bail_usage!(
                "--backend-kwargs: 'batch_timeout' must be a number of seconds > 0 and at most 3600 (how long a partial batch waits for more requests), not {}",
                b.batch_timeout
            );
        }
        Ok(Some(b))
    }
}

/// `--backend` and `--target`: only the in-process backends exist. Returns whether it is the
/// batch backend.
pub fn check_backend(backend: Option<&str>, target: Option<&str>) -> Result<bool> {
    let batch = match backend {
        None | Some("vllm_python") => false,
        Some("vllm_python_batch") => true,
        Some(other) => bail_usage!("--backend {other} is not supported; the backends are vllm_python (vLLM's engine in a supervised Python worker, streamed) and vllm_python_batch (the same engine, non-streaming micro-batches)"),
    };
    if let Some(t) = target {
        bail_usage!("--target {t} is for HTTP backends; --backend vllm_python runs the engine itself and takes no target (only the in-process backend exists), so remove --target");
    }
    Ok(batch)
}

/// `--backend-kwargs`. Unknown keys are refused: a typo such as `vllm_confg` would otherwise
/// run the benchmark without the user's engine settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendKwargs {
    /// vLLM `AsyncEngineArgs` fields.
    #[serde(default, deserialize_with = "vllm_config")]
    pub vllm_config: Map,
    /// As `--request-format`, which wins over it.
    #[serde(default, deserialize_with = "request_format")]
    pub request_format: Option<String>,
    /// Extra `SamplingParams` for every request.
    #[serde(default, deserialize_with = "sampling")]
    pub sampling: Map,
    /// `vllm` (the default) or `mock`.
    #[serde(default = "vllm", deserialize_with = "engine")]
    pub engine: EngineKind,
    /// The mock engine's shape (TTFT, ITL, output length, batch size…).
    #[serde(default, deserialize_with = "mock")]
    pub mock: Map,
    /// `vllm_python_batch`: requests per micro-batch at most.
    #[serde(default, deserialize_with = "batch_size")]
    pub batch_size: Option<u32>,
    /// `vllm_python_batch`: seconds a partial batch waits.
    #[serde(default, deserialize_with = "batch_timeout")]
    pub batch_timeout: Option<f64>,
}

impl Default for BackendKwargs {
    fn default() -> Self {
        BackendKwargs {
            vllm_config: Map::new(),
            request_format: None,
            sampling: Map::new(),
            engine: EngineKind::Vllm,
            mock: Map::new(),
            batch_size: None,
            batch_timeout: None,
        }
    }
}

const EXAMPLE: &str = r#"'{"vllm_config": {"max_model_len": 1024}}'"#;

impl BackendKwargs {
    pub fn parse(arg: Option<&str>) -> Result<BackendKwargs> {
        let Some(s) = arg else {
            return Ok(BackendKwargs::default());
        };
        let v = match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => bail_usage!(
                "--backend-kwargs must be a JSON object such as {EXAMPLE}, not {}",
                json_kind(&other)
            ),
            Err(e) => bail_usage!(
                "--backend-kwargs is not valid JSON ({e}); it must be a JSON object such as {EXAMPLE}"
            ),
        };
        serde_json::from_value(v).map_err(|e| {
            UsageError::new(format!(
                "--backend-kwargs: {}",
                in_json_words(&e.to_string())
            ))
            .into()
        })
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" in the words of a JSON object.
fn in_json_words(serde_message: &str) -> String {
    serde_message
        .replacen("unknown field", "unknown key", 1)
        .replacen(", expected one of", "; valid keys are", 1)
        .replacen(", expected", "; the valid key is", 1)
        .replace('`', "'")
}

fn vllm() -> EngineKind {
    EngineKind::Vllm
}

fn object<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Map, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(m) => Ok(m.into_iter().collect()),
        v => Err(D::Error::custom(format!(
            "'{key}' must be a JSON object, not {}",
            json_kind(&v)
        ))),
    }
}

fn vllm_config<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
    object(d, "vllm_config")
}

fn sampling<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
    object(d, "sampling")
}

fn mock<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
    object(d, "mock")
}

fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) if n.as_u64().is_some_and(|n| (1..=1_000_000).contains(&n)) => {
            Ok(Some(n.as_u64().unwrap_or(1) as u32))
        }
        v => Err(D::Error::custom(format!(
            "'batch_size' must be an integer from 1 to 1000000 (requests per micro-batch), not {v}"
        ))),
    }
}

fn batch_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) if n.as_f64().is_some_and(|t| t > 0.0 && t <= 3600.0) => Ok(n.as_f64()),
        v => Err(D::Error::custom(format!(
            "'batch_timeout' must be a number of seconds > 0 and at most 3600 (how long a partial batch waits for more requests), not {v}"
        ))),
    }
}

fn engine<'de, D: Deserializer<'de>>(d: D) -> Result<EngineKind, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if s == "vllm" => Ok(EngineKind::Vllm),
        Value::String(s) if s == "mock" => Ok(EngineKind::Mock),
        v => Err(D::Error::custom(format!(
            "'engine' must be \"vllm\" or \"mock\", not {v}"
        ))),
    }
}

fn request_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(Some(s)),
        v => Err(D::Error::custom(format!(
            "'request_format' must be a string ({}), not {v}",
            super::request_format::FORMATS
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(arg: &str) -> String {
        BackendKwargs::parse(Some(arg)).unwrap_err().to_string()
    }

    #[test]
    fn each_key_is_typed() {
        let k = BackendKwargs::parse(Some(
            r#"{"engine": "mock", "mock": {"ttft_us": 5000}, "sampling": {"temperature": 0.5},
                "vllm_config": {"max_model_len": 64}, "request_format": "plain"}"#,
        ))
        .unwrap();
        assert_eq!(k.engine, EngineKind::Mock);
        assert_eq!(k.mock["ttft_us"], 5000);
        assert_eq!(k.sampling["temperature"], 0.5);
        assert_eq!(k.vllm_config["max_model_len"], 64);
        assert_eq!(k.request_format.as_deref(), Some("plain"));
        assert_eq!(
            BackendKwargs::parse(None).unwrap(),
            BackendKwargs::default()
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_the_valid_ones() {
        assert_eq!(
            err(r#"{"vllm_confg": {}}"#),
            "--backend-kwargs: unknown key 'vllm_confg'; valid keys are 'vllm_config', 'request_format', 'sampling', 'engine', 'mock', 'batch_size', 'batch_timeout'"
        );
    }

    #[test]
    fn a_bad_value_names_its_key() {
        assert_eq!(
            err(r#"{"mock": 3}"#),
            "--backend-kwargs: 'mock' must be a JSON object, not a number"
        );
        assert_eq!(
            err(r#"{"engine": "tokenizer"}"#),
            "--backend-kwargs: 'engine' must be \"vllm\" or \"mock\", not \"tokenizer\""
        );
        assert!(err(r#"{"request_format": 1}"#).starts_with(
            "--backend-kwargs: 'request_format' must be a string (plain, default-template"
        ));
    }
}
