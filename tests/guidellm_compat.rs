//! GuideLLM 0.8.1 reads llmbench's report with its own code: the real binary runs the worker's
//! mock engine (two models, a sweep with synchronous, throughput and constant-rate benchmarks,
//! injected failures and a time limit, so requests end successful, errored and incomplete),
//! then tests/guidellm_check.py, in the venv of scripts/setup-guidellm-venv.sh, loads the JSON
//! and YAML with `GenerativeBenchmarksReport.load_file`, checks GuideLLM's per-request values
//! and its own `GenerativeMetrics.compile` against what llmbench wrote and measured, and runs
//! GuideLLM's export (console, JSON, CSV, HTML). A windowed Poisson run, a sampled run and a
//! version-1 report read back by `benchmark from-file` are checked the same way. The sweep sets
//! an SLO: GuideLLM's `slo_attainment`, `slo_determined_requests` and `request_goodput` are
//! checked against its own compile and llmbench's summary. A `llmbench run` with per-benchmark
//! limits, a stopping_scope=all constraint and the over-saturation detector is checked against
//! GuideLLM's `_should_stop_escalating` and its knee analysis' reading of the detector, and a
//! constant rate under max_concurrency loads as GuideLLM's capped strategy.
//!
//! Needs LLMBENCH_TEST_GUIDELLM_PYTHON (scripts/test.sh sets it); skipped with a message
//! without it.
mod common;
use common::*;
use std::path::{Path, PathBuf};

/// The GuideLLM release the view follows and the venv pins (scripts/setup-guidellm-venv.sh).
const GUIDELLM: &str = llmbench::report::guidellm::GUIDELLM_VERSION;

fn guidellm_python() -> Option<PathBuf> {
    std::env::var_os("LLMBENCH_TEST_GUIDELLM_PYTHON").map(PathBuf::from)
}

fn ok(o: &std::process::Output, what: &str) {
    let (stdout, stderr) = text(o);
    assert_eq!(o.status.code(), Some(0), "{what}\n{stdout}\n{stderr}");
}

fn check(py: &Path, out: &Path, need: &str, reports: &[PathBuf]) {
    let o = std::process::Command::new(py)
        .arg(root().join("tests/guidellm_check.py"))
        .args([
            "--guidellm-version",
            GUIDELLM,
            "--need-statuses",
            need,
            "--need-slo",
            "--need-conclusions",
            "goodput,knee",
        ])
        .arg("--out")
        .arg(out)
        .args(reports)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running tests/guidellm_check.py");
    let (stdout, stderr) = text(&o);
    // The summary lines (one per report), not GuideLLM's console tables.
    for l in stdout.lines().filter(|l| l.contains("loaded by GuideLLM")) {
        eprintln!("{l}");
    }
    assert_eq!(
        o.status.code(),
        Some(0),
        "GuideLLM {GUIDELLM} does not accept the report\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all GuideLLM checks passed"), "{stdout}");
}

#[test]
fn guidellm_loads_the_report_and_its_numbers_are_llmbenchs() {
    let Some(py) = guidellm_python() else {
        eprintln!(
            "skipped: LLMBENCH_TEST_GUIDELLM_PYTHON is not set; scripts/test.sh sets it to the \
             venv scripts/setup-guidellm-venv.sh builds (GuideLLM {GUIDELLM})"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );

    // Every status, every strategy type, two models: a sweep of 3 (synchronous, throughput at
    // the mock's 8 sequences, one constant rate) of 1 s each, every 7th request failing.
    let o = MockRun::new()
        .model("mock-a")
        .model("mock-b")
        .data("prompt_tokens=32,output_tokens=40")
        .profile("sweep")
        .rate("3")
        .max_seconds(1.0)
        .mock(r#"{"step_base_us": 2000, "fail_every": 7, "tokens_per_step": 2, "max_num_seqs": 8}"#)
        // Targets the mock's requests meet or miss (about half of them here; how many depends on
        // the machine's speed) and errored requests: GuideLLM's own goodput compile checks
        // slo_attainment, slo_determined_requests and request_goodput.
        .args(&[
            "--slo",
            r#"{"ttft_ms": 3, "tpot_ms": 1.03, "e2el_ms": 100}"#,
        ])
        .args(&["--outputs", "json,yaml"])
        .args(&["--output-dir".as_ref(), a.as_os_str()])
        .run();
    ok(&o, "the sweep");

    // A measurement window (warm-up and cool-down) on a Poisson schedule: GuideLLM's compile
    // windows its requests its own way (overlap), checked against the view's.
    let o = MockRun::new()
        .model("mock-w")
        .data("prompt_tokens=16,prompt_tokens_stdev=4,prompt_tokens_min=8,prompt_tokens_max=24,output_tokens=20")
        .profile("poisson")
        .rate("100")
        .max_seconds(1.0)
        .args(&["--warmup", "0.2", "--cooldown", "0.1"])
        .mock(r#"{"step_base_us": 2000, "max_num_seqs": 8}"#)
        .args(&["--output-path".as_ref(), b.join("windowed.json").as_os_str()])
        .run();
    ok(&o, "the windowed run");

    // Records sampled: the metrics come from the sample, and the report says so.
    let o = MockRun::new()
        .model("mock-s")
        .data("prompt_tokens=16,output_tokens=8")
        .profile("concurrent")
        .rate("4")
        .max_requests(40)
        .args(&["--sample-requests", "5"])
        .args(&["--output-path".as_ref(), b.join("sampled.json").as_os_str()])
        .run();
    ok(&o, "the sampled run");

    // A version-1 report, read back and written again.
    let o = bin()
        .args(["benchmark", "from-file"])
        .arg(root().join("tests/fixtures/report-v1.json"))
        .args(["--outputs", "json", "--output-dir"])
        .arg(&c)
        .output()
        .unwrap();
    ok(&o, "from-file of the version-1 fixture");

    // `llmbench export` of two reports into one: each benchmark on its own run's clock.
    let o = bin()
        .current_dir(dir.path())
        .args([
            "export",
            "b/windowed.json",
            "b/sampled.json",
            "--output",
            "kind=json,path=d/combined.json",
        ])
        .output()
        .unwrap();
    ok(&o, "export of two reports");

    // GuideLLM 0.8's own command line (`llmbench run`) writes the same view, with the knobs
    // that shape a search: per-benchmark limits, a stopping_scope=all constraint that ends the
    // profile at its second benchmark (every 5th request fails; 3 errors are too many there),
    // and the over-saturation detector monitoring.
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .args(["--backend", r#"kind=vllm_python,model=mock-r,engine=mock,mock={"step_base_us": 2000, "max_num_seqs": 8, "fail_every": 5}"#])
        .args(["--profile", "kind=concurrent,streams=[2,4,6]", "--constraint", "kind=max_requests,count=[12,30]"])
        .args(["--constraint", "kind=max_errors,count=[5,2],stopping_scope=all"])
        .args(["--constraint", "kind=over_saturation,mode=monitor"])
        .args(["--data", "kind=synthetic_text,prompt_tokens=16,output_tokens=8", "--label", "team=infra"])
        .args(["--output", "kind=json,path=d/run.json", "--python"])
        .arg(python())
        .output()
        .unwrap();
    ok(&o, "llmbench run");
    let run = read_json(&dir.path().join("d/run.json"));
    assert_eq!(
        run["benchmarks"].as_array().unwrap().len(),
        2,
        "stopped by max_errors"
    );

    // Multi-turn conversations on a constant schedule: GuideLLM's per-turn metrics
    // (`turns`), its predecessor delay and its first-turn dispatch delay, from the view's
    // turn_index, preceding_nodes and predecessor_completed.
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .args([
            "--backend",
            r#"kind=vllm_python,model=mock-t,engine=mock,mock={"step_base_us": 2000}"#,
        ])
        .args([
            "--profile",
            "kind=constant,rate=40",
            "--constraint",
            "kind=max_requests,count=30",
        ])
        .args([
            "--data",
            "kind=synthetic_text,prompt_tokens=16,output_tokens=8,turns=3,delay=0.02",
        ])
        .args(["--output", "kind=json,path=d/turns.json", "--python"])
        .arg(python())
        .output()
        .unwrap();
    ok(&o, "llmbench run with conversations");
    let turns = read_json(&dir.path().join("d/turns.json"));
    assert_eq!(
        turns["benchmarks"][0]["metrics"]["turns"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "GuideLLM's turns metric: one entry per turn index"
    );

    // GuideLLM 0.8's batch backend, and an offline ceiling after the profile's benchmarks: the
    // view names VLLMPythonBatchBackendArgs and its timings come from the engine's stamps.
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .args(["--backend", r#"kind=vllm_python_batch,model=mock-b,engine=mock,batch_size=4,mock={"step_base_us": 2000}"#])
        .args(["--profile", "kind=concurrent,streams=[6]", "--constraint", "kind=max_requests,count=12"])
        .args(["--data", "kind=synthetic_text,prompt_tokens=16,output_tokens=8", "--offline-ceiling", "8"])
        .args(["--output", "kind=json,path=d/batch.json", "--python"])
        .arg(python())
        .output()
        .unwrap();
    ok(&o, "llmbench run with vllm_python_batch");

    // An open-loop schedule under max_concurrency: GuideLLM's strategy with its cap.
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .args(["--backend", r#"kind=vllm_python,model=mock-c,engine=mock,mock={"step_base_us": 5000, "max_num_seqs": 8}"#])
        .args(["--profile", "kind=constant,rate=100,max_concurrency=2", "--constraint", "kind=max_duration,seconds=1"])
        .args(["--data", "kind=synthetic_text,prompt_tokens=16,output_tokens=8"])
        .args(["--output", "kind=json,path=d/capped.json", "--python"])
        .arg(python())
        .output()
        .unwrap();
    ok(&o, "llmbench run with max_concurrency");

    // The searches: a knee over 5 concurrencies and a goodput search against a TPOT target the
    // mock meets at low and misses at high concurrency; their conclusions are checked against
    // GuideLLM's own knee fit and Wilson interval.
    let mock = r#"engine=mock,mock={"step_base_us": 2000, "step_per_seq_us": 1000}"#;
    for (name, profile, extra) in [
        ("knee", "kind=knee,initial_streams=[1,2,4,8,16]", None),
        (
            "goodput",
            "kind=goodput,initial_streams=1,max_streams=32",
            Some(r#"kind=generative,slo={"tpot_ms": 8}"#),
        ),
    ] {
        let mut cmd = bin();
        cmd.current_dir(dir.path())
            .arg("run")
            .args([
                "--backend",
                &format!("kind=vllm_python,model=mock-{name},{mock}"),
            ])
            .args([
                "--profile",
                profile,
                "--constraint",
                "kind=max_requests,count=40",
            ])
            .args([
                "--data",
                "kind=synthetic_text,prompt_tokens=16,output_tokens=8",
            ])
            .args([
                "--output",
                &format!("kind=json,path=d/{name}.json"),
                "--python",
            ])
            .arg(python());
        if let Some(m) = extra {
            cmd.args(["--metrics", m]);
        }
        ok(&cmd.output().unwrap(), name);
    }

    let t0 = std::time::Instant::now();
    check(
        &py,
        &dir.path().join("export"),
        "successful,incomplete,errored",
        &[
            a.join("benchmarks.json"),
            a.join("benchmarks.yaml"),
            b.join("windowed.json"),
            b.join("sampled.json"),
            c.join("benchmarks.json"),
            dir.path().join("d/combined.json"),
            dir.path().join("d/run.json"),
            dir.path().join("d/capped.json"),
            dir.path().join("d/turns.json"),
            dir.path().join("d/batch.json"),
            dir.path().join("d/knee.json"),
            dir.path().join("d/goodput.json"),
        ],
    );
    eprintln!("GuideLLM's checks took {:.1} s", t0.elapsed().as_secs_f64());
}
