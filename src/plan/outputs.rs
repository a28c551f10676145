//! Where the run writes: the report files (`--output-path`, `--output-dir`, `--outputs`), the
//! engine logs (`--engine-log`) and the prepared requests (`--save-requests`). Every location is
//! checked before any engine loads.

use crate::bail_usage;
use crate::error::UsageError;
use crate::render::Format;
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Outputs {
    /// Each format with its file name (`None`: `benchmarks.<ext>` in `dir`).
    pub files: Vec<(Format, Option<PathBuf>)>,
    pub dir: PathBuf,
    /// Where each model's whole engine log goes, if anywhere.
    pub engine_log_dir: Option<PathBuf>,
}

impl Outputs {
    /// `--output-path FILE`: that one file, its extension picking the format; a directory (or a
    /// path without an extension): the `--outputs` there. `--output-dir DIR`: the `--outputs`
    /// there. `engine_log`: `--engine-log DIR|none`. Without `reports` (`--dry-run`) the flags
    /// are still checked, but no report file is written.
    pub fn new(
        path: Option<&Path>,
        dir: Option<&Path>,
        list: Option<&str>,
        engine_log: Option<&str>,
        reports: bool,
    ) -> Result<Outputs> {
        if dir.is_some() && path.is_some() {
            bail_usage!("--output-path and --output-dir are alternatives; give one");
        }
        let (files, dir) = match (path, dir) {
            (Some(p), _) if p.extension().is_some() && !p.is_dir() => {
                let Some(f) = Format::from_path(p) else {
                    bail_usage!("--output-path {}: the extension picks the format; use .json, .yaml, .yml, .csv, .html, or {} for the plot (or give a directory)", p.display(), crate::render::plot::EXTENSIONS);
                };
                (vec![(f, Some(p.to_path_buf()))], PathBuf::from("."))
            }
            (Some(d), _) | (None, Some(d)) => (parse_list(list)?, d.to_path_buf()),
            (None, None) => (parse_list(list)?, PathBuf::from(".")),
        };
        let files = if reports { files } else { Vec::new() };
        let engine_log_dir = engine_log_dir(engine_log, &files, &dir);
        Ok(Outputs {
            files,
            dir,
            engine_log_dir,
        })
    }

    /// The `run` form's `--output` specs: each format with its file, relative to the working
    /// directory (GuideLLM's outputs without a `path` were already put in its results dir).
    pub fn files(
        files: Vec<(Format, Option<PathBuf>)>,
        engine_log: Option<&str>,
        reports: bool,
    ) -> Outputs {
        let dir = PathBuf::from(".");
        let files = if reports { files } else { Vec::new() };
        let engine_log_dir = engine_log_dir(engine_log, &files, &dir);
        Outputs {
            files,
            dir,
            engine_log_dir,
        }
    }

    /// Every report file's directory exists or can be created and is writable, and no report
    /// file is a directory; so for the engine log directory and `save_requests`. `flag` names
    /// where the report location came from.
    pub fn check(&self, flag: &str, save_requests: Option<&Path>) -> Result<()> {
        for (f, name) in &self.files {
            let Some(default) = f.default_file() else {
                continue;
            };
            let p = self
                .dir
                .join(name.clone().unwrap_or_else(|| default.into()));
            if p.is_dir() {
                bail_usage!("{flag}: the report file {} is an existing directory; name a file, or give the directory as --output-dir", p.display());
            }
            check_writable_dir(parent_or_cwd(&p), flag)?;
        }
        if let Some(d) = &self.engine_log_dir {
            check_writable_dir(d, "--engine-log")?;
        }
        if let Some(p) = save_requests {
            if p.is_dir() {
                bail_usage!(
                    "--save-requests {} is a directory; name a file",
                    p.display()
                );
            }
            check_writable_dir(parent_or_cwd(p), "--save-requests")?;
        }
        Ok(())
    }
}

fn parse_list(list: Option<&str>) -> Result<Vec<(Format, Option<PathBuf>)>> {
    crate::render::parse_outputs(list.unwrap_or(crate::render::DEFAULT_OUTPUTS))
        .map_err(|e| UsageError::new(e).into())
}

fn parent_or_cwd(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `--engine-log DIR|none`; by default the directory of the report file(s), when any is written.
fn engine_log_dir(
    arg: Option<&str>,
    files: &[(Format, Option<PathBuf>)],
    dir: &Path,
) -> Option<PathBuf> {
    match arg {
        Some("none") => None,
        Some(d) => Some(PathBuf::from(d)),
        None => files.iter().find_map(|(f, name)| {
            let default = f.default_file()?;
            let p = dir.join(name.clone().unwrap_or_else(|| default.into()));
            Some(
                p.parent()
                    .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
            )
        }),
    }
}

/// `dir` exists and is writable, or can be created under an ancestor that is; nothing is
/// created (a probe file in the nearest existing directory is removed at once).
fn check_writable_dir(dir: &Path, flag: &str) -> Result<()> {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        bail_usage!(
            "{flag}: cannot create the directory {}: {} is not a directory",
            dir.display(),
            existing.display()
        );
    }
    if let Err(e) = tempfile::Builder::new()
        .prefix(".llmbench-probe")
        .tempfile_in(existing)
    {
        let what = if existing == dir {
            "is not writable".to_string()
        } else {
            format!("cannot be created in {}", existing.display())
        };
        bail_usage!(
            "{flag}: the directory {} {what} ({e}); choose a writable location",
            dir.display()
        );
    }
    Ok(())
}
