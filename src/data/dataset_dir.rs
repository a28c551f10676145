//! A local Hugging Face dataset directory (`--data DIR`, `--data kind=huggingface,source=DIR`):
//!
//! - what `datasets`' `save_to_disk` writes: a `Dataset` (`state.json` listing its `.arrow`
//!   shards, Arrow IPC streams) or a `DatasetDict` (`dataset_dict.json` naming its splits, one
//!   subdirectory each);
//! - a Hub repository's files as downloaded (`huggingface-cli download`, `git clone`): parquet,
//!   JSON Lines, JSON, CSV or Arrow files, the split taken from the file names as `datasets`
//!   does: `data/{split}-00000-of-00001.parquet` (what `push_to_hub` writes), else a split
//!   keyword (`train`, `validation`/`valid`/`dev`/`val`, `test`/`testing`/`eval`) in a file or
//!   directory name, else every file is `train`.
//!
//! The split is `--data-args '{"split": …}'` (`split=` or `load_kwargs.split` in the 0.8 form);
//! without one, GuideLLM's order applies: the first of its train, calibration, validation and
//! test names present, else the first split by name. Every shard is read by `files::load`, so
//! the rows are found exactly as in a single file.

use super::files::{self, FileRow, LoadOptions};
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// GuideLLM 0.8.1's `DEFAULT_SPLITS`, in its order of preference.
const DEFAULT_SPLITS: &[&str] = &[
    "train",
    "training",
    "train_set",
    "training_set",
    "train_dataset",
    "training_dataset",
    "train_data",
    "training_data",
    "pretrain",
    "pretrain_set",
    "pretrain_dataset",
    "pretrain_data",
    "pretraining",
    "calibration",
    "calib",
    "cal",
    "calibration_set",
    "calib_set",
    "cal_set",
    "calibration_dataset",
    "calib_dataset",
    "calibration_data",
    "calib_data",
    "cal_data",
    "validation",
    "val",
    "valid",
    "validation_set",
    "val_set",
    "validation_dataset",
    "val_dataset",
    "validation_data",
    "val_data",
    "dev",
    "dev_set",
    "dev_dataset",
    "dev_data",
    "test",
    "testing",
    "test_set",
    "testing_set",
    "test_dataset",
    "testing_dataset",
    "test_data",
    "testing_data",
    "eval",
    "eval_set",
    "eval_dataset",
    "eval_data",
];

/// `datasets`' split keywords in file and directory names, and the split each names.
const SPLIT_KEYWORDS: &[(&str, &str)] = &[
    ("train", "train"),
    ("training", "train"),
    ("validation", "validation"),
    ("valid", "validation"),
    ("dev", "validation"),
    ("val", "validation"),
    ("test", "test"),
    ("testing", "test"),
    ("eval", "test"),
    ("evaluation", "test"),
];

/// Data file extensions of a Hub layout (`datasets`' packaged builders that llmbench reads).
const HUB_EXTENSIONS: &[&str] = &["parquet", "arrow", "jsonl", "json", "csv"];
/// JSON files of a dataset repository that are metadata, not rows.
const METADATA_FILES: &[&str] = &[
    "dataset_info.json",
    "dataset_infos.json",
    "dataset_dict.json",
    "state.json",
];

/// How the directory is laid out.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// `Dataset.save_to_disk`.
    SavedDataset,
    /// `DatasetDict.save_to_disk`.
    SavedDatasetDict,
    /// Data files as on the Hub.
    HubFiles,
}

/// The files of the chosen split.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub layout: Layout,
    /// The split read; None for a saved `Dataset` that records none.
    pub split: Option<String>,
    pub files: Vec<PathBuf>,
}

/// The rows of a dataset directory, and the split they came from.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<(Vec<FileRow>, Option<String>)> {
    let split = requested_split(opts.data_args.as_ref())?;
    let config = requested_config(opts.data_args.as_ref())?;
    let r = resolve_config(dir, split.as_deref(), config.as_deref())?;
    let mut rows = Vec::new();
    for f in &r.files {
        if std::fs::metadata(f).map(|m| m.len()).unwrap_or(0) == 0 {
            continue;
        }
        rows.extend(files::load(f, opts)?);
    }
    if rows.is_empty() {
        crate::bail_usage!(
            "--data {}: split {} has no rows; it needs at least one prompt",
            dir.display(),
            r.split.as_deref().unwrap_or("(the only one)")
        );
    }
    Ok((rows, r.split))
}

/// `split` from `--data-args`, when given.
fn requested_split(args: Option<&Value>) -> Result<Option<String>> {
    match args.and_then(|a| a.get("split")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => crate::bail_usage!(
            "--data split must name a split as a string such as \"train\", not {other}"
        ),
    }
}

/// `name` from `--data-args` (`load_dataset`'s config name), when given.
fn requested_config(args: Option<&Value>) -> Result<Option<String>> {
    match args.and_then(|a| a.get("name")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => crate::bail_usage!(
            "--data name must name a config of the dataset's README.md as a string, not {other}"
        ),
    }
}

/// The files of `dir`'s requested (or default) split, of its default config.
pub fn resolve(dir: &Path, split: Option<&str>) -> Result<Resolved> {
    resolve_config(dir, split, None)
}

/// The files of `dir`'s requested (or default) split, of the config `name` where its README.md
/// declares configs (the default one without a name).
pub fn resolve_config(dir: &Path, split: Option<&str>, name: Option<&str>) -> Result<Resolved> {
    let d = dir.display();
    if let Some(configs) = readme_configs(dir)? {
        return from_config(dir, &configs, split, name);
    }
    if let Some(n) = name {
        crate::bail_usage!(
            "--data {d} declares no configs (no configs list in a README.md header), so it has no config \"{n}\"; leave name out"
        );
    }
    if dir.join("dataset_dict.json").is_file() {
        let splits = saved_splits(dir)?;
        let chosen = choose(dir, split, &splits)?;
        let sub = dir.join(&chosen);
        let files = saved_shards(&sub)?;
        return Ok(Resolved {
            layout: Layout::SavedDatasetDict,
            split: Some(chosen),
            files,
        });
    }
    if dir.join("state.json").is_file() {
        let recorded = std::fs::read_to_string(dir.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("_split").and_then(Value::as_str).map(String::from));
        if let Some(want) = split {
            if recorded.as_deref() != Some(want) {
                crate::bail_usage!(
                    "--data {d} is one saved Dataset{}, not a DatasetDict, so it has no split \"{want}\"; leave split out, or save the DatasetDict",
                    recorded.as_deref().map(|s| format!(" (split {s})")).unwrap_or_default()
                );
            }
        }
        return Ok(Resolved {
            layout: Layout::SavedDataset,
            split: recorded,
            files: saved_shards(dir)?,
        });
    }
    let by_split = hub_files(dir)?;
    if by_split.is_empty() {
        crate::bail_usage!(
            "--data {d} is a directory without a dataset: no dataset_dict.json or state.json (as datasets' save_to_disk writes) and no {} data files",
            HUB_EXTENSIONS.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(", ")
        );
    }
    let names: Vec<String> = by_split.keys().cloned().collect();
    let chosen = choose(dir, split, &names)?;
    let files = by_split[&chosen].clone();
    Ok(Resolved {
        layout: Layout::HubFiles,
        split: Some(chosen),
        files,
    })
}

/// One config of a Hub repository's README.md header: its data files (glob patterns relative to
/// the repository) by split.
#[derive(Debug, Clone, PartialEq)]
struct HubConfig {
    name: String,
    default: bool,
    data_files: BTreeMap<String, Vec<String>>,
}

/// The `configs` of `dir/README.md`'s YAML header, as the Hub and `datasets` read them; None
/// where there is no README.md, no header or no `configs`.
fn readme_configs(dir: &Path) -> Result<Option<Vec<HubConfig>>> {
    let path = dir.join("README.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let text = text.trim_start_matches('\u{feff}');
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok(None);
    };
    let Some(end) = rest
        .find("\n---")
        .map(|i| i + 1)
        .or_else(|| rest.starts_with("---").then_some(0))
    else {
        return Ok(None);
    };
    let p = path.display();
    let header: Value = match serde_yaml_ng::from_str(&rest[..end]) {
        Ok(Value::Null) => return Ok(None),
        Ok(v) => v,
        Err(e) => crate::bail_usage!("--data {p}: its YAML header is not valid YAML ({e})"),
    };
    let Some(list) = header.get("configs").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(list) = list.as_array() else {
        crate::bail_usage!("--data {p}: configs must be a list of {{config_name, data_files}}");
    };
    let mut out = Vec::new();
    for c in list {
        let name = c
            .get("config_name")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let bad = || -> anyhow::Error {
            crate::error::UsageError::new(format!(
                "--data {p}: config {name}'s data_files must be a path pattern, a list of them, or a list of {{split, path}}"
            ))
            .into()
        };
        let patterns = |v: &Value| -> Result<Vec<String>> {
            match v {
                Value::String(s) => Ok(vec![s.clone()]),
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(String::from).ok_or_else(bad))
                    .collect(),
                _ => Err(bad()),
            }
        };
        let mut data_files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match c.get("data_files") {
            None | Some(Value::Null) => crate::bail_usage!(
                "--data {p}: config {name} has no data_files; llmbench reads a config's data files, not a loading script"
            ),
            Some(Value::Array(a)) if a.iter().all(Value::is_object) => {
                for e in a {
                    let split = e.get("split").and_then(Value::as_str).unwrap_or("train");
                    let path = e.get("path").ok_or_else(bad)?;
                    data_files
                        .entry(split.to_string())
                        .or_default()
                        .extend(patterns(path)?);
                }
            }
            Some(Value::Object(m)) => {
                for (split, path) in m {
                    data_files.insert(split.clone(), patterns(path)?);
                }
            }
            Some(v) => {
                data_files.insert("train".into(), patterns(v)?);
            }
        }
        out.push(HubConfig {
            default: c.get("default").and_then(Value::as_bool).unwrap_or(false),
            name,
            data_files,
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// The chosen config's files for the chosen split: `name`'s, else the one marked `default`,
/// named `default`, or the only one, as `datasets` picks.
fn from_config(
    dir: &Path,
    configs: &[HubConfig],
    split: Option<&str>,
    name: Option<&str>,
) -> Result<Resolved> {
    let d = dir.display();
    let names = || {
        configs
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = match name {
        Some(n) => match configs.iter().find(|c| c.name == n) {
            Some(c) => c,
            None => crate::bail_usage!(
                "--data {d}: no config \"{n}\" in its README.md; its configs are {}",
                names()
            ),
        },
        None => match configs
            .iter()
            .find(|c| c.default)
            .or_else(|| configs.iter().find(|c| c.name == "default"))
            .or_else(|| (configs.len() == 1).then(|| &configs[0]))
        {
            Some(c) => c,
            None => crate::bail_usage!(
                "--data {d}: its README.md declares configs {} and none is the default; choose one with --data-args '{{\"name\": \"…\"}}' (load_kwargs.name in the run form)",
                names()
            ),
        },
    };
    let splits: Vec<String> = config.data_files.keys().cloned().collect();
    let chosen = choose(dir, split, &splits)?;
    let mut found = Vec::new();
    walk(dir, dir, &mut found)?;
    let rel: Vec<(String, &PathBuf)> = found
        .iter()
        .map(|(p, _)| {
            let r = p.strip_prefix(dir).unwrap_or(p);
            (r.to_string_lossy().replace('\\', "/"), p)
        })
        .collect();
    let mut files = Vec::new();
    for pattern in &config.data_files[&chosen] {
        let pat = pattern.trim_start_matches("./");
        let matched: Vec<PathBuf> = rel
            .iter()
            .filter(|(r, _)| glob_match(pat, r))
            .map(|(_, p)| (*p).clone())
            .collect();
        if matched.is_empty() {
            crate::bail_usage!(
                "--data {d}: config {}'s split {chosen} names {pattern}, which matches no {} file in the directory",
                config.name,
                HUB_EXTENSIONS.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join("/")
            );
        }
        for m in matched {
            if !files.contains(&m) {
                files.push(m);
            }
        }
    }
    files.sort();
    Ok(Resolved {
        layout: Layout::HubFiles,
        split: Some(chosen),
        files,
    })
}

/// fsspec's glob as `datasets` uses it for data_files: `*` and `?` within one path segment,
/// `**` across segments, `[…]` a character class; anything else literal.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                // `**/` also matches no directory at all.
                let rest = &p[2..];
                let rest_slash = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=s.len()).any(|i| go(rest, &s[i..]))
                    || (rest.len() != rest_slash.len() && go(rest_slash, s))
            }
            Some(b'*') => {
                let rest = &p[1..];
                let mut i = 0;
                loop {
                    if go(rest, &s[i..]) {
                        return true;
                    }
                    if i == s.len() || s[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(b'?') => !s.is_empty() && s[0] != b'/' && go(&p[1..], &s[1..]),
            Some(b'[') => match p.iter().position(|&c| c == b']') {
                Some(close) if close > 1 && !s.is_empty() => {
                    let class = &p[1..close];
                    let (neg, class) = match class.first() {
                        Some(b'!' | b'^') => (true, &class[1..]),
                        _ => (false, class),
                    };
                    let c = s[0];
                    let mut hit = false;
                    let mut k = 0;
                    while k < class.len() {
                        if k + 2 < class.len() && class[k + 1] == b'-' {
                            hit |= class[k] <= c && c <= class[k + 2];
                            k += 3;
                        } else {
                            hit |= class[k] == c;
                            k += 1;
                        }
                    }
                    hit != neg && go(&p[close + 1..], &s[1..])
                }
                _ => !s.is_empty() && s[0] == b'[' && go(&p[1..], &s[1..]),
            },
            Some(&c) => !s.is_empty() && s[0] == c && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

/// The requested split, or GuideLLM's default among `splits`.
fn choose(dir: &Path, split: Option<&str>, splits: &[String]) -> Result<String> {
    match split {
        Some(s) => {
            if splits.iter().any(|x| x == s) {
                return Ok(s.to_string());
            }
            // A keyword for a split (`dev`, `eval`) finds it under its canonical name.
            let canonical = SPLIT_KEYWORDS
                .iter()
                .find(|(k, _)| *k == s)
                .map(|(_, c)| *c);
            if let Some(c) = canonical.filter(|c| splits.iter().any(|x| x == c)) {
                return Ok(c.to_string());
            }
            crate::bail_usage!(
                "--data {}: no split \"{s}\"; its splits are {}",
                dir.display(),
                splits.join(", ")
            )
        }
        None => Ok(DEFAULT_SPLITS
            .iter()
            .find(|d| splits.iter().any(|x| x == *d))
            .map(|d| d.to_string())
            .unwrap_or_else(|| {
                let mut sorted = splits.to_vec();
                sorted.sort();
                sorted[0].clone()
            })),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::UsageError::new(format!("--data {} could not be read ({e})", path.display()))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        crate::error::UsageError::new(format!(
            "--data {} is not valid JSON ({e}); save the dataset again with save_to_disk",
            path.display()
        ))
        .into()
    })
}

/// A saved DatasetDict's splits, from its `dataset_dict.json`.
fn saved_splits(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("dataset_dict.json");
    let v = read_json(&path)?;
    let splits: Vec<String> = v
        .get("splits")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if splits.is_empty() {
        crate::bail_usage!(
            "--data {} names no splits (\"splits\": [\"train\", …]); save the DatasetDict again with save_to_disk",
            path.display()
        );
    }
    Ok(splits)
}

/// A saved Dataset's `.arrow` shards, in order, from its `state.json`.
fn saved_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let path = dir.join("state.json");
    if !path.is_file() {
        crate::bail_usage!(
            "--data {} is missing; a split saved by save_to_disk has a state.json listing its .arrow files",
            path.display()
        );
    }
    let v = read_json(&path)?;
    let files: Vec<PathBuf> = v
        .get("_data_files")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("filename").and_then(Value::as_str))
                .map(|f| dir.join(f))
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        crate::bail_usage!(
            "--data {} lists no data files (\"_data_files\": [{{\"filename\": …}}]); save the dataset again with save_to_disk",
            path.display()
        );
    }
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        crate::bail_usage!(
            "--data {}: shard {} listed in state.json does not exist; copy the whole saved directory",
            dir.display(),
            missing.display()
        );
    }
    Ok(files)
}

/// Every data file under `dir` (hidden directories left out) of the most common extension,
/// grouped by split, each group sorted by path.
fn hub_files(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut found = Vec::new();
    walk(dir, dir, &mut found)?;
    // `datasets` reads a repository with the builder of its most common data file extension.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, ext) in &found {
        *counts.entry(ext.clone()).or_default() += 1;
    }
    let Some(top) = HUB_EXTENSIONS
        .iter()
        .filter(|e| counts.contains_key(**e))
        .max_by_key(|e| {
            (
                counts[**e],
                std::cmp::Reverse(HUB_EXTENSIONS.iter().position(|x| x == *e)),
            )
        })
    else {
        return Ok(BTreeMap::new());
    };
    let files: Vec<PathBuf> = found
        .into_iter()
        .filter(|(_, e)| e == top)
        .map(|(p, _)| p)
        .collect();
    let rel = |p: &PathBuf| p.strip_prefix(dir).unwrap_or(p).to_path_buf();
    let mut by: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    // `push_to_hub`'s names first: data/{split}-00000-of-00002.parquet.
    let sharded: Vec<(String, PathBuf)> = files
        .iter()
        .filter_map(|p| sharded_split(&rel(p)).map(|s| (s, p.clone())))
        .collect();
    if !sharded.is_empty() {
        for (s, p) in sharded {
            by.entry(s).or_default().push(p);
        }
    } else {
        let named: Vec<(String, PathBuf)> = files
            .iter()
            .filter_map(|p| keyword_split(&rel(p)).map(|s| (s, p.clone())))
            .collect();
        if named.is_empty() {
            by.insert("train".to_string(), files);
        } else {
            for (s, p) in named {
                by.entry(s).or_default().push(p);
            }
        }
    }
    for v in by.values_mut() {
        v.sort();
    }
    Ok(by)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        crate::error::UsageError::new(format!("--data {} could not be read ({e})", root.display()))
    })?;
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if let Some(ext) = path
            .extension()
            .and_then(|x| x.to_str())
            .map(|x| x.to_ascii_lowercase())
        {
            if HUB_EXTENSIONS.contains(&ext.as_str()) && !METADATA_FILES.contains(&name.as_str()) {
                out.push((path, ext));
            }
        }
    }
    Ok(())
}

/// `{split}-00000-of-00001.ext` → split.
fn sharded_split(rel: &Path) -> Option<String> {
    let stem = rel.file_stem()?.to_str()?;
    let (head, tail) = stem.rsplit_once("-of-")?;
    let (split, index) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(index) && digits(tail) && !split.is_empty()).then(|| split.to_string())
}

/// A split keyword as a whole word (delimited by `-._ ` or digits) in the file name, else in
/// a directory name, deepest first.
fn keyword_split(rel: &Path) -> Option<String> {
    let words = |s: &str| -> Option<&'static str> {
        s.to_ascii_lowercase()
            .split(|c: char| "-._ ".contains(c) || c.is_ascii_digit())
            .find_map(|w| {
                SPLIT_KEYWORDS
                    .iter()
                    .find(|(k, _)| *k == w)
                    .map(|(_, c)| *c)
            })
    };
    if let Some(s) = rel.file_stem().and_then(|s| s.to_str()).and_then(words) {
        return Some(s.to_string());
    }
    rel.parent()?
        .components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .find_map(words)
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn names(r: &Resolved, dir: &Path) -> Vec<String> {
        r.files
            .iter()
            .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    fn usage_msg(r: Result<Resolved>) -> String {
        let e = r.expect_err("expected an error");
        assert_eq!(crate::error::exit_code(&e), 2, "not a UsageError: {e:#}");
        e.to_string()
    }

    #[test]
    fn saved_dataset_dict_splits_and_default() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, "dataset_dict.json", r#"{"splits": ["test", "train"]}"#);
        for s in ["train", "test"] {
            touch(
                d,
                &format!("{s}/state.json"),
                r#"{"_data_files": [{"filename": "data-00000-of-00002.arrow"}, {"filename": "data-00001-of-00002.arrow"}], "_split": null}"#,
            );
            touch(d, &format!("{s}/data-00000-of-00002.arrow"), "");
            touch(d, &format!("{s}/data-00001-of-00002.arrow"), "");
        }
        let r = resolve(d, None).unwrap();
        assert_eq!(r.layout, Layout::SavedDatasetDict);
        assert_eq!(r.split.as_deref(), Some("train"));
        assert_eq!(
            names(&r, d),
            [
                "train/data-00000-of-00002.arrow",
                "train/data-00001-of-00002.arrow"
            ]
        );
        assert_eq!(
            resolve(d, Some("test")).unwrap().split.as_deref(),
            Some("test")
        );
        // `eval` is a keyword for test.
        assert_eq!(
            resolve(d, Some("eval")).unwrap().split.as_deref(),
            Some("test")
        );
        let e = usage_msg(resolve(d, Some("validation")));
        assert!(
            e.contains("no split \"validation\"") && e.contains("test, train"),
            "{e}"
        );
    }

    #[test]
    fn saved_dataset_and_its_state() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(
            d,
            "state.json",
            r#"{"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": "train"}"#,
        );
        touch(d, "dataset_info.json", "{}");
        touch(d, "data-00000-of-00001.arrow", "");
        let r = resolve(d, None).unwrap();
        assert_eq!(r.layout, Layout::SavedDataset);
        assert_eq!(names(&r, d), ["data-00000-of-00001.arrow"]);
        assert_eq!(r.split.as_deref(), Some("train"));
        assert!(resolve(d, Some("train")).is_ok());
        let e = usage_msg(resolve(d, Some("test")));
        assert!(
            e.contains("no split \"test\"") && e.contains("split train"),
            "{e}"
        );
        std::fs::remove_file(d.join("data-00000-of-00001.arrow")).unwrap();
        let e = usage_msg(resolve(d, None));
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn hub_layout_splits_from_file_names() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, "README.md", "---\n---\n");
        touch(d, ".gitattributes", "");
        touch(d, ".cache/huggingface/x.parquet", "");
        touch(d, "data/train-00000-of-00002.parquet", "");
        touch(d, "data/train-00001-of-00002.parquet", "");
        touch(d, "data/test_sft-00000-of-00001.parquet", "");
        let r = resolve(d, None).unwrap();
        assert_eq!(r.layout, Layout::HubFiles);
        assert_eq!(
            names(&r, d),
            [
                "data/train-00000-of-00002.parquet",
                "data/train-00001-of-00002.parquet"
            ]
        );
        assert_eq!(
            names(&resolve(d, Some("test_sft")).unwrap(), d),
            ["data/test_sft-00000-of-00001.parquet"]
        );
        let e = usage_msg(resolve(d, Some("test")));
        assert!(e.contains("its splits are test_sft, train"), "{e}");
    }

    #[test]
    fn readme_configs_choose_the_files_by_config_and_split() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(
            d,
            "README.md",
            "---\nlicense: mit\nconfigs:\n- config_name: chat\n  default: true\n  data_files:\n  - split: train\n    path: chat/train-*.jsonl\n  - split: test\n    path: [chat/test.jsonl]\n- config_name: code\n  data_files: \"code/**/*.jsonl\"\n---\n# A dataset\n",
        );
        touch(d, "chat/train-0.jsonl", "");
        touch(d, "chat/train-1.jsonl", "");
        touch(d, "chat/test.jsonl", "");
        touch(d, "code/a/x.jsonl", "");
        touch(d, "code/y.jsonl", "");
        // Without configs the names would make chat/test.jsonl a test split of everything.
        let r = resolve(d, None).unwrap();
        assert_eq!(r.split.as_deref(), Some("train"));
        assert_eq!(names(&r, d), ["chat/train-0.jsonl", "chat/train-1.jsonl"]);
        let r = resolve_config(d, Some("test"), None).unwrap();
        assert_eq!(names(&r, d), ["chat/test.jsonl"]);
        let r = resolve_config(d, None, Some("code")).unwrap();
        assert_eq!(names(&r, d), ["code/a/x.jsonl", "code/y.jsonl"]);
        let e = usage_msg(resolve_config(d, None, Some("math")));
        assert!(
            e.contains("no config \"math\"") && e.contains("chat, code"),
            "{e}"
        );
        let e = usage_msg(resolve_config(d, Some("test"), Some("code")));
        assert!(e.contains("no split \"test\"; its splits are train"), "{e}");

        // Two configs, none the default: one sentence asking for a name.
        touch(
            d,
            "README.md",
            "---\nconfigs:\n- config_name: a\n  data_files: chat/*.jsonl\n- config_name: b\n  data_files: code/*.jsonl\n---\n",
        );
        let e = usage_msg(resolve(d, None));
        assert!(
            e.contains("declares configs a, b and none is the default"),
            "{e}"
        );
        assert_eq!(
            names(&resolve_config(d, None, Some("b")).unwrap(), d),
            ["code/y.jsonl"]
        );
        // A pattern that matches nothing is named.
        touch(
            d,
            "README.md",
            "---\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n",
        );
        let e = usage_msg(resolve(d, None));
        assert!(e.contains("names data/*.parquet, which matches no"), "{e}");
        // No configs: a name has nothing to choose.
        touch(d, "README.md", "---\nlicense: mit\n---\n");
        let e = usage_msg(resolve_config(d, None, Some("a")));
        assert!(e.contains("declares no configs"), "{e}");
    }

    #[test]
    fn globs_match_as_fsspec_does() {
        assert!(glob_match(
            "data/train-*",
            "data/train-00000-of-00001.parquet"
        ));
        assert!(!glob_match("data/*", "data/sub/x.parquet"));
        assert!(glob_match("data/**", "data/sub/x.parquet"));
        assert!(glob_match("**/*.jsonl", "x.jsonl"));
        assert!(glob_match("**/*.jsonl", "a/b/x.jsonl"));
        assert!(glob_match("part-?.csv", "part-1.csv"));
        assert!(glob_match("part-[0-2].csv", "part-2.csv"));
        assert!(!glob_match("part-[!0-2].csv", "part-2.csv"));
        assert!(!glob_match("train.jsonl", "train.json"));
    }

    #[test]
    fn hub_layout_keywords_and_plain_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, "my_train.jsonl", "");
        touch(d, "dev.jsonl", "");
        touch(d, "eval/part1.jsonl", "");
        touch(d, "dataset_infos.json", "{}");
        let r = resolve(d, None).unwrap();
        assert_eq!(names(&r, d), ["my_train.jsonl"]);
        assert_eq!(
            names(&resolve(d, Some("validation")).unwrap(), d),
            ["dev.jsonl"]
        );
        assert_eq!(
            names(&resolve(d, Some("test")).unwrap(), d),
            ["eval/part1.jsonl"]
        );

        // No split in any name: every file of the most common extension is train.
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, "a.parquet", "");
        touch(d, "b.parquet", "");
        touch(d, "notes.json", "[]");
        let r = resolve(d, None).unwrap();
        assert_eq!(r.split.as_deref(), Some("train"));
        assert_eq!(names(&r, d), ["a.parquet", "b.parquet"]);

        let t = tempfile::tempdir().unwrap();
        touch(t.path(), "README.md", "");
        let e = usage_msg(resolve(t.path(), None));
        assert!(e.contains("without a dataset"), "{e}");
    }
}
