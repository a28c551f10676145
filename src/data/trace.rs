//! Traces: rows with an arrival timestamp, replayed by the `replay` profile at
//! `start + timestamp × time_scale`, the first row's timestamp being the zero.
//!
//! Two kinds, GuideLLM's: `mooncake` rows `{timestamp, input_length, output_length, hash_ids}`,
//! one hash id per block of `hash_id_block_size` prompt tokens (the last block may be partial),
//! equal ids meaning equal token blocks; and `trace_synthetic` rows with a timestamp and either
//! `input_length` (a synthetic prompt of exactly that many tokens) or `prompt` text.
//!
//! A Mooncake block's tokens are a function of the seed and the block's ordinal (the order in
//! which its id first appears): a few leading tokens spell the ordinal, so two distinct ids
//! never share a prefix, then a seeded window of the corpus. Blocks that recur are built once and
//! kept; a partial last block is a prefix of its id's block. So the trace's prefix reuse is
//! reproduced exactly, token for token.

use super::prompts::{PromptFrame, RequestSource, RequestSpec, UNIQUE_STRETCH};
use crate::bail_usage;
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Which trace format the rows are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Mooncake,
    Synthetic,
}

impl TraceKind {
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::Mooncake => "mooncake",
            TraceKind::Synthetic => "trace_synthetic",
        }
    }
}

/// What a trace's timestamps count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Milliseconds,
}

impl TimeUnit {
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Milliseconds => "ms",
        }
    }

    fn seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Milliseconds => 1e-3,
        }
    }
}

/// GuideLLM's default block size of a Mooncake trace (its published traces').
pub const MOONCAKE_BLOCK: u32 = 512;

/// A trace data spec: the file and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    pub kind: TraceKind,
    pub path: PathBuf,
    pub unit: TimeUnit,
    /// Tokens per hash id (mooncake).
    pub block_size: u32,
    pub timestamp_column: String,
    pub prompt_tokens_column: String,
    pub output_tokens_column: String,
    pub hash_ids_column: String,
    /// How long each recorded request ran, in the timestamp unit (optional per row).
    pub duration_column: String,
    /// Rows with equal values form one conversation (its turns in time order); None: every row
    /// is its own.
    pub conversation_column: Option<String>,
    pub timing: SessionTiming,
}

/// GuideLLM's session timing of a trace (`TraceDataArgs`), applied to the rows' times before
/// the replay profile's own `time_scale`: wait caps and packing in the trace's own unit, then
/// this `time_scale`, and `copies` of the whole trace one after another.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionTiming {
    /// Longest gap kept between a conversation's consecutive rows (trace unit).
    pub max_wait: Option<f64>,
    /// Longest idle kept from one session's last row to the next session's first (trace unit).
    pub max_session_wait: Option<f64>,
    /// Sessions are moved earlier so that at least this many overlap.
    pub min_concurrent_sessions: Option<u32>,
    pub time_scale: f64,
    pub copies: u32,
    /// Where copy k+1 starts within copy k's span: 0 its start, 1 its end.
    pub copy_offset: f64,
}

impl Default for SessionTiming {
    fn default() -> Self {
        SessionTiming {
            max_wait: None,
            max_session_wait: None,
            min_concurrent_sessions: None,
            time_scale: 1.0,
            copies: 1,
            copy_offset: 1.0,
        }
    }
}

impl SessionTiming {
    /// Whether any key moves a row's time (or repeats the trace).
    pub fn is_set(&self) -> bool {
        *self != SessionTiming::default()
    }
}

/// Whether `--data` is a trace spec: `kind=mooncake,…`, `kind=trace_synthetic,…` or the same as
/// a JSON object.
pub fn is_trace_spec(arg: &str) -> bool {
    let t = arg.trim_start();
    let kind = if t.starts_with('{') {
        serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
    } else {
        t.split(',')
            .find_map(|p| p.trim().strip_prefix("kind="))
            .map(|k| k.trim().to_string())
    };
    matches!(kind.as_deref(), Some("mooncake" | "trace_synthetic"))
}

impl TraceSpec {
    /// A trace spec from its keys (already checked against the kind's key list).
    pub fn from_map(map: &Map<String, Value>) -> Result<TraceSpec> {
        let kind = match map.get("kind").and_then(|v| v.as_str()) {
            Some("mooncake") => TraceKind::Mooncake,
            Some("trace_synthetic") => TraceKind::Synthetic,
            other => bail_usage!(
                "--data: kind must be mooncake or trace_synthetic for a trace, not {}",
                other.unwrap_or("nothing")
            ),
        };
        let k = kind.name();
        let get = |key: &str| map.get(key).filter(|v| !v.is_null());
        let path = match (get("source"), get("path")) {
            (Some(_), Some(_)) => {
                bail_usage!("--data kind={k}: give the trace file in source or in path, not both")
            }
            (None, None) => bail_usage!(
                "--data kind={k}: source is required: source=trace.jsonl or source={{\"kind\": \"json_file\", \"path\": \"trace.jsonl\"}}"
            ),
            (Some(Value::String(p)), None) | (None, Some(Value::String(p))) => PathBuf::from(p),
            (Some(Value::Object(src)), None) => {
                match src.get("kind").and_then(|v| v.as_str()) {
                    None | Some("json_file") => {}
                    Some(other) => bail_usage!(
                        "--data kind={k}: source kind={other} is not read by llmbench; a trace is a JSON Lines or JSON file (source={{\"kind\": \"json_file\", \"path\": …}})"
                    ),
                }
                match src.get("path").and_then(|v| v.as_str()) {
                    Some(p) => PathBuf::from(p),
                    None => bail_usage!("--data kind={k}: source needs a path, e.g. source={{\"kind\": \"json_file\", \"path\": \"trace.jsonl\"}}"),
                }
            }
            (Some(v), None) | (None, Some(v)) => {
                bail_usage!("--data kind={k}: source must be a file path or {{\"kind\": \"json_file\", \"path\": …}}, not {v}")
            }
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("jsonl" | "json")) {
            bail_usage!(
                "--data kind={k}: the trace {} must be a .jsonl or .json file (one row per line, or an array of rows)",
                path.display()
            );
        }
        let unit = match get("timestamp_unit") {
            None => match kind {
                // Mooncake's published traces count milliseconds.
                TraceKind::Mooncake => TimeUnit::Milliseconds,
                TraceKind::Synthetic => TimeUnit::Seconds,
            },
            Some(Value::String(u)) if u == "s" => TimeUnit::Seconds,
            Some(Value::String(u)) if u == "ms" => TimeUnit::Milliseconds,
            Some(v) => bail_usage!("--data kind={k}: timestamp_unit must be s or ms, not {v}"),
        };
        let block_size = match get("hash_id_block_size") {
            None => MOONCAKE_BLOCK,
            Some(v) => match v.as_f64() {
                Some(x) if x >= 1.0 && x.fract() == 0.0 && x <= u32::MAX as f64 => x as u32,
                _ => bail_usage!(
                    "--data kind={k}: hash_id_block_size must be a whole number ≥ 1 (tokens per hash id), not {v}"
                ),
            },
        };
        if kind == TraceKind::Synthetic && get("hash_id_block_size").is_some() {
            bail_usage!("--data kind=trace_synthetic: hash_id_block_size applies to kind=mooncake (rows with hash_ids)");
        }
        let column = |key: &str, default: &str| -> Result<String> {
            match get(key) {
                None => Ok(default.to_string()),
                Some(Value::String(c)) if !c.is_empty() => Ok(c.clone()),
                Some(v) => bail_usage!("--data kind={k}: {key} must be a column name, not {v}"),
            }
        };
        if let Some(v) = get("load_kwargs") {
            if v.as_object().is_none_or(|m| !m.is_empty()) {
                bail_usage!("--data kind={k}: load_kwargs has no meaning for a trace file llmbench reads itself");
            }
        }
        let positive = |key: &str, what: &str| -> Result<Option<f64>> {
            match get(key) {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x > 0.0 && x.is_finite() => Ok(Some(x)),
                    _ => {
                        bail_usage!("--data kind={k}: {key} must be a number > 0 ({what}), not {v}")
                    }
                },
            }
        };
        let whole = |key: &str, what: &str| -> Result<Option<u32>> {
            match get(key) {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x >= 1.0 && x.fract() == 0.0 && x <= 1e6 => Ok(Some(x as u32)),
                    _ => bail_usage!(
                        "--data kind={k}: {key} must be a whole number ≥ 1 ({what}), not {v}"
                    ),
                },
            }
        };
        let in_unit = format!("in the trace's unit, {}", unit.name());
        let timing = SessionTiming {
            max_wait: positive("max_wait", &in_unit)?,
            max_session_wait: positive("max_session_wait", &in_unit)?,
            min_concurrent_sessions: whole("min_concurrent_sessions", "sessions")?,
            time_scale: positive("time_scale", "the factor on the trace's times")?.unwrap_or(1.0),
            copies: whole("copies", "passes over the trace")?.unwrap_or(1),
            copy_offset: match get("copy_offset") {
                None => 1.0,
                Some(v) => match v.as_f64() {
                    Some(x) if x >= 0.0 && x.is_finite() => x,
                    _ => bail_usage!("--data kind={k}: copy_offset must be a number ≥ 0 (0: the next copy starts with the previous one, 1: after it), not {v}"),
                },
            },
        };
        let conversation_column = match get("conversation_id_column") {
            None => None,
            Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
            Some(v) => bail_usage!(
                "--data kind={k}: conversation_id_column must be a column name, not {v}"
            ),
        };
        Ok(TraceSpec {
            kind,
            path,
            unit,
            block_size,
            timestamp_column: column("timestamp_column", "timestamp")?,
            prompt_tokens_column: column("prompt_tokens_column", "input_length")?,
            output_tokens_column: column("output_tokens_column", "output_length")?,
            hash_ids_column: column("hash_ids_column", "hash_ids")?,
            duration_column: column("duration_column", "duration")?,
            conversation_column,
            timing,
        })
    }
}

/// One row of a trace, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// The row's line in the file (1-based; its position for a JSON array).
    pub line: usize,
    /// Seconds after the trace's first row.
    pub at_s: f64,
    pub input_length: Option<u32>,
    pub output_length: Option<u32>,
    /// `trace_synthetic`: the prompt text, tokenized like a dataset file's.
    pub prompt: Option<String>,
    /// `mooncake`: each block's ordinal (ids numbered in order of first appearance).
    pub blocks: Vec<u32>,
    /// How long the recorded request ran, seconds (the duration column), if the row says.
    pub duration_s: Option<f64>,
    /// The conversation the row belongs to (numbered in order of first appearance), with
    /// `conversation_id_column`.
    pub conversation: Option<u32>,
}

/// One row's place in a session on the replay's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceTurn {
    /// Index into `Trace::rows`.
    pub row: usize,
    /// Seconds after the replay's start (before the profile's time_scale).
    pub at_s: f64,
    /// A later turn's idle gap after its predecessor's recorded duration, seconds (0 for a first
    /// turn): `schedule_turn=idle_gap` sends it this long after the predecessor actually ended.
    pub gap_s: f64,
}

/// A conversation of the trace (or a row of its own), in one copy of the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub copy: u32,
    pub turns: Vec<TraceTurn>,
}

/// A loaded, checked trace.
#[derive(Debug, Clone)]
pub struct Trace {
    pub spec: TraceSpec,
    pub rows: Vec<TraceRow>,
    /// Distinct hash ids (mooncake).
    pub distinct_blocks: usize,
    /// How many rows use each block, by ordinal (mooncake).
    pub uses: Vec<u32>,
}

impl Trace {
    /// The trace's own duration: its last row's time after its first, in seconds.
    pub fn duration_s(&self) -> f64 {
        self.rows.last().map_or(0.0, |r| r.at_s)
    }

    /// Whether some conversation has more than one row (`conversation_id_column`).
    pub fn has_conversations(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        self.rows
            .iter()
            .filter_map(|r| r.conversation)
            .any(|c| !seen.insert(c))
    }

    /// The trace's sessions on the replay's timeline (before the profile's `time_scale`), in
    /// order of their first turn: each a conversation's rows (or one row), its times after
    /// GuideLLM's session timing (`TraceSessionTiming`, in its order): per copy, `max_wait`
    /// within each session, `max_session_wait` between consecutive sessions, the copy placed at
    /// its offset; then `min_concurrent_sessions` packing across copies, then `time_scale`.
    pub fn sessions(&self) -> Vec<Session> {
        let t = &self.spec.timing;
        let unit = self.spec.unit.seconds();
        // The sessions' rows, in order of first appearance (rows are in time order).
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<u32, usize> = HashMap::new();
        for (i, r) in self.rows.iter().enumerate() {
            match r.conversation {
                Some(c) => {
                    let g = *index.entry(c).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(i);
                }
                None => groups.push(vec![i]),
            }
        }
        let mut out = Vec::with_capacity(groups.len() * t.copies as usize);
        let mut pass_offset = 0.0f64;
        // Packing state, shared by the copies.
        let mut placed: Vec<f64> = Vec::new();
        let mut first_start: Option<f64> = None;
        for copy in 0..t.copies {
            let mut last_end: Option<f64> = None;
            let (mut copy_min, mut copy_max) = (f64::INFINITY, f64::NEG_INFINITY);
            for g in &groups {
                let mut at: Vec<f64> = g.iter().map(|&i| self.rows[i].at_s).collect();
                if let Some(w) = t.max_wait.map(|w| w * unit) {
                    // Original gaps are compared, so close rows stay close.
                    let mut trim = 0.0;
                    for k in 1..at.len() {
                        let gap = self.rows[g[k]].at_s - self.rows[g[k - 1]].at_s;
                        if gap > w {
                            trim += gap - w;
                        }
                        at[k] = self.rows[g[k]].at_s - trim;
                    }
                }
                let bounds = |at: &[f64]| (at[0], at[at.len() - 1]);
                if let Some(w) = t.max_session_wait.map(|w| w * unit) {
                    let (start, mut end) = bounds(&at);
                    if let Some(last) = last_end {
                        let gap = start - last;
                        if gap > w {
                            at.iter_mut().for_each(|x| *x -= gap - w);
                            end -= gap - w;
                        }
                    }
                    last_end = Some(last_end.map_or(end, |l| l.max(end)));
                }
                at.iter_mut().for_each(|x| *x += pass_offset);
                let (start, end) = bounds(&at);
                copy_min = copy_min.min(start);
                copy_max = copy_max.max(end);
                if let Some(n) = t.min_concurrent_sessions.map(|n| n as usize) {
                    if end == start {
                        // An instantaneous session is left where it is.
                        first_start.get_or_insert(start);
                        placed.push(end);
                    } else {
                        let target = if placed.is_empty() {
                            first_start = Some(start);
                            start
                        } else if placed.len() < n {
                            first_start.unwrap_or(start)
                        } else {
                            placed[placed.len() - n]
                        };
                        let new_start = start.min(target);
                        at.iter_mut().for_each(|x| *x -= start - new_start);
                        placed.push(new_start + (end - start));
                    }
                }
                let turns = g
                    .iter()
                    .zip(&at)
                    .enumerate()
                    .map(|(k, (&row, &a))| {
                        let gap_s = if k == 0 {
                            0.0
                        } else {
                            let prev = &self.rows[g[k - 1]];
                            let recorded = at[k - 1] + prev.duration_s.unwrap_or(0.0);
                            (a - recorded).max(0.0) * t.time_scale
                        };
                        TraceTurn {
                            row,
                            at_s: a * t.time_scale,
                            gap_s,
                        }
                    })
                    .collect();
                out.push(Session { copy, turns });
            }
            if copy_min.is_finite() {
                pass_offset = copy_min + t.copy_offset * (copy_max - copy_min);
            }
        }
        // Stable: sessions that start together keep the trace's order.
        out.sort_by(|a, b| a.turns[0].at_s.total_cmp(&b.turns[0].at_s));
        out
    }

    pub fn load(spec: TraceSpec) -> Result<Trace> {
        let text = std::fs::read_to_string(&spec.path).map_err(|e| {
            crate::error::UsageError::new(format!(
                "--data kind={}: cannot read the trace {} ({e})",
                spec.kind.name(),
                spec.path.display()
            ))
        })?;
        Trace::parse(spec, &text)
    }

    /// Rows from JSON Lines (or a JSON array), each checked; one sentence naming the row for the
    /// first that is wrong.
    pub fn parse(spec: TraceSpec, text: &str) -> Result<Trace> {
        let k = spec.kind.name();
        let file = spec.path.display().to_string();
        let at = |line: usize| format!("--data kind={k}: {file} row {line}");
        let mut objects: Vec<(usize, Map<String, Value>)> = Vec::new();
        let mut push = |line: usize, v: Value| -> Result<()> {
            match v {
                Value::Object(m) => {
                    objects.push((line, m));
                    Ok(())
                }
                other => bail_usage!(
                    "{} is {}, not an object such as {{\"timestamp\": 0, \"input_length\": 512, \"output_length\": 64}}",
                    at(line),
                    crate::plan::json_kind(&other)
                ),
            }
        };
        if text.trim_start().starts_with('[') {
            let v: Vec<Value> = serde_json::from_str(text).map_err(|e| {
                crate::error::UsageError::new(format!(
                    "--data kind={k}: {file} is not a JSON array of rows ({e})"
                ))
            })?;
            for (i, row) in v.into_iter().enumerate() {
                push(i + 1, row)?;
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    crate::error::UsageError::new(format!("{} is not valid JSON ({e})", at(i + 1)))
                })?;
                push(i + 1, v)?;
            }
        }
        if objects.is_empty() {
            bail_usage!("--data kind={k}: the trace {file} has no rows");
        }
        let mut rows = Vec::with_capacity(objects.len());
        let mut conversations: HashMap<String, u32> = HashMap::new();
        let mut ids: HashMap<u64, u32> = HashMap::new();
        let mut uses: Vec<u32> = Vec::new();
        let (mut first, mut last) = (None::<f64>, 0.0f64);
        for (line, m) in objects {
            let here = at(line);
            let ts_col = &spec.timestamp_column;
            let ts = match m.get(ts_col) {
                None | Some(Value::Null) => bail_usage!("{here} has no {ts_col}"),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() => x,
                    _ => bail_usage!("{here}: {ts_col} must be a number, not {v}"),
                },
            };
            if ts < 0.0 {
                bail_usage!("{here}: {ts_col} is negative ({ts}); timestamps count from 0 upwards");
            }
            if first.is_some() && ts < last {
                bail_usage!(
                    "{here}: {ts_col} {ts} is earlier than the previous row's {last}; a trace's rows must be in time order"
                );
            }
            let t0 = *first.get_or_insert(ts);
            last = ts;
            let count = |col: &str, min: u64| -> Result<Option<u32>> {
                match m.get(col) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => match v.as_f64() {
                        Some(x) if x.fract() == 0.0 && x >= min as f64 && x <= u32::MAX as f64 => {
                            Ok(Some(x as u32))
                        }
                        _ => bail_usage!("{here}: {col} must be a whole number ≥ {min}, not {v}"),
                    },
                }
            };
            let (in_col, out_col) = (&spec.prompt_tokens_column, &spec.output_tokens_column);
            let input_length = count(in_col, 1)?;
            let output_length = count(out_col, 1)?;
            let d_col = &spec.duration_column;
            let duration_s = match m.get(d_col) {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_f64() {
                    Some(x) if x >= 0.0 && x.is_finite() => Some(x * spec.unit.seconds()),
                    _ => bail_usage!(
                        "{here}: {d_col} must be a number ≥ 0 (how long the request ran, in {}), not {v}",
                        spec.unit.name()
                    ),
                },
            };
            let conversation = match &spec.conversation_column {
                None => None,
                Some(c) => {
                    let id = match m.get(c) {
                        None | Some(Value::Null) => bail_usage!(
                            "{here} has no {c} (conversation_id_column: every row names its conversation)"
                        ),
                        Some(Value::String(s)) => s.clone(),
                        Some(v @ Value::Number(_)) => v.to_string(),
                        Some(v) => {
                            bail_usage!("{here}: {c} must be a string or a number, not {v}")
                        }
                    };
                    let next = conversations.len() as u32;
                    Some(*conversations.entry(id).or_insert(next))
                }
            };
            let mut row = TraceRow {
                line,
                at_s: (ts - t0) * spec.unit.seconds(),
                input_length,
                output_length,
                prompt: None,
                blocks: Vec::new(),
                duration_s,
                conversation,
            };
            match spec.kind {
                TraceKind::Mooncake => {
                    let (Some(n), Some(_)) = (input_length, output_length) else {
                        let missing = if input_length.is_none() {
                            in_col
                        } else {
                            out_col
                        };
                        bail_usage!("{here} has no {missing}");
                    };
                    let h_col = &spec.hash_ids_column;
                    let list = match m.get(h_col) {
                        None | Some(Value::Null) => bail_usage!("{here} has no {h_col}"),
                        Some(Value::Array(a)) => a,
                        Some(v) => bail_usage!("{here}: {h_col} must be a list of ids, not {v}"),
                    };
                    let want = n.div_ceil(spec.block_size) as usize;
                    if list.len() != want {
                        bail_usage!(
                            "{here}: {} {h_col} for {in_col} {n}, but blocks of {} tokens need {want} (one per block, the last may be partial)",
                            list.len(),
                            spec.block_size
                        );
                    }
                    row.blocks.reserve(want);
                    for v in list {
                        let Some(id) = v.as_u64() else {
                            bail_usage!("{here}: {h_col} holds {v}; ids are whole numbers ≥ 0");
                        };
                        let next = ids.len() as u32;
                        let b = *ids.entry(id).or_insert(next);
                        if b == next {
                            uses.push(0);
                        }
                        uses[b as usize] += 1;
                        row.blocks.push(b);
                    }
                }
                TraceKind::Synthetic => {
                    let prompt = match m.get("prompt") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                        Some(v) => bail_usage!("{here}: prompt must be non-empty text, not {v}"),
                    };
                    match (&prompt, input_length) {
                        (None, None) => bail_usage!(
                            "{here} has neither {in_col} (a synthetic prompt of that many tokens) nor prompt (text)"
                        ),
                        (Some(_), Some(_)) => bail_usage!(
                            "{here} has both {in_col} and prompt; give one"
                        ),
                        _ => {}
                    }
                    row.prompt = prompt;
                }
            }
            rows.push(row);
        }
        Ok(Trace {
            spec,
            rows,
            distinct_blocks: ids.len(),
            uses,
        })
    }
}

/// Token blocks of a Mooncake trace: each a function of the seed and its ordinal, those used by
/// more than one row built once and kept.
pub struct Blocks<'a> {
    corpus: &'a [u32],
    alphabet: &'a [u32],
    seed: u64,
    size: usize,
    kept: HashMap<u32, Vec<u32>>,
}

impl<'a> Blocks<'a> {
    pub fn new(corpus: &'a [u32], alphabet: &'a [u32], seed: u64, size: u32) -> Self {
        Blocks {
            corpus,
            alphabet,
            seed,
            size: size as usize,
            kept: HashMap::new(),
        }
    }

    /// The first `n` tokens of block `ordinal`, appended to `out`; kept when `recurs`.
    pub fn append(&mut self, ordinal: u32, n: usize, recurs: bool, out: &mut Vec<u32>) {
        if let Some(b) = self.kept.get(&ordinal) {
            out.extend_from_slice(&b[..n]);
            return;
        }
        if recurs {
            let mut b = Vec::with_capacity(self.size);
            self.build(ordinal, &mut b);
            out.extend_from_slice(&b[..n]);
            self.kept.insert(ordinal, b);
        } else {
            let start = out.len();
            self.build(ordinal, out);
            out.truncate(start + n);
        }
    }

    /// Block `ordinal`: its ordinal spelled in the alphabet (least significant digit first, so
    /// neighbours differ at the first token), seeded random tokens up to `UNIQUE_STRETCH`, then
    /// a seeded window of the corpus.
    fn build(&self, ordinal: u32, out: &mut Vec<u32>) {
        let a = self.alphabet.len() as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ (ordinal as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let start = out.len();
        let mut x = ordinal as u64;
        loop {
            out.push(self.alphabet[(x % a) as usize]);
            x /= a;
            if x == 0 || out.len() - start >= self.size {
                break;
            }
        }
        while out.len() - start < UNIQUE_STRETCH.min(self.size) {
            out.push(self.alphabet[rng.gen_range(0..self.alphabet.len())]);
        }
        let mut off = rng.gen_range(0..self.corpus.len());
        while out.len() - start < self.size {
            let take = (self.size - (out.len() - start)).min(self.corpus.len() - off);
            out.extend_from_slice(&self.corpus[off..off + take]);
            off = 0;
        }
    }
}

/// A Mooncake row's prompt in its frame: its blocks in order, `input_length` tokens in all (with
/// `plain`, a BOS the tokenizer adds counts among them, as for synthetic prompts).
pub fn mooncake_prompt(
    row: &TraceRow,
    blocks: &mut Blocks,
    uses: &[u32],
    frame: &PromptFrame,
) -> RequestSpec {
    let n = row.input_length.unwrap_or(0) as usize;
    let content = if frame.counts_in_content() {
        n.saturating_sub(frame.prefix.len()).max(1)
    } else {
        n
    };
    let mut prompt = Vec::with_capacity(content + frame.prefix.len() + frame.suffix.len());
    prompt.extend_from_slice(&frame.prefix);
    let mut left = content;
    for &b in &row.blocks {
        if left == 0 {
            break;
        }
        let take = left.min(blocks.size);
        blocks.append(b, take, uses[b as usize] > 1, &mut prompt);
        left -= take;
    }
    prompt.extend_from_slice(&frame.suffix);
    RequestSpec {
        prompt,
        content_tokens: n as u32,
        prefix_tokens: 0,
        max_tokens: row.output_length,
        conversation: None,
        messages: None,
        prefix_bucket: None,
    }
}

/// A trace's prepared requests, served once in order with each one's arrival time (a session's
/// first turn; a conversation's later turns ride in its `RequestSpec::conversation`).
pub struct TraceSource {
    specs: Arc<Vec<RequestSpec>>,
    arrivals: Arc<Vec<f64>>,
    pos: usize,
}

impl TraceSource {
    pub fn new(specs: Arc<Vec<RequestSpec>>, arrivals: Arc<Vec<f64>>) -> Self {
        TraceSource {
            specs,
            arrivals,
            pos: 0,
        }
    }
}

impl RequestSource for TraceSource {
    fn next_request(&mut self) -> Option<RequestSpec> {
        let r = self.specs.get(self.pos).cloned();
        if r.is_some() {
            self.pos += 1;
        }
        r
    }

    fn arrival_s(&self) -> Option<f64> {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.arrivals.get(i).copied())
    }

    fn next_arrival_s(&self) -> Option<f64> {
        self.arrivals.get(self.pos).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: TraceKind, block: u32) -> TraceSpec {
        let mut m = Map::new();
        m.insert("kind".into(), Value::String(kind.name().into()));
        m.insert("source".into(), Value::String("t.jsonl".into()));
        if kind == TraceKind::Mooncake {
            m.insert("hash_id_block_size".into(), block.into());
        }
        TraceSpec::from_map(&m).unwrap()
    }

    fn err(kind: TraceKind, text: &str) -> String {
        Trace::parse(spec(kind, 4), text).unwrap_err().to_string()
    }

    #[test]
    fn mooncake_rows_are_read_in_milliseconds_by_default() {
        let t = Trace::parse(
            spec(TraceKind::Mooncake, 4),
            "{\"timestamp\": 1000, \"input_length\": 10, \"output_length\": 3, \"hash_ids\": [7, 8, 9]}\n\n\
             {\"timestamp\": 3500, \"input_length\": 4, \"output_length\": 2, \"hash_ids\": [7]}\n",
        )
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].at_s, 0.0);
        assert_eq!(t.rows[1].at_s, 2.5);
        assert_eq!(t.rows[1].line, 3);
        assert_eq!(t.rows[0].blocks, vec![0, 1, 2]);
        assert_eq!(t.rows[1].blocks, vec![0]);
        assert_eq!(t.distinct_blocks, 3);
        assert_eq!(t.uses, vec![2, 1, 1]);
        assert_eq!(t.duration_s(), 2.5);
        assert_eq!(t.spec.unit, TimeUnit::Milliseconds);
        assert_eq!(spec(TraceKind::Synthetic, 0).unit, TimeUnit::Seconds);
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let k = TraceKind::Mooncake;
        let row = |ts: &str, n: u32, ids: &str| {
            format!("{{\"timestamp\": {ts}, \"input_length\": {n}, \"output_length\": 2, \"hash_ids\": {ids}}}")
        };
        let e = err(
            k,
            &format!("{}\n{}", row("5", 4, "[1]"), row("4", 4, "[1]")),
        );
        assert!(e.contains("row 2") && e.contains("earlier than"), "{e}");
        let e = err(k, &row("-1", 4, "[1]"));
        assert!(e.contains("row 1") && e.contains("negative"), "{e}");
        // 9 tokens in blocks of 4: 3 ids.
        let e = err(
            k,
            &format!("{}\n{}", row("0", 4, "[1]"), row("1", 9, "[1, 2]")),
        );
        assert!(e.contains("row 2") && e.contains("need 3"), "{e}");
        let e = err(
            k,
            "{\"timestamp\": 0, \"input_length\": 4, \"hash_ids\": [1]}",
        );
        assert!(e.contains("row 1 has no output_length"), "{e}");
        let e = err(
            k,
            "{\"input_length\": 4, \"output_length\": 1, \"hash_ids\": [1]}",
        );
        assert!(e.contains("row 1 has no timestamp"), "{e}");
        let e = err(
            TraceKind::Synthetic,
            "{\"timestamp\": 0, \"output_length\": 3}",
        );
        assert!(e.contains("row 1 has neither input_length"), "{e}");
        let e = err(k, "");
        assert!(e.contains("no rows"), "{e}");
        let e = err(
            k,
            "{\"timestamp\": 0, \"input_length\": 4, \"output_length\": 1, \"hash_ids\": [1]}\n[1]",
        );
        assert!(e.contains("row 2 is an array, not an object"), "{e}");
        assert!(!e.contains('\n'), "one sentence: {e}");
    }

    #[test]
    fn keys_are_checked() {
        let mk = |pairs: &[(&str, Value)]| {
            let mut m = Map::new();
            m.insert("kind".into(), "mooncake".into());
            for (k, v) in pairs {
                m.insert((*k).into(), v.clone());
            }
            TraceSpec::from_map(&m)
        };
        let src = ("source", Value::from("a.jsonl"));
        assert!(mk(&[])
            .unwrap_err()
            .to_string()
            .contains("source is required"));
        let nested = serde_json::json!({"kind": "json_file", "path": "t.jsonl"});
        assert_eq!(
            mk(&[("source", nested)]).unwrap().path,
            PathBuf::from("t.jsonl")
        );
        assert_eq!(
            mk(&[("path", "t.json".into())]).unwrap().path,
            PathBuf::from("t.json")
        );
        assert!(mk(&[("source", "t.csv".into())]).is_err());
        let s = mk(&[src.clone(), ("timestamp_unit", "s".into())]).unwrap();
        assert_eq!(s.unit, TimeUnit::Seconds);
        assert!(mk(&[src.clone(), ("timestamp_unit", "us".into())]).is_err());
        assert!(mk(&[src, ("hash_id_block_size", 0.into())]).is_err());
        assert!(is_trace_spec("kind=mooncake,source=t.jsonl"));
        assert!(is_trace_spec(
            "{\"kind\": \"trace_synthetic\", \"path\": \"t.jsonl\"}"
        ));
        assert!(!is_trace_spec("prompt_tokens=5"));
    }

    /// A trace_synthetic trace of (conversation, timestamp s, duration s) rows, read with `keys`.
    fn conv_trace(rows: &[(&str, f64, Option<f64>)], keys: &[(&str, Value)]) -> Trace {
        let mut m = Map::new();
        m.insert("kind".into(), "trace_synthetic".into());
        m.insert("source".into(), "t.jsonl".into());
        m.insert("conversation_id_column".into(), "session".into());
        for (k, v) in keys {
            m.insert((*k).into(), v.clone());
        }
        let text: Vec<String> = rows
            .iter()
            .map(|(c, t, d)| {
                let mut row = serde_json::json!({"session": c, "timestamp": t, "input_length": 4});
                if let Some(d) = d {
                    row["duration"] = (*d).into();
                }
                row.to_string()
            })
            .collect();
        Trace::parse(TraceSpec::from_map(&m).unwrap(), &text.join("\n")).unwrap()
    }

    /// Each session's turn times, in the order sessions are served.
    fn times(t: &Trace) -> Vec<Vec<f64>> {
        t.sessions()
            .iter()
            .map(|s| s.turns.iter().map(|x| x.at_s).collect())
            .collect()
    }

    // The expected times below are what GuideLLM 0.8.1's TraceSessionTiming gives for the
    // same sessions (checked with its Python).
    #[test]
    fn wait_caps_trim_gaps_within_and_between_sessions_as_guidellm_does() {
        let rows = [
            ("a", 0.0, None),
            ("a", 1.0, None),
            ("a", 10.0, None),
            ("a", 11.0, None),
            ("b", 30.0, None),
            ("c", 31.0, None),
            ("c", 50.0, None),
        ];
        let t = conv_trace(&rows, &[]);
        assert!(t.has_conversations());
        assert_eq!(
            times(&t),
            vec![vec![0.0, 1.0, 10.0, 11.0], vec![30.0], vec![31.0, 50.0]]
        );
        let keys = [("max_wait", 2.into()), ("max_session_wait", 5.into())];
        let t = conv_trace(&rows, &keys);
        assert_eq!(
            times(&t),
            vec![vec![0.0, 1.0, 3.0, 4.0], vec![9.0], vec![14.0, 16.0]]
        );
        // The same caps counted in milliseconds: a trace read in ms keeps them in its unit.
        let ms: Vec<_> = rows.iter().map(|(c, t, d)| (*c, t * 1000.0, *d)).collect();
        let keys = [
            ("timestamp_unit", "ms".into()),
            ("max_wait", 2000.into()),
            ("max_session_wait", 5000.into()),
        ];
        assert_eq!(
            times(&conv_trace(&ms, &keys)),
            vec![vec![0.0, 1.0, 3.0, 4.0], vec![9.0], vec![14.0, 16.0]]
        );
    }

    #[test]
    fn packing_keeps_at_least_n_sessions_overlapping_and_leaves_single_rows() {
        let rows = [
            ("a", 0.0, None),
            ("a", 10.0, None),
            ("b", 20.0, None),
            ("b", 30.0, None),
            ("c", 40.0, None),
            ("d", 45.0, None),
            ("c", 50.0, None),
            ("e", 60.0, None),
            ("e", 61.0, None),
        ];
        let t = conv_trace(&rows, &[("min_concurrent_sessions", 2.into())]);
        // a [0, 10], b [0, 10], c [10, 20], d [45] (instantaneous, left), e [20, 21]; served in
        // order of their first turn.
        assert_eq!(
            times(&t),
            vec![
                vec![0.0, 10.0],
                vec![0.0, 10.0],
                vec![10.0, 20.0],
                vec![20.0, 21.0],
                vec![45.0]
            ]
        );
    }

    #[test]
    fn idle_gaps_follow_the_recorded_duration_and_everything_scales() {
        let rows = [
            ("a", 0.0, Some(3.0)),
            ("b", 1.0, None),
            ("a", 5.0, Some(9.0)),
            ("a", 6.0, None),
        ];
        let t = conv_trace(&rows, &[("time_scale", 0.5.into())]);
        let s = t.sessions();
        assert_eq!(s.len(), 2);
        let a: Vec<(usize, f64, f64)> = s[0]
            .turns
            .iter()
            .map(|x| (x.row, x.at_s, x.gap_s))
            .collect();
        // 5 − (0 + 3) = 2 s idle, then the next row starts before the last one's recorded end: 0.
        assert_eq!(a, vec![(0, 0.0, 0.0), (2, 2.5, 1.0), (3, 3.0, 0.0)]);
        assert_eq!(s[1].turns[0].at_s, 0.5);
        // Without a conversation column every row is its own session.
        let mut m = Map::new();
        m.insert("kind".into(), "trace_synthetic".into());
        m.insert("source".into(), "t.jsonl".into());
        let t = Trace::parse(
            TraceSpec::from_map(&m).unwrap(),
            "{\"session\": \"a\", \"timestamp\": 0, \"input_length\": 4}\n{\"session\": \"a\", \"timestamp\": 1, \"input_length\": 4}",
        )
        .unwrap();
        assert!(!t.has_conversations());
        assert_eq!(t.sessions().len(), 2);
    }

    #[test]
    fn copies_follow_one_another_at_their_offset() {
        let rows = [("a", 0.0, None), ("b", 1.0, None), ("c", 2.0, None)];
        let t = conv_trace(&rows, &[("copies", 2.into())]);
        let s = t.sessions();
        let got: Vec<(u32, f64)> = s.iter().map(|x| (x.copy, x.turns[0].at_s)).collect();
        assert_eq!(
            got,
            vec![(0, 0.0), (0, 1.0), (0, 2.0), (1, 2.0), (1, 3.0), (1, 4.0)]
        );
        let t = conv_trace(&rows, &[("copies", 3.into()), ("copy_offset", 0.5.into())]);
        let got: Vec<f64> = t.sessions().iter().map(|x| x.turns[0].at_s).collect();
        assert_eq!(got, vec![0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0]);
    }

    #[test]
    fn session_keys_and_columns_are_checked() {
        let bad = |keys: &[(&str, Value)]| {
            let mut m = Map::new();
            m.insert("kind".into(), "mooncake".into());
            m.insert("source".into(), "t.jsonl".into());
            for (k, v) in keys {
                m.insert((*k).into(), v.clone());
            }
            TraceSpec::from_map(&m).unwrap_err().to_string()
        };
        assert!(bad(&[("max_wait", 0.into())]).contains("max_wait must be a number > 0"));
        assert!(bad(&[("copies", 1.5.into())]).contains("copies must be a whole number ≥ 1"));
        assert!(bad(&[("copy_offset", (-1).into())]).contains("copy_offset must be a number ≥ 0"));
        assert!(bad(&[("min_concurrent_sessions", 0.into())])
            .contains("min_concurrent_sessions must be a whole number ≥ 1"));
        assert!(bad(&[("time_scale", "x".into())]).contains("time_scale must be a number > 0"));
        let mut m = Map::new();
        m.insert("kind".into(), "trace_synthetic".into());
        m.insert("source".into(), "t.jsonl".into());
        m.insert("conversation_id_column".into(), "session".into());
        let spec = TraceSpec::from_map(&m).unwrap();
        let e = Trace::parse(
            spec.clone(),
            "{\"session\": 1, \"timestamp\": 0, \"input_length\": 4}\n{\"timestamp\": 1, \"input_length\": 4}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 2 has no session"), "{e}");
        let e = Trace::parse(
            spec,
            "{\"session\": 1, \"timestamp\": 0, \"input_length\": 4, \"duration\": -2}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 1: duration must be a number ≥ 0"), "{e}");
    }

    fn blocks_trace() -> Trace {
        Trace::parse(
            spec(TraceKind::Mooncake, 16),
            "{\"timestamp\": 0, \"input_length\": 40, \"output_length\": 3, \"hash_ids\": [1, 2, 3]}\n\
             {\"timestamp\": 1, \"input_length\": 20, \"output_length\": 3, \"hash_ids\": [1, 2]}\n\
             {\"timestamp\": 2, \"input_length\": 48, \"output_length\": 3, \"hash_ids\": [4, 2, 5]}\n",
        )
        .unwrap()
    }

    #[test]
    fn equal_ids_give_identical_blocks_and_distinct_ids_distinct_starts() {
        let t = blocks_trace();
        let corpus: Vec<u32> = (100..400).collect();
        let mut blocks = Blocks::new(&corpus, &corpus, 42, 16);
        let frame = PromptFrame::default();
        let p: Vec<RequestSpec> = t
            .rows
            .iter()
            .map(|r| mooncake_prompt(r, &mut blocks, &t.uses, &frame))
            .collect();
        assert_eq!(p[0].prompt.len(), 40);
        assert_eq!(p[1].prompt.len(), 20);
        assert_eq!(p[2].prompt.len(), 48);
        // Rows 1 and 2 share ids 1 and (a prefix of) 2: the first 20 tokens are identical.
        assert_eq!(p[0].prompt[..20], p[1].prompt[..]);
        // Id 2 is the same block wherever it is.
        assert_eq!(p[0].prompt[16..32], p[2].prompt[16..32]);
        // A new first id: a different start.
        let starts: std::collections::HashSet<_> = [&p[0], &p[2]]
            .iter()
            .map(|r| r.prompt[..UNIQUE_STRETCH].to_vec())
            .collect();
        assert_eq!(starts.len(), 2);
        assert_ne!(p[0].prompt[0], p[2].prompt[0], "different first tokens");
        // Every distinct block starts differently.
        let all: std::collections::HashSet<_> = [0, 16, 32]
            .iter()
            .map(|&o| p[0].prompt[o..o + UNIQUE_STRETCH].to_vec())
            .chain(
                [0, 32]
                    .iter()
                    .map(|&o| p[2].prompt[o..o + UNIQUE_STRETCH].to_vec()),
            )
            .collect();
        assert_eq!(all.len(), 5);
        assert_eq!(p[0].max_tokens, Some(3));
        // Seeded: the same seed builds the same prompts, another seed others.
        let mut again = Blocks::new(&corpus, &corpus, 42, 16);
        assert_eq!(
            mooncake_prompt(&t.rows[2], &mut again, &t.uses, &frame),
            p[2]
        );
        let mut other = Blocks::new(&corpus, &corpus, 43, 16);
        assert_ne!(
            mooncake_prompt(&t.rows[2], &mut other, &t.uses, &frame),
            p[2]
        );
    }

    #[test]
    fn plain_frames_count_the_bos_and_templates_add_theirs() {
        let t = blocks_trace();
        let corpus: Vec<u32> = (100..400).collect();
        let plain = PromptFrame {
            format: "plain".into(),
            prefix: vec![1],
            suffix: vec![],
            ..Default::default()
        };
        let mut b = Blocks::new(&corpus, &corpus, 1, 16);
        let r = mooncake_prompt(&t.rows[0], &mut b, &t.uses, &plain);
        assert_eq!(r.prompt.len(), 40);
        assert_eq!(r.prompt[0], 1);
        let chat = PromptFrame {
            format: "default-template".into(),
            prefix: vec![1, 2, 3],
            suffix: vec![4],
            ..Default::default()
        };
        let r = mooncake_prompt(&t.rows[0], &mut b, &t.uses, &chat);
        assert_eq!(r.prompt.len(), 44);
        assert_eq!(r.content_tokens, 40);
    }

    #[test]
    fn the_source_gives_each_row_its_arrival() {
        let specs: Vec<RequestSpec> = (0..3)
            .map(|i| RequestSpec {
                prompt: vec![i],
                content_tokens: 1,
                prefix_tokens: 0,
                max_tokens: None,
                conversation: None,
                messages: None,
                prefix_bucket: None,
            })
            .collect();
        let mut s = TraceSource::new(Arc::new(specs), Arc::new(vec![0.0, 0.5, 2.0]));
        assert_eq!(s.arrival_s(), None);
        let mut got = Vec::new();
        while let Some(r) = s.next_request() {
            got.push((r.prompt[0], s.arrival_s().unwrap()));
        }
        assert_eq!(got, vec![(0, 0.0), (1, 0.5), (2, 2.0)]);
    }
}
