//! Confidence intervals through the real binary against the worker's mock engine: on by
//! default in the `run` form (every interval around its figure, in the JSON, GuideLLM's view,
//! both CSVs and the console), `confidence=null` leaving none anywhere, and the 0.6 form's
//! `--confidence` setting the level (docs/metrics.md, "Confidence intervals").
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `llmbench run` on the mock engine: 4 concurrent streams, 100 requests of 6 to 14 output
/// tokens, an SLO the mock meets and misses in part, `metrics` as `--metrics`, every output in
/// `dir`.
fn run_form(dir: &Path, metrics: &str) -> Command {
    let mut c = bin();
    c.current_dir(dir)
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args([
            "--backend",
            r#"kind=vllm_python,model=mock,engine=mock,mock={"step_base_us": 1000}"#,
            "--profile",
            "kind=concurrent,streams=4",
            "--constraint",
            "kind=max_requests,count=100",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=10,output_tokens_stdev=3,output_tokens_min=6,output_tokens_max=14",
            "--metrics",
            metrics,
            "--output",
            "kind=json,path=r.json",
            "--output",
            "kind=console",
            "--output",
            "kind=csv,path=r.csv",
            "--output",
            "kind=csv,headers=guidellm,path=g.csv",
        ]);
    c
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

/// `ci` holds `{lo, hi}` with lo ≤ `estimate` ≤ hi.
fn around(ci: &Value, estimate: f64, what: &str) {
    let (lo, hi) = (f(&ci["lo"]), f(&ci["hi"]));
    assert!(
        lo <= estimate && estimate <= hi,
        "{what}: [{lo}, {hi}] does not hold {estimate}"
    );
}

#[test]
fn intervals_by_default_around_every_figure_and_null_turns_them_off() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_form(
        dir.path(),
        r#"kind=generative,slo={"ttft_ms": 5000, "tpot_ms": 1.5}"#,
    )
    .output()
    .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    let c = &r["llmbench_config"]["confidence"];
    assert_eq!(
        (f(&c["level"]), c["resamples"].as_u64()),
        (0.95, Some(1000))
    );
    let s = &r["benchmarks"][0]["summary"];
    for k in [
        "ttft_ms",
        "itl_ms",
        "tpot_ms",
        "request_latency_ms",
        "output_tokens",
    ] {
        let d = &s[k];
        around(&d["ci"]["mean"], f(&d["mean"]), &format!("{k} mean"));
        for p in ["p10", "p50", "p90"] {
            around(&d["ci"][p], f(&d[p]), &format!("{k} {p}"));
        }
        assert!(
            d["ci"].get("p99_9").is_none(),
            "{k}: 100 requests bound no p99.9"
        );
    }
    for k in [
        "requests_per_second",
        "output_tokens_per_second",
        "concurrency",
    ] {
        around(&s["ci"][k], f(&s[k]), k);
    }
    let slo = &s["slo"];
    around(
        &slo["ci"]["attainment"],
        f(&slo["attainment"]),
        "attainment",
    );
    around(
        &slo["targets"]["ttft_ms"]["ci"]["attainment"],
        f(&slo["targets"]["ttft_ms"]["attainment"]),
        "ttft_ms attainment",
    );
    // GuideLLM's view: its own intervals at the run's level.
    let b = &r["benchmarks"][0];
    assert_eq!(f(&b["config"]["confidence"]), 0.95);
    let ttft = &b["metrics"]["time_to_first_token_ms"]["successful"];
    let (lo, hi) = (f(&ttft["mean_ci"]["lower"]), f(&ttft["mean_ci"]["upper"]));
    assert!(
        lo <= f(&ttft["mean"]) && f(&ttft["mean"]) <= hi,
        "GuideLLM's TTFT mean_ci"
    );
    // The console's margins, both CSVs' columns.
    assert!(
        out.contains(" ± ") && out.contains("±: half the 95% confidence interval"),
        "{out}"
    );
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(
        csv.contains("summary.ttft_ms.ci.mean") && csv.contains("summary.ci.requests_per_second")
    );
    let g = std::fs::read_to_string(dir.path().join("g.csv")).unwrap();
    assert!(g.contains("Measurement Uncertainty") && g.contains("Mean CI"));

    // confidence=null: none anywhere.
    let off = tempfile::tempdir().unwrap();
    let o = run_form(off.path(), "kind=generative,confidence=null")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let r = read_json(&off.path().join("r.json"));
    assert!(r["llmbench_config"].get("confidence").is_none());
    let b = &r["benchmarks"][0];
    let summary = b["summary"].to_string();
    assert!(!summary.contains("\"ci\""), "{summary}");
    assert_eq!(b["config"]["confidence"], Value::Null);
    assert_eq!(
        b["metrics"]["time_to_first_token_ms"]["successful"]["mean_ci"],
        Value::Null
    );
    assert!(!out.contains('±'), "{out}");
}

#[test]
fn the_0_6_form_sets_the_level_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let base = MockRun::new()
        .data("prompt_tokens=8,output_tokens=6")
        .profile("concurrent")
        .rate("4")
        .max_requests(40)
        .mock(r#"{"step_base_us": 1000}"#)
        .no_engine_warmup()
        .output(&path);
    let o = base.clone().args(&["--confidence", "0.8"]).run();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let r = read_json(&path);
    assert_eq!(f(&r["llmbench_config"]["confidence"]["level"]), 0.8);
    let d = &r["benchmarks"][0]["summary"]["ttft_ms"];
    around(&d["ci"]["mean"], f(&d["mean"]), "ttft mean at 80%");
    assert!(out.contains("±: half the 80% confidence interval"), "{out}");

    let o = base.args(&["--confidence", "none"]).run();
    assert_eq!(o.status.code(), Some(0));
    let r = read_json(&path);
    assert!(r["llmbench_config"].get("confidence").is_none());
    assert!(r["benchmarks"][0]["summary"]["ttft_ms"].get("ci").is_none());
}
