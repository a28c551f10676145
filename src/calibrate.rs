//! `llmbench calibrate`: the harness ceiling as a user command.
//!
//! The worker's mock engine is shaped like a fast engine (TTFT 5 ms, ITL 1 ms, 32 output tokens,
//! unlimited batch), and constant-rate benchmarks climb a ladder of rates. A rate is *sustained*
//! when requests were dispatched within 1% of it and output tokens came back within 1% of
//! `rate × 32` per second inside the measurement window. This is the ceiling of supervisor +
//! IPC + worker on this machine — not of vLLM, whose own front end adds its cost on top.

use crate::backend::protocol::{EngineKind, Map};
use crate::cli::{CalibrateArgs, ProfileKind};
use crate::plan::{self, DataSource, Limits, Outputs, Plan, RequestFormat, Window};
use crate::report::Report;
use anyhow::Result;
use serde_json::json;

const OUTPUT_TOKENS: f64 = 32.0;
const LADDER: &[f64] = &[
    250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 20000.0, 24000.0, 32000.0,
];

pub fn run(c: &CalibrateArgs, argv: Vec<String>) -> Result<i32> {
    if !(c.seconds >= 1.0) || !c.seconds.is_finite() {
        crate::bail_usage!("--seconds must be at least 1 (got {})", c.seconds);
    }
    let per = c.seconds / LADDER.len() as f64;
    let plan = calibration_plan(c, per)?;
    let rates: Vec<String> = LADDER.iter().map(|r| r.to_string()).collect();
    eprintln!("calibrating: constant rates {} req/s, {per:.1} s each, against the mock engine (TTFT 5 ms, ITL 1 ms, 32 tokens)", rates.join(", "));
    let (code, report) = crate::execute(&plan, argv)?;
    if code != 0 {
        anyhow::bail!("the calibration run failed (exit code {code}); see the messages above");
    }
    print_table(&report);
    Ok(0)
}

/// The ladder as constant-rate benchmarks of `per` seconds against a fast mock engine; a report
/// file only with `--output-path`.
fn calibration_plan(c: &CalibrateArgs, per: f64) -> Result<Plan> {
    let data_arg = format!("prompt_tokens=32,output_tokens={OUTPUT_TOKENS}");
    let limits = Limits {
        max_seconds: Some(plan::PerBenchmark::one(per)),
        ..Limits::default()
    };
    let outputs = match &c.output_path {
        Some(p) => Outputs::new(Some(p), None, None, None, true)?,
        None => Outputs {
            files: Vec::new(),
            dir: ".".into(),
            engine_log_dir: None,
        },
    };
    outputs.check("--output-path", None)?;
    let mock = json!({"ttft_us": 5000, "step_base_us": 1000, "max_num_seqs": 0});
    Ok(Plan {
        models: vec![plan::ModelSpec::named("calibration")],
        profile_options: Default::default(),
        stop_on_failure: false,
        gpu_memory_wait: 0.0,
        engine: EngineKind::Mock,
        vllm_config: Map::new(),
        mock: serde_json::from_value(mock)?,
        sampling: Map::new(),
        batching: None,
        request_format: RequestFormat::DefaultTemplate,
        data: DataSource::load(&data_arg, None, None)?,
        data_arg,
        processor: None,
        profile: plan::profile(ProfileKind::Constant, Some(LADDER.to_vec()))?,
        window: Window::new(Some(0.2), Some(0.2), &limits, limits.max_seconds.is_some())?,
        limits,
        data_samples: None,
        sample_requests: None,
        slo: None,
        // The harness's own ceiling: no intervals to spend time on.
        confidence: None,
        seed: 42,
        python: crate::backend::worker::find_python(c.python.as_deref()),
        outputs: outputs.files,
        output_dir: outputs.dir,
        console: false,
        live_progress: false,
        print_requests: 0,
        warmup_requests: 0,
        engine_start_timeout: 120.0,
        engine_stall_timeout: None,
        conversation_slots: false,
        token_coalesce_ns: plan::coalesce_ns(c.coalesce.token_coalesce_ms)?,
        offline_ceiling: None,
        engine_log_dir: outputs.engine_log_dir,
        verbose: false,
        dry_run: false,
        save_requests: None,
        labels: Default::default(),
        scenario: None,
        shard: None,
    })
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
