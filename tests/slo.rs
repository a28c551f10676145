//! SLOs and goodput through the real binary against the worker's mock engine, in both forms:
//! an SLO the mock meets (attainment 1), one it misses (0), errored requests counted as misses,
//! the SLO in the report's configuration and the console's SLO table, and the refusals (one
//! sentence, exit 2).
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `llmbench run` on the mock engine (`shape`) with a synchronous benchmark of 6 requests of 4
/// output tokens, `metrics` as `--metrics`, the report in `dir/r.json`.
fn run_form(dir: &Path, shape: &str, metrics: &str) -> Command {
    let mut c = bin();
    c.current_dir(dir)
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args(["--engine-warmup-requests", "0"])
        .args([
            "--backend",
            &format!("kind=vllm_python,model=mock,engine=mock,mock={shape}"),
            "--profile",
            "kind=synchronous",
            "--constraint",
            "kind=max_requests,count=6",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=4",
            "--metrics",
            metrics,
            "--output",
            "kind=json,path=r.json",
            "--output",
            "kind=console",
            "--output",
            "kind=csv,path=r.csv",
            "--output",
            "kind=html,path=r.html",
            "--output",
            "kind=csv,headers=guidellm,path=g.csv",
        ]);
    c
}

fn slo_of(r: &Value, i: usize) -> &Value {
    &r["benchmarks"][i]["summary"]["slo"]
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[test]
fn run_form_slo_met_and_missed() {
    let dir = tempfile::tempdir().unwrap();
    // 1 ms steps, no added TTFT: far inside the targets, even on a loaded machine.
    let o = run_form(
        dir.path(),
        r#"{"step_base_us": 1000}"#,
        r#"kind=generative,slo={"ttft_ms": 5000, "tpot_ms": 500, "itl_ms": 2000}"#,
    )
    .output()
    .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("SLO Attainment"), "{out}");
    let r = read_json(&dir.path().join("r.json"));
    assert_eq!(
        r["llmbench_config"]["slo"],
        serde_json::json!({"ttft_ms": 5000.0, "tpot_ms": 500.0, "itl_ms": 2000.0})
    );
    let s = slo_of(&r, 0);
    assert_eq!(f(&s["attainment"]), 1.0, "{s}");
    assert_eq!(
        (s["judged"].as_u64(), s["met"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(s["most_missed"], Value::Null);
    for k in ["ttft_ms", "tpot_ms", "itl_ms"] {
        assert_eq!(f(&s["targets"][k]["attainment"]), 1.0, "{k}");
    }
    let sum = &r["benchmarks"][0]["summary"];
    assert!((f(&s["goodput_requests_per_second"]) - f(&sum["requests_per_second"])).abs() < 1e-9);
    assert!(
        (f(&s["goodput_output_tokens_per_second"]) - f(&sum["output_tokens_per_second"])).abs()
            < 1e-9
    );
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    let head: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert!(head.contains(&"summary.slo.attainment"), "{csv}");
    assert!(
        head.contains(&"summary.slo.targets.itl_ms.attainment"),
        "{csv}"
    );
    let g = std::fs::read_to_string(dir.path().join("g.csv")).unwrap();
    assert!(g.lines().nth(1).unwrap().contains("SLO Attainment"), "{g}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(
        html.contains(r#"id="slo-table""#) && html.contains("ttft ≤ 5000 ms"),
        "an SLO table"
    );

    // 30 ms to the first token: a 5 ms TTFT target is missed by every request.
    let dir = tempfile::tempdir().unwrap();
    let o = run_form(
        dir.path(),
        r#"{"step_base_us": 1000, "ttft_us": 30000}"#,
        r#"kind=generative,slo={ttft_ms: 5, e2el_ms: 60000}"#,
    )
    .output()
    .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    let s = slo_of(&r, 0);
    assert_eq!(f(&s["attainment"]), 0.0, "{s}");
    assert_eq!(s["most_missed"], "ttft_ms");
    assert_eq!(f(&s["targets"]["e2el_ms"]["attainment"]), 1.0);
    assert_eq!(f(&s["goodput_requests_per_second"]), 0.0);
    assert_eq!(f(&s["goodput_output_tokens_per_second"]), 0.0);
}

#[test]
fn benchmark_run_form_counts_errored_requests_as_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let o = MockRun::new()
        .data("prompt_tokens=8,output_tokens=4")
        .profile("synchronous")
        .max_requests(8)
        .no_engine_warmup()
        .mock(r#"{"fail_every": 2}"#)
        .args(&["--slo", r#"{"tpot_ms": 1000, "e2el_ms": 60000}"#])
        .output(&path)
        .run();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let r = read_json(&path);
    assert_eq!(r["llmbench_config"]["slo"]["tpot_ms"], 1000.0);
    let sum = &r["benchmarks"][0]["summary"];
    let s = &sum["slo"];
    let (ok, errored) = (
        sum["requests"]["successful"].as_u64().unwrap(),
        sum["requests"]["errored"].as_u64().unwrap(),
    );
    assert!(errored >= 3 && ok >= 3, "{sum}");
    assert_eq!(s["errored"].as_u64(), Some(errored));
    assert_eq!(s["judged"].as_u64(), Some(ok + errored), "{s}");
    assert_eq!(s["met"].as_u64(), Some(ok));
    let want = ok as f64 / (ok + errored) as f64;
    assert!((f(&s["attainment"]) - want).abs() < 1e-12, "{s}");
    assert_eq!(
        s["targets"]["tpot_ms"]["missed"], 0,
        "errors are not a target's misses"
    );
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
}

#[test]
fn bad_slos_are_refused_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let check = |o: std::process::Output, want: &str| {
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{want}\n{out}\n{err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(
            err.lines().filter(|l| !l.trim().is_empty()).count() <= 2,
            "{err}"
        );
    };
    for (slo, want) in [
        (
            r#"{"ttft": 500}"#,
            "--slo: unknown key `ttft`; valid keys are ttft_ms, tpot_ms, e2el_ms, itl_ms",
        ),
        (
            r#"{"tpot_ms": 0}"#,
            "--slo: tpot_ms must be a number of milliseconds > 0",
        ),
        (
            r#"{"itl_ms": -1}"#,
            "--slo: itl_ms must be a number of milliseconds > 0",
        ),
    ] {
        let o = MockRun::new()
            .data("prompt_tokens=8,output_tokens=4")
            .max_requests(2)
            .args(&["--slo", slo])
            .output(&dir.path().join("never.json"))
            .run();
        check(o, want);
    }
    let o = run_form(
        dir.path(),
        "{}",
        r#"kind=generative,slo={"p99_ttft_ms": 500}"#,
    )
    .output()
    .unwrap();
    check(
        o,
        "--metrics kind=generative: slo: unknown key `p99_ttft_ms`; valid keys are ttft_ms, tpot_ms, e2el_ms, itl_ms",
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
