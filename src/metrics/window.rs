//! The measurement window of a benchmark: what `--warmup` and `--cooldown` leave out at its
//! start and end (docs/metrics.md, "Per benchmark").

use super::RequestRecord;
use serde::Serialize;

/// A warm-up or cool-down amount: `< 1` a fraction, `≥ 1` seconds or requests; serialized
/// as {"fraction": f} or {"absolute": x}.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// A fraction of the duration (or of the requests).
    Fraction(#[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1))] f64),
    /// Seconds (or requests).
    Absolute(#[schemars(range(min = 1.0))] f64),
}

/// The measurement window: what is cut off at the start and the end of each benchmark, and
/// whether those amounts are of time (`--max-seconds` given) or of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub warmup: Option<Amount>,
    pub cooldown: Option<Amount>,
    pub by_time: bool,
    pub max_seconds: Option<f64>,
}

/// Resolves `--warmup`/`--cooldown` for one benchmark that ran from `start` to `end`:
/// of time when `--max-seconds` was given, else of its requests in dispatch order (the window
/// then runs from the first measured request's `sent` to the first cool-down request's `sent`).
pub fn resolve_window(w: &Window, records: &[RequestRecord], start: u64, end: u64) -> (u64, u64) {
    if w.warmup.is_none() && w.cooldown.is_none() {
        return (start, end);
    }
    if w.by_time {
        let span = end.saturating_sub(start) as f64 / 1e9;
        let secs = |a: Option<Amount>| match a {
            None => 0.0,
            Some(Amount::Fraction(f)) => f * w.max_seconds.unwrap_or(span),
            Some(Amount::Absolute(s)) => s,
        };
        let ws = start + (secs(w.warmup) * 1e9) as u64;
        let we = end.saturating_sub((secs(w.cooldown) * 1e9) as u64);
        return (ws.min(end), we.max(ws.min(end)));
    }
    let mut sent: Vec<u64> = records.iter().filter_map(|r| r.t.sent).collect();
    sent.sort_unstable();
    let n = sent.len();
    let count = |a: Option<Amount>| match a {
        None => 0,
        Some(Amount::Fraction(f)) => (f * n as f64).round() as usize,
        Some(Amount::Absolute(k)) => k as usize,
    };
    let (skip, cool) = (count(w.warmup).min(n), count(w.cooldown).min(n));
    let ws = if skip == 0 {
        start
    } else {
        sent.get(skip).copied().unwrap_or(end)
    };
    let we = if cool == 0 {
        end
    } else {
        sent.get(n.saturating_sub(cool))
            .copied()
            .unwrap_or(end)
            .saturating_sub(1)
    };
    (ws, we.max(ws))
}
