//! `--shard K/N` through the real binary on the mock engine: a 4-model plan run as 2 shards (by
//! the flag and by Kubernetes' and Slurm's index variables) covers every model exactly once, the
//! merged report holds the unsharded run's benchmarks, a missing shard is named, and shards of
//! different plans are refused in one sentence.
mod common;
use common::*;
use std::path::Path;

const MODELS: [&str; 4] = ["mock-a", "mock-b", "mock-c", "mock-d"];

fn plan(out: &Path, extra: &[&str]) -> MockRun {
    let mut r = MockRun::new();
    for m in MODELS {
        r = r.model(m);
    }
    r.data("prompt_tokens=8,output_tokens=4")
        .profile("concurrent")
        .rate("1,2")
        .max_requests(4)
        .args(extra)
        .output(out)
}

/// (model, strategy label) of every benchmark of a report.
fn benches(r: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["model"].as_str().unwrap().to_string(),
                b["strategy"].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_shards_cover_the_plan_once_and_merge_into_the_whole() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let whole = plan(&p("whole.json"), &[]).run();
    assert!(whole.status.success(), "{:?}", text(&whole));
    let one = plan(&p("s1.json"), &["--shard", "1/2"]).run();
    assert!(one.status.success(), "{:?}", text(&one));
    assert!(
        text(&one).0.contains("shard 1/2 of plan "),
        "{:?}",
        text(&one)
    );
    // The second shard's index from Kubernetes (0-based), a third run of it from Slurm.
    let two = plan(&p("s2.json"), &["--shard", "auto/2"])
        .env("JOB_COMPLETION_INDEX", "1")
        .run();
    assert!(two.status.success(), "{:?}", text(&two));
    let slurm = plan(&p("s2-slurm.json"), &["--shard", "auto"])
        .env("SLURM_ARRAY_TASK_ID", "4")
        .env("SLURM_ARRAY_TASK_MIN", "3")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .run();
    assert!(slurm.status.success(), "{:?}", text(&slurm));

    let (r1, r2, rs) = (
        read_json(&p("s1.json")),
        read_json(&p("s2.json")),
        read_json(&p("s2-slurm.json")),
    );
    let models = |r: &serde_json::Value| -> Vec<String> {
        r["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["model"].as_str().unwrap().to_string())
            .collect()
    };
    // Round robin: shard 1 has the 1st and 3rd models, shard 2 the 2nd and 4th.
    assert_eq!(models(&r1), ["mock-a", "mock-c"]);
    assert_eq!(models(&r2), ["mock-b", "mock-d"]);
    assert_eq!(models(&rs), models(&r2));
    assert_eq!(r1["shard"]["index"], 1);
    assert_eq!(r2["shard"]["index"], 2);
    assert_eq!(r2["shard"]["index_from"], "JOB_COMPLETION_INDEX");
    assert_eq!(rs["shard"]["index_from"], "SLURM_ARRAY_TASK_ID");
    assert_eq!(r1["shard"]["units"], serde_json::json!([0, 2]));
    assert_eq!(r1["shard"]["total_units"], 4);
    let fp = r1["shard"]["plan_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert_eq!(r2["shard"]["plan_fingerprint"], fp);

    // Merged: the unsharded run's benchmarks, nothing missing.
    let o = bin()
        .current_dir(d.path())
        .args([
            "export",
            "s1.json",
            "s2.json",
            "--output",
            "kind=json,path=merged.json",
            "--output",
            "kind=html,path=merged.html",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let m = read_json(&p("merged.json"));
    // Each shard's host in the merged report, and in its HTML.
    assert_eq!(m["sources"][0]["shard"]["index"], 1);
    assert_eq!(m["sources"][1]["shard"]["index"], 2);
    let html = std::fs::read_to_string(p("merged.html")).unwrap();
    let host = m["sources"][0]["host"]["hostname"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        html.contains("id=\"runs-table\"") && html.contains(">2/2</td>") && html.contains(&host)
    );
    assert_eq!(benches(&m), benches(&read_json(&p("whole.json"))));
    assert_eq!(m["shards"]["missing"], serde_json::json!([]));
    assert_eq!(m["shards"]["present"], serde_json::json!([1, 2]));

    // One shard alone: the other is named as missing.
    let o = bin()
        .current_dir(d.path())
        .args(["export", "s1.json", "--output", "kind=json,path=half.json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("shards 2/2 of 2 are missing"),
        "{:?}",
        text(&o)
    );
    assert_eq!(
        read_json(&p("half.json"))["shards"]["missing"],
        serde_json::json!([2])
    );

    // A shard of another plan (another seed): refused in one sentence, nothing written.
    let other = plan(&p("other.json"), &["--shard", "2/2", "--random-seed", "7"]).run();
    assert!(other.status.success());
    let o = bin()
        .current_dir(d.path())
        .args([
            "export",
            "s1.json",
            "other.json",
            "--output",
            "kind=json,path=bad.json",
        ])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("s1.json and other.json are shards of different plans"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!p("bad.json").exists());
}

#[test]
fn a_bad_shard_is_one_sentence() {
    let d = tempfile::tempdir().unwrap();
    for (args, env, want) in [
        (
            vec!["--shard", "3/2"],
            None,
            "--shard 3/2: give K/N with 1 ≤ K ≤ N",
        ),
        (
            vec!["--shard", "auto/2"],
            None,
            "neither JOB_COMPLETION_INDEX",
        ),
        (
            vec!["--shard", "auto/2"],
            Some(("JOB_COMPLETION_INDEX", "5")),
            "JOB_COMPLETION_INDEX=5 is outside 0..1",
        ),
    ] {
        // Unset (empty) unless the case sets it: the scheduler variables of the machine running
        // the test must not decide the shard.
        let o = plan(&d.path().join("x.json"), &args)
            .env(
                "JOB_COMPLETION_INDEX",
                env.map_or("", |e: (&str, &str)| e.1),
            )
            .env("SLURM_ARRAY_TASK_ID", "")
            .run();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!d.path().join("x.json").exists());
    }
}
