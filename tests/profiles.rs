//! Every profile through the CLI against the mock engine: the number of benchmarks, their
//! strategies and rates, and the constraint that ended each.
mod common;
use common::*;
use serde_json::Value;

fn run_mock(extra: &[&str], mock: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let o = MockRun::new()
        .data("prompt_tokens=32,output_tokens=8")
        .no_engine_warmup()
        .mock(mock)
        .args(extra)
        .output(&path)
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{extra:?}\n{stdout}\n{stderr}");
    (read_json(&path), stdout)
}

fn strategies(r: &Value) -> Vec<(String, f64, String)> {
    r["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = &b["strategy"];
            let rate = ["rate", "streams", "max_concurrency"]
                .iter()
                .find_map(|k| s[*k].as_f64())
                .unwrap_or(0.0);
            (
                s["type"].as_str().unwrap().to_string(),
                rate,
                b["ended_by"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn synchronous_one_at_a_time() {
    let (r, _) = run_mock(&["--profile", "synchronous", "--max-requests", "6"], "{}");
    assert_eq!(
        strategies(&r),
        vec![("synchronous".into(), 0.0, "max_requests".into())]
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 6);
    assert!(
        (r["benchmarks"][0]["summary"]["concurrency"]
            .as_f64()
            .unwrap()
            - 1.0)
            .abs()
            < 0.2
    );
}

#[test]
fn concurrent_one_benchmark_per_stream_count() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "concurrent",
            "--rate",
            "1,4",
            "--max-requests",
            "40",
        ],
        r#"{"step_base_us": 2000}"#,
    );
    assert_eq!(
        strategies(&r),
        vec![
            ("concurrent".into(), 1.0, "max_requests".into()),
            ("concurrent".into(), 4.0, "max_requests".into())
        ]
    );
    // Never more than N in flight: at each send, count requests sent earlier and not yet ended.
    for (b, n) in [(0usize, 1usize), (1, 4)] {
        let reqs = requests(&r, b);
        assert_eq!(reqs.len(), 40);
        for q in &reqs {
            let t = q["timestamps_ns"]["sent"].as_i64().unwrap();
            let open = reqs
                .iter()
                .filter(|o| {
                    o["timestamps_ns"]["sent"].as_i64().unwrap() <= t
                        && o["timestamps_ns"]["end"].as_i64().unwrap() > t
                })
                .count();
            assert!(open <= n, "benchmark {b}: {open} in flight > {n}");
        }
    }
    let c = r["benchmarks"][1]["summary"]["concurrency"]
        .as_f64()
        .unwrap();
    assert!(c > 2.5 && c <= 4.0, "time-weighted concurrency near 4: {c}");
}

#[test]
fn throughput_sends_up_to_max_concurrency_at_once() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "throughput",
            "--rate",
            "16",
            "--max-seconds",
            "1",
        ],
        r#"{"step_base_us": 2000}"#,
    );
    assert_eq!(
        strategies(&r),
        vec![("throughput".into(), 16.0, "max_seconds".into())]
    );
    let reqs = requests(&r, 0);
    let first: Vec<i64> = reqs
        .iter()
        .take(16)
        .map(|q| q["timestamps_ns"]["scheduled"].as_i64().unwrap())
        .collect();
    assert!(
        first.iter().all(|&t| t == first[0]),
        "the first 16 are all due at the start"
    );
}

#[test]
fn constant_paces_on_absolute_targets() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "constant",
            "--rate",
            "50,100",
            "--max-seconds",
            "1",
        ],
        "{}",
    );
    assert_eq!(
        strategies(&r),
        vec![
            ("constant".into(), 50.0, "max_seconds".into()),
            ("constant".into(), 100.0, "max_seconds".into())
        ]
    );
    for (b, rate) in [(0, 50.0), (1, 100.0)] {
        let reqs = requests(&r, b);
        let start = r["benchmarks"][b]["start_ns"].as_i64().unwrap();
        for (i, q) in reqs.iter().enumerate() {
            let due = q["timestamps_ns"]["scheduled"].as_i64().unwrap() - start;
            let want = (i as f64 * 1e9 / rate) as i64;
            assert!(
                (due - want).abs() <= 1,
                "request {i} due at {due} ns, want {want}"
            );
        }
        assert!(
            (reqs.len() as f64 - rate).abs() <= 2.0,
            "about {rate} requests in 1 s: {}",
            reqs.len()
        );
    }
}

#[test]
fn async_is_an_alias_of_constant_and_rampup_slows_the_start() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "async",
            "--rate",
            "100",
            "--max-seconds",
            "2",
            "--rampup",
            "1",
        ],
        "{}",
    );
    let reqs = requests(&r, 0);
    let start = r["benchmarks"][0]["start_ns"].as_i64().unwrap();
    let first_half = reqs
        .iter()
        .filter(|q| q["timestamps_ns"]["scheduled"].as_i64().unwrap() - start < 500_000_000)
        .count();
    // Linear ramp: 100·0.5²/2 = 12.5 requests in the first half second (50 without a ramp).
    assert!((10..=15).contains(&first_half), "{first_half}");
    assert_eq!(strategies(&r)[0].0, "constant");
}

#[test]
fn poisson_is_seeded() {
    let sched = |seed: &str| {
        let (r, _) = run_mock(
            &[
                "--profile",
                "poisson",
                "--rate",
                "200",
                "--max-seconds",
                "1",
                "--random-seed",
                seed,
            ],
            "{}",
        );
        let start = r["benchmarks"][0]["start_ns"].as_i64().unwrap();
        requests(&r, 0)
            .iter()
            .map(|q| q["timestamps_ns"]["scheduled"].as_i64().unwrap() - start)
            .collect::<Vec<_>>()
    };
    let a = sched("7");
    let b = sched("7");
    let c = sched("8");
    let n = a.len().min(b.len()) - 5;
    assert_eq!(a[..n], b[..n], "same seed, same arrivals");
    assert_ne!(a[..n], c[..n.min(c.len())], "another seed, other arrivals");
    let gaps: Vec<i64> = a.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().collect::<std::collections::HashSet<_>>().len() > gaps.len() / 2,
        "exponential gaps vary"
    );
}

#[test]
fn sweep_places_constant_rates_between_sync_and_throughput() {
    let (r, stdout) = run_mock(
        &["--rate", "4", "--max-seconds", "1"],
        r#"{"step_base_us": 1000, "max_num_seqs": 8}"#,
    );
    let s = strategies(&r);
    let kinds: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["synchronous", "throughput", "constant", "constant"],
        "{stdout}"
    );
    let rate = |b: usize| {
        r["benchmarks"][b]["summary"]["requests_per_second"]
            .as_f64()
            .unwrap()
    };
    let (sync, thr) = (rate(0), rate(1));
    assert!(sync < s[2].1 && s[2].1 < thr, "{sync} < {} < {thr}", s[2].1);
    assert!((s[3].1 - thr).abs() < 1e-9);
    assert!((s[2].1 - (sync + thr) / 2.0).abs() < 1e-6, "evenly spaced");
    assert_eq!(
        r["models"][0]["engine_starts"], 1,
        "one engine for the whole sweep"
    );
}

#[test]
fn data_samples_end_each_benchmark_after_one_pass() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "concurrent",
            "--rate",
            "2,3",
            "--data-samples",
            "7",
        ],
        "{}",
    );
    let s = strategies(&r);
    assert_eq!(s.len(), 2);
    for b in 0..2 {
        assert_eq!(s[b].2, "data_exhausted");
        assert_eq!(requests(&r, b).len(), 7);
    }
}

/// A constant 200 req/s benchmark of up to 5 s against a mock that fails every second request,
/// ended by the error limit in `limit`.
fn run_failing_mock(limit: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let o = MockRun::new()
        .data("prompt_tokens=8,output_tokens=4")
        .profile("constant")
        .rate("200")
        .max_seconds(5.0)
        .no_engine_warmup()
        .args(limit)
        .mock(r#"{"fail_every": 2}"#)
        .output(&path)
        .run();
    assert_eq!(o.status.code(), Some(0), "{limit:?}: {}", text(&o).1);
    read_json(&path)
}

#[test]
fn max_errors_and_error_rates_end_benchmarks() {
    let r = run_failing_mock(&["--max-errors", "3"]);
    assert_eq!(r["benchmarks"][0]["ended_by"], "max_errors");
    let errored = requests(&r, 0)
        .iter()
        .filter(|q| q["status"] == "errored")
        .count();
    assert!(errored >= 4, "{errored}");
    assert!(
        r["benchmarks"][0]["summary"]["duration_s"]
            .as_f64()
            .unwrap()
            < 4.0
    );
}

#[test]
fn warmup_and_cooldown_shrink_the_window() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "constant",
            "--rate",
            "100",
            "--max-seconds",
            "2",
            "--warmup",
            "0.25",
            "--cooldown",
            "0.25",
        ],
        "{}",
    );
    assert_eq!(
        r["llmbench_config"]["window"],
        serde_json::json!({"warmup": {"fraction": 0.25}, "cooldown": {"fraction": 0.25}, "of": "seconds"}),
        "the report says what the window left out"
    );
    let b = &r["benchmarks"][0];
    let (s, ws, we) = (
        b["start_ns"].as_i64().unwrap(),
        b["window_start_ns"].as_i64().unwrap(),
        b["window_end_ns"].as_i64().unwrap(),
    );
    assert_eq!(ws - s, 500_000_000, "warm-up: a quarter of --max-seconds 2");
    assert!(
        (b["summary"]["duration_s"].as_f64().unwrap() - 1.0).abs() < 0.05,
        "window = 2 − 0.5 − 0.5 s (a quarter each)"
    );
    let reqs = requests(&r, 0);
    let inside = reqs.iter().filter(|q| q["in_window"] == true).count();
    assert!(
        (95..=105).contains(&inside),
        "about 100 requests sent inside the 1 s window: {inside}"
    );
    assert!(we > ws);
}

#[test]
fn guidellm_environment_and_scenario_give_the_same_plan_as_flags() {
    let dir = tempfile::tempdir().unwrap();
    let native = |extra: &[&str], env: &[(&str, &str)], name: &str| {
        let path = dir.path().join(name);
        let mut run = MockRun::new()
            .data("prompt_tokens=8,output_tokens=4")
            .no_engine_warmup()
            .args(extra)
            .output(&path);
        for (k, v) in env {
            run = run.env(k, v);
        }
        let o = run.run();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
        let r = read_json(&path);
        (strategies(&r), r["llmbench_config"]["limits"].clone())
    };
    let flags = native(
        &[
            "--profile",
            "constant",
            "--rate",
            "20,40",
            "--max-requests",
            "10",
        ],
        &[],
        "a.json",
    );
    let env = native(
        &[],
        &[
            ("GUIDELLM_PROFILE", "constant"),
            ("GUIDELLM_RATE", "20,40"),
            ("LLMBENCH_MAX_REQUESTS", "10"),
        ],
        "b.json",
    );
    assert_eq!(flags, env);
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "profile: constant\nrate: [20, 40]\nmax_requests: 10\nmax_seconds: 30\n",
    )
    .unwrap();
    let sc = native(
        &[
            "--scenario",
            scenario.to_str().unwrap(),
            "--max-seconds",
            "60",
        ],
        &[],
        "c.json",
    );
    assert_eq!(sc.0, flags.0);
    assert_eq!(
        sc.1["max_seconds"], 60.0,
        "flags win over the scenario file"
    );
    // The environment wins over the scenario file, too.
    let sc_env = native(
        &["--scenario", scenario.to_str().unwrap()],
        &[("GUIDELLM_RATE", "25")],
        "d.json",
    );
    assert_eq!(sc_env.0.iter().map(|s| s.1).collect::<Vec<_>>(), vec![25.0]);
}

#[test]
fn sliding_and_global_error_rates_end_benchmarks() {
    for (flag, reason) in [
        ("--max-error-rate", "max_error_rate"),
        ("--max-global-error-rate", "max_global_error_rate"),
    ] {
        let r = run_failing_mock(&[flag, "0.3"]);
        assert_eq!(r["benchmarks"][0]["ended_by"], reason);
        // Checked from 30 finished requests on: half of them failed.
        let n = requests(&r, 0).len();
        assert!((30..200).contains(&n), "{flag}: {n} requests");
    }
}

#[test]
fn over_saturation_ends_a_benchmark_the_engine_cannot_keep_up_with() {
    // Two sequences at a time, 10 ms steps, 16 tokens: about 12 requests/s at most; 100 req/s
    // makes the queue (requests in flight) and TTFT grow without bound.
    let (r, _) = run_mock(
        &[
            "--profile",
            "constant",
            "--rate",
            "100",
            "--max-seconds",
            "30",
            "--over-saturation",
            r#"{"min_seconds": 2, "window_seconds": 2, "min_growth": 0.5}"#,
        ],
        r#"{"step_base_us": 10000, "max_num_seqs": 2}"#,
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "over_saturated", "{}", b["summary"]);
    assert!(
        b["summary"]["duration_s"].as_f64().unwrap() < 10.0,
        "stopped early"
    );
}

/// The live progress line: drawn (carriage return, clear line) while a benchmark runs when stdout
/// is a terminal, never when it is not or with --disable-console-interactive.
#[test]
fn live_progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let kw = mock_kwargs("{}");
    let cmd = |extra: &str| {
        format!(
            "{} benchmark run --model mock --data prompt_tokens=32,output_tokens=64 --profile constant --rate 200 --max-seconds 2 --engine-warmup-requests 0 --backend-kwargs '{kw}' --python {} --output-path {} {extra}",
            env!("CARGO_BIN_EXE_llmbench"),
            python().display(),
            dir.path().join("r.json").display()
        )
    };
    // `script` gives the command a pseudo-terminal as stdout.
    let on_tty = |extra: &str| {
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd(extra), "/dev/null"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = on_tty("");
    let lines: Vec<&str> = out
        .split("\r\x1b[2K")
        .filter(|l| l.starts_with("[0] constant@200.00"))
        .collect();
    assert!(lines.len() >= 4, "a line every 250 ms for 2 s: {out:?}");
    let last = lines.last().unwrap();
    let field = |name: &str| -> f64 {
        let words: Vec<&str> = last.split_whitespace().collect();
        let i = words.iter().position(|w| *w == name).unwrap();
        words[i - 1].parse().unwrap()
    };
    assert!(field("req/s") > 100.0 && field("tok/s") > 1000.0, "{last}");
    assert!(last.contains("done") && last.contains("in flight") && last.contains("errored"));
    // Off with --disable-console-interactive, and off when stdout is not a terminal.
    let off = on_tty("--disable-console-interactive");
    assert!(!off.contains("\x1b[2K[0] constant@"), "{off:?}");
    let plain = std::process::Command::new("sh")
        .args(["-c", &cmd("")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("\x1b[2K"));
}

/// The 0.6 form's flags for GuideLLM 0.8's search knobs: per-benchmark limits and
/// `--stopping-scope-all` end the profile where `run`'s stopping_scope=all does.
#[test]
fn stopping_scope_all_and_per_benchmark_limits_in_the_0_6_form() {
    let (r, stdout) = run_mock(
        &[
            "--profile",
            "concurrent",
            "--rate",
            "1,2,3,4",
            "--max-requests",
            "4,40",
            "--max-errors",
            "5,3",
            "--stopping-scope-all",
            "max_errors",
        ],
        r#"{"fail_every": 2}"#,
    );
    let s = strategies(&r);
    assert_eq!(s.len(), 2, "{stdout}");
    assert_eq!(
        (s[0].2.as_str(), s[1].2.as_str()),
        ("max_requests", "max_errors")
    );
    assert_eq!(r["benchmarks"][1]["stopped_by_scope_all"], "max_errors");
    assert!(
        stdout.contains("concurrent stopped: max_errors"),
        "{stdout}"
    );
}

#[test]
fn a_sweep_with_poisson_rates_under_a_concurrency_cap() {
    let (r, _) = run_mock(
        &[
            "--rate",
            "3",
            "--max-seconds",
            "1",
            "--sweep-strategy",
            "poisson",
            "--max-concurrency",
            "3",
        ],
        r#"{"step_base_us": 1000, "max_num_seqs": 8}"#,
    );
    let s = strategies(&r);
    let kinds: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(kinds, ["synchronous", "throughput", "poisson"]);
    assert_eq!(s[1].1, 3.0, "the throughput benchmark at the cap");
    assert_eq!(r["benchmarks"][2]["strategy"]["max_concurrency"], 3);
    assert_eq!(
        r["llmbench_config"]["profile_options"],
        serde_json::json!({"max_concurrency": 3, "sweep_strategy": "poisson"})
    );
}
