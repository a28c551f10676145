//! The goodput and knee searches through the real binary against the worker's mock engine, in
//! both forms: every probe a benchmark in the report, one engine start, the search's order
//! (doubling, then bisecting; the knee's points, then its adaptive grid), the conclusion in the
//! report, the console and the HTML, the ranking of several models, and the refusals. The search
//! logic itself is unit-tested against scripted curves (src/scheduler/search.rs); the real engine
//! runs a goodput search in tests/real_engine.rs.
mod common;
use common::*;
use serde_json::Value;

/// Step time 2 ms + 2 ms per running sequence: TPOT ≈ 2 + 2·streams ms, so a TPOT target of
/// 13 ms is met up to about 5 streams and missed from about 6 on (which side 5 and 6 fall on
/// depends on the machine's load; the tests assert the search's consistency, not the level).
const SHAPE: &str = r#"{"step_base_us": 2000, "step_per_seq_us": 2000}"#;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

#[test]
fn goodput_search_in_the_run_form() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(dir.path())
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args([
            "--backend",
            &format!("kind=vllm_python,model=mock-g,engine=mock,mock={SHAPE}"),
            "--profile",
            "kind=goodput,initial_streams=1,max_streams=32,target_attainment=0.9",
            "--metrics",
            r#"kind=generative,slo={"tpot_ms": 13}"#,
            "--constraint",
            "kind=max_requests,count=40",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=8",
            "--output",
            "kind=json,path=r.json",
            "--output",
            "kind=console",
            "--output",
            "kind=html,path=r.html",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    assert_eq!(
        r["conclusions"].as_array().unwrap().len(),
        1,
        "{}",
        r["conclusions"]
    );
    let c = &r["conclusions"][0];
    assert_eq!(c["profile"], "goodput");
    assert_eq!(c["model"], "mock-g");
    // Every probe is a benchmark of the report, in order, on one engine.
    let probes = c["probes"].as_array().unwrap();
    let benches = r["benchmarks"].as_array().unwrap();
    assert_eq!(probes.len(), benches.len());
    assert_eq!(n(&c["benchmarks_run"]), benches.len() as u64);
    assert_eq!(n(&c["engine_starts"]), 1);
    assert_eq!(n(&r["models"][0]["engine_starts"]), 1);
    for (p, b) in probes.iter().zip(benches) {
        assert_eq!(b["strategy"]["type"], "concurrent");
        assert_eq!(p["streams"], b["strategy"]["streams"]);
        let slo = &b["summary"]["slo"];
        assert_eq!(p["attainment"], slo["attainment"]);
        assert_eq!(p["determined_requests"], slo["judged"]);
        let passed = p["attainment"].as_f64().unwrap() >= 0.9;
        assert_eq!(p["passed"].as_bool().unwrap(), passed, "{p}");
        let (lo, hi) = (
            p["attainment_lower"].as_f64().unwrap(),
            p["attainment_upper"].as_f64().unwrap(),
        );
        assert!(lo <= p["attainment"].as_f64().unwrap() && p["attainment"].as_f64().unwrap() <= hi);
    }
    // Doubling from 1 until a miss: 1, 2, 4, then 8 (14+ ms of TPOT at 6 streams and more).
    let streams: Vec<u64> = probes.iter().map(|p| n(&p["streams"])).collect();
    assert_eq!(streams[..3], [1, 2, 4], "{streams:?}");
    // The bracket closed: the highest pass is one below the lowest miss, and the answer names it.
    assert_eq!(c["stop_reason"], "converged", "{c}");
    let (best, worst) = (
        n(&c["best_passing_streams"]),
        n(&c["lowest_failing_streams"]),
    );
    assert_eq!(best + 1, worst, "{streams:?}");
    assert!((2..=8).contains(&best), "{streams:?}");
    assert_eq!(n(&c["streams"]), best);
    let answer = c["answer"].as_str().unwrap();
    assert!(
        answer.starts_with(&format!("mock-g sustains {best} concurrent streams")),
        "{answer}"
    );
    assert!(
        answer.contains("TPOT ≤ 13 ms") && answer.contains("one engine start"),
        "{answer}"
    );
    // Printed last on the console, and at the top of the HTML.
    let tail = out.rsplit("ℹ Answer").next().unwrap();
    assert!(out.contains("ℹ Answer") && tail.contains(answer), "{out}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    let at = html.find("id=\"answer\"").expect("an Answer section");
    assert!(at < html.find("id=\"models\"").unwrap());
    assert!(html.contains(&format!("mock-g sustains {best} concurrent streams")));
    assert!(html.contains("id=\"search-table\""));
}

#[test]
fn knee_in_the_0_6_form_with_its_adaptive_pass_and_a_ranking_of_two_models() {
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .model("mock-a")
        .model("mock-b")
        .data("prompt_tokens=8,output_tokens=8")
        .profile("knee")
        .rate("1,4,8,12,16,24")
        .max_requests(40)
        .mock(r#"{"step_base_us": 2000, "step_per_seq_us": 200, "max_num_seqs": 8}"#)
        .args(&[
            "--profile-args",
            "adaptive=true,points_each_side=1,max_step=2",
        ])
        .output(&dir.path().join("r.json"))
        .run();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    let cs = r["conclusions"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    for c in cs {
        assert_eq!(c["profile"], "knee");
        assert_eq!(c["kind"], "knee_detection");
        let model = c["model"].as_str().unwrap();
        let benches: Vec<&Value> = r["benchmarks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["model"] == model)
            .collect();
        let streams: Vec<u64> = benches
            .iter()
            .map(|b| n(&b["strategy"]["streams"]))
            .collect();
        // The six points in order, then the adaptive grid's unmeasured points.
        assert_eq!(streams[..6], [1, 4, 8, 12, 16, 24], "{streams:?}");
        let plan = &c["adaptive_plan"];
        let extra: Vec<u64> = plan["concurrencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(n)
            .collect();
        assert_eq!(streams[6..], extra[..], "{plan}");
        assert_eq!(c["knee_points"].as_array().unwrap().len(), streams.len());
        // 8 sequences at most in the engine: throughput stops rising at 8 streams.
        let fin = &c["final"]["throughput"];
        assert_eq!(fin["status"], "ok", "{c}");
        let knee = fin["knee"].as_f64().unwrap();
        assert!((4.0..=12.0).contains(&knee), "{knee}");
        assert!(c["answer"]
            .as_str()
            .unwrap()
            .contains("output throughput stops scaling at about"));
    }
    assert!(
        out.contains("Ranking by output token rate at the throughput knee:"),
        "{out}"
    );
    assert!(
        out.contains("  1. mock-") && out.contains("  2. mock-"),
        "{out}"
    );
}

#[test]
fn goodput_in_the_0_6_form_and_the_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .model("mock-g")
        .data("prompt_tokens=8,output_tokens=8")
        .profile("goodput")
        .rate("2")
        .max_requests(30)
        .mock(SHAPE)
        .args(&["--profile-args", "max_streams=4,max_probes=2"])
        .args(&["--slo", r#"{"tpot_ms": 1000}"#])
        .output(&dir.path().join("r.json"))
        .run();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let c = &read_json(&dir.path().join("r.json"))["conclusions"][0];
    // Met everywhere: 2, then 4 = max_streams, and the answer says the limit is higher.
    let streams: Vec<u64> = c["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| n(&p["streams"]))
        .collect();
    assert_eq!(streams, [2, 4]);
    assert_eq!(c["stop_reason"], "max_streams_reached");
    assert!(
        c["answer"]
            .as_str()
            .unwrap()
            .contains("reached max_streams=4 without a miss"),
        "{c}"
    );

    for (args, want) in [
        (
            vec!["--profile", "goodput", "--rate", "2"],
            "--profile goodput searches for the highest load meeting latency targets, so it needs them: add --slo",
        ),
        (
            vec!["--profile", "concurrent", "--rate", "2", "--profile-args", "max_streams=4"],
            "--profile-args applies to --profile goodput, knee and replay, not to --profile concurrent",
        ),
        (
            vec!["--profile", "knee", "--profile-args", "min_streams=8,max_streams=2,count=5"],
            "--profile-args kind=knee: min_streams (8) must be less than max_streams (2)",
        ),
        (
            vec!["--profile", "goodput", "--rate", "2,4", "--slo", r#"{"tpot_ms": 5}"#],
            "--profile goodput takes one --rate",
        ),
        (
            vec!["--profile", "goodput", "--slo", r#"{"tpot": 5}"#],
            "tpot",
        ),
    ] {
        let out_dir = dir.path().join("refused");
        let o = MockRun::new()
            .model("mock-g")
            .data("prompt_tokens=8,output_tokens=8")
            .max_requests(5)
            .args(&args[..])
            .args(&["--output-dir".as_ref(), out_dir.as_os_str()])
            .run();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!out_dir.exists(), "{args:?} wrote files");
    }
}

/// A knee run stopped by a stopping_scope=all constraint at its third benchmark: the search
/// escalates no further and skips its adaptive pass (GuideLLM's knee profile), and the
/// over-saturation detector's verdicts reach its saturation analysis.
#[test]
fn a_knee_stopped_by_a_scope_all_constraint_with_the_detector_monitoring() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(dir.path())
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args([
            "--engine-warmup-requests",
            "0",
            "--backend",
            r#"kind=vllm_python,model=mock,engine=mock,mock={"fail_every": 4}"#,
            "--profile",
            "kind=knee,initial_streams=[1,2,3,4,5,6],adaptive=true",
            "--constraint",
            "kind=max_requests,count=20",
            "--constraint",
            "kind=max_errors,count=[10,10,2],stopping_scope=all",
            "--constraint",
            "kind=over_saturation,mode=monitor",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=4",
            "--output",
            "kind=json,path=r.json",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b.len(), 3, "{out}");
    assert_eq!(b[2]["stopped_by_scope_all"], "max_errors");
    assert!(
        out.contains("knee stopped: max_errors (stopping_scope=all)"),
        "{out}"
    );
    let c = &r["conclusions"][0];
    assert_eq!(c["adaptive_plan"]["status"], "skipped", "{c}");
    assert!(c["adaptive_plan"]["reason"]
        .as_str()
        .unwrap()
        .contains("stopping_scope=all"));
    assert_ne!(c["final"]["saturation"]["status"], "unavailable", "{c}");
}

/// `decide_early`: each probe ends once Wald's sequential test has decided it, long before its
/// 60 s limit. Where every request of a probe met the target (or every one missed) the test
/// needs exactly ⌈ln(19) / ln(0.92/0.88)⌉ = 67 requests to pass (⌈ln(19) / ln(0.12/0.08)⌉ = 8 to
/// miss) at target 0.9, margin 0.02, confidence 0.95.
#[test]
fn goodput_probes_decided_early_by_the_sequential_test() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(dir.path())
        .env_remove("GUIDELLM__DEFAULT_RESULTS_DIR")
        .arg("run")
        .arg("--python")
        .arg(python())
        .args([
            "--backend",
            &format!("kind=vllm_python,model=mock-d,engine=mock,mock={SHAPE}"),
            "--profile",
            "kind=goodput,initial_streams=1,max_streams=32,target_attainment=0.9,decide_early=true",
            "--metrics",
            r#"kind=generative,slo={"tpot_ms": 13}"#,
            "--constraint",
            "kind=max_duration,seconds=60",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=8",
            "--output",
            "kind=json,path=r.json",
        ])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let r = read_json(&dir.path().join("r.json"));
    let c = &r["conclusions"][0];
    let probes = c["probes"].as_array().unwrap();
    assert!(probes.len() >= 4, "{c}");
    let (mut all_met, mut all_missed) = (0, 0);
    for (p, b) in probes.iter().zip(r["benchmarks"].as_array().unwrap()) {
        assert_eq!(b["ended_by"], "attainment_decided", "{b}");
        let d = &p["decided_early"];
        assert_eq!(d["passed"], p["passed"], "{p}");
        let att = p["attainment"].as_f64().unwrap();
        if att == 1.0 {
            assert_eq!(
                (d["passed"].as_bool(), n(&d["requests"])),
                (Some(true), 67),
                "{p}"
            );
            all_met += 1;
        } else if att == 0.0 {
            assert_eq!(
                (d["passed"].as_bool(), n(&d["requests"])),
                (Some(false), 8),
                "{p}"
            );
            all_missed += 1;
        }
    }
    // 1 and 2 streams (about 4 and 6 ms of TPOT) meet 13 ms on any machine; 8 (about 18 ms)
    // misses it wherever the search gets there.
    assert!(all_met >= 2, "{c}");
    eprintln!("{all_met} probes decided on all met, {all_missed} on all missed");
    assert_eq!(c["stop_reason"], "converged");
    assert!(
        c["answer"]
            .as_str()
            .unwrap()
            .contains("Wald's sequential test"),
        "{c}"
    );
}
