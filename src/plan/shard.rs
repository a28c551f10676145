//! `--shard K/N`: one of N invocations of the same plan runs every N-th of its units (a model with
//! its engine config), so a fleet evaluation spreads over a Kubernetes Indexed Job or a Slurm
//! array; `llmbench export` merges the shards' reports (docs/cluster.md).

use crate::bail_usage;
use anyhow::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which shard a report holds, and of which plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Shard {
    /// This shard, from 1.
    pub index: u32,
    /// The number of shards.
    pub count: u32,
    /// Where the index came from: `flag`, `JOB_COMPLETION_INDEX` or `SLURM_ARRAY_TASK_ID`.
    pub index_from: String,
    /// The plan's units (model × engine config, in plan order) this shard ran, by position.
    pub units: Vec<usize>,
    /// The plan's units in all.
    pub total_units: usize,
    /// A hash of what defines the work (models and their engine configs, data, profile,
    /// constraints, window, seed, SLO…; never paths or host names): shards of one plan share it.
    pub plan_fingerprint: String,
}

/// `--shard`: `K/N`, `auto/N` or `auto` (K, and with Slurm N, from the scheduler's environment),
/// read against `env`. Returns (K, N, where K came from).
pub fn parse(arg: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32, String)> {
    let bad = || -> anyhow::Error {
        crate::error::UsageError::new(format!(
            "--shard {arg}: give K/N with 1 ≤ K ≤ N (e.g. --shard 3/20), or auto/N to read K from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)"
        ))
        .into()
    };
    let (k, n) = match arg.split_once('/') {
        Some((k, n)) => (k.trim(), Some(n.trim())),
        None if arg.trim() == "auto" => ("auto", None),
        None => return Err(bad()),
    };
    let num = |s: &str| s.parse::<u32>().ok().filter(|&v| v >= 1);
    if k != "auto" {
        let (Some(k), Some(n)) = (num(k), n.and_then(num)) else {
            return Err(bad());
        };
        if k > n {
            return Err(bad());
        }
        return Ok((k, n, "flag".into()));
    }
    let env_num = |name: &str| -> Result<Option<i64>> {
        // An empty variable is an unset one.
        match env(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(x) => Ok(Some(x)),
                Err(_) => bail_usage!("--shard {arg}: {name}={v} is not a whole number"),
            },
        }
    };
    let count = match n {
        Some(n) => Some(num(n).ok_or_else(bad)?),
        None => None,
    };
    if let Some(i) = env_num("JOB_COMPLETION_INDEX")? {
        let Some(n) = count else {
            bail_usage!("--shard auto: under Kubernetes give the shard count, --shard auto/N (N = the Job's completions)");
        };
        let k = i + 1;
        if k < 1 || k > n as i64 {
            bail_usage!("--shard {arg}: JOB_COMPLETION_INDEX={i} is outside 0..{} (the Job's completions must equal N)", n - 1);
        }
        return Ok((k as u32, n, "JOB_COMPLETION_INDEX".into()));
    }
    if let Some(id) = env_num("SLURM_ARRAY_TASK_ID")? {
        let min = env_num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let n = match (count, env_num("SLURM_ARRAY_TASK_COUNT")?) {
            (Some(n), _) => n,
            (None, Some(c)) if c >= 1 => c as u32,
            _ => {
                bail_usage!("--shard auto: SLURM_ARRAY_TASK_COUNT is not set; give --shard auto/N")
            }
        };
        let k = id - min + 1;
        if k < 1 || k > n as i64 {
            bail_usage!("--shard {arg}: SLURM_ARRAY_TASK_ID={id} (SLURM_ARRAY_TASK_MIN={min}) gives shard {k}, outside 1..{n}; the array must be contiguous with N tasks");
        }
        return Ok((k as u32, n, "SLURM_ARRAY_TASK_ID".into()));
    }
    bail_usage!("--shard {arg}: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm array) is set; give the shard as K/N")
}

/// The units of shard `k` of `n` among `total`: every n-th from k−1 (round robin, so heavy
/// models listed together spread over the shards).
pub fn units(k: u32, n: u32, total: usize) -> Vec<usize> {
    (0..total)
        .filter(|i| i % n as usize == (k - 1) as usize)
        .collect()
}

/// FNV-1a, 64 bits: stable across builds and platforms (std's hasher is not promised to be).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The plan's fingerprint from its configuration as the report records it, with every path
/// reduced to its file name and the labels and output settings left out.
pub fn fingerprint(config: &crate::report::RunConfig, seed: u64) -> String {
    let base = |s: &str| {
        let p = std::path::Path::new(s);
        if s.contains('/') && p.file_name().is_some() {
            p.file_name().unwrap().to_string_lossy().into_owned()
        } else {
            s.to_string()
        }
    };
    let v = serde_json::json!({
        "backend": config.backend,
        "engine": config.engine,
        "models": config.models.iter().map(|m| serde_json::json!([m.name, m.overrides])).collect::<Vec<_>>(),
        "data": base(&config.data),
        "request_format": base(&config.request_format),
        "profile": config.profile,
        "profile_options": config.profile_options,
        "limits": config.limits,
        "window": config.window,
        "engine_warmup_requests": config.engine_warmup_requests,
        "vllm_config": config.vllm_config,
        "sampling": config.sampling,
        "slo": config.slo,
        "confidence": config.confidence,
        "seed": seed,
    });
    format!("{:016x}", fnv1a(canonical(&v).as_bytes()))
}

/// JSON with object keys sorted at every level.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_cover_every_unit_once_and_evenly() {
        for n in 1..7u32 {
            for total in 0..20usize {
                let mut seen = vec![0; total];
                for k in 1..=n {
                    let u = units(k, n, total);
                    assert!(u.len() <= total.div_ceil(n as usize));
                    for i in u {
                        seen[i] += 1;
                    }
                }
                assert!(seen.iter().all(|&c| c == 1), "{n} {total}");
            }
        }
        assert_eq!(units(2, 3, 8), vec![1, 4, 7]);
    }

    #[test]
    fn the_index_comes_from_the_flag_kubernetes_or_slurm() {
        let none = env(&[]);
        assert_eq!(parse("3/20", &none).unwrap(), (3, 20, "flag".into()));
        for bad in ["0/2", "3/2", "x/2", "2", "1/0", "auto/x"] {
            let e = parse(bad, &none).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--shard {bad}")), "{e}");
        }
        assert!(parse("auto/2", &none)
            .unwrap_err()
            .to_string()
            .contains("neither JOB_COMPLETION_INDEX"));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert_eq!(
            parse("auto/2", &k8s).unwrap(),
            (2, 2, "JOB_COMPLETION_INDEX".into())
        );
        assert!(parse("auto/2", &env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());
        assert!(parse("auto", &k8s)
            .unwrap_err()
            .to_string()
            .contains("auto/N"));
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            parse("auto", &slurm).unwrap(),
            (3, 4, "SLURM_ARRAY_TASK_ID".into())
        );
        assert_eq!(parse("auto/4", &slurm).unwrap().0, 3);
        assert!(parse("auto/2", &slurm).is_err());
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [1, 2]}, "b": 1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
