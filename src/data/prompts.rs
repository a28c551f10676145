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
}

impl PromptFrame {
    /// With `plain`, the engine sees exactly the requested tokens: a BOS the tokenizer would add
    /// counts among them.
    pub fn counts_in_content(&self) -> bool {
        self.format == "plain"
    }
}

/// One prepared request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub prompt: Vec<u32>,
    /// Prompt tokens the data spec asked for (content, excluding template tokens).
    pub content_tokens: u32,
    /// Shared-prefix tokens at the start of the content, if the spec asked for them.
    pub prefix_tokens: u32,
    pub max_tokens: Option<u32>,
    /// The `prefix_buckets` entry the request was drawn into (index), if the spec has buckets.
    pub prefix_bucket: Option<u16>,
}

pub trait RequestSource: Send {
    /// The next request, or None when the data has run out.
    fn next_request(&mut self) -> Option<RequestSpec>;
}

pub struct SyntheticSource {
    spec: SyntheticSpec,
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
        SyntheticSource {
            spec,
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
    pub fn max_lengths(&self) -> (u64, Option<u64>) {
        let longest_bucket = self
            .spec
            .prefix_buckets
            .iter()
            .flatten()
            .map(|b| b.prefix_tokens)
            .max()
            .unwrap_or(0);
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
fn window(corpus: &[u32], alphabet: &[u32], rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
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
        let content = self.spec.prompt.sample(&mut self.rng);
        let max_tokens = self.spec.output.as_ref().map(|o| o.sample(&mut self.rng));
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
        Some(RequestSpec {
            prompt,
            content_tokens: content,
            prefix_tokens: shared.len() as u32,
            max_tokens,
            prefix_bucket: bucket,
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
}
