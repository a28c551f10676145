//! `llmbench run` (GuideLLM 0.8's command line) through the real binary against the worker's
//! mock engine: spec options, the config file with --override and --label, the environment's
//! precedence and the unread-variable warning, refusals (one sentence, exit 2, nothing
//! written), `export` of two reports into one, and `env`.
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `llmbench run` on the mock engine with `extra` spec options, in `dir`.
fn run_cmd(dir: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.current_dir(dir)
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args(["--engine-warmup-requests", "0"])
        .args(extra);
    c
}

const MOCK_BACKEND: &str = "kind=vllm_python,model=mock,engine=mock";
const DATA: &str = "kind=synthetic_text,prompt_tokens=8,output_tokens=4";

fn ok(o: &Output) -> (String, String) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    (out, err)
}

fn kinds(r: &Value) -> Vec<(String, f64)> {
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
            (s["type"].as_str().unwrap().to_string(), rate)
        })
        .collect()
}

#[test]
fn run_with_spec_options_gives_the_benchmarks_of_the_0_6_form() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_cmd(
        dir.path(),
        &[
            "--backend",
            MOCK_BACKEND,
            "--profile",
            "kind=concurrent,streams=[1,3]",
            "--constraint",
            "kind=max_requests,count=6",
            "--data",
            DATA,
            "--output",
            "kind=json,path=out/run.json",
            "--output",
            "kind=yaml",
            "--output",
            "kind=plot,path=out/ttft.svg",
            "--output",
            "kind=csv,headers=guidellm,path=out/g.csv",
            "--label",
            "team=infra",
        ],
    )
    .output()
    .unwrap();
    ok(&o);
    let svg = std::fs::read_to_string(dir.path().join("out/ttft.svg")).unwrap();
    assert!(
        svg.trim_start().starts_with("<svg") || svg.contains("<svg "),
        "an SVG"
    );
    let csv = std::fs::read_to_string(dir.path().join("out/g.csv")).unwrap();
    assert!(
        csv.lines()
            .take(3)
            .any(|l| l.contains("Time to First Token")),
        "{csv}"
    );
    let r = read_json(&dir.path().join("out/run.json"));
    assert!(
        dir.path().join("benchmarks.yaml").exists(),
        "yaml in the results dir"
    );
    assert!(!dir.path().join("benchmarks.json").exists());
    assert_eq!(
        kinds(&r),
        vec![("concurrent".into(), 1.0), ("concurrent".into(), 3.0)]
    );
    for b in r["benchmarks"].as_array().unwrap() {
        assert_eq!(b["requests_total"], 6);
        assert_eq!(b["ended_by"], "max_requests");
    }
    assert_eq!(r["llmbench_config"]["labels"]["team"], "infra");
    assert_eq!(
        r["llmbench_config"]["run_spec"]["spec"]["profile"]["streams"],
        serde_json::json!([1, 3])
    );
    // The same run in the 0.6 form.
    let p06 = dir.path().join("06.json");
    let o = MockRun::new()
        .data("prompt_tokens=8,output_tokens=4")
        .no_engine_warmup()
        .args(&[
            "--profile",
            "concurrent",
            "--rate",
            "1,3",
            "--max-requests",
            "6",
        ])
        .output(&p06)
        .run();
    ok(&o);
    let r06 = read_json(&p06);
    assert_eq!(kinds(&r06), kinds(&r));
    assert_eq!(
        r06["llmbench_config"]["limits"],
        r["llmbench_config"]["limits"]
    );
}

#[test]
fn config_file_with_override_and_label_and_the_environment_below_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scenario.yaml"),
        format!(
            "metadata:\n  labels:\n    owner: perf\nspec:\n  backend: {{kind: vllm_python, model: mock, engine: mock}}\n  profile: {{kind: concurrent, streams: 1}}\n  data:\n    - {{kind: synthetic_text, prompt_tokens: 8, output_tokens: 4}}\n  constraints:\n    - {{kind: max_requests, count: 4}}\n  outputs:\n    - {{kind: json, path: cfg.json}}\n"
        ),
    )
    .unwrap();
    // --override gives one sub-benchmark per value; the environment's profile loses to the
    // file's, and the file's to the command line's.
    let o = run_cmd(
        dir.path(),
        &[
            "--config",
            "scenario.yaml",
            "--override",
            "profile.streams",
            "1,2",
            "--label",
            "team=infra",
        ],
    )
    .env("GUIDELLM__SPEC__PROFILE", r#"{"kind": "synchronous"}"#)
    .env(
        "GUIDELLM__SPEC__CONSTRAINTS",
        r#"[{"kind": "max_requests", "count": 9}]"#,
    )
    .output()
    .unwrap();
    ok(&o);
    let r = read_json(&dir.path().join("cfg.json"));
    assert_eq!(
        kinds(&r),
        vec![("concurrent".into(), 1.0), ("concurrent".into(), 2.0)]
    );
    assert_eq!(
        r["benchmarks"][0]["requests_total"], 4,
        "the file's constraint wins over the environment's"
    );
    let labels = &r["llmbench_config"]["labels"];
    assert_eq!(
        (labels["owner"].as_str(), labels["team"].as_str()),
        (Some("perf"), Some("infra"))
    );
    // The environment alone fills what the command line and the file leave out.
    let o = run_cmd(dir.path(), &["--backend", MOCK_BACKEND, "--data", DATA])
        .env(
            "GUIDELLM__SPEC__PROFILE",
            r#"{"kind": "concurrent", "streams": [2]}"#,
        )
        .env(
            "GUIDELLM__SPEC__CONSTRAINTS",
            r#"[{"kind": "max_requests", "count": 3}]"#,
        )
        .env(
            "GUIDELLM__SPEC__OUTPUTS",
            r#"[{"kind": "json", "path": "env.json"}]"#,
        )
        .env("GUIDELLM__METADATA__LABELS", r#"{"from": "env"}"#)
        .env("GUIDELLM__MAX_CONCURRENCY", "8")
        .env("GUIDELLM_RATE", "3")
        .output()
        .unwrap();
    let (_, err) = ok(&o);
    let r = read_json(&dir.path().join("env.json"));
    assert_eq!(kinds(&r), vec![("concurrent".into(), 2.0)]);
    assert_eq!(r["benchmarks"][0]["requests_total"], 3);
    assert_eq!(r["llmbench_config"]["labels"]["from"], "env");
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: environment"))
        .unwrap_or("");
    let named = warning.split(" are not read").next().unwrap();
    assert_eq!(
        named, "warning: environment variables GUIDELLM_RATE, GUIDELLM__MAX_CONCURRENCY",
        "{err}"
    );
    // The command line wins over the environment.
    let o = run_cmd(
        dir.path(),
        &[
            "--backend",
            MOCK_BACKEND,
            "--data",
            DATA,
            "--profile",
            "kind=synchronous",
            "--output",
            "kind=json,path=cli.json",
        ],
    )
    .env(
        "GUIDELLM__SPEC__PROFILE",
        r#"{"kind": "concurrent", "streams": [2]}"#,
    )
    .env(
        "GUIDELLM__SPEC__CONSTRAINTS",
        r#"[{"kind": "max_requests", "count": 3}]"#,
    )
    .output()
    .unwrap();
    ok(&o);
    assert_eq!(
        kinds(&read_json(&dir.path().join("cli.json"))),
        vec![("synchronous".into(), 0.0)]
    );
}

#[test]
fn refusals_are_one_sentence_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--backend",
        MOCK_BACKEND,
        "--data",
        DATA,
        "--constraint",
        "kind=max_requests,count=3",
    ];
    for (extra, want) in [
        (
            vec!["--profile", "kind=sweep,size=4"],
            "--profile kind=sweep: unknown key `size`; valid keys are",
        ),
        (
            vec!["--profile", "kind=replay"],
            "--profile replay sends each row of a trace at its timestamp, so it needs trace data",
        ),
        (
            vec!["--profile", "kind=synchronous", "--profile", "kind=sweep"],
            "cannot be used multiple times",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--output",
                "kind=plot,path=p.jpg",
            ],
            "--output kind=plot",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--metrics",
                "kind=generative,confidence=95",
            ],
            "--metrics kind=generative: confidence must be a level between 0.5 and 1, both excluded (e.g. 0.95), or null to turn confidence intervals off, not 95",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--data-loader",
                "kind=pytorch,shuffle=true",
            ],
            "shuffle=true is not supported yet",
        ),
        (
            vec!["--profile", "kind=synchronous", "--config", "missing.yaml"],
            "--config missing.yaml: cannot read it",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--data",
                "kind=synthetic_text,prompt_tokens=8,turns=3",
            ],
            "zipping synthetic data with other sources is not supported yet",
        ),
        (
            vec!["--profile", "kind=synchronous", "--label", "oops"],
            "--label oops: write key=value",
        ),
        (
            vec![
                "--profile",
                "kind=concurrent,streams=[1,2]",
                "--constraint",
                "kind=max_errors,count=[2,-1],stopping_scope=all",
            ],
            "--constraint kind=max_errors: count must be a whole number ≥ 0 (or a list of them) (got -1)",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--constraint",
                "kind=min_requests,count=3,stopping_scope=everything",
            ],
            "--constraint kind=min_requests: stopping_scope must be current or all, not everything",
        ),
        (
            vec!["--profile", "kind=poisson,rate=5,max_concurrency=1.5"],
            "--profile kind=poisson: max_concurrency must be a whole number ≥ 1 (got 1.5)",
        ),
        (
            vec![
                "--profile",
                "kind=synchronous",
                "--constraint",
                "kind=over_saturation,confidence=2",
            ],
            "--constraint kind=over_saturation: confidence must be between 0 and 1 (got 2)",
        ),
    ] {
        let mut argv: Vec<&str> = base.to_vec();
        argv.extend(extra.iter().copied());
        argv.extend(["--output", "kind=json,path=never.json"]);
        let o = run_cmd(dir.path(), &argv).output().unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}\n{out}\n{err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() <= 4, "short: {err}"); // clap adds a usage line and a hint
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{extra:?} wrote something"
        );
    }
    let o = run_cmd(
        dir.path(),
        &[
            "--backend",
            "kind=openai_http,target=http://localhost:8000",
            "--profile",
            "kind=synchronous",
            "--data",
            DATA,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o)
        .1
        .contains("llmbench runs vLLM's engine in-process"));
}

#[test]
fn export_two_reports_into_one_and_env_lists_what_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for (name, streams) in [("a.json", "1"), ("b.json", "2")] {
        let o = run_cmd(
            dir.path(),
            &[
                "--backend",
                MOCK_BACKEND,
                "--data",
                DATA,
                "--profile",
                &format!("kind=concurrent,streams={streams}"),
                "--constraint",
                "kind=max_requests,count=3",
                "--output",
                &format!("kind=json,path={name}"),
            ],
        )
        .output()
        .unwrap();
        ok(&o);
    }
    let o = bin()
        .current_dir(dir.path())
        .args([
            "export",
            "a.json",
            "b.json",
            "--output",
            "kind=json,path=both.json",
            "--output",
            "kind=csv,path=both.csv",
            "--output",
            "kind=console",
        ])
        .output()
        .unwrap();
    let (out, _) = ok(&o);
    assert!(
        out.contains("wrote both.json\n") && out.contains("wrote both.csv\n"),
        "{out}"
    );
    let r = read_json(&dir.path().join("both.json"));
    assert_eq!(
        kinds(&r),
        vec![("concurrent".into(), 1.0), ("concurrent".into(), 2.0)]
    );
    let sources: Vec<&str> = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["a.json", "b.json"]);
    let models: Vec<&str> = r["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        ["a:mock", "b:mock"],
        "the same model from two runs is told apart"
    );
    assert_eq!(r["benchmarks"][1]["source"], 1);
    let csv = std::fs::read_to_string(dir.path().join("both.csv")).unwrap();
    assert!(csv.contains("a:mock") && csv.contains("b:mock"));
    // Writing over an input is refused.
    let o = bin()
        .current_dir(dir.path())
        .args([
            "export",
            "a.json",
            "b.json",
            "--output",
            "kind=json,path=a.json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);

    let o = bin()
        .args(["env"])
        .env("GUIDELLM__SPEC__PROFILE", r#"{"kind":"sweep"}"#)
        .env("GUIDELLM__NOT_A_SETTING", "1")
        .output()
        .unwrap();
    let (out, _) = ok(&o);
    assert!(
        out.contains("GUIDELLM__SPEC__PROFILE={\"kind\":\"sweep\"}")
            && out.contains("sets spec.profile (--profile)  [environment]"),
        "{out}"
    );
    assert!(
        out.contains("set but not read by llmbench: GUIDELLM__NOT_A_SETTING"),
        "{out}"
    );
}

#[test]
fn several_data_files_are_zipped_row_by_row_and_stop_at_the_shortest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prompts.jsonl"),
        "{\"prompt\": \"one two three\"}\n{\"prompt\": \"four five\"}\n{\"prompt\": \"six\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lengths.csv"),
        "output_tokens_count\n3\n5\n7\n9\n",
    )
    .unwrap();
    let o = run_cmd(
        dir.path(),
        &[
            "--backend",
            &format!("{MOCK_BACKEND},request_format=plain"),
            "--profile",
            "kind=synchronous",
            "--constraint",
            "kind=max_requests,count=10",
            "--data",
            "kind=json_file,path=prompts.jsonl",
            "--data",
            "kind=csv_file,path=lengths.csv",
            "--output",
            "kind=json,path=zip.json",
        ],
    )
    .output()
    .unwrap();
    ok(&o);
    let r = read_json(&dir.path().join("zip.json"));
    let outs: Vec<u64> = requests(&r, 0)
        .iter()
        .map(|q| q["max_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(
        outs,
        [3, 5, 7],
        "the prompts' file has 3 rows: the zip stops there"
    );
    // Synthetic data is not zipped yet: refused in one sentence.
    let o = run_cmd(
        dir.path(),
        &[
            "--backend",
            MOCK_BACKEND,
            "--profile",
            "kind=synchronous",
            "--data",
            "kind=json_file,path=prompts.jsonl",
            "--data",
            DATA,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o)
        .1
        .contains("zipping synthetic data with other sources is not supported yet"));
}

/// `llmbench run` on the mock engine shaped by `mock`: the JSON report and stdout.
fn run_mock(extra: &[&str], mock: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let backend = format!("kind=vllm_python,model=mock,engine=mock,mock={mock}");
    let mut argv = vec!["--backend", &backend, "--data", DATA];
    argv.extend(extra);
    argv.extend([
        "--output",
        "kind=json,path=r.json",
        "--disable-console-interactive",
    ]);
    let o = run_cmd(dir.path(), &argv).output().unwrap();
    let (out, _) = ok(&o);
    (read_json(&dir.path().join("r.json")), out)
}

/// The most requests in flight at once, from the records' sent..end intervals.
fn peak_in_flight(b: &Value) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for r in b["records"].as_array().unwrap() {
        let t = &r["timestamps_ns"];
        edges.push((t["sent"].as_i64().unwrap(), 1));
        edges.push((t["end"].as_i64().unwrap(), -1));
    }
    edges.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

#[test]
fn a_stopping_scope_all_constraint_ends_the_profile_and_says_why() {
    // Every second request fails: 4 requests (2 errors) pass benchmark 0's limit of 5 errors;
    // benchmark 1 allows 3, so its 4th error ends it — and, with stopping_scope=all, the profile.
    let (r, out) = run_mock(
        &[
            "--profile",
            "kind=concurrent,streams=[1,2,3,4]",
            "--constraint",
            "kind=max_requests,count=[4,40]",
            "--constraint",
            "kind=max_errors,count=[5,3],stopping_scope=all",
        ],
        r#"{"fail_every": 2}"#,
    );
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b.len(), 2, "{out}");
    assert_eq!(b[0]["ended_by"], "max_requests");
    assert_eq!(b[0]["requests_total"], 4);
    assert!(b[0].get("stopped_by_scope_all").is_none());
    assert_eq!(b[1]["ended_by"], "max_errors");
    assert_eq!(b[1]["stopped_by_scope_all"], "max_errors");
    assert!(
        out.contains("concurrent stopped: max_errors (stopping_scope=all) ended benchmark 1"),
        "{out}"
    );
    // GuideLLM's view: what its profiles read to stop escalating, and each benchmark's own
    // limits.
    let q = &b[1]["scheduler_state"]["end_queuing_constraints"]["max_errors"];
    assert_eq!(q["stopping_scope"], "all");
    assert_eq!(b[1]["config"]["constraints"]["max_errors"]["count"], 3);
    assert_eq!(b[1]["config"]["constraints"]["max_requests"]["count"], 40);
    assert_eq!(
        r["config"]["spec"]["constraints"][1],
        serde_json::json!({"kind": "max_errors", "count": [5, 3], "stopping_scope": "all"})
    );
}

#[test]
fn per_benchmark_limits_take_one_value_per_benchmark_and_repeat_the_last() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "kind=concurrent,streams=[1,2,3]",
            "--constraint",
            "kind=max_requests,count=[5,10]",
        ],
        "{}",
    );
    let n: Vec<u64> = r["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["requests_total"].as_u64().unwrap())
        .collect();
    assert_eq!(n, [5, 10, 10]);
    assert_eq!(
        r["llmbench_config"]["limits"]["max_requests"],
        serde_json::json!([5, 10])
    );
}

#[test]
fn a_poisson_sweep_sends_its_rate_benchmarks_as_poisson() {
    let (r, _) = run_mock(
        &[
            "--profile",
            "kind=sweep,sweep_size=4,strategy_type=poisson",
            "--constraint",
            "kind=max_duration,seconds=1",
        ],
        r#"{"step_base_us": 1000, "max_num_seqs": 8}"#,
    );
    let k = kinds(&r);
    let types: Vec<&str> = k.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(types, ["synchronous", "throughput", "poisson", "poisson"]);
    // GuideLLM's sweep caps its rate benchmarks at 512 by default.
    assert_eq!(r["benchmarks"][2]["strategy"]["max_concurrency"], 512);
    assert_eq!(r["config"]["spec"]["profile"]["strategy_type"], "poisson");
}

#[test]
fn max_concurrency_holds_a_constant_rate_to_that_many_in_flight_and_reports_the_wait() {
    // 200 req/s against an engine of 8 sequences taking 5 ms a step: far more than 2 would be
    // in flight without the cap.
    let (r, out) = run_mock(
        &[
            "--profile",
            "kind=constant,rate=200,max_concurrency=2",
            "--constraint",
            "kind=max_duration,seconds=1",
        ],
        r#"{"step_base_us": 5000, "max_num_seqs": 8}"#,
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["strategy"]["max_concurrency"], 2);
    assert!(peak_in_flight(b) <= 2, "peak {}", peak_in_flight(b));
    let cap = &b["summary"]["cap_wait"];
    assert!(cap["delayed"].as_u64().unwrap() > 0, "{cap}");
    assert!(cap["wait_ms"]["max"].as_f64().unwrap() > 0.0);
    // Not llmbench's lag: the harness check does not fire for the cap's slower dispatch.
    let warnings = b["headroom"]["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("under the requested")),
        "{warnings:?}"
    );
    assert!(out.contains("max_concurrency 2 held back"), "{out}");
    assert_eq!(b["config"]["strategy"]["max_concurrency"], 2);
}

#[test]
fn min_requests_ends_a_benchmark_once_that_many_finished() {
    // 200 req/s against 2 sequences of 5 ms steps: requests queue up; GuideLLM's min_requests
    // keeps sending until 10 have finished, then ends the benchmark (the rest are aborted).
    let (r, _) = run_mock(
        &[
            "--profile",
            "kind=constant,rate=200",
            "--constraint",
            "kind=min_requests,count=10",
        ],
        r#"{"step_base_us": 5000, "max_num_seqs": 2}"#,
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "min_requests");
    let done = b["summary"]["requests"]["successful"].as_u64().unwrap();
    // Two sequences finish in one engine step, so the count may pass 10 by one.
    assert!((10..=11).contains(&done), "{done}");
    assert!(
        b["requests_total"].as_u64().unwrap() > done,
        "sent more than it waited for"
    );
    assert!(b["summary"]["requests"]["incomplete"].as_u64().unwrap() > 0);
}

#[test]
fn over_saturation_monitor_reports_without_stopping() {
    // 100 req/s against 2 sequences of 10 ms steps (8 tokens): the queue and TTFT grow.
    let (r, out) = run_mock(
        &[
            "--profile",
            "kind=constant,rate=100",
            "--constraint",
            "kind=max_duration,seconds=5",
            "--constraint",
            "kind=over_saturation,mode=monitor,min_seconds=2,minimum_ttft=0.05,minimum_window_size=3",
        ],
        r#"{"step_base_us": 10000, "max_num_seqs": 2}"#,
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "max_seconds", "monitor mode does not stop");
    let s = &b["over_saturation"];
    assert_eq!(
        (s["detector"].as_str(), s["mode"].as_str()),
        (Some("statistical"), Some("monitor"))
    );
    assert_eq!(s["is_over_saturated"], true, "{s}");
    assert!(s["first_detected_s"].as_f64().unwrap() < 5.0, "{s}");
    assert!(out.contains("over-saturated from"), "{out}");
    // What GuideLLM's knee analysis reads.
    let m = &b["scheduler_state"]["scheduler_constraints"]["over_saturation"];
    assert_eq!(m["metadata"]["is_over_saturated"], true);
    assert!(m["metadata"]["concurrent_slope"].as_f64().unwrap() > 0.0);
    assert_eq!(m["request_queuing"], "continue");
}
