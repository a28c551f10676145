//! Prompts from dataset files: `.jsonl`, `.json` (a list of objects, a list of strings, or
//! ShareGPT-style conversations), `.csv`, `.txt` (one prompt per line), `.parquet`, and Arrow IPC
//! (`.arrow`, `.feather`: the file format or the stream format, as `datasets.save_to_disk` writes).
//!
//! Every format is read into one shape — named columns, one JSON value per cell — and the same
//! column rules then apply to all of them. Columns are found case-insensitively: the text from
//! `prompt`, `instruction`, `question`, `input`, `context`, `content`, `text` (the first that
//! exists, in that order), and failing those from a conversation column (`conversations`,
//! `messages`, `conversation`); per-row token targets from `prompt_tokens_count` /
//! `input_tokens_count` and `output_tokens_count` / `completion_tokens_count`; a system prompt
//! from `system_prompt`, `system`, `prefix`. `--data-column-mapper` names any of them instead.
//!
//! A text cell that holds a list of turns (`{"from": "human", "value": …}` or `{"role": "user",
//! "content": …}`) is a conversation: its first human/user turn is the prompt, a system turn
//! before it the system prompt, and the assistant turn right after it the `reply`, whose length
//! the caller may turn into an output target.
//!
//! Every problem with the file or the flags is a `UsageError`: one sentence naming the file, the
//! line / item / row and column where there is one, and what would be valid.

use crate::error::UsageError;
use anyhow::Result;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// One prompt read from a dataset file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileRow {
    /// The user prompt.
    pub text: String,
    /// From a `system_prompt` / `system` / `prefix` column, or a conversation's system turn.
    pub system: Option<String>,
    /// Per-row target from `prompt_tokens_count` / `input_tokens_count`.
    pub prompt_tokens: Option<u32>,
    /// Per-row target from `output_tokens_count` / `completion_tokens_count`.
    pub output_tokens: Option<u32>,
    /// Conversations only: the assistant turn that answered the prompt (for an output target).
    pub reply: Option<String>,
    /// Conversations only: the later user turns, each with the recorded replies around it.
    pub later: Vec<FileTurn>,
}

/// A later user turn of a conversation read from a file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileTurn {
    /// The user message.
    pub text: String,
    /// The recorded assistant reply that came before it (to the previous user turn).
    pub reply_before: Option<String>,
    /// The recorded assistant reply that answered it.
    pub reply: Option<String>,
}

/// Loader options, both as given on the command line (already parsed as JSON).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--data-column-mapper`: `{"text_column": …, "system_column": …,
    /// "prompt_tokens_count_column": …, "output_tokens_count_column": …}`.
    pub column_mapper: Option<Value>,
    /// `--data-args`: `{"delimiter": ";"}` for CSV; other keys are ignored for files.
    pub data_args: Option<Value>,
}

/// The extensions `load` reads (compared case-insensitively), in the order error messages list them.
pub const EXTENSIONS: &[&str] = &["jsonl", "json", "csv", "txt", "parquet", "arrow", "feather"];

const TEXT_COLUMNS: &[&str] = &[
    "prompt",
    "instruction",
    "question",
    "input",
    "context",
    "content",
    "text",
];
const CONVERSATION_COLUMNS: &[&str] = &["conversations", "messages", "conversation"];
const SYSTEM_COLUMNS: &[&str] = &["system_prompt", "system", "prefix"];
const PROMPT_TOKENS_COLUMNS: &[&str] = &["prompt_tokens_count", "input_tokens_count"];
const OUTPUT_TOKENS_COLUMNS: &[&str] = &["output_tokens_count", "completion_tokens_count"];
const MAPPER_KEYS: &[&str] = &[
    "text_column",
    "system_column",
    "prompt_tokens_count_column",
    "output_tokens_count_column",
];
const HUMAN_ROLES: &[&str] = &["human", "user"];
const ASSISTANT_ROLES: &[&str] = &["gpt", "assistant", "chatgpt", "model", "bard", "bing"];

/// Whether `--data` names a file format this module reads (by extension).
pub fn is_supported(path: &Path) -> bool {
    extension(path).is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// Loads every row; errors are `UsageError`s with one sentence naming the file (and line /
/// column) and what would be valid.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Vec<FileRow>> {
    let mapping = Mapping::parse(opts.column_mapper.as_ref())?;
    let table = read_table(path, opts)?;
    rows_from_table(path, &table, &mapping)
}

/// Several files zipped row by row, as GuideLLM does with several `--data`: row i is built
/// from row i of every file, and the rows stop at the shortest file. As in GuideLLM's column
/// mapper and finalizer, each file contributes whatever columns it has: the prompt texts of
/// every file that has one, in order (joined by a newline), the system prompts likewise, and
/// the token-count targets summed — so one file can give the prompts and another their output
/// lengths. A `--data-column-mapper` name is looked up in each file, and must be in one.
pub fn load_zipped(paths: &[PathBuf], opts: &LoadOptions) -> Result<Vec<FileRow>> {
    let mapping = Mapping::parse(opts.column_mapper.as_ref())?;
    let mut per_file = Vec::new();
    for p in paths {
        let table = read_table(p, opts)?;
        per_file.push(rows_of(p, &table, &mapping, true)?);
    }
    for (key, name) in mapping.named() {
        if !per_file.iter().any(|(_, found)| found.contains(&key)) {
            crate::bail_usage!(
                "--data-column-mapper {key} \"{name}\" is not a column of any of {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if per_file
        .iter()
        .all(|(_, found)| !found.contains(&"text_column"))
    {
        crate::bail_usage!(
            "--data: none of the zipped files {} has a prompt text column ({}, or a conversations list)",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            TEXT_COLUMNS.join(", ")
        );
    }
    let n = per_file
        .iter()
        .map(|(rows, _)| rows.len())
        .min()
        .unwrap_or(0);
    let join = |parts: Vec<&str>| -> Option<String> {
        let parts: Vec<&str> = parts.into_iter().filter(|t| !t.is_empty()).collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    };
    let sum = |counts: Vec<Option<u32>>| -> Option<u32> {
        counts
            .into_iter()
            .flatten()
            .reduce(|a, b| a.saturating_add(b))
    };
    Ok((0..n)
        .map(|i| {
            let rows: Vec<&FileRow> = per_file.iter().map(|(r, _)| &r[i]).collect();
            FileRow {
                text: join(rows.iter().map(|r| r.text.as_str()).collect()).unwrap_or_default(),
                system: join(rows.iter().filter_map(|r| r.system.as_deref()).collect()),
                prompt_tokens: sum(rows.iter().map(|r| r.prompt_tokens).collect()),
                output_tokens: sum(rows.iter().map(|r| r.output_tokens).collect()),
                reply: rows.iter().find_map(|r| r.reply.clone()),
                later: rows
                    .iter()
                    .map(|r| &r.later)
                    .find(|l| !l.is_empty())
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// One file's rows as named columns.
fn read_table(path: &Path, opts: &LoadOptions) -> Result<Table> {
    let p = path.display();
    if !path.exists() {
        crate::bail_usage!(
            "--data file {p} does not exist; give an existing {} file, or a synthetic spec such as \"prompt_tokens=256,output_tokens=128\"",
            ext_list()
        );
    }
    if path.is_dir() {
        crate::bail_usage!(
            "--data {p} is a directory; a saved or downloaded Hugging Face dataset directory is read on its own (not zipped with other sources), else give one {} file",
            ext_list()
        );
    }
    let ext = extension(path).unwrap_or_default();
    if !EXTENSIONS.contains(&ext.as_str()) {
        let shown = if ext.is_empty() {
            "no extension".to_string()
        } else {
            format!("extension \".{ext}\"")
        };
        crate::bail_usage!(
            "--data file {p} has {shown}, which llmbench cannot read; supported: {}",
            ext_list()
        );
    }
    let args = match &opts.data_args {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => crate::bail_usage!(
            "--data-args must be a JSON object such as '{{\"delimiter\": \";\"}}', not {}",
            kind_of(other)
        ),
    };
    let table = match ext.as_str() {
        "jsonl" => read_jsonl(path, &read_text(path)?)?,
        "json" => read_json(path, &read_text(path)?)?,
        "csv" => read_csv(path, &args)?,
        "txt" => read_txt(&read_text(path)?),
        "parquet" => read_parquet(path)?,
        "arrow" | "feather" => read_arrow(path)?,
        _ => unreachable!("extension checked above"),
    };
    if table.rows.is_empty() {
        crate::bail_usage!("--data file {p} is empty (no rows); it needs at least one prompt");
    }
    Ok(table)
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

fn ext_list() -> String {
    EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage(msg: String) -> anyhow::Error {
    UsageError::new(msg).into()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "--data file {} could not be read ({e})",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "--data file {} is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

// ---------------------------------------------------------------------------------------------
// The common shape: named columns, one JSON value per cell.

/// Where a row came from, for error messages.
#[derive(Debug, Clone, Copy)]
enum Loc {
    /// 1-based line of a line-oriented file (JSONL, CSV, TXT).
    Line(usize),
    /// 0-based index into a JSON list.
    Index(usize),
    /// 1-based row of a parquet or Arrow file.
    Row(usize),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Line(n) => write!(f, "line {n}"),
            Loc::Index(i) => write!(f, "item at index {i}"),
            Loc::Row(n) => write!(f, "row {n}"),
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    /// Every column seen, in first-seen order.
    columns: Vec<String>,
    rows: Vec<(Loc, Map<String, Value>)>,
    /// Columns of a type llmbench does not read (Arrow), as `name (type)`: named in errors.
    unread: Vec<String>,
}

impl Table {
    fn push(&mut self, seen: &mut HashSet<String>, loc: Loc, row: Map<String, Value>) {
        for k in row.keys() {
            if seen.insert(k.clone()) {
                self.columns.push(k.clone());
            }
        }
        self.rows.push((loc, row));
    }

    /// Exact name first, then case-insensitively.
    fn find(&self, name: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.as_str() == name)
            .or_else(|| self.columns.iter().find(|c| c.eq_ignore_ascii_case(name)))
            .map(String::as_str)
    }

    fn discover(&self, candidates: &[&str]) -> Option<&str> {
        candidates.iter().find_map(|c| self.find(c))
    }

    fn column_list(&self) -> String {
        let read = if self.columns.is_empty() {
            "none".to_string()
        } else {
            self.columns.join(", ")
        };
        if self.unread.is_empty() {
            read
        } else {
            format!(
                "{read}; not read, of types other than text, numbers and lists of them: {}",
                self.unread.join(", ")
            )
        }
    }
}

/// A list of objects, or a list of strings (column `text`), from JSON or JSONL.
fn table_from_values(path: &Path, values: Vec<(Loc, Value)>) -> Result<Table> {
    let mut table = Table::default();
    let mut seen = HashSet::new();
    let strings = matches!(values.first(), Some((_, Value::String(_))));
    for (loc, v) in values {
        match v {
            Value::Object(m) if !strings => table.push(&mut seen, loc, m),
            Value::String(s) if strings => {
                let mut m = Map::new();
                m.insert("text".to_string(), Value::String(s));
                table.push(&mut seen, loc, m);
            }
            other => {
                let want = if strings {
                    "a string like the first one"
                } else {
                    "an object like the first one"
                };
                crate::bail_usage!(
                    "--data file {} {loc} is {}, but every entry must be {want} (all objects, or all prompt strings)",
                    path.display(),
                    kind_of(&other)
                );
            }
        }
    }
    Ok(table)
}

// ---------------------------------------------------------------------------------------------
// Formats.

fn read_jsonl(path: &Path, content: &str) -> Result<Table> {
    let mut values = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            let msg = e.to_string();
            let reason = msg.split(" at line ").next().unwrap_or(&msg);
            usage(format!(
                "--data file {} line {} is not valid JSON ({reason} at column {}); each line of a .jsonl file must be one JSON object",
                path.display(),
                i + 1,
                e.column()
            ))
        })?;
        values.push((Loc::Line(i + 1), v));
    }
    table_from_values(path, values)
}

fn read_json(path: &Path, content: &str) -> Result<Table> {
    if content.trim().is_empty() {
        return Ok(Table::default());
    }
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Array(items)) => table_from_values(
            path,
            items.into_iter().enumerate().map(|(i, v)| (Loc::Index(i), v)).collect(),
        ),
        Ok(other) => crate::bail_usage!(
            "--data file {} holds {}, but a .json data file must be a list of objects, of prompt strings, or of ShareGPT conversations (use .jsonl for one object per line)",
            path.display(),
            kind_of(&other)
        ),
        // JSON Lines saved as .json (what `datasets`' and pandas' `to_json(lines=True)` write).
        Err(_) if content.trim_start().starts_with('{') => read_jsonl(path, content),
        Err(e) => crate::bail_usage!(
            "--data file {} is not valid JSON ({e}); it must be a list of objects, of prompt strings, or of ShareGPT conversations",
            path.display()
        ),
    }
}

fn read_txt(content: &str) -> Table {
    let mut table = Table {
        columns: vec!["text".to_string()],
        ..Table::default()
    };
    for (i, line) in content.lines().enumerate() {
        if !line.trim().is_empty() {
            let mut m = Map::new();
            m.insert("text".to_string(), Value::String(line.to_string()));
            table.rows.push((Loc::Line(i + 1), m));
        }
    }
    table
}

fn csv_delimiter(args: &Map<String, Value>) -> Result<u8> {
    match args.get("delimiter") {
        None | Some(Value::Null) => Ok(b','),
        Some(Value::String(s)) if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        Some(other) => crate::bail_usage!(
            "--data-args delimiter must be one ASCII character such as \";\" or \"\\t\", not {other}"
        ),
    }
}

fn read_csv(path: &Path, args: &Map<String, Value>) -> Result<Table> {
    let p = path.display();
    let delimiter = csv_delimiter(args)?;
    let csv_error = |e: csv::Error| -> anyhow::Error {
        let line = e
            .position()
            .map(|pos| format!(" line {}", pos.line()))
            .unwrap_or_default();
        match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => usage(format!(
                "--data file {p}{line} has {len} fields but the header has {expected_len}; quote fields that contain the delimiter ('{}') with double quotes",
                delimiter as char
            )),
            csv::ErrorKind::Utf8 { .. } => {
                usage(format!("--data file {p}{line} is not UTF-8 text; save it as UTF-8"))
            }
            csv::ErrorKind::Io(io) => usage(format!("--data file {p} could not be read ({io})")),
            _ => usage(format!("--data file {p}{line} is not valid CSV ({e})")),
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(csv_error)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
        .collect();
    let mut table = Table {
        columns: headers.clone(),
        ..Table::default()
    };
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record
            .position()
            .map(|pos| pos.line() as usize)
            .unwrap_or(0);
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        table.rows.push((Loc::Line(line), row));
    }
    Ok(table)
}

fn read_parquet(path: &Path) -> Result<Table> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let p = path.display();
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(Table::default());
    }
    let file = std::fs::File::open(path)
        .map_err(|e| usage(format!("--data file {p} could not be read ({e})")))?;
    let reader = SerializedFileReader::new(file).map_err(|e| {
        usage(format!("--data file {p} is not a readable parquet file ({e}); write it with pyarrow or pandas' to_parquet"))
    })?;
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut table = Table {
        columns,
        ..Table::default()
    };
    for (i, row) in reader.into_iter().enumerate() {
        let row = row.map_err(|e| {
            usage(format!("--data file {p} row {} could not be read ({e}); string and integer columns are supported", i + 1))
        })?;
        let m = row
            .get_column_iter()
            .map(|(k, f)| (k.clone(), parquet_value(f)))
            .collect();
        table.rows.push((Loc::Row(i + 1), m));
    }
    Ok(table)
}

/// An Arrow IPC file (`ARROW1` magic: what `pyarrow.ipc.new_file` and feather v2 write) or
/// stream (what `datasets.save_to_disk` writes as `.arrow`), record batch by record batch.
fn read_arrow(path: &Path) -> Result<Table> {
    use arrow_array::RecordBatch;
    use arrow_ipc::reader::{FileReader, StreamReader};
    use arrow_schema::ArrowError;
    use std::io::{BufReader, Read, Seek, SeekFrom};
    let p = path.display();
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(Table::default());
    }
    let io = |e: std::io::Error| usage(format!("--data file {p} could not be read ({e})"));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 6];
    let is_file_format = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let bad = |e: ArrowError| {
        usage(format!(
            "--data file {p} is not a readable Arrow IPC file or stream ({e}); write it with pyarrow (pyarrow.ipc, or feather uncompressed, lz4 or zstd) or datasets' save_to_disk"
        ))
    };
    type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>>;
    let (schema, batches): (arrow_schema::SchemaRef, Batches) = if is_file_format {
        let r = FileReader::try_new(BufReader::new(file), None).map_err(bad)?;
        (r.schema(), Box::new(r))
    } else {
        let r = StreamReader::try_new(BufReader::new(file), None).map_err(bad)?;
        (r.schema(), Box::new(r))
    };
    let mut table = Table::default();
    let mut read = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if arrow_readable(f.data_type(), true) {
            table.columns.push(f.name().clone());
            read.push(i);
        } else {
            table
                .unread
                .push(format!("{} ({})", f.name(), f.data_type()));
        }
    }
    let mut row_no = 0;
    for batch in batches {
        let batch = batch.map_err(|e| {
            usage(format!(
                "--data file {p} could not be read after row {row_no} ({e}); the file may be truncated"
            ))
        })?;
        let cols: Vec<Vec<Value>> = read
            .iter()
            .map(|&i| arrow_column(batch.column(i).as_ref()))
            .collect();
        for r in 0..batch.num_rows() {
            row_no += 1;
            let m = read
                .iter()
                .zip(&cols)
                .map(|(&i, c)| (schema.field(i).name().clone(), c[r].clone()))
                .collect();
            table.rows.push((Loc::Row(row_no), m));
        }
    }
    Ok(table)
}

/// Whether an Arrow column becomes JSON values: strings, numbers, booleans, binary (as UTF-8
/// text), and lists and structs of them (conversations); dictionary-encoded at the top level.
fn arrow_readable(t: &arrow_schema::DataType, top: bool) -> bool {
    use arrow_schema::DataType as D;
    match t {
        D::Null
        | D::Boolean
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float32
        | D::Float64
        | D::Utf8
        | D::LargeUtf8
        | D::Utf8View
        | D::Binary
        | D::LargeBinary => true,
        D::List(f) | D::LargeList(f) => arrow_readable(f.data_type(), false),
        D::Struct(fs) => fs.iter().all(|f| arrow_readable(f.data_type(), false)),
        D::Dictionary(_, v) => top && arrow_readable(v, false),
        _ => false,
    }
}

/// One column's cells as JSON values (its type passed `arrow_readable`).
fn arrow_column(a: &dyn arrow_array::Array) -> Vec<Value> {
    use arrow_array::cast::AsArray;
    if let Some(d) = a.as_any_dictionary_opt() {
        let values = arrow_column(d.values().as_ref());
        let keys = d.normalized_keys();
        return (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    Value::Null
                } else {
                    values.get(keys[i]).cloned().unwrap_or(Value::Null)
                }
            })
            .collect();
    }
    (0..a.len()).map(|i| arrow_value(a, i)).collect()
}

fn arrow_value(a: &dyn arrow_array::Array, i: usize) -> Value {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType as D;
    if matches!(a.data_type(), D::Null) || a.is_null(i) {
        return Value::Null;
    }
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    let bytes = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => Value::Null,
    };
    let list = |v: std::sync::Arc<dyn arrow_array::Array>| {
        Value::Array((0..v.len()).map(|j| arrow_value(v.as_ref(), j)).collect())
    };
    match a.data_type() {
        D::Boolean => a.as_boolean().value(i).into(),
        D::Int8 => a.as_primitive::<Int8Type>().value(i).into(),
        D::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
        D::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        D::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        D::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
        D::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
        D::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        D::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        D::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(i))),
        D::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        D::Utf8 => a.as_string::<i32>().value(i).into(),
        D::LargeUtf8 => a.as_string::<i64>().value(i).into(),
        D::Utf8View => a.as_string_view().value(i).into(),
        D::Binary => bytes(a.as_binary::<i32>().value(i)),
        D::LargeBinary => bytes(a.as_binary::<i64>().value(i)),
        D::List(_) => list(a.as_list::<i32>().value(i)),
        D::LargeList(_) => list(a.as_list::<i64>().value(i)),
        D::Struct(fields) => Value::Object(
            fields
                .iter()
                .zip(a.as_struct().columns())
                .map(|(f, c)| (f.name().clone(), arrow_value(c.as_ref(), i)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn parquet_value(f: &parquet::record::Field) -> Value {
    use parquet::record::Field as F;
    match f {
        F::Null => Value::Null,
        F::Bool(b) => Value::Bool(*b),
        F::Byte(n) => (*n).into(),
        F::Short(n) => (*n).into(),
        F::Int(n) => (*n).into(),
        F::Long(n) => (*n).into(),
        F::UByte(n) => (*n).into(),
        F::UShort(n) => (*n).into(),
        F::UInt(n) => (*n).into(),
        F::ULong(n) => (*n).into(),
        F::Float(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(Value::Null, Value::Number)
        }
        F::Double(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        F::Str(s) => Value::String(s.clone()),
        // Strings written without the UTF8 annotation arrive as bytes.
        F::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => Value::String(f.to_string()),
        },
        F::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(k, v)| (k.clone(), parquet_value(v)))
                .collect(),
        ),
        F::ListInternal(list) => Value::Array(list.elements().iter().map(parquet_value).collect()),
        F::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        F::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, parquet_value(v))
                })
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Columns → rows.

#[derive(Debug, Default)]
struct Mapping {
    text: Option<String>,
    system: Option<String>,
    prompt_tokens: Option<String>,
    output_tokens: Option<String>,
}

impl Mapping {
    /// The mapper's keys that name a column, with the name.
    fn named(&self) -> Vec<(&'static str, &str)> {
        [
            ("text_column", &self.text),
            ("system_column", &self.system),
            ("prompt_tokens_count_column", &self.prompt_tokens),
            ("output_tokens_count_column", &self.output_tokens),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|n| (k, n)))
        .collect()
    }

    fn parse(v: Option<&Value>) -> Result<Mapping> {
        let mut m = Mapping::default();
        let obj = match v {
            None | Some(Value::Null) => return Ok(m),
            Some(Value::Object(o)) => o,
            Some(other) => crate::bail_usage!(
                "--data-column-mapper must be a JSON object such as '{{\"text_column\": \"article\"}}', not {}",
                kind_of(other)
            ),
        };
        for (key, val) in obj {
            let name = match val {
                Value::String(s) if !s.is_empty() => s.clone(),
                other => crate::bail_usage!(
                    "--data-column-mapper {key} must name a column as a string, not {other}"
                ),
            };
            match key.as_str() {
                "text_column" => m.text = Some(name),
                // GuideLLM calls the system prompt column `prefix_column`.
                "system_column" | "prefix_column" => m.system = Some(name),
                "prompt_tokens_count_column" => m.prompt_tokens = Some(name),
                "output_tokens_count_column" => m.output_tokens = Some(name),
                _ => crate::bail_usage!(
                    "--data-column-mapper key \"{key}\" is not one llmbench knows; valid keys: {}",
                    MAPPER_KEYS.join(", ")
                ),
            }
        }
        Ok(m)
    }
}

/// The column a mapper key names (which must exist), or else the first discovered candidate.
fn pick<'t>(
    path: &Path,
    table: &'t Table,
    key: &str,
    mapped: &Option<String>,
    candidates: &[&str],
    zipped: bool,
) -> Result<Option<&'t str>> {
    match mapped {
        Some(name) => match table.find(name) {
            Some(c) => Ok(Some(c)),
            // One of several zipped files: the name may be another file's column.
            None if zipped => Ok(None),
            None => crate::bail_usage!(
                "--data-column-mapper {key} \"{name}\" is not a column of {}; its columns are: {}",
                path.display(),
                table.column_list()
            ),
        },
        None => Ok(table.discover(candidates)),
    }
}

fn rows_from_table(path: &Path, table: &Table, mapping: &Mapping) -> Result<Vec<FileRow>> {
    rows_of(path, table, mapping, false).map(|(rows, _)| rows)
}

/// A file's rows, and the mapper keys it found a column for. `zipped` (one of several zipped
/// files): a file without a text column gives rows with empty text, and a mapped name missing
/// here is left to the other files.
fn rows_of<'t>(
    path: &Path,
    table: &'t Table,
    mapping: &Mapping,
    zipped: bool,
) -> Result<(Vec<FileRow>, Vec<&'static str>)> {
    let p = path.display();
    let text_col = match pick(path, table, "text_column", &mapping.text, TEXT_COLUMNS, zipped)? {
        Some(c) => Some(c),
        None => match table.discover(CONVERSATION_COLUMNS) {
            Some(c) => Some(c),
            None if zipped => None,
            None => crate::bail_usage!(
                "--data file {p} has no text column (its columns: {}); add one named {} (or a conversations/messages list), or name one with --data-column-mapper '{{\"text_column\": \"NAME\"}}'",
                table.column_list(),
                TEXT_COLUMNS.join(", ")
            ),
        },
    };
    let other = |c: Option<&'t str>| c.filter(|c| Some(*c) != text_col);
    let system_col = other(pick(
        path,
        table,
        "system_column",
        &mapping.system,
        SYSTEM_COLUMNS,
        zipped,
    )?);
    let prompt_col = other(pick(
        path,
        table,
        "prompt_tokens_count_column",
        &mapping.prompt_tokens,
        PROMPT_TOKENS_COLUMNS,
        zipped,
    )?);
    let output_col = other(pick(
        path,
        table,
        "output_tokens_count_column",
        &mapping.output_tokens,
        OUTPUT_TOKENS_COLUMNS,
        zipped,
    )?);
    let found: Vec<&'static str> = [
        ("text_column", text_col.is_some()),
        ("system_column", system_col.is_some()),
        ("prompt_tokens_count_column", prompt_col.is_some()),
        ("output_tokens_count_column", output_col.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, f)| f.then_some(k))
    .collect();

    let mut rows = Vec::with_capacity(table.rows.len());
    for (loc, row) in &table.rows {
        let Some(text_col) = text_col else {
            rows.push(FileRow {
                text: String::new(),
                system: match system_col.and_then(|c| row.get(c)) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                },
                prompt_tokens: token_count(path, *loc, prompt_col, row)?,
                output_tokens: token_count(path, *loc, output_col, row)?,
                reply: None,
                later: Vec::new(),
            });
            continue;
        };
        let (text, conv_system, reply, later) = match row.get(text_col) {
            None | Some(Value::Null) => crate::bail_usage!(
                "--data file {p} {loc} has no value in text column \"{text_col}\"; every row needs a prompt"
            ),
            Some(Value::String(s)) => (s.clone(), None, None, Vec::new()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => (v.to_string(), None, None, Vec::new()),
            Some(Value::Array(turns)) => match conversation(turns) {
                Ok(Some(c)) => c,
                Ok(None) => crate::bail_usage!(
                    "--data file {p} {loc}: its conversation in column \"{text_col}\" has no human turn; each needs a turn with \"from\": \"human\" or \"role\": \"user\""
                ),
                Err(k) => crate::bail_usage!(
                    "--data file {p} {loc}: turn {k} of its conversation in column \"{text_col}\" has no role; each turn needs \"from\" (human, gpt, system) or \"role\" (user, assistant, system)"
                ),
            },
            Some(Value::Object(_)) => crate::bail_usage!(
                "--data file {p} {loc}, column \"{text_col}\" holds an object, not prompt text; name the text column with --data-column-mapper '{{\"text_column\": \"NAME\"}}'"
            ),
        };
        let system = match system_col.and_then(|c| row.get(c)) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => conv_system,
        };
        rows.push(FileRow {
            text,
            system,
            prompt_tokens: token_count(path, *loc, prompt_col, row)?,
            output_tokens: token_count(path, *loc, output_col, row)?,
            reply,
            later,
        });
    }
    Ok((rows, found))
}

/// `(prompt, system, reply, later turns)` from a list of turns; `Ok(None)` without a
/// human/user turn; `Err(k)` when turn k (from 0) has no role. A list of plain strings
/// alternates user and assistant, starting with the user.
#[allow(clippy::type_complexity)]
fn conversation(
    turns: &[Value],
) -> Result<Option<(String, Option<String>, Option<String>, Vec<FileTurn>)>, usize> {
    let mut parsed: Vec<(String, String)> = Vec::with_capacity(turns.len());
    for (i, t) in turns.iter().enumerate() {
        parsed.push(match t {
            Value::String(s) => (
                if i % 2 == 0 { "user" } else { "assistant" }.to_string(),
                s.clone(),
            ),
            Value::Object(o) => {
                let role = o
                    .get("from")
                    .or_else(|| o.get("role"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if role.is_empty() {
                    return Err(i);
                }
                let content = o.get("value").or_else(|| o.get("content")).map(turn_text);
                (role, content.unwrap_or_default())
            }
            _ => (String::new(), String::new()),
        });
    }
    let human = |r: &str| HUMAN_ROLES.contains(&r);
    let assistant = |r: &str| ASSISTANT_ROLES.contains(&r);
    let Some(first) = parsed.iter().position(|(role, _)| human(role)) else {
        return Ok(None);
    };
    let system = parsed[..first]
        .iter()
        .find(|(role, _)| role == "system")
        .map(|(_, text)| text.clone());
    // The assistant turn right after a user turn is its reply.
    let reply_after = |k: usize| {
        parsed
            .get(k + 1)
            .filter(|(role, _)| assistant(role))
            .map(|(_, text)| text.clone())
    };
    let mut later: Vec<FileTurn> = Vec::new();
    let mut prev_user = first;
    for k in first + 1..parsed.len() {
        if human(&parsed[k].0) {
            later.push(FileTurn {
                text: parsed[k].1.clone(),
                reply_before: reply_after(prev_user),
                reply: reply_after(k),
            });
            prev_user = k;
        }
    }
    Ok(Some((
        parsed[first].1.clone(),
        system,
        reply_after(first),
        later,
    )))
}

/// A turn's text: a string, or the text parts of an OpenAI-style content list.
fn turn_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A token target cell: an integer, a float with an integral value, or a numeric string; an
/// empty cell is no target.
fn token_count(
    path: &Path,
    loc: Loc,
    col: Option<&str>,
    row: &Map<String, Value>,
) -> Result<Option<u32>> {
    let Some(col) = col else { return Ok(None) };
    let v = match row.get(col) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let from_f64 =
        |x: f64| (x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x)).then_some(x as u32);
    let n = match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => u32::try_from(u).ok(),
            None => n.as_f64().and_then(from_f64),
        },
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<u64>() {
                Ok(u) => u32::try_from(u).ok(),
                Err(_) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .and_then(from_f64),
            }
        }
        _ => None,
    };
    match n {
        Some(n) => Ok(Some(n)),
        None => crate::bail_usage!(
            "--data file {} {loc}, column \"{col}\": {v} is not a token count; use a whole number from 0 to {}",
            path.display(),
            u32::MAX
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn opts() -> LoadOptions {
        LoadOptions::default()
    }

    fn mapper(v: Value) -> LoadOptions {
        LoadOptions {
            column_mapper: Some(v),
            data_args: None,
        }
    }

    fn row(text: &str) -> FileRow {
        FileRow {
            text: text.into(),
            system: None,
            prompt_tokens: None,
            output_tokens: None,
            reply: None,
            later: Vec::new(),
        }
    }

    /// The error's message, after checking it is a usage error (exit code 2).
    fn usage_err(r: Result<Vec<FileRow>>) -> String {
        let e = r.expect_err("expected an error");
        assert_eq!(crate::error::exit_code(&e), 2, "not a UsageError: {e:#}");
        e.to_string()
    }

    #[test]
    fn jsonl_rows_targets_and_system() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.jsonl",
            concat!(
                r#"{"prompt": "a", "system_prompt": "be brief", "prompt_tokens_count": 10, "output_tokens_count": 5}"#,
                "\n\n   \n",
                r#"{"prompt": "b", "input_tokens_count": 12.0, "completion_tokens_count": "7"}"#,
                "\r\n",
                r#"{"prompt": "c", "output_tokens_count": null}"#,
                "\n"
            ),
        );
        let rows = load(&path, &opts()).unwrap();
        // Discovery takes the first candidate present in the file's columns: here
        // prompt_tokens_count (seen in row 1), so row 2's input_tokens_count is not consulted.
        assert_eq!(
            rows[0],
            FileRow {
                text: "a".into(),
                system: Some("be brief".into()),
                prompt_tokens: Some(10),
                output_tokens: Some(5),
                reply: None,
                later: Vec::new(),
            }
        );
        assert_eq!(rows[1].text, "b");
        assert_eq!(rows[2], row("c"));
        assert_eq!(rows.len(), 3);

        let path = write(
            &dir,
            "e.jsonl",
            "{\"question\": \"q\", \"input_tokens_count\": 12.0, \"completion_tokens_count\": \" 7 \"}\n",
        );
        let rows = load(&path, &opts()).unwrap();
        assert_eq!(rows[0].prompt_tokens, Some(12));
        assert_eq!(rows[0].output_tokens, Some(7));
    }

    #[test]
    fn jsonl_of_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "s.jsonl", "\"one\"\n\"two\"\n");
        assert_eq!(load(&path, &opts()).unwrap(), vec![row("one"), row("two")]);
    }

    #[test]
    fn json_objects_case_insensitive_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.json",
            r#"[{"Prompt": "hi", "SYSTEM": "sys", "Output_Tokens_Count": 3, "Prompt_Tokens_Count": "4"},
                {"Prompt": "yo"}]"#,
        );
        let rows = load(&path, &opts()).unwrap();
        assert_eq!(
            rows[0],
            FileRow {
                text: "hi".into(),
                system: Some("sys".into()),
                prompt_tokens: Some(4),
                output_tokens: Some(3),
                reply: None,
                later: Vec::new(),
            }
        );
        assert_eq!(rows[1], row("yo"));
    }

    #[test]
    fn discovery_order_and_mapper_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.json",
            r#"[{"text": "t", "question": "q", "article": "art", "n_out": 9, "output_tokens_count": 1, "pre": "p"}]"#,
        );
        // question comes before text in the discovery order.
        assert_eq!(load(&path, &opts()).unwrap()[0].text, "q");
        let rows = load(
            &path,
            &mapper(json!({"text_column": "ARTICLE", "output_tokens_count_column": "n_out", "system_column": "pre"})),
        )
        .unwrap();
        assert_eq!(
            rows[0],
            FileRow {
                text: "art".into(),
                system: Some("p".into()),
                prompt_tokens: None,
                output_tokens: Some(9),
                reply: None,
                later: Vec::new(),
            }
        );
        // GuideLLM's name for the system column.
        let rows = load(&path, &mapper(json!({"prefix_column": "pre"}))).unwrap();
        assert_eq!(rows[0].system.as_deref(), Some("p"));
    }

    #[test]
    fn json_list_of_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "s.json", r#"["first", "second"]"#);
        assert_eq!(
            load(&path, &opts()).unwrap(),
            vec![row("first"), row("second")]
        );
        // The strings are column "text" as far as the mapper is concerned.
        assert!(load(&path, &mapper(json!({"text_column": "text"}))).is_ok());
    }

    #[test]
    fn json_lines_saved_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.json", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n");
        assert_eq!(load(&path, &opts()).unwrap(), vec![row("a"), row("b")]);
    }

    #[test]
    fn sharegpt_first_human_turn_and_reply() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "sg.json",
            r#"[
              {"id": "x", "conversations": [
                  {"from": "system", "value": "You are terse."},
                  {"from": "human", "value": "What is 2+2?"},
                  {"from": "gpt", "value": "4."},
                  {"from": "human", "value": "And 3+3?"},
                  {"from": "gpt", "value": "6."}]},
              {"id": "y", "conversations": [
                  {"from": "gpt", "value": "Hello, how can I help?"},
                  {"from": "human", "value": "Tell me a joke."}]}
            ]"#,
        );
        let rows = load(&path, &opts()).unwrap();
        assert_eq!(
            rows[0],
            FileRow {
                text: "What is 2+2?".into(),
                system: Some("You are terse.".into()),
                prompt_tokens: None,
                output_tokens: None,
                reply: Some("4.".into()),
                // the later user turn, with the recorded replies around it
                later: vec![FileTurn {
                    text: "And 3+3?".into(),
                    reply_before: Some("4.".into()),
                    reply: Some("6.".into()),
                }],
            }
        );
        // No reply follows the first human turn.
        assert_eq!(rows[1], row("Tell me a joke."));
    }

    #[test]
    fn messages_with_role_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "m.jsonl",
            concat!(
                r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "text", "text": "Rust."}]}, {"role": "assistant", "content": "A language."}], "output_tokens_count": 20}"#,
                "\n"
            ),
        );
        let rows = load(&path, &opts()).unwrap();
        assert_eq!(
            rows[0],
            FileRow {
                text: "Describe\nRust.".into(),
                system: None,
                prompt_tokens: None,
                output_tokens: Some(20),
                reply: Some("A language.".into()),
                later: Vec::new(),
            }
        );
    }

    #[test]
    fn csv_quoting_and_custom_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.csv",
            "\u{feff}Prompt,output_tokens_count\n\"Hello, world\",5\n\"She said \"\"hi\"\"\nover two lines\",\n",
        );
        let rows = load(&path, &opts()).unwrap();
        assert_eq!(
            rows,
            vec![
                FileRow {
                    output_tokens: Some(5),
                    ..row("Hello, world")
                },
                row("She said \"hi\"\nover two lines"),
            ]
        );

        let path = write(
            &dir,
            "semi.csv",
            "text;prompt_tokens_count\na, b;7\n\"x;y\";8\n",
        );
        let o = LoadOptions {
            column_mapper: None,
            data_args: Some(json!({"delimiter": ";"})),
        };
        let rows = load(&path, &o).unwrap();
        assert_eq!(
            rows,
            vec![
                FileRow {
                    prompt_tokens: Some(7),
                    ..row("a, b")
                },
                FileRow {
                    prompt_tokens: Some(8),
                    ..row("x;y")
                },
            ]
        );

        let path = write(&dir, "tab.csv", "text\tn\nhello\t1\n");
        let o = LoadOptions {
            column_mapper: None,
            data_args: Some(json!({"delimiter": "\t"})),
        };
        assert_eq!(load(&path, &o).unwrap(), vec![row("hello")]);

        let o = LoadOptions {
            column_mapper: None,
            data_args: Some(json!({"delimiter": ";;"})),
        };
        let msg = usage_err(load(&path, &o));
        assert!(
            msg.contains("--data-args delimiter must be one ASCII character"),
            "{msg}"
        );
    }

    #[test]
    fn csv_ragged_row_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "r.csv", "prompt,n\na,1\nb,2,3\n");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("r.csv line 3 has 3 fields but the header has 2"),
            "{msg}"
        );
    }

    #[test]
    fn txt_one_prompt_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "p.txt", "first prompt\r\n\n  \nsecond, with comma\n");
        assert_eq!(
            load(&path, &opts()).unwrap(),
            vec![row("first prompt"), row("second, with comma")]
        );
    }

    /// Two record batches of `large_string` prompts, int32/int64 targets, a dictionary-encoded
    /// system prompt and a ShareGPT conversation column (list<struct>).
    fn arrow_batches() -> (arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>) {
        use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
        use arrow_array::types::Int32Type;
        use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, LargeStringArray};
        use arrow_schema::{DataType, Field, Fields, Schema};
        use std::sync::Arc;
        let turn = Fields::from(vec![
            Field::new("from", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("question", DataType::LargeUtf8, true),
            Field::new("prompt_tokens_count", DataType::Int32, true),
            Field::new("output_tokens_count", DataType::Int64, true),
            Field::new(
                "system",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new(
                "conversations",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(turn.clone()),
                    true,
                ))),
                true,
            ),
            Field::new("when", DataType::Date32, true),
        ]));
        let batch = |qs: Vec<Option<&str>>, outs: Vec<Option<i64>>, sys: Vec<Option<&str>>| {
            let n = qs.len();
            let mut conv = ListBuilder::new(StructBuilder::from_fields(turn.clone(), n));
            for q in &qs {
                for (role, text) in [("human", q.unwrap_or("")), ("gpt", "ok")] {
                    let s = conv.values();
                    s.field_builder::<StringBuilder>(0)
                        .unwrap()
                        .append_value(role);
                    s.field_builder::<StringBuilder>(1)
                        .unwrap()
                        .append_value(text);
                    s.append(true);
                }
                conv.append(true);
            }
            let cols: Vec<ArrayRef> = vec![
                Arc::new(LargeStringArray::from(qs)),
                Arc::new(Int32Array::from(vec![Some(7); n])),
                Arc::new(Int64Array::from(outs)),
                Arc::new(sys.into_iter().collect::<DictionaryArray<Int32Type>>()),
                Arc::new(conv.finish()),
                Arc::new(arrow_array::Date32Array::from(vec![Some(1); n])),
            ];
            arrow_array::RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        let batches = vec![
            batch(
                vec![Some("first"), Some("second")],
                vec![Some(3), None],
                vec![Some("be brief"), None],
            ),
            batch(vec![Some("third")], vec![Some(5)], vec![Some("be brief")]),
        ];
        (schema, batches)
    }

    #[test]
    fn arrow_file_and_stream_rows_across_batches() {
        use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
        let dir = tempfile::tempdir().unwrap();
        let (schema, batches) = arrow_batches();
        let file_path = dir.path().join("d.arrow");
        let mut w =
            FileWriter::try_new(std::fs::File::create(&file_path).unwrap(), &schema).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        // A stream (what save_to_disk writes), lz4-compressed (feather's default), as .feather.
        let stream_path = dir.path().join("d.feather");
        let write_opts = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .unwrap();
        let mut w = StreamWriter::try_new_with_options(
            std::fs::File::create(&stream_path).unwrap(),
            &schema,
            write_opts,
        )
        .unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        // A file, zstd-compressed (pyarrow's other codec).
        let zstd_path = dir.path().join("z.arrow");
        let write_opts = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
            .unwrap();
        let mut w = FileWriter::try_new_with_options(
            std::fs::File::create(&zstd_path).unwrap(),
            &schema,
            write_opts,
        )
        .unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        for path in [&file_path, &stream_path, &zstd_path] {
            let rows = load(path, &opts()).unwrap();
            assert_eq!(
                rows,
                vec![
                    FileRow {
                        text: "first".into(),
                        system: Some("be brief".into()),
                        prompt_tokens: Some(7),
                        output_tokens: Some(3),
                        reply: None,
                        later: Vec::new()
                    },
                    FileRow {
                        text: "second".into(),
                        system: None,
                        prompt_tokens: Some(7),
                        output_tokens: None,
                        reply: None,
                        later: Vec::new()
                    },
                    FileRow {
                        text: "third".into(),
                        system: Some("be brief".into()),
                        prompt_tokens: Some(7),
                        output_tokens: Some(5),
                        reply: None,
                        later: Vec::new()
                    },
                ],
                "{}",
                path.display()
            );
            // The conversation column through the mapper: its first human turn and the reply.
            let rows = load(path, &mapper(json!({"text_column": "conversations"}))).unwrap();
            assert_eq!(rows[2].text, "third");
            assert_eq!(rows[2].reply.as_deref(), Some("ok"));
            // A column of a type llmbench does not read is named, with its type.
            let e = usage_err(load(path, &mapper(json!({"text_column": "when"}))));
            assert!(e.contains("not read") && e.contains("when (Date32)"), "{e}");
        }
        // Not Arrow at all.
        let bad = write(&dir, "bad.arrow", "not arrow at all");
        let e = usage_err(load(&bad, &opts()));
        assert!(e.contains("not a readable Arrow IPC file or stream"), "{e}");
    }

    #[test]
    fn parquet_columns_discovery_and_mapper() {
        use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let schema = Arc::new(
            parse_message_type(
                "message schema {
                    REQUIRED BYTE_ARRAY Prompt (UTF8);
                    OPTIONAL BYTE_ARRAY sys (UTF8);
                    REQUIRED INT32 prompt_tokens_count;
                    OPTIONAL INT64 n_out;
                }",
            )
            .unwrap(),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build(),
        );
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
        let mut rg = writer.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(
                &[ByteArray::from("alpha"), ByteArray::from("beta")],
                None,
                None,
            )
            .unwrap();
        col.close().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&[ByteArray::from("be kind")], Some(&[1, 0]), None)
            .unwrap();
        col.close().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<Int32Type>()
            .write_batch(&[11, 22], None, None)
            .unwrap();
        col.close().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<Int64Type>()
            .write_batch(&[64], Some(&[0, 1]), None)
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        writer.close().unwrap();

        let rows = load(&path, &opts()).unwrap();
        assert_eq!(
            rows,
            vec![
                FileRow {
                    prompt_tokens: Some(11),
                    ..row("alpha")
                },
                FileRow {
                    prompt_tokens: Some(22),
                    ..row("beta")
                },
            ]
        );
        let rows = load(
            &path,
            &mapper(json!({"system_column": "sys", "output_tokens_count_column": "n_out"})),
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                FileRow {
                    system: Some("be kind".into()),
                    prompt_tokens: Some(11),
                    ..row("alpha")
                },
                FileRow {
                    prompt_tokens: Some(22),
                    output_tokens: Some(64),
                    ..row("beta")
                },
            ]
        );
        let msg = usage_err(load(&path, &mapper(json!({"text_column": "article"}))));
        assert!(
            msg.contains("text_column \"article\" is not a column of")
                && msg.contains("its columns are: Prompt, sys, prompt_tokens_count, n_out"),
            "{msg}"
        );

        let bad = write(&dir, "bad.parquet", "not parquet at all");
        let msg = usage_err(load(&bad, &opts()));
        assert!(msg.contains("is not a readable parquet file"), "{msg}");
    }

    #[test]
    fn error_missing_file() {
        let msg = usage_err(load(Path::new("/nonexistent/dir/data.jsonl"), &opts()));
        assert!(
            msg.starts_with("--data file /nonexistent/dir/data.jsonl does not exist; give an existing .jsonl, .json, .csv, .txt, .parquet, .arrow, .feather file"),
            "{msg}"
        );
    }

    #[test]
    fn error_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [
            ("a.jsonl", ""),
            ("b.jsonl", "\n  \n"),
            ("c.json", "[]"),
            ("d.json", "  "),
            ("e.csv", "prompt,output_tokens_count\n"),
            ("f.csv", ""),
            ("g.txt", "\n\n"),
            ("h.parquet", ""),
        ] {
            let path = write(&dir, name, content);
            let msg = usage_err(load(&path, &opts()));
            assert!(
                msg.ends_with(&format!(
                    "{name} is empty (no rows); it needs at least one prompt"
                )),
                "{name}: {msg}"
            );
        }
    }

    #[test]
    fn error_no_text_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.jsonl",
            "{\"article\": \"x\", \"n\": 1}\n{\"extra\": 2}\n",
        );
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("d.jsonl has no text column (its columns: article, n, extra)")
                && msg.contains("--data-column-mapper '{\"text_column\": \"NAME\"}'")
                && msg.contains("prompt, instruction, question, input, context, content, text"),
            "{msg}"
        );
    }

    #[test]
    fn error_mapper_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.json", r#"[{"prompt": "x", "n": 1}]"#);
        let msg = usage_err(load(
            &path,
            &mapper(json!({"output_tokens_count_column": "n_out"})),
        ));
        assert!(
            msg.contains("output_tokens_count_column \"n_out\" is not a column of")
                && msg.ends_with("its columns are: prompt, n"),
            "{msg}"
        );
        let msg = usage_err(load(&path, &mapper(json!({"txt_column": "prompt"}))));
        assert!(
            msg.contains("key \"txt_column\" is not one llmbench knows; valid keys: text_column"),
            "{msg}"
        );
        let msg = usage_err(load(&path, &mapper(json!(["prompt"]))));
        assert!(
            msg.contains("--data-column-mapper must be a JSON object"),
            "{msg}"
        );
    }

    #[test]
    fn error_malformed_jsonl_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.jsonl",
            "{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\",}\n",
        );
        let msg = usage_err(load(&path, &opts()));
        assert!(msg.contains("d.jsonl line 3 is not valid JSON ("), "{msg}");
        assert!(
            msg.ends_with("each line of a .jsonl file must be one JSON object"),
            "{msg}"
        );
        let path = write(&dir, "n.jsonl", "{\"prompt\": \"a\"}\n42\n");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("n.jsonl line 2 is a number, but every entry must be an object"),
            "{msg}"
        );
    }

    #[test]
    fn error_malformed_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.json", "[{\"prompt\": \"a\"},");
        let msg = usage_err(load(&path, &opts()));
        assert!(msg.contains("d.json is not valid JSON ("), "{msg}");
        let path = write(&dir, "o.json", "{\n  \"prompt\": \"a\"\n}");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("o.json holds an object, but a .json data file must be a list"),
            "{msg}"
        );
    }

    #[test]
    fn error_unknown_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.xlsx", "x");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.ends_with("d.xlsx has extension \".xlsx\", which llmbench cannot read; supported: .jsonl, .json, .csv, .txt, .parquet, .arrow, .feather"),
            "{msg}"
        );
        let path = write(&dir, "noext", "x");
        let msg = usage_err(load(&path, &opts()));
        assert!(msg.contains("noext has no extension"), "{msg}");
    }

    #[test]
    fn error_sharegpt_without_human_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "sg.json",
            r#"[{"conversations": [{"from": "human", "value": "hi"}]},
                {"conversations": [{"from": "gpt", "value": "hello"}]}]"#,
        );
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("sg.json item at index 1: its conversation in column \"conversations\" has no human turn"),
            "{msg}"
        );
    }

    #[test]
    fn error_bad_token_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.csv", "prompt,output_tokens_count\na,3\nb,lots\n");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains(
                "d.csv line 3, column \"output_tokens_count\": \"lots\" is not a token count"
            ),
            "{msg}"
        );
        for bad in ["12.5", "-1", "true", "[1]"] {
            let path = write(
                &dir,
                "d.json",
                &format!("[{{\"prompt\": \"a\", \"prompt_tokens_count\": {bad}}}]"),
            );
            let msg = usage_err(load(&path, &opts()));
            assert!(
                msg.contains(&format!(
                    "item at index 0, column \"prompt_tokens_count\": {bad} is not a token count"
                )),
                "{msg}"
            );
        }
    }

    #[test]
    fn error_missing_text_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "d.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": null}\n");
        let msg = usage_err(load(&path, &opts()));
        assert!(
            msg.contains("d.jsonl line 2 has no value in text column \"prompt\""),
            "{msg}"
        );
    }

    #[test]
    fn supported_extensions() {
        for name in [
            "a.jsonl",
            "a.JSON",
            "dir/a.csv",
            "a.txt",
            "a.Parquet",
            "a.arrow",
            "a.Feather",
        ] {
            assert!(is_supported(Path::new(name)), "{name}");
        }
        for name in [
            "a.xlsx",
            "prompt_tokens=256,output_tokens=128",
            "org/dataset",
            "a",
        ] {
            assert!(!is_supported(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn zipped_files_join_texts_sum_counts_and_stop_at_the_shortest() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(&dir, "a.jsonl", "{\"prompt\": \"p1\", \"output_tokens_count\": 2}\n{\"prompt\": \"p2\"}\n{\"prompt\": \"p3\"}\n");
        let b = write(&dir, "b.csv", "output_tokens_count,system\n3,s1\n4,s2\n");
        let c = write(&dir, "c.txt", "t1\nt2\nt3\n");
        let rows = load_zipped(&[a.clone(), b.clone(), c], &opts()).unwrap();
        assert_eq!(rows.len(), 2, "b has two rows");
        assert_eq!(rows[0].text, "p1\nt1");
        assert_eq!(rows[0].output_tokens, Some(5), "2 + 3");
        assert_eq!(rows[1].output_tokens, Some(4));
        assert_eq!(rows[0].system.as_deref(), Some("s1"));
        // A mapped name must be in one of the files; a zip needs prompt text somewhere.
        let e = load_zipped(
            &[a.clone(), b.clone()],
            &mapper(json!({"text_column": "nope"})),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"nope\" is not a column of any of"), "{e}");
        let e = load_zipped(&[b.clone(), b], &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has a prompt text column"), "{e}");
    }
}
