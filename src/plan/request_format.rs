//! `--request-format` (or `request_format` in `--backend-kwargs`): how a prompt reaches the model.
//! Not a closed set of names (a Jinja template may be a file or inline), so not a clap value enum.

use crate::bail_usage;
use crate::error::UsageError;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

pub(super) const FORMATS: &str =
    "plain, default-template, a path to a Jinja template file, or an inline Jinja template";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestFormat {
    Plain,
    DefaultTemplate,
    /// A Jinja chat template, from a file or inline.
    Jinja {
        source: String,
        origin: String,
    },
}

impl RequestFormat {
    pub fn name(&self) -> &str {
        match self {
            RequestFormat::Plain => "plain",
            RequestFormat::DefaultTemplate => "default-template",
            RequestFormat::Jinja { .. } => "jinja",
        }
    }

    /// The format named by `arg`; the model's own chat template when none is.
    pub fn parse(arg: Option<&str>) -> Result<RequestFormat> {
        Ok(match arg {
            None | Some("default-template") => RequestFormat::DefaultTemplate,
            Some("plain") => RequestFormat::Plain,
            Some(s) if s.contains("{%") || s.contains("{{") => RequestFormat::Jinja {
                source: s.to_string(),
                origin: "inline".into(),
            },
            Some(s) if Path::new(s).is_file() => {
                let source = std::fs::read_to_string(s).map_err(|e| {
                    UsageError::new(format!(
                        "--request-format {s}: cannot read the template file ({e})"
                    ))
                })?;
                RequestFormat::Jinja {
                    source,
                    origin: s.to_string(),
                }
            }
            Some(s) => bail_usage!("--request-format '{s}' is not a known format; use {FORMATS}"),
        })
    }
}
