//! `--backend`, `--target` and `--backend-kwargs`: which engine runs, and the user's options for
//! it. The options stay JSON values (`protocol::Map`) from the command line to the `init` and
//! `generate` messages and into the report: no other representation in between.

use super::json_kind;
use crate::backend::protocol::{EngineKind, Map};
use crate::bail_usage;
use crate::error::UsageError;
use anyhow::Result;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `--backend` and `--target`: only the in-process backend exists.
pub fn check_backend(backend: Option<&str>, target: Option<&str>) -> Result<()> {
    match backend {
        None | Some("vllm_python") => {}
        Some(other) => bail_usage!("--backend {other} is not supported; the only backend is vllm_python (vLLM's engine in a supervised Python worker)"),
    }
    if let Some(t) = target {
        bail_usage!("--target {t} is for HTTP backends; --backend vllm_python runs the engine itself and takes no target (only the in-process backend exists), so remove --target");
    }
    Ok(())
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
}

impl Default for BackendKwargs {
    fn default() -> Self {
        BackendKwargs {
            vllm_config: Map::new(),
            request_format: None,
            sampling: Map::new(),
            engine: EngineKind::Vllm,
            mock: Map::new(),
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
            "--backend-kwargs: unknown key 'vllm_confg'; valid keys are 'vllm_config', 'request_format', 'sampling', 'engine', 'mock'"
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
