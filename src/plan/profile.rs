//! `--profile` and `--rate`: GuideLLM's `--rate` means streams, a concurrency cap, requests per
//! second or a number of benchmarks, depending on the profile.

use crate::bail_usage;
use crate::cli::ProfileKind;
use crate::error::UsageError;
use crate::scheduler::search::{knee_points, GoodputArgs, KneeArgs, KNEE_MIN_POINTS};
use crate::scheduler::strategy::{ReplayArgs, ScheduleTurn};
use crate::scheduler::{Profile, ProfileOptions, SweepStrategy};
use crate::spec::fields::Spec;
use anyhow::Result;
use serde_json::{json, Map, Value};

/// `--rate`: a comma list of numbers greater than 0.
pub fn rates(arg: Option<&str>) -> Result<Option<Vec<f64>>> {
    let Some(s) = arg else { return Ok(None) };
    let rates =
        s.split(',')
            .map(|p| {
                let v: f64 = p.trim().parse().map_err(|_| {
                    UsageError::new(format!("--rate: '{}' is not a number", p.trim()))
                })?;
                if !(v > 0.0) || !v.is_finite() {
                    bail_usage!("--rate values must be greater than 0 (got {})", p.trim());
                }
                Ok(v)
            })
            .collect::<Result<_>>()?;
    Ok(Some(rates))
}

/// The profile `kind` with the `rates` it reads and, for goodput and knee, `--profile-args`.
pub fn profile_with(
    kind: ProfileKind,
    rates: Option<Vec<f64>>,
    profile_args: Option<&str>,
) -> Result<Profile> {
    if kind == ProfileKind::Replay {
        if rates.is_some() {
            bail_usage!("--rate is not used with --profile replay (each trace row is sent at its timestamp); give time_scale in --profile-args instead");
        }
        let mut m = match profile_args {
            None => Map::new(),
            Some(raw) => crate::spec::grammar::parse("--profile-args", raw)?,
        };
        if let Some(k) = m.get("kind").and_then(|v| v.as_str()) {
            if k != "replay" {
                bail_usage!("--profile-args: kind={k} does not match --profile replay");
            }
        }
        m.insert("kind".into(), json!("replay"));
        let option = if profile_args.is_some() {
            "--profile-args"
        } else {
            "--profile"
        };
        return search_profile(option, &Value::Object(m));
    }
    if !matches!(kind, ProfileKind::Goodput | ProfileKind::Knee) {
        if profile_args.is_some() {
            bail_usage!(
                "--profile-args applies to --profile goodput, knee and replay, not to --profile {}",
                kind.name()
            );
        }
        return profile(kind, rates);
    }
    let mut m = match profile_args {
        None => Map::new(),
        Some(raw) => crate::spec::grammar::parse("--profile-args", raw)?,
    };
    if let Some(k) = m.get("kind").and_then(|v| v.as_str()) {
        if k != kind.name() {
            bail_usage!(
                "--profile-args: kind={k} does not match --profile {}",
                kind.name()
            );
        }
    }
    if let Some(r) = rates {
        if m.contains_key("initial_streams") {
            bail_usage!(
                "--profile {}: give initial_streams in --rate or in --profile-args, not both",
                kind.name()
            );
        }
        let v = match kind {
            ProfileKind::Goodput if r.len() == 1 => json!(r[0]),
            ProfileKind::Goodput => bail_usage!(
                "--profile goodput takes one --rate: the first concurrency (got {} values)",
                r.len()
            ),
            _ => json!(r),
        };
        m.insert("initial_streams".into(), v);
    }
    m.insert("kind".into(), json!(kind.name()));
    let option = if profile_args.is_some() {
        "--profile-args"
    } else {
        "--profile"
    };
    search_profile(option, &Value::Object(m))
}

/// A goodput, knee or replay profile from its GuideLLM keys (`{kind, key: value…}`): one reader
/// for `run --profile kind=goodput,…` and `benchmark run --profile goodput --profile-args …`.
pub fn search_profile(option: &str, v: &Value) -> Result<Profile> {
    let (s, _) = Spec::read(option, v, crate::spec::kinds::PROFILE, None)?;
    let whole = |key: &str, min: u64| -> Result<Option<u32>> {
        match s.f64(key)? {
            None => Ok(None),
            Some(x) if x.fract() == 0.0 && x >= min as f64 && x <= u32::MAX as f64 => {
                Ok(Some(x as u32))
            }
            Some(x) => Err(s.err(format!("{key} must be a whole number ≥ {min} (got {x})"))),
        }
    };
    let within = |key: &str, ok: fn(f64) -> bool, range: &str| -> Result<Option<f64>> {
        match s.f64(key)? {
            Some(x) if !ok(x) => Err(s.err(format!("{key} must be {range} (got {x})"))),
            x => Ok(x),
        }
    };
    match s.kind.as_str() {
        "goodput" => {
            let d = GoodputArgs::default();
            let g = GoodputArgs {
                target_attainment: within(
                    "target_attainment",
                    |x| x > 0.0 && x < 1.0,
                    "a fraction above 0 and below 1, e.g. 0.95",
                )?
                .unwrap_or(d.target_attainment),
                initial_streams: whole("initial_streams", 1)?.unwrap_or(d.initial_streams),
                max_streams: whole("max_streams", 1)?.unwrap_or(d.max_streams),
                tolerance: within(
                    "tolerance",
                    |x| x > 0.0 && x <= 1.0,
                    "above 0 and at most 1 (a fraction of the highest passing concurrency)",
                )?
                .unwrap_or(d.tolerance),
                max_probes: whole("max_probes", 1)?.unwrap_or(d.max_probes),
                confidence: within(
                    "confidence",
                    |x| (0.5..=0.999).contains(&x),
                    "between 0.5 and 0.999",
                )?
                .unwrap_or(d.confidence),
                decide_early: s.bool("decide_early")?.unwrap_or(false),
                decide_margin: within(
                    "decide_margin",
                    |x| x > 0.0 && x < 0.5,
                    "above 0 and below 0.5 (the sequential test's indifference zone around target_attainment)",
                )?
                .unwrap_or(d.decide_margin),
            };
            if g.decide_early
                && (g.target_attainment - g.decide_margin <= 0.0
                    || g.target_attainment + g.decide_margin >= 1.0)
            {
                return Err(s.err(format!(
                    "decide_margin ({}) must leave target_attainment ± margin inside (0, 1); target_attainment is {}",
                    g.decide_margin, g.target_attainment
                )));
            }
            if g.initial_streams > g.max_streams {
                return Err(s.err(format!(
                    "initial_streams ({}) must not exceed max_streams ({})",
                    g.initial_streams, g.max_streams
                )));
            }
            Ok(Profile::Goodput(g))
        }
        "knee" => {
            let list = s.numbers("initial_streams")?;
            let (lo, hi, count) = (
                whole("min_streams", 1)?,
                whole("max_streams", 1)?,
                whole("count", 1)?,
            );
            let streams = match list {
                Some(v) => {
                    if lo.is_some() || hi.is_some() || count.is_some() {
                        return Err(s.err("give either initial_streams or min_streams, max_streams and count, not both"));
                    }
                    if v.len() < KNEE_MIN_POINTS {
                        return Err(s.err(format!(
                            "initial_streams needs at least {KNEE_MIN_POINTS} concurrency points for a knee (got {})",
                            v.len()
                        )));
                    }
                    let mut out = Vec::with_capacity(v.len());
                    for x in v {
                        if !(x >= 1.0) || x.fract() != 0.0 || x > u32::MAX as f64 {
                            return Err(s.err(format!(
                                "initial_streams must be whole numbers ≥ 1 (got {x})"
                            )));
                        }
                        if out.last().is_some_and(|&l: &u32| l >= x as u32) {
                            return Err(s.err("initial_streams must be distinct and increasing, e.g. [1,2,4,8,16]"));
                        }
                        out.push(x as u32);
                    }
                    out
                }
                None => {
                    let (Some(lo), Some(hi), Some(count)) = (lo, hi, count) else {
                        return Err(s.err("needs initial_streams (at least 5 increasing stream counts) or all of min_streams, max_streams and count"));
                    };
                    if lo >= hi {
                        return Err(s.err(format!(
                            "min_streams ({lo}) must be less than max_streams ({hi})"
                        )));
                    }
                    if (count as usize) < KNEE_MIN_POINTS {
                        return Err(s.err(format!(
                            "count must be at least {KNEE_MIN_POINTS} (got {count})"
                        )));
                    }
                    if hi - lo < count - 1 {
                        return Err(s.err(format!(
                            "{lo}..{hi} holds fewer than count={count} distinct stream counts"
                        )));
                    }
                    knee_points(lo, hi, count)
                }
            };
            Ok(Profile::Knee(KneeArgs {
                streams,
                adaptive: s.bool("adaptive")?.unwrap_or(false),
                points_each_side: whole("points_each_side", 1)?.unwrap_or(5),
                max_step: whole("max_step", 1)?.unwrap_or(5),
            }))
        }
        "replay" => {
            let time_scale = within(
                "time_scale",
                |x| x > 0.0 && x.is_finite(),
                "greater than 0 (below 1 compresses the trace's time, above 1 stretches it)",
            )?
            .unwrap_or(1.0);
            let schedule_turn = match s.str("schedule_turn")?.as_deref() {
                None | Some("idle_gap") => ScheduleTurn::IdleGap,
                Some("timestamp") => ScheduleTurn::Timestamp,
                Some(other) => {
                    return Err(s.err(format!(
                        "schedule_turn must be idle_gap or timestamp, not {other}"
                    )))
                }
            };
            Ok(Profile::Replay(ReplayArgs {
                time_scale,
                schedule_turn,
            }))
        }
        other => Err(s.err(format!("{other} is not a search profile"))),
    }
}

/// The profile `kind` with the `rates` it reads.
pub fn profile(kind: ProfileKind, rates: Option<Vec<f64>>) -> Result<Profile> {
    let name = kind.name();
    let whole = |what: &str, rs: &[f64]| -> Result<Vec<u32>> {
        rs.iter()
            .map(|&r| {
                if r.fract() != 0.0 || r > u32::MAX as f64 {
                    bail_usage!(
                        "--profile {name} takes whole numbers of {what} in --rate (got {r})"
                    );
                }
                Ok(r as u32)
            })
            .collect()
    };
    let need = |rs: Option<Vec<f64>>, what: &str| -> Result<Vec<f64>> {
        rs.ok_or_else(|| UsageError::new(format!("--profile {name} needs --rate: {what}")).into())
    };
    Ok(match kind {
        ProfileKind::Synchronous => {
            if rates.is_some() {
                bail_usage!("--rate is not used with --profile synchronous (one request at a time); remove --rate or pick --profile constant");
            }
            Profile::Synchronous
        }
        ProfileKind::Concurrent => Profile::Concurrent(whole(
            "streams",
            &need(
                rates,
                "the number of concurrent streams, e.g. --rate 1,4,16",
            )?,
        )?),
        ProfileKind::Throughput => Profile::Throughput(match rates {
            None => None,
            Some(r) => Some(whole("requests in flight", &r[..1])?[0]),
        }),
        ProfileKind::Constant => {
            Profile::Constant(need(rates, "requests per second, e.g. --rate 5,10")?)
        }
        ProfileKind::Poisson => {
            Profile::Poisson(need(rates, "requests per second, e.g. --rate 10")?)
        }
        ProfileKind::Sweep => {
            let n = match rates {
                None => 10,
                Some(r) => whole("benchmarks", &r[..1])?[0],
            };
            if n < 2 {
                bail_usage!("--profile sweep needs --rate of at least 2 (the number of benchmarks: synchronous, throughput, then constant rates)");
            }
            Profile::Sweep(n)
        }
        ProfileKind::Goodput | ProfileKind::Knee | ProfileKind::Replay => {
            return profile_with(kind, rates, None)
        }
    })
}

/// `--max-concurrency` (constant, poisson, sweep) and `--sweep-strategy` (sweep), checked
/// against the profile.
pub fn profile_options(
    profile: &Profile,
    max_concurrency: Option<i64>,
    sweep_strategy: Option<&str>,
) -> Result<ProfileOptions> {
    let name = profile.name();
    let max_concurrency = match max_concurrency {
        None => None,
        Some(n) if n < 1 || n > u32::MAX as i64 => {
            bail_usage!("--max-concurrency must be a whole number ≥ 1 (got {n})")
        }
        Some(_) if matches!(profile, Profile::Throughput(_)) => {
            bail_usage!("--max-concurrency is --rate for --profile throughput (its cap on requests in flight)")
        }
        Some(_)
            if !matches!(
                profile,
                Profile::Constant(_) | Profile::Poisson(_) | Profile::Sweep(_)
            ) =>
        {
            bail_usage!("--max-concurrency applies to constant, poisson and sweep profiles, not to --profile {name} (whose concurrency is fixed by it or by --rate)")
        }
        Some(n) => Some(n as u32),
    };
    let sweep_strategy = match sweep_strategy {
        None => SweepStrategy::Constant,
        Some(_) if !matches!(profile, Profile::Sweep(_)) => {
            bail_usage!("--sweep-strategy applies to --profile sweep only (use --profile poisson for Poisson arrivals)")
        }
        Some("constant") => SweepStrategy::Constant,
        Some("poisson") => SweepStrategy::Poisson,
        Some(other) => bail_usage!("--sweep-strategy must be constant or poisson, not '{other}'"),
    };
    Ok(ProfileOptions {
        max_concurrency,
        sweep_strategy,
    })
}
