//! What a benchmark dispatches by (`Strategy`), and the plan of strategies a profile makes —
//! including the sweep, whose constant rates are placed from its first two benchmarks.

use super::search::{GoodputArgs, GoodputSearch, KneeArgs, KneeSearch, Measured, Search};
use serde::Serialize;

/// How requests were sent in one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Strategy {
    /// One request in flight.
    Synchronous,
    /// A fixed number of streams.
    Concurrent {
        /// Number of streams.
        streams: u32,
    },
    /// Everything at once, up to max_concurrency.
    Throughput {
        /// The most requests in flight.
        max_concurrency: u32,
    },
    /// Request i at start + i/rate.
    Constant {
        /// Requests per second.
        rate: f64,
        /// The most requests in flight: a request due while that many are waits for a place
        /// (GuideLLM's `max_concurrency`). Absent: no cap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Exponential gaps at rate.
    Poisson {
        /// Requests per second.
        rate: f64,
        /// As for constant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Each trace row at start + its timestamp (from the trace's first row) × time_scale.
    Replay {
        /// The factor on the trace's time: below 1 compresses it, above 1 stretches it.
        time_scale: f64,
        /// GuideLLM's `schedule_turn`; for single-turn rows both values send each row at its
        /// scaled timestamp.
        schedule_turn: ScheduleTurn,
    },
}

/// When a trace's later turns are sent (GuideLLM's replay `schedule_turn`). A row that is its
/// own conversation is sent at its scaled timestamp under either.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleTurn {
    /// Keep the trace's idle gap after the previous turn's recorded duration.
    #[default]
    IdleGap,
    /// Each turn at its trace timestamp, waiting only while the previous turn runs.
    Timestamp,
}

impl ScheduleTurn {
    pub fn name(self) -> &'static str {
        match self {
            ScheduleTurn::IdleGap => "idle_gap",
            ScheduleTurn::Timestamp => "timestamp",
        }
    }
}

/// The replay profile's keys (GuideLLM's `ReplayProfileArgs`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ReplayArgs {
    /// The factor on the trace's time (1: as recorded).
    pub time_scale: f64,
    /// GuideLLM's `schedule_turn` (idle_gap or timestamp).
    pub schedule_turn: ScheduleTurn,
}

impl Default for ReplayArgs {
    fn default() -> Self {
        ReplayArgs {
            time_scale: 1.0,
            schedule_turn: ScheduleTurn::IdleGap,
        }
    }
}

impl Strategy {
    /// The number of requests kept in flight, for the closed-loop strategies.
    pub fn concurrency(&self) -> Option<u32> {
        match self {
            Strategy::Synchronous => Some(1),
            Strategy::Concurrent { streams } => Some(*streams),
            Strategy::Throughput { max_concurrency } => Some(*max_concurrency),
            _ => None,
        }
    }

    /// The open-loop strategies' `max_concurrency`, if capped.
    pub fn cap(&self) -> Option<u32> {
        match self {
            Strategy::Constant {
                max_concurrency, ..
            }
            | Strategy::Poisson {
                max_concurrency, ..
            } => *max_concurrency,
            _ => None,
        }
    }

    /// Requests per second of the open-loop strategies.
    pub fn rate(&self) -> Option<f64> {
        match self {
            Strategy::Constant { rate, .. } | Strategy::Poisson { rate, .. } => Some(*rate),
            _ => None,
        }
    }

    /// GuideLLM's name of the strategy (`constant@10.00`; a cap is not part of it).
    pub fn label(&self) -> String {
        match self {
            Strategy::Synchronous => "synchronous".into(),
            Strategy::Concurrent { streams } => format!("concurrent@{streams}"),
            Strategy::Throughput { max_concurrency } => format!("throughput@{max_concurrency}"),
            Strategy::Constant { rate, .. } => format!("constant@{rate:.2}"),
            Strategy::Poisson { rate, .. } => format!("poisson@{rate:.2}"),
            Strategy::Replay { time_scale, .. } => format!("trace@{time_scale:.2}"),
        }
    }
}

/// The --profile and its --rate values, serialized as `"synchronous"` or a one-key object:
/// {"concurrent": [streams…]}, {"throughput": max_concurrency|null}, {"constant": [rates…]},
/// {"poisson": [rates…]}, {"sweep": number_of_benchmarks}.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// One request at a time.
    Synchronous,
    /// Streams, one benchmark per value.
    Concurrent(Vec<u32>),
    /// Maximum concurrency; null: the engine's max_num_seqs (256 if unknown).
    Throughput(Option<u32>),
    /// Requests per second, one benchmark per value.
    Constant(Vec<f64>),
    /// Mean requests per second, one benchmark per value.
    Poisson(Vec<f64>),
    /// Number of benchmarks: synchronous, throughput, then n−2 constant rates between them.
    Sweep(u32),
    /// A search for the highest concurrency meeting the SLO (docs/metrics.md, "Searches").
    Goodput(GoodputArgs),
    /// Concurrent benchmarks and the knee of their throughput curve.
    Knee(KneeArgs),
    /// One benchmark that sends each trace row at its (scaled) timestamp.
    Replay(ReplayArgs),
}

impl Profile {
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Synchronous => "synchronous",
            Profile::Concurrent(_) => "concurrent",
            Profile::Throughput(_) => "throughput",
            Profile::Constant(_) => "constant",
            Profile::Poisson(_) => "poisson",
            Profile::Sweep(_) => "sweep",
            Profile::Goodput(_) => "goodput",
            Profile::Knee(_) => "knee",
            Profile::Replay(_) => "replay",
        }
    }
}

/// How a sweep's rate benchmarks send (GuideLLM's sweep `strategy_type`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SweepStrategy {
    /// Request i at start + i/rate.
    #[default]
    Constant,
    /// Seeded exponential gaps.
    Poisson,
}

impl ProfileOptions {
    pub fn is_default(&self) -> bool {
        *self == ProfileOptions::default()
    }
}

impl SweepStrategy {
    pub fn name(self) -> &'static str {
        match self {
            SweepStrategy::Constant => "constant",
            SweepStrategy::Poisson => "poisson",
        }
    }
}

/// GuideLLM's default `max_concurrency` of a sweep (its rate benchmarks' cap).
pub const SWEEP_MAX_CONCURRENCY: u32 = 512;

/// A profile's options besides its rates: GuideLLM's `max_concurrency` of constant, poisson and
/// sweep, and a sweep's `strategy_type`. Absent from the report when both are the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ProfileOptions {
    /// constant and poisson: the most requests in flight (a request due while that many are
    /// waits for a place); sweep: the cap of its throughput benchmark and of its rate
    /// benchmarks. Null: no cap for constant and poisson; a sweep's throughput benchmark at the
    /// engine's max_num_seqs and its rate benchmarks capped at 512 (GuideLLM's default).
    pub max_concurrency: Option<u32>,
    /// A sweep's rate benchmarks: constant (the default) or poisson.
    pub sweep_strategy: SweepStrategy,
}

/// The strategies of a profile, in order. A sweep starts with synchronous and throughput and
/// adds its rate benchmarks once both are measured (`Plan::measured`).
pub struct StrategyPlan {
    profile: Profile,
    options: ProfileOptions,
    queue: std::collections::VecDeque<Strategy>,
    measured: Vec<f64>,
    search: Option<Search>,
}

impl StrategyPlan {
    /// `default_concurrency` caps throughput where the profile gives none (the engine's
    /// `max_num_seqs`).
    pub fn new(profile: &Profile, default_concurrency: u32) -> StrategyPlan {
        let throughput = |c: Option<u32>| Strategy::Throughput {
            max_concurrency: c.unwrap_or(default_concurrency),
        };
        let queue = match profile {
            Profile::Synchronous => vec![Strategy::Synchronous],
            Profile::Concurrent(v) => v
                .iter()
                .map(|&s| Strategy::Concurrent { streams: s })
                .collect(),
            Profile::Throughput(c) => vec![throughput(*c)],
            Profile::Constant(v) => v
                .iter()
                .map(|&rate| Strategy::Constant {
                    rate,
                    max_concurrency: None,
                })
                .collect(),
            Profile::Poisson(v) => v
                .iter()
                .map(|&rate| Strategy::Poisson {
                    rate,
                    max_concurrency: None,
                })
                .collect(),
            Profile::Sweep(_) => vec![Strategy::Synchronous, throughput(None)],
            Profile::Replay(a) => vec![Strategy::Replay {
                time_scale: a.time_scale,
                schedule_turn: a.schedule_turn,
            }],
            Profile::Goodput(_) | Profile::Knee(_) => vec![],
        };
        let search = match profile {
            Profile::Goodput(a) => Some(Search::Goodput(GoodputSearch::new(a.clone()))),
            Profile::Knee(a) => Some(Search::Knee(KneeSearch::new(a.clone()))),
            _ => None,
        };
        StrategyPlan {
            profile: profile.clone(),
            options: ProfileOptions::default(),
            queue: queue.into(),
            measured: Vec::new(),
            search,
        }
    }

    /// The plan with the profile's `max_concurrency` and sweep strategy applied.
    pub fn with_options(mut self, o: &ProfileOptions) -> StrategyPlan {
        for s in self.queue.iter_mut() {
            match s {
                Strategy::Constant {
                    max_concurrency, ..
                }
                | Strategy::Poisson {
                    max_concurrency, ..
                } => *max_concurrency = o.max_concurrency,
                Strategy::Throughput { max_concurrency }
                    if matches!(self.profile, Profile::Sweep(_)) =>
                {
                    if let Some(c) = o.max_concurrency {
                        *max_concurrency = c;
                    }
                }
                _ => {}
            }
        }
        self.options = o.clone();
        self
    }

    /// Whether a benchmark of `strategy` ended by a constraint with `stopping_scope=all` ends
    /// the profile. Always, except a sweep's synchronous and throughput benchmarks: GuideLLM's
    /// sweep checks only from its rate benchmarks on ("throughput intentionally pushes beyond
    /// sustainable load").
    pub fn scope_all_stops_after(&self, strategy: &Strategy) -> bool {
        !(matches!(self.profile, Profile::Sweep(_))
            && matches!(
                strategy,
                Strategy::Synchronous | Strategy::Throughput { .. }
            ))
    }

    /// The search, for its conclusion.
    pub fn search(&self) -> Option<&Search> {
        self.search.as_ref()
    }

    /// The next strategy to run, if any.
    pub fn next(&mut self) -> Option<Strategy> {
        if self.queue.is_empty() {
            let streams = match &mut self.search {
                Some(Search::Goodput(g)) => g.next(),
                Some(Search::Knee(k)) => k.next(),
                None => None,
            };
            return streams.map(|streams| Strategy::Concurrent { streams });
        }
        self.queue.pop_front()
    }

    /// Records what a benchmark of `strategy` measured. After a sweep's throughput benchmark
    /// its constant rates are placed: linspace(sync_rate, throughput_rate, n-1)[1:], evenly
    /// spaced, ending at throughput (GuideLLM's placement); a search scores its probe and picks
    /// the next. An error when the sweep's throughput completed nothing, or when a goodput probe
    /// judged no request.
    pub fn measured(&mut self, strategy: &Strategy, m: &Measured) -> Result<(), String> {
        let streams = strategy.concurrency().unwrap_or(0);
        match &mut self.search {
            Some(Search::Goodput(g)) => return g.record(streams, m),
            Some(Search::Knee(k)) => {
                k.record(streams, m);
                return Ok(());
            }
            None => {}
        }
        // A constraint with stopping_scope=all ended it: no further rates or streams (a
        // sweep goes on after its synchronous and throughput benchmarks, as GuideLLM's does).
        if m.stopped_all && self.scope_all_stops_after(strategy) {
            self.queue.clear();
            return Ok(());
        }
        let requests_per_second = m.requests_per_second;
        self.measured.push(requests_per_second);
        let Profile::Sweep(n) = self.profile else {
            return Ok(());
        };
        if self.measured.len() != 2 {
            return Ok(());
        }
        let (lo, hi) = (self.measured[0], self.measured[1]);
        if !(hi > 0.0) {
            return Err("the sweep measured no completed requests in its throughput benchmark, so it cannot place constant rates; give --max-seconds enough time for requests to finish".into());
        }
        let k = n as usize - 1;
        let cap = Some(
            self.options
                .max_concurrency
                .unwrap_or(SWEEP_MAX_CONCURRENCY),
        );
        for j in 1..k {
            let rate = lo + (hi - lo) * j as f64 / (k - 1) as f64;
            self.queue.push_back(match self.options.sweep_strategy {
                SweepStrategy::Constant => Strategy::Constant {
                    rate,
                    max_concurrency: cap,
                },
                SweepStrategy::Poisson => Strategy::Poisson {
                    rate,
                    max_concurrency: cap,
                },
            });
        }
        Ok(())
    }
}

/// Offset of request `i` of a constant-rate benchmark. With a ramp of `r` seconds the rate grows
/// linearly from 0 to `rate` over the ramp (n(t) = rate·t²/2r), then stays constant.
pub fn constant_offset_s(i: u64, rate: f64, rampup: f64) -> f64 {
    let i = i as f64;
    if rampup <= 0.0 {
        return i / rate;
    }
    if i < rate * rampup / 2.0 {
        (2.0 * rampup * i / rate).sqrt()
    } else {
        i / rate + rampup / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rps(r: f64) -> Measured {
        Measured {
            requests_per_second: r,
            ..Default::default()
        }
    }

    #[test]
    fn constant_pacing_is_exact_and_ramps_linearly() {
        assert_eq!(constant_offset_s(10, 5.0, 0.0), 2.0);
        // 10 req/s ramped over 4 s: 20 requests during the ramp, then 10/s shifted by 2 s.
        let r = 4.0;
        assert!((constant_offset_s(20, 10.0, r) - 4.0).abs() < 1e-9);
        assert!((constant_offset_s(30, 10.0, r) - 5.0).abs() < 1e-9);
        // During the ramp gaps shrink.
        let g1 = constant_offset_s(2, 10.0, r) - constant_offset_s(1, 10.0, r);
        let g2 = constant_offset_s(15, 10.0, r) - constant_offset_s(14, 10.0, r);
        assert!(g1 > g2 && g2 > 0.1);
        // Continuous at the end of the ramp.
        let before = constant_offset_s(19, 10.0, r);
        assert!(before < 4.0 && 4.0 - before < 0.11);
    }

    #[test]
    fn each_profile_plans_its_strategies_in_order() {
        let all = |p: Profile| {
            let mut s = StrategyPlan::new(&p, 64);
            std::iter::from_fn(move || s.next()).collect::<Vec<_>>()
        };
        assert_eq!(all(Profile::Synchronous), vec![Strategy::Synchronous]);
        assert_eq!(
            all(Profile::Concurrent(vec![1, 4])),
            vec![
                Strategy::Concurrent { streams: 1 },
                Strategy::Concurrent { streams: 4 }
            ]
        );
        assert_eq!(
            all(Profile::Throughput(None)),
            vec![Strategy::Throughput {
                max_concurrency: 64
            }]
        );
        assert_eq!(
            all(Profile::Throughput(Some(8))),
            vec![Strategy::Throughput { max_concurrency: 8 }]
        );
        assert_eq!(
            all(Profile::Poisson(vec![2.0])),
            vec![Strategy::Poisson {
                rate: 2.0,
                max_concurrency: None
            }]
        );
    }

    #[test]
    fn max_concurrency_caps_rate_benchmarks_and_a_sweeps_throughput() {
        let o = ProfileOptions {
            max_concurrency: Some(2),
            sweep_strategy: SweepStrategy::Poisson,
        };
        let mut c = StrategyPlan::new(&Profile::Constant(vec![5.0]), 64).with_options(&o);
        assert_eq!(c.next().and_then(|s| s.cap()), Some(2));
        let mut s = StrategyPlan::new(&Profile::Sweep(4), 64).with_options(&o);
        assert_eq!(s.next(), Some(Strategy::Synchronous));
        s.measured(&Strategy::Synchronous, &rps(1.0)).unwrap();
        assert_eq!(s.next(), Some(Strategy::Throughput { max_concurrency: 2 }));
        s.measured(&Strategy::Synchronous, &rps(3.0)).unwrap();
        let rest: Vec<_> = std::iter::from_fn(|| s.next()).collect();
        assert_eq!(
            rest,
            vec![
                Strategy::Poisson {
                    rate: 2.0,
                    max_concurrency: Some(2)
                },
                Strategy::Poisson {
                    rate: 3.0,
                    max_concurrency: Some(2)
                }
            ]
        );
        // Without options a sweep's rates get GuideLLM's default cap, its throughput the
        // engine's max_num_seqs.
        let mut d = StrategyPlan::new(&Profile::Sweep(3), 64);
        d.next();
        d.measured(&Strategy::Synchronous, &rps(1.0)).unwrap();
        assert_eq!(
            d.next(),
            Some(Strategy::Throughput {
                max_concurrency: 64
            })
        );
        d.measured(&Strategy::Synchronous, &rps(2.0)).unwrap();
        assert_eq!(
            d.next(),
            Some(Strategy::Constant {
                rate: 2.0,
                max_concurrency: Some(SWEEP_MAX_CONCURRENCY)
            })
        );
        assert!(!d.scope_all_stops_after(&Strategy::Synchronous));
        assert!(d.scope_all_stops_after(&Strategy::Constant {
            rate: 2.0,
            max_concurrency: None
        }));
        assert!(StrategyPlan::new(&Profile::Concurrent(vec![1, 2]), 8)
            .scope_all_stops_after(&Strategy::Concurrent { streams: 1 }));
    }

    #[test]
    fn a_sweep_places_its_rates_between_synchronous_and_throughput() {
        let mut s = StrategyPlan::new(&Profile::Sweep(5), 16);
        assert_eq!(s.next(), Some(Strategy::Synchronous));
        s.measured(&Strategy::Synchronous, &rps(2.0)).unwrap();
        assert_eq!(
            s.next(),
            Some(Strategy::Throughput {
                max_concurrency: 16
            })
        );
        assert_eq!(s.next(), None);
        s.measured(&Strategy::Synchronous, &rps(8.0)).unwrap();
        let rest: Vec<_> = std::iter::from_fn(|| s.next()).collect();
        assert_eq!(
            rest,
            [4.0, 6.0, 8.0]
                .map(|rate| Strategy::Constant {
                    rate,
                    max_concurrency: Some(SWEEP_MAX_CONCURRENCY)
                })
                .to_vec()
        );
        let mut z = StrategyPlan::new(&Profile::Sweep(5), 16);
        z.measured(&Strategy::Synchronous, &rps(1.0)).unwrap();
        assert!(z
            .measured(&Strategy::Synchronous, &rps(0.0))
            .unwrap_err()
            .contains("no completed requests"));
    }
}
