//! GuideLLM's synthetic data grammar: `key=value,…` or the same keys as a JSON object.
//!
//! Lengths: min defaults to max(1, mean − 5σ), max to mean + 5σ; no σ → constant; σ = 0 with a
//! range → uniform over [min, max]; otherwise a normal draw, rounded and clamped. Seeded.

use crate::error::UsageError;
use anyhow::Result;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

pub const KEYS: &[&str] = &[
    "prompt_tokens",
    "prompt_tokens_stdev",
    "prompt_tokens_min",
    "prompt_tokens_max",
    "output_tokens",
    "output_tokens_stdev",
    "output_tokens_min",
    "output_tokens_max",
    "prefix_tokens",
    "prefix_count",
    "prefix_buckets",
    "samples",
    "turns",
    "first_prompt_tokens",
    "first_prompt_tokens_stdev",
    "first_prompt_tokens_min",
    "first_prompt_tokens_max",
    "first_output_tokens",
    "first_output_tokens_stdev",
    "first_output_tokens_min",
    "first_output_tokens_max",
    "delay",
    "delay_stdev",
    "delay_min",
    "delay_max",
];

/// The keys of one `prefix_buckets` entry.
pub const BUCKET_KEYS: &[&str] = &["bucket_weight", "prefix_count", "prefix_tokens"];

/// One entry of `prefix_buckets` (GuideLLM's `SyntheticTextPrefixBucketConfig`): a share of the
/// requests, weighted relative to the other buckets, that start with one of `prefix_count`
/// shared prefixes of `prefix_tokens` tokens.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PrefixBucket {
    /// Relative weight (GuideLLM's default 100): a request falls in this bucket with
    /// probability bucket_weight / the sum of all weights.
    pub bucket_weight: u32,
    /// Distinct shared prefixes in the bucket (default 1), drawn uniformly per request.
    pub prefix_count: u32,
    /// Tokens of each of its prefixes (default 0: no prefix).
    pub prefix_tokens: u32,
}

/// A synthetic length distribution: constant without stdev, else a rounded normal clamped to
/// [min, max] (uniform when stdev is 0).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LengthDist {
    /// Mean length, tokens.
    pub mean: f64,
    /// Standard deviation, tokens; null for a constant length.
    pub stdev: Option<f64>,
    /// Smallest length, tokens.
    pub min: u32,
    /// Largest length, tokens.
    pub max: u32,
}

impl LengthDist {
    fn new(
        name: &str,
        mean: f64,
        stdev: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<Self> {
        if !(mean >= 1.0) {
            crate::bail_usage!("--data: {name} must be at least 1 (got {mean})");
        }
        let sd = stdev.unwrap_or(0.0);
        if sd < 0.0 {
            crate::bail_usage!("--data: {name}_stdev must not be negative (got {sd})");
        }
        let min = min.unwrap_or_else(|| (mean - 5.0 * sd).max(1.0));
        let max = max.unwrap_or(mean + 5.0 * sd);
        if min < 1.0 {
            crate::bail_usage!("--data: {name}_min must be at least 1 (got {min})");
        }
        if min > max {
            crate::bail_usage!("--data: {name}_min ({min}) is greater than {name}_max ({max})");
        }
        Ok(LengthDist {
            mean,
            stdev,
            min: min.round() as u32,
            max: max.round() as u32,
        })
    }

    pub fn is_constant(&self) -> bool {
        self.stdev.is_none() || (self.stdev == Some(0.0) && self.min == self.max)
    }

    pub fn sample<R: Rng>(&self, rng: &mut R) -> u32 {
        match self.stdev {
            None => (self.mean.round() as u32).clamp(self.min, self.max),
            Some(sd) if sd == 0.0 => {
                if self.min == self.max {
                    self.min
                } else {
                    rng.gen_range(self.min..=self.max)
                }
            }
            Some(sd) => {
                let v: f64 = Normal::new(self.mean, sd)
                    .map(|n| n.sample(rng))
                    .unwrap_or(self.mean);
                (v.round().max(0.0) as u32).clamp(self.min, self.max)
            }
        }
    }
}

/// A think time in seconds, drawn as lengths are: constant without stdev, uniform over [min, max]
/// with stdev 0, else a normal clamped to [min, max] (min defaults to max(0, mean − 5σ)).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SecondsDist {
    /// Mean, seconds.
    pub mean: f64,
    /// Standard deviation, seconds; null for a constant.
    pub stdev: Option<f64>,
    /// Smallest value, seconds.
    pub min: f64,
    /// Largest value, seconds.
    pub max: f64,
}

impl SecondsDist {
    fn new(
        name: &str,
        mean: f64,
        stdev: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<Self> {
        if mean < 0.0 {
            crate::bail_usage!("--data: {name} must not be negative (got {mean})");
        }
        let sd = stdev.unwrap_or(0.0);
        if sd < 0.0 {
            crate::bail_usage!("--data: {name}_stdev must not be negative (got {sd})");
        }
        let min = min.unwrap_or_else(|| (mean - 5.0 * sd).max(0.0));
        let max = max.unwrap_or(mean + 5.0 * sd);
        if min < 0.0 {
            crate::bail_usage!("--data: {name}_min must not be negative (got {min})");
        }
        if min > max {
            crate::bail_usage!("--data: {name}_min ({min}) is greater than {name}_max ({max})");
        }
        Ok(SecondsDist {
            mean,
            stdev,
            min,
            max,
        })
    }

    pub fn sample<R: Rng>(&self, rng: &mut R) -> f64 {
        match self.stdev {
            None => self.mean.clamp(self.min, self.max),
            Some(sd) if sd == 0.0 => {
                if self.min == self.max {
                    self.min
                } else {
                    rng.gen_range(self.min..=self.max)
                }
            }
            Some(sd) => Normal::new(self.mean, sd)
                .map(|n| n.sample(rng))
                .unwrap_or(self.mean)
                .clamp(self.min, self.max),
        }
    }
}

/// The parsed synthetic data spec.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SyntheticSpec {
    /// Prompt lengths.
    pub prompt: LengthDist,
    /// Output lengths; null without an output target (requests run to EOS or the model's limit).
    pub output: Option<LengthDist>,
    /// Shared-prefix length, tokens.
    pub prefix_tokens: u32,
    /// Number of distinct shared prefixes.
    pub prefix_count: u32,
    /// Number of distinct samples, if given.
    pub samples: Option<u64>,
    /// A weighted mix of shared-prefix buckets (GuideLLM's `prefix_buckets`), each request
    /// drawn into one; absent without one (prefix_tokens and prefix_count then say it all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_buckets: Option<Vec<PrefixBucket>>,
    /// Turns per conversation (1: independent requests). Each later turn carries the history
    /// so far (earlier prompts and the engine's replies, as token ids) plus a new user message
    /// drawn from `prompt`, with an output target drawn from `output`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub turns: u32,
    /// The first turn's prompt lengths (`first_prompt_tokens*`); null: `prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_prompt: Option<LengthDist>,
    /// The first turn's output lengths (`first_output_tokens*`); null: `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_output: Option<LengthDist>,
    /// Think time between a reply and the conversation's next turn, drawn once per conversation
    /// (`delay*`, seconds, as GuideLLM does); null: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<SecondsDist>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Does `s` look like a synthetic spec (as opposed to a file path)?
pub fn looks_like_spec(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || (s.contains('=') && !std::path::Path::new(s).exists())
}

pub fn parse(s: &str) -> Result<SyntheticSpec> {
    let (pairs, buckets) = if s.trim_start().starts_with('{') {
        json_pairs(s)?
    } else {
        (key_value_pairs(s)?, None)
    };
    let mut get = std::collections::HashMap::new();
    for (k, v) in pairs {
        if !KEYS.contains(&k.as_str()) {
            crate::bail_usage!(
                "--data: unknown key '{k}'; valid keys are {}",
                KEYS.join(", ")
            );
        }
        if !v.is_finite() {
            crate::bail_usage!("--data: {k} must be a finite number");
        }
        get.insert(k, v);
    }
    let g = |k: &str| get.get(k).copied();
    if buckets.is_some() {
        if let Some(k) = ["prefix_tokens", "prefix_count"]
            .into_iter()
            .find(|k| g(k).is_some())
        {
            crate::bail_usage!("--data: prefix_buckets and {k} cannot be given together (as in GuideLLM); put the prefix in a bucket: [{{\"bucket_weight\": 100, \"prefix_count\": 1, \"prefix_tokens\": 512}}]");
        }
    }
    let prompt = prompt_lengths(&g)?;
    let output = output_lengths(&g)?;
    let prefix_tokens = nonneg_int(&g, "prefix_tokens")?;
    let mut prefix_count = nonneg_int(&g, "prefix_count")?;
    if prefix_tokens > 0 && prefix_count == 0 {
        prefix_count = 1;
    }
    let samples = match g("samples") {
        None => None,
        Some(v) if v >= 1.0 && v.fract() == 0.0 => Some(v as u64),
        Some(v) => crate::bail_usage!("--data: samples must be a whole number ≥ 1 (got {v})"),
    };
    let turns = match g("turns") {
        None => 1,
        Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= 1000.0 => v as u32,
        Some(v) => {
            crate::bail_usage!("--data: turns must be a whole number from 1 to 1000 (got {v})")
        }
    };
    let first_prompt = optional_lengths(&g, "first_prompt_tokens")?;
    let first_output = optional_lengths(&g, "first_output_tokens")?;
    let delay = match g("delay") {
        None => {
            for k in ["delay_stdev", "delay_min", "delay_max"] {
                if g(k).is_some() {
                    crate::bail_usage!("--data: {k} needs delay");
                }
            }
            None
        }
        Some(d) => Some(SecondsDist::new(
            "delay",
            d,
            g("delay_stdev"),
            g("delay_min"),
            g("delay_max"),
        )?),
    };
    if turns == 1 {
        for (k, set) in [
            ("first_prompt_tokens", first_prompt.is_some()),
            ("first_output_tokens", first_output.is_some()),
            ("delay", delay.is_some()),
        ] {
            if set {
                crate::bail_usage!(
                    "--data: {k} describes multi-turn conversations and needs turns of 2 or more"
                );
            }
        }
    }
    Ok(SyntheticSpec {
        prompt,
        output,
        prefix_tokens,
        prefix_count,
        samples,
        prefix_buckets: buckets,
        turns,
        first_prompt,
        first_output,
        delay,
    })
}

/// `prefix_buckets`: a non-empty list of bucket objects, each key a whole number in range
/// (GuideLLM's defaults for a key left out). An empty list is no buckets, as in GuideLLM.
fn prefix_buckets(v: &serde_json::Value) -> Result<Option<Vec<PrefixBucket>>> {
    let example = r#"[{"bucket_weight": 70, "prefix_count": 1, "prefix_tokens": 2000}, {"bucket_weight": 30, "prefix_count": 5, "prefix_tokens": 500}]"#;
    let Some(list) = v.as_array() else {
        crate::bail_usage!("--data: prefix_buckets must be a list of buckets such as {example}");
    };
    if list.len() > usize::from(u16::MAX) {
        crate::bail_usage!(
            "--data: prefix_buckets lists {} buckets; at most {}",
            list.len(),
            u16::MAX
        );
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, b) in list.iter().enumerate() {
        let Some(obj) = b.as_object() else {
            crate::bail_usage!("--data: prefix_buckets[{i}] must be an object such as {{\"bucket_weight\": 70, \"prefix_count\": 1, \"prefix_tokens\": 2000}}, not {b}");
        };
        if let Some(k) = obj.keys().find(|k| !BUCKET_KEYS.contains(&k.as_str())) {
            crate::bail_usage!(
                "--data: prefix_buckets[{i}] has unknown key '{k}'; valid keys are {}",
                BUCKET_KEYS.join(", ")
            );
        }
        let int = |k: &str, default: u32, min: u32| -> Result<u32> {
            match obj.get(k) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => match v.as_f64() {
                    Some(x)
                        if x.fract() == 0.0 && x >= f64::from(min) && x <= f64::from(u32::MAX) =>
                    {
                        Ok(x as u32)
                    }
                    _ => crate::bail_usage!(
                        "--data: prefix_buckets[{i}].{k} must be a whole number ≥ {min} (got {v})"
                    ),
                },
            }
        };
        out.push(PrefixBucket {
            bucket_weight: int("bucket_weight", 100, 1)?,
            prefix_count: int("prefix_count", 1, 1)?,
            prefix_tokens: int("prefix_tokens", 0, 0)?,
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `{"prompt_tokens": 256, …}` → its (key, number) pairs, and its `prefix_buckets`.
type JsonSpec = (Vec<(String, f64)>, Option<Vec<PrefixBucket>>);
fn json_pairs(s: &str) -> Result<JsonSpec> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| {
        UsageError::new(format!("--data: the JSON spec does not parse ({e}); write e.g. '{{\"prompt_tokens\": 256, \"output_tokens\": 128}}'"))
    })?;
    let obj = v
        .as_object()
        .ok_or_else(|| UsageError::new("--data: a JSON spec must be an object"))?;
    let buckets = match obj.get("prefix_buckets") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => prefix_buckets(v)?,
    };
    let pairs = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "prefix_buckets")
        .map(|(k, v)| {
            v.as_f64().map(|f| (k.clone(), f)).ok_or_else(|| {
                UsageError::new(format!("--data: {k} must be a number (got {v})")).into()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((pairs, buckets))
}

/// `prompt_tokens=256,output_tokens=128` → its (key, number) pairs.
fn key_value_pairs(s: &str) -> Result<Vec<(String, f64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                UsageError::new(format!("--data: '{p}' is not key=value; write e.g. prompt_tokens=256,output_tokens=128"))
            })?;
            let k = k.trim();
            if k == "prefix_buckets" {
                return Err(UsageError::new("--data: prefix_buckets is a list, which key=value cannot hold; give the spec as JSON: --data '{\"prompt_tokens\": 256, \"prefix_buckets\": [{\"bucket_weight\": 70, \"prefix_count\": 1, \"prefix_tokens\": 2000}]}'").into());
            }
            let f: f64 = v.trim().parse().map_err(|_| {
                UsageError::new(format!("--data: {k} must be a number (got '{}')", v.trim()))
            })?;
            Ok((k.to_string(), f))
        })
        .collect()
}

fn prompt_lengths(g: &dyn Fn(&str) -> Option<f64>) -> Result<LengthDist> {
    let Some(pt) = g("prompt_tokens") else {
        crate::bail_usage!(
            "--data: prompt_tokens is required, e.g. prompt_tokens=256,output_tokens=128"
        );
    };
    if pt < 1.0 {
        crate::bail_usage!("--data: prompt_tokens must be at least 1 (got {pt})");
    }
    LengthDist::new(
        "prompt_tokens",
        pt,
        g("prompt_tokens_stdev"),
        g("prompt_tokens_min"),
        g("prompt_tokens_max"),
    )
}

/// The output lengths, or None without `output_tokens` (whose companions then are refused).
fn output_lengths(g: &dyn Fn(&str) -> Option<f64>) -> Result<Option<LengthDist>> {
    let Some(ot) = g("output_tokens") else {
        for k in [
            "output_tokens_stdev",
            "output_tokens_min",
            "output_tokens_max",
        ] {
            if g(k).is_some() {
                crate::bail_usage!("--data: {k} needs output_tokens");
            }
        }
        return Ok(None);
    };
    Ok(Some(LengthDist::new(
        "output_tokens",
        ot,
        g("output_tokens_stdev"),
        g("output_tokens_min"),
        g("output_tokens_max"),
    )?))
}

/// `{name}` and its companions, or None without `{name}` (whose companions then are refused).
fn optional_lengths(g: &dyn Fn(&str) -> Option<f64>, name: &str) -> Result<Option<LengthDist>> {
    let Some(mean) = g(name) else {
        for suffix in ["_stdev", "_min", "_max"] {
            if g(&format!("{name}{suffix}")).is_some() {
                crate::bail_usage!("--data: {name}{suffix} needs {name}");
            }
        }
        return Ok(None);
    };
    Ok(Some(LengthDist::new(
        name,
        mean,
        g(&format!("{name}_stdev")),
        g(&format!("{name}_min")),
        g(&format!("{name}_max")),
    )?))
}

fn nonneg_int(g: &dyn Fn(&str) -> Option<f64>, k: &str) -> Result<u32> {
    match g(k) {
        None => Ok(0),
        Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(v as u32),
        Some(v) => {
            Err(UsageError::new(format!("--data: {k} must be a whole number ≥ 0 (got {v})")).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn key_value_and_json_forms_agree() {
        let a = parse("prompt_tokens=64,output_tokens=32").unwrap();
        let b = parse(r#"{"prompt_tokens": 64, "output_tokens": 32}"#).unwrap();
        assert_eq!(a, b);
        assert!(a.prompt.is_constant());
        assert_eq!(a.output.as_ref().unwrap().min, 32);
    }

    #[test]
    fn guidellm_min_max_defaults() {
        let s = parse("prompt_tokens=100,prompt_tokens_stdev=10").unwrap();
        assert_eq!((s.prompt.min, s.prompt.max), (50, 150));
        let s = parse("prompt_tokens=10,prompt_tokens_stdev=10").unwrap();
        assert_eq!(s.prompt.min, 1);
        assert!(s.output.is_none());
    }

    #[test]
    fn draws_stay_in_range_and_are_seeded() {
        let s = parse(
            "prompt_tokens=512,prompt_tokens_stdev=128,prompt_tokens_min=64,prompt_tokens_max=1024",
        )
        .unwrap();
        let draw = |seed| {
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| s.prompt.sample(&mut r))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(a.iter().all(|&v| (64..=1024).contains(&v)));
        assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 50);
    }

    #[test]
    fn uniform_when_stdev_zero_with_range() {
        let s = parse(
            "prompt_tokens=10,prompt_tokens_stdev=0,prompt_tokens_min=5,prompt_tokens_max=15",
        )
        .unwrap();
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let v: std::collections::BTreeSet<u32> =
            (0..500).map(|_| s.prompt.sample(&mut r)).collect();
        assert_eq!(v, (5..=15).collect());
    }

    #[test]
    fn prefix_buckets_parse_with_guidellms_defaults_and_refusals() {
        let s = parse(r#"{"prompt_tokens": 8, "prefix_buckets": [{"bucket_weight": 70, "prefix_count": 1, "prefix_tokens": 2000}, {"prefix_tokens": 500}]}"#).unwrap();
        assert_eq!(
            s.prefix_buckets.unwrap(),
            vec![
                PrefixBucket {
                    bucket_weight: 70,
                    prefix_count: 1,
                    prefix_tokens: 2000
                },
                PrefixBucket {
                    bucket_weight: 100,
                    prefix_count: 1,
                    prefix_tokens: 500
                },
            ]
        );
        // An empty list is no buckets, as in GuideLLM.
        assert!(parse(r#"{"prompt_tokens": 8, "prefix_buckets": []}"#)
            .unwrap()
            .prefix_buckets
            .is_none());
        let err = |spec: &str| {
            let e = parse(spec).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
            e.to_string()
        };
        let e = err(
            r#"{"prompt_tokens": 8, "prefix_tokens": 64, "prefix_buckets": [{"prefix_tokens": 5}]}"#,
        );
        assert!(
            e.contains("prefix_buckets and prefix_tokens cannot be given together"),
            "{e}"
        );
        let e = err(
            r#"{"prompt_tokens": 8, "prefix_buckets": [{"bucket_weight": 0, "prefix_tokens": 5}]}"#,
        );
        assert!(
            e.contains("prefix_buckets[0].bucket_weight must be a whole number ≥ 1 (got 0)"),
            "{e}"
        );
        let e = err(
            r#"{"prompt_tokens": 8, "prefix_buckets": [{"prefix_tokens": 5}, {"prefix_count": 0}]}"#,
        );
        assert!(
            e.contains("prefix_buckets[1].prefix_count must be a whole number ≥ 1"),
            "{e}"
        );
        let e = err(r#"{"prompt_tokens": 8, "prefix_buckets": [{"prefix_token": 5}]}"#);
        assert!(
            e.contains("unknown key 'prefix_token'")
                && e.contains("bucket_weight, prefix_count, prefix_tokens"),
            "{e}"
        );
        let e = err(r#"{"prompt_tokens": 8, "prefix_buckets": {"prefix_tokens": 5}}"#);
        assert!(e.contains("must be a list of buckets"), "{e}");
        let e = err("prompt_tokens=8,prefix_buckets=3");
        assert!(e.contains("give the spec as JSON"), "{e}");
    }

    #[test]
    fn bad_specs_name_the_key() {
        let e = parse("prompt_tokens=64,output_tokenz=3")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown key 'output_tokenz'") && e.contains("output_tokens"),
            "{e}"
        );
        let e = parse("prompt_tokens=0").unwrap_err().to_string();
        assert!(e.contains("prompt_tokens must be at least 1"), "{e}");
        let e = parse("prompt_tokens=10,prompt_tokens_min=20,prompt_tokens_max=5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("greater than"), "{e}");
        let e = parse("output_tokens=5").unwrap_err().to_string();
        assert!(e.contains("prompt_tokens is required"), "{e}");
    }
}
