//! Multi-turn data: figures per turn index and per conversation (docs/metrics.md,
//! "Conversations").

use super::{counts, Counts, Distribution, RequestRecord, Status, PER_REQUEST};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A benchmark's conversations and its figures by turn index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationSummary {
    /// Conversations whose first turn the benchmark sent.
    pub started: u64,
    /// Conversations whose every turn ended successfully.
    pub completed: u64,
    /// Conversations started but not completed: a turn failed or was aborted, or the benchmark
    /// ended (a constraint, the data, an interrupt) before their last turn; their turns that
    /// ended stay in the records and the figures.
    pub cut: u64,
    /// Figures by turn index, from 0, over the requests sent inside the measurement window.
    pub turns: Vec<TurnSummary>,
}

/// The requests at one turn index of their conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnSummary {
    /// Turn index, from 0.
    pub index: u32,
    /// Requests at this index sent inside the window, per status.
    pub requests: Counts,
    /// Prompt tokens the engine saw, per successful request (history included).
    pub prompt_tokens: Distribution,
    /// Prompt tokens carried over from the earlier turns (their prompts and replies), per
    /// successful request.
    pub history_tokens: Distribution,
    /// Prompt tokens new at this turn (prompt_tokens − history_tokens: the template's framing
    /// and the new message), per successful request.
    pub new_tokens: Distribution,
    /// The engine's prefix-cache hits, per successful request.
    pub cached_tokens: Distribution,
    /// Sum of cached_tokens / sum of prompt_tokens over the successful requests.
    pub cache_hit_share: f64,
    /// Output tokens per successful request.
    pub output_tokens: Distribution,
    /// Time to first token, ms, successful requests.
    pub ttft_ms: Distribution,
    /// Every inter-token gap, ms, successful requests (as the summary's itl_ms).
    pub itl_ms: Distribution,
    /// Request latency, ms, successful requests.
    pub request_latency_ms: Distribution,
    /// From the previous turn's end (its reply read) to this turn's send, ms: the think time
    /// plus any wait for a slot and llmbench's dispatch lag. Absent at index 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_reply_ms: Option<Distribution>,
    /// The engine's prompt tokens minus those of the prompt llmbench spliced (previous prompt
    /// + reply + framing + new message), per successful request: 0 where the history was
    /// spliced (the engine saw exactly that prompt); where a chat template that rewrites history
    /// had the worker render the messages instead, by how much the rendering differs. Absent at
    /// index 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_minus_spliced_tokens: Option<Distribution>,
}

fn per_request(name: &str, rs: &[&RequestRecord]) -> Distribution {
    let f = PER_REQUEST
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a PER_REQUEST name");
    Distribution::from_values(rs.iter().filter_map(|r| f(r)).collect())
}

/// None when no record is a conversation's turn.
pub fn summarize(
    records: &[RequestRecord],
    measured: &[&RequestRecord],
) -> Option<ConversationSummary> {
    if records.iter().all(|r| r.turn.is_none()) {
        return None;
    }
    let started = records
        .iter()
        .filter(|r| r.turn.is_some_and(|t| t.index == 0) && r.t.sent.is_some())
        .count() as u64;
    let mut ok_turns: HashMap<u64, u32> = HashMap::new();
    let mut last_ok: Vec<u64> = Vec::new();
    for r in records {
        let Some(t) = r.turn else { continue };
        if r.status == Status::Successful {
            *ok_turns.entry(t.conversation).or_default() += 1;
            if t.last {
                last_ok.push(t.conversation);
            }
        }
    }
    let completed = last_ok
        .iter()
        .filter(|c| {
            records
                .iter()
                .filter(|r| r.turn.is_some_and(|t| t.conversation == **c))
                .all(|r| r.status == Status::Successful)
        })
        .count() as u64;
    // The end of each conversation's turns, for the gap before the next one.
    let ends: HashMap<(u64, u32), u64> = records
        .iter()
        .filter_map(|r| {
            let t = r.turn?;
            Some(((t.conversation, t.index), r.t.end?))
        })
        .collect();
    let mut by_index: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in measured {
        if let Some(t) = r.turn {
            by_index.entry(t.index).or_default().push(r);
        }
    }
    let turns = by_index
        .into_iter()
        .map(|(index, rs)| {
            let ok: Vec<&RequestRecord> = rs
                .iter()
                .copied()
                .filter(|r| r.status == Status::Successful)
                .collect();
            let prompt = |r: &RequestRecord| r.prompt_tokens.unwrap_or(r.prompt_tokens_sent);
            let history = |r: &RequestRecord| r.turn.map_or(0, |t| t.history_tokens);
            let prompt_sum: u64 = ok.iter().map(|r| prompt(r) as u64).sum();
            let cached_sum: u64 = ok
                .iter()
                .filter_map(|r| r.cached_tokens)
                .map(u64::from)
                .sum();
            let mut itl = Vec::new();
            for r in &ok {
                r.itl_samples_ns(&mut itl);
            }
            let after_reply = (index > 0).then(|| {
                Distribution::from_values(
                    rs.iter()
                        .filter_map(|r| {
                            let t = r.turn?;
                            let prev = ends.get(&(t.conversation, index - 1))?;
                            Some(r.t.sent?.saturating_sub(*prev) as f64 / 1e6)
                        })
                        .collect(),
                )
            });
            TurnSummary {
                index,
                requests: counts(&rs),
                prompt_tokens: per_request("prompt_tokens", &ok),
                history_tokens: Distribution::from_values(
                    ok.iter().map(|r| history(r) as f64).collect(),
                ),
                new_tokens: Distribution::from_values(
                    ok.iter()
                        .map(|r| prompt(r).saturating_sub(history(r)) as f64)
                        .collect(),
                ),
                cached_tokens: per_request("cached_tokens", &ok),
                cache_hit_share: if prompt_sum > 0 {
                    cached_sum as f64 / prompt_sum as f64
                } else {
                    0.0
                },
                output_tokens: per_request("output_tokens", &ok),
                ttft_ms: per_request("ttft_ms", &ok),
                itl_ms: Distribution::from_values(itl.into_iter().map(|v| v / 1e6).collect()),
                request_latency_ms: per_request("request_latency_ms", &ok),
                after_reply_ms: after_reply,
                rendered_minus_spliced_tokens: (index > 0).then(|| {
                    Distribution::from_values(
                        ok.iter()
                            .filter_map(|r| {
                                Some(r.prompt_tokens? as f64 - r.prompt_tokens_sent as f64)
                            })
                            .collect(),
                    )
                }),
            }
        })
        .collect();
    Some(ConversationSummary {
        started,
        completed,
        cut: started.saturating_sub(completed),
        turns,
    })
}
