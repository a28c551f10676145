//! `llmbench calibrate`: the harness ceiling as a user command.
//!
//! The worker's mock engine is shaped like a fast engine (TTFT 5 ms, ITL 1 ms, 32 output tokens,
//! unlimited batch), and constant-rate benchmarks climb a ladder of rates. A rate is *sustained*
//! when requests were dispatched within 1% of it and output tokens came back within 1% of
//! `rate × 32` per second inside the measurement window. This is the ceiling of supervisor +
//! IPC + worker on this machine — not of vLLM, whose own front end adds its cost on top.

use crate::cli::{CalibrateArgs, RunArgs};
use crate::report::Report;
use anyhow::Result;

const OUTPUT_TOKENS: f64 = 32.0;
const LADDER: &[f64] = &[250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0];

pub fn run(c: &CalibrateArgs, argv: Vec<String>) -> Result<i32> {
    if !(c.seconds >= 1.0) || !c.seconds.is_finite() {
        crate::bail_usage!("--seconds must be at least 1 (got {})", c.seconds);
    }
    let per = c.seconds / LADDER.len() as f64;
    let rates: Vec<String> = LADDER.iter().map(|r| r.to_string()).collect();
    let args = RunArgs {
        model: vec!["calibration".into()],
        data: Some(format!("prompt_tokens=32,output_tokens={OUTPUT_TOKENS}")),
        profile: Some("constant".into()),
        rate: Some(rates.join(",")),
        max_seconds: Some(per),
        warmup: Some(0.2),
        cooldown: Some(0.2),
        backend_kwargs: Some(
            r#"{"engine": "mock", "mock": {"ttft_us": 5000, "step_base_us": 1000, "max_num_seqs": 0}}"#.into(),
        ),
        python: c.python.clone(),
        output_path: c.output_path.clone(),
        engine_warmup_requests: 0,
        engine_start_timeout: 120.0,
        disable_console: true,
        random_seed: 42,
        ..Default::default()
    };
    let mut plan = crate::plan::plan(&args)?;
    if c.output_path.is_none() {
        plan.outputs.clear();
    }
    eprintln!("calibrating: constant rates {} req/s, {per:.1} s each, against the mock engine (TTFT 5 ms, ITL 1 ms, 32 tokens)", rates.join(", "));
    let (code, report) = crate::execute(&plan, argv)?;
    if code != 0 {
        anyhow::bail!("the calibration run failed (exit code {code}); see the messages above");
    }
    print_table(&report);
    Ok(0)
}

fn print_table(r: &Report) {
    println!(
        "{:>8} {:>11} {:>12} {:>13} {:>9} {:>9} {:>10} {:>9} {:>9}  {}",
        "rate",
        "dispatched",
        "tokens/s",
        "expected tok",
        "lag p50",
        "lag p99",
        "lag p99.9",
        "cpu sup",
        "cpu wkr",
        "sustained"
    );
    let mut best: Option<(f64, f64)> = None;
    for b in &r.benchmarks {
        let h = &b.headroom;
        let rate = h.requested_rate.unwrap_or(0.0);
        let dispatched = h.dispatch_rate.unwrap_or(0.0);
        let toks = b.summary.output_tokens_per_second;
        let expected = rate * OUTPUT_TOKENS;
        let ok =
            (dispatched - rate).abs() <= 0.01 * rate && (toks - expected).abs() <= 0.01 * expected;
        if ok {
            best = Some((rate, toks));
        }
        println!(
            "{:>8.0} {:>11.1} {:>12.0} {:>13.0} {:>7.1}us {:>7.1}us {:>8.1}us {:>7.2}s {:>7.2}s  {}",
            rate,
            dispatched,
            toks,
            expected,
            b.summary.dispatch_lag_us.median,
            b.summary.dispatch_lag_us.p99,
            b.summary.dispatch_lag_us.p99_9,
            h.costs.cpu_seconds_supervisor,
            h.costs.cpu_seconds_worker,
            if ok { "yes".to_string() } else { "no".to_string() }
        );
    }
    if let Some(b) = r.benchmarks.last() {
        let h = &b.headroom.costs;
        println!(
            "peak RSS: supervisor {:.0} MiB, worker {:.0} MiB",
            h.peak_rss_mib_supervisor, h.peak_rss_mib_worker
        );
    }
    let total_req: usize = r.benchmarks.iter().map(|b| b.requests_total).sum();
    let total_cpu: f64 = r
        .benchmarks
        .iter()
        .map(|b| b.headroom.costs.cpu_seconds_supervisor)
        .sum();
    if total_req > 0 {
        println!(
            "supervisor CPU per 10,000 requests: {:.2} s",
            total_cpu / total_req as f64 * 1e4
        );
    }
    match best {
        Some((rate, toks)) => println!(
            "harness ceiling (supervisor + IPC + worker, not vLLM): at least {rate:.0} requests/s and {toks:.0} streamed tokens/s sustained within 1%"
        ),
        None => println!("harness ceiling: no rate of the ladder was sustained within 1% (a loaded machine?)"),
    }
}
