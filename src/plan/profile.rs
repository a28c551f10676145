//! `--profile` and `--rate`: GuideLLM's `--rate` means streams, a concurrency cap, requests per
//! second or a number of benchmarks, depending on the profile.

use crate::bail_usage;
use crate::cli::ProfileKind;
use crate::error::UsageError;
use crate::scheduler::{Profile, ProfileOptions, SweepStrategy};
use anyhow::Result;

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
