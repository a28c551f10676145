//! Exact-length prompts as token ids.
//!
//! The model's tokenizer turns a built-in public-domain text into a token-id corpus once; each
//! prompt is then a window of that corpus, so its length is exact by construction (GuideLLM
//! builds text and re-tokenizes, so its counts drift). Each prompt starts with a short seeded
//! random stretch, which makes its first KV block unique: prefix caching cannot flatter a
//! benchmark unless the spec asks for shared prefixes.

use super::synthetic::SyntheticSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

pub const CORPUS_TEXT: &str = include_str!("corpus.txt");
/// Length of the random stretch at the start of every prompt.
pub const UNIQUE_STRETCH: usize = 8;

/// What the request format puts around a prompt's content (from the worker's `frame_prompt`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptFrame {
    pub format: String,
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
    /// Between a reply and the next user message's content in a conversation (the template's
    /// end of the assistant turn and start of the user turn); None where it cannot be framed.
    pub turn: Option<Vec<u32>>,
    /// Why later turns are not exact extensions of earlier ones under this template, if so.
    pub turn_note: Option<String>,
}

impl PromptFrame {
    /// With `plain`, the engine sees exactly the requested tokens: a BOS the tokenizer would add
    /// counts among them.
    pub fn counts_in_content(&self) -> bool {
        self.format == "plain"
    }
}

/// One prepared request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestSpec {
    pub prompt: Vec<u32>,
    /// Prompt tokens the data spec asked for (content, excluding template tokens).
    pub content_tokens: u32,
    /// Shared-prefix tokens at the start of the content, if the spec asked for them.
    pub prefix_tokens: u32,
    pub max_tokens: Option<u32>,
    /// The `prefix_buckets` entry the request was drawn into (index), if the spec has buckets.
    pub prefix_bucket: Option<u16>,
    /// The rest of the conversation this request opens, if it opens one with later turns.
    pub conversation: Option<Box<Conversation>>,
    /// A later turn under a template that rewrites history: the conversation's messages so far,
    /// for the worker to render with the chat template in place of `prompt` (docs/metrics.md,
    /// "Conversations"); None: `prompt` is sent as it is.
    pub messages: Option<Arc<Vec<Message>>>,
}

/// One message of a conversation: its role and its token ids (content only, no template).
pub type Message = (&'static str, Vec<u32>);

/// The later turns of a conversation: each is sent once the previous reply has come back (plus
/// the think time), as the previous prompt + the reply's token ids + `frame` + its content +
/// `suffix`, so every turn extends the last one exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub later: std::collections::VecDeque<LaterTurn>,
    /// Think time after each reply, ns.
    pub delay_ns: u64,
    pub frame: Arc<Vec<u32>>,
    pub suffix: Arc<Vec<u32>>,
    /// Under a chat template that rewrites history (`PromptFrame::turn_note`): the messages so
    /// far, each later turn rendered from them by the worker; None: spliced.
    pub messages: Option<Vec<Message>>,
}

/// One later turn: the new user message's content and its output target.
#[derive(Debug, Clone, PartialEq)]
pub struct LaterTurn {
    pub content: Vec<u32>,
    pub max_tokens: Option<u32>,
    /// A dataset's recorded reply to the previous turn, to stand in the history for the
    /// engine's (`recorded_replies`); None: the engine's reply.
    pub recorded_reply: Option<Vec<u32>>,
    /// A trace conversation's later row: `content` is its whole prompt (framed, not spliced
    /// onto the history: the trace's rows carry their own context), sent on the trace's time.
    pub trace: Option<TraceTiming>,
}

/// When a trace conversation's later row is due, and its requested prompt length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceTiming {
    /// Seconds after the replay's start (before the profile's time_scale).
    pub at_s: f64,
    /// Idle gap after the previous row's recorded duration, seconds.
    pub gap_s: f64,
    /// The row's prompt tokens (its input_length, or its text's tokens).
    pub content_tokens: u32,
}

impl Conversation {
    /// The next turn's prompt, built on the previous one: + reply + frame + content + suffix,
    /// where the reply is the engine's (or the dataset's recorded one, where the turn has it).
    /// A reply the engine `stopped` on the token the frame opens with (its end-of-turn token,
    /// which vLLM returns among the output ids) does not get it twice. Returns the prompt, the
    /// history it carries (previous prompt + reply), the new message's length and the output
    /// target; None when no turn is left.
    pub fn next_prompt(
        &mut self,
        mut prompt: Vec<u32>,
        reply: &[u32],
        stopped: bool,
    ) -> Option<NextTurn> {
        let t = self.later.pop_front()?;
        if let Some(trace) = t.trace {
            return Some(NextTurn {
                prompt: t.content,
                history: 0,
                content: trace.content_tokens,
                max_tokens: t.max_tokens,
                messages: None,
                trace: Some(trace),
            });
        }
        let (reply, stopped) = match &t.recorded_reply {
            Some(r) => (&r[..], false),
            None => (reply, stopped),
        };
        let messages = self.messages.as_mut().map(|m| {
            m.push(("assistant", reply.to_vec()));
            m.push(("user", t.content.clone()));
            Arc::new(m.clone())
        });
        prompt.reserve(reply.len() + self.frame.len() + t.content.len() + self.suffix.len());
        prompt.extend_from_slice(reply);
        let history = prompt.len() as u32;
        let skip =
            usize::from(stopped && !self.frame.is_empty() && reply.last() == self.frame.first());
        prompt.extend_from_slice(&self.frame[skip..]);
        prompt.extend_from_slice(&t.content);
        prompt.extend_from_slice(&self.suffix);
        Some(NextTurn {
            prompt,
            history,
            content: t.content.len() as u32,
            max_tokens: t.max_tokens,
            messages,
            trace: None,
        })
    }
}

/// A conversation's next turn, built.
pub struct NextTurn {
    /// The spliced prompt: previous prompt + reply + frame + content + suffix.
    pub prompt: Vec<u32>,
    /// Tokens of it carried over (previous prompt + reply).
    pub history: u32,
    /// The new message's length.
    pub content: u32,
    pub max_tokens: Option<u32>,
    /// The messages so far, where the worker renders them instead.
    pub messages: Option<Arc<Vec<Message>>>,
    /// A trace row's timing (its prompt is its own, not spliced).
    pub trace: Option<TraceTiming>,
}

pub trait RequestSource: Send {
    /// The next request, or None when the data has run out.
    fn next_request(&mut self) -> Option<RequestSpec>;

    /// A trace's arrival time of the request last returned: seconds after the trace's first
    /// row, unscaled (the replay profile's schedule). None for data without timestamps.
    fn arrival_s(&self) -> Option<f64> {
        None
    }

    /// The arrival time of the request `next_request` would return next, the same way.
    fn next_arrival_s(&self) -> Option<f64> {
        None
    }
}

pub struct SyntheticSource {
    spec: SyntheticSpec,
    /// Per-conversation frame and suffix, shared (multi-turn specs).
    turn_frame: Arc<Vec<u32>>,
    turn_suffix: Arc<Vec<u32>>,
    corpus: Arc<Vec<u32>>,
    alphabet: Vec<u32>,
    frame: PromptFrame,
    rng: ChaCha8Rng,
    prefixes: Vec<Vec<u32>>,
    /// With `prefix_buckets`: each bucket's cumulative weight and its prefixes.
    buckets: Vec<(u64, Vec<Vec<u32>>)>,
    produced: u64,
}

impl SyntheticSource {
    pub fn new(spec: SyntheticSpec, corpus: Vec<u32>, frame: PromptFrame, seed: u64) -> Self {
        let mut alphabet = corpus.clone();
        alphabet.sort_unstable();
        alphabet.dedup();
        let corpus = Arc::new(corpus);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let prefixes = (0..spec.prefix_count)
            .map(|_| window(&corpus, &alphabet, &mut rng, spec.prefix_tokens as usize))
            .collect();
        let mut total = 0u64;
        let buckets = spec
            .prefix_buckets
            .iter()
            .flatten()
            .map(|b| {
                total += u64::from(b.bucket_weight);
                let ps = (0..b.prefix_count)
                    .map(|_| window(&corpus, &alphabet, &mut rng, b.prefix_tokens as usize))
                    .collect();
                (total, ps)
            })
            .collect();
        let turn_frame = Arc::new(frame.turn.clone().unwrap_or_default());
        let turn_suffix = Arc::new(frame.suffix.clone());
        SyntheticSource {
            spec,
            turn_frame,
            turn_suffix,
            corpus,
            alphabet,
            frame,
            rng,
            prefixes,
            buckets,
            produced: 0,
        }
    }

    /// GuideLLM's draw: a bucket with probability weight / total weight, then one of its
    /// prefixes uniformly (GuideLLM expands the buckets into one list in those proportions and
    /// picks from it uniformly, which is the same distribution).
    fn draw_bucket(&mut self) -> (Option<u16>, Vec<u32>) {
        let Some(&(total, _)) = self.buckets.last() else {
            return (None, Vec::new());
        };
        let u = self.rng.gen_range(0..total);
        let b = self.buckets.partition_point(|(cum, _)| *cum <= u);
        let ps = &self.buckets[b].1;
        let k = self.rng.gen_range(0..ps.len());
        (Some(b as u16), ps[k].clone())
    }

    /// Largest prompt the spec can produce, template included, and largest output.
    /// For a conversation, its last turn: every turn's prompt, reply and frame.
    pub fn max_lengths(&self) -> (u64, Option<u64>) {
        let longest_bucket = self
            .spec
            .prefix_buckets
            .iter()
            .flatten()
            .map(|b| b.prefix_tokens)
            .max()
            .unwrap_or(0);
        let frame = (self.frame.prefix.len() + self.frame.suffix.len()) as u64;
        if self.spec.turns > 1 {
            let s = &self.spec;
            let first_p = s.first_prompt.as_ref().unwrap_or(&s.prompt).max as u64;
            let out = s.output.as_ref().map_or(0, |o| o.max as u64);
            let first_o = s.first_output.as_ref().map(|o| o.max as u64).unwrap_or(out);
            let later = (s.turns - 1) as u64;
            let turn = self.turn_frame.len() as u64 + self.turn_suffix.len() as u64;
            let p = first_p
                + s.prefix_tokens.max(longest_bucket) as u64
                + frame
                + first_o
                + later * (s.prompt.max as u64 + turn)
                + (later - 1) * out;
            return (p, s.output.as_ref().map(|o| o.max as u64));
        }
        let p = self.spec.prompt.max as u64
            + self.spec.prefix_tokens.max(longest_bucket) as u64
            + if self.frame.counts_in_content() {
                0
            } else {
                (self.frame.prefix.len() + self.frame.suffix.len()) as u64
            };
        (p, self.spec.output.as_ref().map(|o| o.max as u64))
    }
}

/// `n` tokens: a random stretch from the alphabet, then a window of the corpus at a random offset.
pub fn window(corpus: &[u32], alphabet: &[u32], rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.min(UNIQUE_STRETCH) {
        out.push(alphabet[rng.gen_range(0..alphabet.len())]);
    }
    let mut off = rng.gen_range(0..corpus.len());
    while out.len() < n {
        let take = (n - out.len()).min(corpus.len() - off);
        out.extend_from_slice(&corpus[off..off + take]);
        off = 0;
    }
    out
}

impl RequestSource for SyntheticSource {
    fn next_request(&mut self) -> Option<RequestSpec> {
        self.produced += 1;
        let multi = self.spec.turns > 1;
        let content = match (&self.spec.first_prompt, multi) {
            (Some(d), true) => d.sample(&mut self.rng),
            _ => self.spec.prompt.sample(&mut self.rng),
        };
        let max_tokens = match (&self.spec.first_output, multi) {
            (Some(d), true) => Some(d.sample(&mut self.rng)),
            _ => self.spec.output.as_ref().map(|o| o.sample(&mut self.rng)),
        };
        let (bucket, bucket_prefix) = self.draw_bucket();
        let shared = if bucket.is_some() {
            &bucket_prefix[..]
        } else if self.prefixes.is_empty() {
            &[][..]
        } else {
            let k = self.rng.gen_range(0..self.prefixes.len());
            &self.prefixes[k][..]
        };
        let mut prompt = Vec::with_capacity(
            content as usize + shared.len() + self.frame.prefix.len() + self.frame.suffix.len(),
        );
        prompt.extend_from_slice(&self.frame.prefix);
        prompt.extend_from_slice(shared);
        let body = if self.frame.counts_in_content() {
            (content as usize).saturating_sub(self.frame.prefix.len())
        } else {
            content as usize
        };
        prompt.extend(window(&self.corpus, &self.alphabet, &mut self.rng, body));
        prompt.extend_from_slice(&self.frame.suffix);
        let prefix_tokens = shared.len() as u32;
        let conversation = multi.then(|| {
            let later = (1..self.spec.turns)
                .map(|_| {
                    let n = self.spec.prompt.sample(&mut self.rng) as usize;
                    LaterTurn {
                        content: window(&self.corpus, &self.alphabet, &mut self.rng, n),
                        max_tokens: self.spec.output.as_ref().map(|o| o.sample(&mut self.rng)),
                        trace: None,
                        recorded_reply: None,
                    }
                })
                .collect();
            let delay = self
                .spec
                .delay
                .as_ref()
                .map_or(0.0, |d| d.sample(&mut self.rng));
            let start = self.frame.prefix.len();
            let end = prompt.len() - self.frame.suffix.len();
            Box::new(Conversation {
                later,
                delay_ns: (delay * 1e9).round() as u64,
                frame: self.turn_frame.clone(),
                suffix: self.turn_suffix.clone(),
                messages: self
                    .frame
                    .turn_note
                    .is_some()
                    .then(|| vec![("user", prompt[start..end].to_vec())]),
            })
        });
        Some(RequestSpec {
            prompt,
            content_tokens: content,
            prefix_tokens,
            max_tokens,
            prefix_bucket: bucket,
            conversation,
            messages: None,
        })
    }
}

/// A fixed list of prepared requests, served once in order (`--data-samples N`).
pub struct Prepared {
    specs: Arc<Vec<RequestSpec>>,
    pos: usize,
}

impl Prepared {
    pub fn new(specs: Arc<Vec<RequestSpec>>) -> Self {
        Prepared { specs, pos: 0 }
    }
}

impl RequestSource for Prepared {
    fn next_request(&mut self) -> Option<RequestSpec> {
        let r = self.specs.get(self.pos).cloned();
        self.pos += 1;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::parse;

    fn corpus() -> Vec<u32> {
        (100..400).collect()
    }

    #[test]
    fn plain_prompts_have_exactly_the_requested_length_bos_included() {
        let frame = PromptFrame {
            format: "plain".into(),
            prefix: vec![1],
            suffix: vec![],
            ..Default::default()
        };
        let mut s = SyntheticSource::new(
            parse("prompt_tokens=64,output_tokens=32").unwrap(),
            corpus(),
            frame,
            42,
        );
        for _ in 0..10 {
            let r = s.next_request().unwrap();
            assert_eq!(r.prompt.len(), 64);
            assert_eq!(r.prompt[0], 1);
            assert_eq!(r.prompt.iter().filter(|&&t| t == 1).count(), 1, "one BOS");
            assert_eq!(r.max_tokens, Some(32));
        }
    }

    #[test]
    fn templated_prompts_add_the_frame() {
        let frame = PromptFrame {
            format: "default-template".into(),
            prefix: vec![1, 2, 3],
            suffix: vec![4, 5],
            ..Default::default()
        };
        let mut s = SyntheticSource::new(parse("prompt_tokens=64").unwrap(), corpus(), frame, 1);
        let r = s.next_request().unwrap();
        assert_eq!(r.prompt.len(), 69);
        assert_eq!(r.content_tokens, 64);
        assert_eq!(&r.prompt[..3], &[1, 2, 3]);
        assert_eq!(r.max_tokens, None);
    }

    #[test]
    fn starts_are_unique_and_seeded() {
        let mk = |seed| {
            let mut s = SyntheticSource::new(
                parse("prompt_tokens=300").unwrap(),
                corpus(),
                PromptFrame::default(),
                seed,
            );
            (0..200)
                .map(|_| s.next_request().unwrap().prompt)
                .collect::<Vec<_>>()
        };
        let a = mk(3);
        assert_eq!(a, mk(3));
        assert_ne!(a, mk(4));
        let starts: std::collections::HashSet<_> =
            a.iter().map(|p| p[..UNIQUE_STRETCH].to_vec()).collect();
        assert_eq!(starts.len(), 200);
    }

    #[test]
    fn shared_prefixes_are_exact() {
        let mut s = SyntheticSource::new(
            parse("prompt_tokens=16,prefix_tokens=256,prefix_count=2").unwrap(),
            corpus(),
            PromptFrame::default(),
            9,
        );
        let ps: std::collections::HashSet<_> = (0..50)
            .map(|_| s.next_request().unwrap().prompt[..256].to_vec())
            .collect();
        assert_eq!(ps.len(), 2);
    }

    #[test]
    fn prefix_buckets_are_drawn_by_weight_and_seeded() {
        let spec = parse(
            r#"{"prompt_tokens": 4, "prefix_buckets": [{"bucket_weight": 70, "prefix_count": 1, "prefix_tokens": 32}, {"bucket_weight": 30, "prefix_count": 5, "prefix_tokens": 16}, {"bucket_weight": 100}]}"#,
        )
        .unwrap();
        let run = |seed| {
            let mut s = SyntheticSource::new(spec.clone(), corpus(), PromptFrame::default(), seed);
            (0..2000)
                .map(|_| s.next_request().unwrap())
                .collect::<Vec<_>>()
        };
        let a = run(5);
        assert_eq!(a, run(5));
        assert_ne!(a, run(6));
        let mut counts = [0usize; 3];
        let mut prefixes: Vec<std::collections::HashSet<Vec<u32>>> = vec![Default::default(); 3];
        for r in &a {
            let b = r.prefix_bucket.unwrap() as usize;
            counts[b] += 1;
            let want = [32, 16, 0][b];
            assert_eq!(r.prefix_tokens, want);
            assert_eq!(r.prompt.len(), want as usize + 4);
            prefixes[b].insert(r.prompt[..want as usize].to_vec());
        }
        // Weights 70:30:100 of 2,000 draws: 700, 300, 1,000 expected; 4 binomial σ is at most
        // 4·√(2000·0.5·0.5) ≈ 89. The seeded draw is fixed, so this never flakes.
        for (got, want) in counts.iter().zip([700.0, 300.0, 1000.0]) {
            assert!((*got as f64 - want).abs() < 89.0, "{counts:?}");
        }
        assert_eq!(
            prefixes.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [1, 5, 1]
        );
        assert_eq!(s_max(&spec), 36);
    }

    fn s_max(spec: &crate::data::synthetic::SyntheticSpec) -> u64 {
        SyntheticSource::new(spec.clone(), corpus(), PromptFrame::default(), 1)
            .max_lengths()
            .0
    }

    #[test]
    fn prepared_requests_make_one_pass() {
        let mut s = SyntheticSource::new(
            parse("prompt_tokens=4").unwrap(),
            corpus(),
            PromptFrame::default(),
            9,
        );
        let v = Arc::new(
            (0..3)
                .map(|_| s.next_request().unwrap())
                .collect::<Vec<_>>(),
        );
        let mut p = Prepared::new(v.clone());
        let got: Vec<_> = std::iter::from_fn(|| p.next_request()).collect();
        assert_eq!(&got, &*v);
    }

    #[test]
    fn a_template_that_rewrites_history_sends_the_messages_with_each_later_turn() {
        let frame = PromptFrame {
            format: "jinja".into(),
            prefix: vec![1, 2],
            suffix: vec![3],
            turn: Some(vec![9]),
            turn_note: Some("rewrites".into()),
        };
        let spec = parse("prompt_tokens=4,output_tokens=2,turns=3").unwrap();
        let mut src = SyntheticSource::new(spec, corpus(), frame, 7);
        let first = src.next_request().unwrap();
        assert!(first.messages.is_none(), "a first turn is sent as built");
        let content = first.prompt[2..first.prompt.len() - 1].to_vec();
        let mut conv = *first.conversation.unwrap();
        let next = conv
            .next_prompt(first.prompt.clone(), &[50, 51], false)
            .unwrap();
        let m = next.messages.expect("rendered by the worker");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], ("user", content));
        assert_eq!(m[1], ("assistant", vec![50, 51]));
        assert_eq!(m[2].0, "user");
        // the spliced prompt is still built: the reference the engine's count is compared with
        let mut spliced = first.prompt.clone();
        spliced.extend([50, 51, 9]);
        spliced.extend(&m[2].1);
        spliced.push(3);
        assert_eq!(next.prompt, spliced);
        let last = conv.next_prompt(next.prompt, &[60], false).unwrap();
        assert_eq!(last.messages.unwrap().len(), 5);
    }
}
