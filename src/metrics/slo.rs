//! Service-level objectives and goodput (docs/metrics.md, "SLOs and goodput"): which requests
//! met per-request latency targets, and the rates of those that did. Which requests count
//! follows GuideLLM 0.8.1 (`GoodputSLO.is_conforming`, `GenerativeMetrics._compile_goodput`):
//! errored requests are misses, incomplete ones and successful ones a target cannot be judged
//! on are left out (and counted apart).

use super::{RequestRecord, Status};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Per-request latency targets, ms; a request meets the SLO when it meets every target set.
/// GuideLLM's keys (`ttft_ms`, `tpot_ms`, `e2el_ms`) plus llmbench's per-gap `itl_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Slo {
    /// Time to first token (first_token − sent) at most this, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// vLLM's TPOT, (last_token − first_token) / (output_tokens − 1), at most this, ms
    /// (GuideLLM compares the same quantity, its `inter_token_latency_ms`); a request of one
    /// output token cannot be judged on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    /// Request latency (end − sent) at most this, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2el_ms: Option<f64>,
    /// llmbench's own: every inter-token gap of the request (as in `itl_ms`) at most this, ms; a
    /// request of one output token cannot be judged on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<f64>,
}

/// The target keys, in the order they are checked and reported.
pub const SLO_KEYS: [&str; 4] = ["ttft_ms", "tpot_ms", "e2el_ms", "itl_ms"];

impl Slo {
    /// The targets set, as (key, bound ms), in `SLO_KEYS` order.
    pub fn targets(&self) -> Vec<(&'static str, f64)> {
        [self.ttft_ms, self.tpot_ms, self.e2el_ms, self.itl_ms]
            .into_iter()
            .zip(SLO_KEYS)
            .filter_map(|(v, k)| v.map(|v| (k, v)))
            .collect()
    }

    /// Sets `key`; false if no such key.
    pub fn set(&mut self, key: &str, v: f64) -> bool {
        let slot = match key {
            "ttft_ms" => &mut self.ttft_ms,
            "tpot_ms" => &mut self.tpot_ms,
            "e2el_ms" => &mut self.e2el_ms,
            "itl_ms" => &mut self.itl_ms,
            _ => return false,
        };
        *slot = Some(v);
        true
    }

    /// A request's verdict on one target: Some(true) met, Some(false) missed, None when the
    /// request has no measurement for it.
    fn judge(key: &str, bound: f64, r: &RequestRecord) -> Option<bool> {
        let ms = |ns: u64| ns as f64 / 1e6;
        let value = match key {
            "ttft_ms" => ms(r.ttft_ns()?),
            "e2el_ms" => ms(r.latency_ns()?),
            "tpot_ms" => {
                if r.output_tokens <= 1 {
                    return None;
                }
                let d = r.t.last_token?.checked_sub(r.t.first_token?)?;
                ms(d) / (r.output_tokens - 1) as f64
            }
            "itl_ms" => {
                if r.output_tokens <= 1 {
                    return None;
                }
                let mut worst = 0.0f64;
                r.itl_gaps(|g, n| {
                    if n > 0 {
                        worst = worst.max(g);
                    }
                });
                worst / 1e6
            }
            _ => return None,
        };
        Some(value <= bound)
    }

    /// A successful request's verdicts, target by target (`targets()` order); None when any
    /// target cannot be judged (GuideLLM: undetermined, even if another target is missed).
    pub fn verdicts(&self, r: &RequestRecord) -> Option<Vec<bool>> {
        self.targets()
            .into_iter()
            .map(|(k, b)| Self::judge(k, b, r))
            .collect()
    }

    /// Whether a successful request met every target (None: undetermined).
    pub fn met(&self, r: &RequestRecord) -> Option<bool> {
        self.verdicts(r).map(|v| v.iter().all(|&m| m))
    }
}

/// One target's outcome over the judged requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SloTarget {
    /// The bound, ms.
    pub bound_ms: f64,
    /// Share of the judged requests (`judged`) that met this target; errored requests count
    /// as not meeting it. Null when no request was judged.
    pub attainment: Option<f64>,
    /// Judged successful requests that met this target.
    pub met: u64,
    /// Judged successful requests that missed this target (errored requests not included).
    pub missed: u64,
    /// The interval of `attainment` (Wilson score); absent when intervals are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<super::interval::TargetCi>,
}

/// SLO attainment and goodput of one benchmark (docs/metrics.md, "SLOs and goodput").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SloSummary {
    /// The targets, by key (`ttft_ms`, `tpot_ms`, `e2el_ms`, `itl_ms`), each with its outcome.
    pub targets: std::collections::BTreeMap<String, SloTarget>,
    /// Share of the judged requests that met every target: met / judged. Null when no request
    /// was judged.
    pub attainment: Option<f64>,
    /// Requests attainment is over: successful requests sent in the window that every target
    /// could be judged on, plus the errored requests sent in the window (GuideLLM's
    /// `slo_determined_requests`).
    pub judged: u64,
    /// Judged requests that met every target.
    pub met: u64,
    /// Errored requests sent in the window: counted as misses of every target.
    pub errored: u64,
    /// Left out: successful requests sent in the window that some target could not be judged
    /// on (one output token with `tpot_ms` or `itl_ms`, or a missing timestamp).
    pub undetermined: u64,
    /// Left out: incomplete requests sent in the window (cut by a limit or an interrupt, not by
    /// the engine).
    pub incomplete: u64,
    /// The target the most judged successful requests missed (the first in `ttft_ms`,
    /// `tpot_ms`, `e2el_ms`, `itl_ms` order on a tie); null when none was missed.
    pub most_missed: Option<String>,
    /// Successful requests that ended in the window and met every target / duration_s
    /// (`requests_per_second` restricted to them).
    #[schemars(range(min = 0.0))]
    pub goodput_requests_per_second: f64,
    /// Output tokens of the token events in the window of successful requests that met every
    /// target / duration_s (`output_tokens_per_second` restricted to them).
    #[schemars(range(min = 0.0))]
    pub goodput_output_tokens_per_second: f64,
    /// Intervals of `attainment` (Wilson score) and of the goodput rates (batch means);
    /// absent when intervals are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<super::interval::SloCi>,
}

/// SLO attainment over the requests sent in the window (`measured`) and goodput over the
/// window `[ws, we]` of length `duration_s`, from all the benchmark's `records`.
pub fn slo_summary(
    slo: &Slo,
    records: &[RequestRecord],
    measured: &[&RequestRecord],
    ws: u64,
    we: u64,
    duration_s: f64,
) -> SloSummary {
    let targets = slo.targets();
    let mut met_each = vec![0u64; targets.len()];
    let mut s = SloSummary::default();
    for r in measured {
        match r.status {
            Status::Incomplete => s.incomplete += 1,
            Status::Errored => {
                s.errored += 1;
                s.judged += 1;
            }
            Status::Successful => match slo.verdicts(r) {
                None => s.undetermined += 1,
                Some(v) => {
                    s.judged += 1;
                    if v.iter().all(|&m| m) {
                        s.met += 1;
                    }
                    for (c, m) in met_each.iter_mut().zip(&v) {
                        *c += *m as u64;
                    }
                }
            },
        }
    }
    let share = |k: u64| (s.judged > 0).then(|| k as f64 / s.judged as f64);
    s.attainment = share(s.met);
    let judged_ok = s.judged - s.errored;
    let mut most: Option<(&str, u64)> = None;
    for ((key, bound), met) in targets.iter().zip(&met_each) {
        let missed = judged_ok - met;
        if missed > 0 && most.is_none_or(|(_, m)| missed > m) {
            most = Some((key, missed));
        }
        s.targets.insert(
            key.to_string(),
            SloTarget {
                bound_ms: *bound,
                attainment: share(*met),
                met: *met,
                missed,
                ci: None,
            },
        );
    }
    s.most_missed = most.map(|(k, _)| k.to_string());
    let per_s = |x: f64| {
        if duration_s > 0.0 {
            x / duration_s
        } else {
            0.0
        }
    };
    let inside = |t: Option<u64>| t.is_some_and(|t| t >= ws && t <= we);
    let good = records
        .iter()
        .filter(|r| r.status == Status::Successful && slo.met(r) == Some(true));
    let (mut reqs, mut tokens) = (0u64, 0u64);
    for r in good {
        reqs += inside(r.t.end) as u64;
        tokens += r
            .token_events
            .iter()
            .filter(|(t, _)| *t >= ws && *t <= we)
            .map(|(_, n)| n as u64)
            .sum::<u64>();
    }
    s.goodput_requests_per_second = per_s(reqs as f64);
    s.goodput_output_tokens_per_second = per_s(tokens as f64);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{summarize, summarize_with_slo, Timestamps};

    const MS: u64 = 1_000_000;

    /// A request sent at `sent` ms, with tokens at the given ms (one each), ending at the last.
    fn req(status: Status, sent: u64, tokens: &[u64]) -> RequestRecord {
        RequestRecord {
            id: 0,
            status,
            finish_reason: None,
            error: None,
            content_tokens: 4,
            prefix_tokens: 0,
            prompt_tokens_sent: 4,
            prompt_tokens: Some(4),
            output_tokens: tokens.len() as u32,
            max_tokens: None,
            cached_tokens: None,
            stop_reason: None,
            preemptions: 0,
            t: Timestamps {
                scheduled: Some(sent * MS),
                sent: Some(sent * MS),
                first_token: tokens.first().map(|t| t * MS),
                last_token: tokens.last().map(|t| t * MS),
                end: tokens.last().map(|t| t * MS).or(Some((sent + 1) * MS)),
                ..Default::default()
            },
            token_events: tokens.iter().map(|&t| (t * MS, 1)).collect(),
            prefix_bucket: None,
            turn: None,
        }
    }

    fn slo(json: &str) -> Slo {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn errored_are_misses_incomplete_and_undetermined_are_left_out() {
        let recs = vec![
            // TTFT 100 ms, TPOT 10 ms: meets both.
            req(Status::Successful, 0, &[100, 110, 120]),
            // TTFT 600 ms: misses ttft.
            req(Status::Successful, 0, &[600, 610, 620]),
            // TPOT 50 ms: misses tpot.
            req(Status::Successful, 0, &[100, 150, 200]),
            // One token: TPOT cannot be judged (even though TTFT is missed: GuideLLM's rule).
            req(Status::Successful, 0, &[900]),
            req(Status::Errored, 0, &[]),
            req(Status::Incomplete, 0, &[100, 110]),
        ];
        let s = summarize_with_slo(
            &recs,
            0,
            1000 * MS,
            Some(&slo(r#"{"ttft_ms": 500, "tpot_ms": 20}"#)),
        );
        let o = s.slo.unwrap();
        assert_eq!((o.judged, o.met, o.errored), (4, 1, 1));
        assert_eq!((o.incomplete, o.undetermined), (1, 1));
        assert_eq!(o.attainment, Some(0.25));
        let t = &o.targets["ttft_ms"];
        assert_eq!((t.met, t.missed, t.attainment), (2, 1, Some(0.5)));
        let t = &o.targets["tpot_ms"];
        assert_eq!((t.met, t.missed, t.bound_ms), (2, 1, 20.0));
        assert_eq!(o.most_missed.as_deref(), Some("ttft_ms"), "tie: first key");
        // Goodput: the one request that met both, over the 1 s window.
        assert!((o.goodput_requests_per_second - 1.0).abs() < 1e-12);
        assert!((o.goodput_output_tokens_per_second - 3.0).abs() < 1e-12);
        assert!(o.goodput_requests_per_second <= s.requests_per_second);
        assert!(summarize(&recs, 0, 1000 * MS).slo.is_none());
    }

    #[test]
    fn itl_bounds_every_gap_not_the_mean() {
        // Gaps 10, 10, 10, 70 ms: mean 25 (meets tpot 30), one gap over 50 (misses itl 50).
        let r = req(Status::Successful, 0, &[100, 110, 120, 130, 200]);
        assert_eq!(slo(r#"{"tpot_ms": 30}"#).met(&r), Some(true));
        assert_eq!(slo(r#"{"itl_ms": 50}"#).met(&r), Some(false));
        assert_eq!(slo(r#"{"itl_ms": 70}"#).met(&r), Some(true));
        // Several tokens in one output after a gap g: k gaps of g/k each.
        let mut r = req(Status::Successful, 0, &[100]);
        r.token_events.push(200 * MS, 4);
        r.output_tokens = 5;
        r.t.last_token = Some(200 * MS);
        assert_eq!(slo(r#"{"itl_ms": 25}"#).met(&r), Some(true));
        assert_eq!(slo(r#"{"itl_ms": 24}"#).met(&r), Some(false));
        assert_eq!(
            slo(r#"{"itl_ms": 24}"#).met(&req(Status::Successful, 0, &[5])),
            None
        );
    }

    #[test]
    fn nothing_judged_is_null_not_zero() {
        let recs = vec![req(Status::Incomplete, 0, &[100])];
        let o = summarize_with_slo(&recs, 0, 1000 * MS, Some(&slo(r#"{"e2el_ms": 1}"#)))
            .slo
            .unwrap();
        assert_eq!((o.attainment, o.judged, o.incomplete), (None, 0, 1));
        assert_eq!(o.targets["e2el_ms"].attainment, None);
        assert_eq!(o.most_missed, None);
    }

    #[test]
    fn goodput_credits_in_window_events_and_ends_like_the_other_rates() {
        // Sent before the window (not judged), ends inside it: counts in goodput as in
        // requests_per_second; only its in-window tokens count.
        let r = req(Status::Successful, 0, &[100, 200, 300, 400]);
        let s = summarize_with_slo(&[r], 250 * MS, 1250 * MS, Some(&slo(r#"{"ttft_ms": 500}"#)));
        let o = s.slo.unwrap();
        assert_eq!(o.judged, 0);
        assert!((o.goodput_requests_per_second - s.requests_per_second).abs() < 1e-12);
        assert!((o.goodput_output_tokens_per_second - 2.0).abs() < 1e-12);
    }
}
