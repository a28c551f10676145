//! Trace replay through the real binary against the worker's mock engine: `--profile replay`
//! with Mooncake and trace_synthetic traces in both command-line forms, each row sent at its
//! scaled timestamp and the dispatch lag reported; bad traces refused in one sentence naming the
//! row, exit 2, nothing written.
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// A Mooncake row: `ts` ms, `n` prompt tokens in blocks of 16, the given hash ids.
fn mooncake_row(ts: f64, n: u32, ids: &[u64]) -> String {
    serde_json::json!({"timestamp": ts, "input_length": n, "output_length": 3, "hash_ids": ids})
        .to_string()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.to_string_lossy().into_owned()
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each record's scheduled offset from the benchmark's start (ns), in dispatch order.
fn offsets(b: &Value) -> Vec<u64> {
    let start = b["start_ns"].as_u64().unwrap();
    let mut recs: Vec<&Value> = b["records"].as_array().unwrap().iter().collect();
    recs.sort_by_key(|r| r["id"].as_u64().unwrap());
    let sent: Vec<u64> = recs
        .iter()
        .map(|r| r["timestamps_ns"]["sent"].as_u64().unwrap())
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "sent in trace order");
    recs.iter()
        .map(|r| r["timestamps_ns"]["scheduled"].as_u64().unwrap() - start)
        .collect()
}

#[test]
fn a_mooncake_trace_is_replayed_at_its_scaled_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let ts = [1000.0, 1100.0, 1100.0, 1400.0, 1650.0, 2000.0];
    let ids: [&[u64]; 6] = [&[1, 2], &[1, 3], &[4], &[1, 2, 5], &[6, 7], &[1]];
    let lens = [20, 30, 10, 40, 32, 16];
    let rows: Vec<String> = (0..6)
        .map(|i| mooncake_row(ts[i], lens[i], ids[i]))
        .collect();
    let trace = write(dir.path(), "t.jsonl", &rows);
    let out = dir.path().join("r.json");
    let o = MockRun::new()
        .data(&format!(
            "kind=mooncake,source={trace},hash_id_block_size=16"
        ))
        .profile("replay")
        .args(&["--profile-args", "time_scale=0.5"])
        .no_engine_warmup()
        .output(&out)
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("mooncake trace of 6 rows (timestamps in ms, 7 distinct 16-token blocks) spanning 1.000 s, replayed over 0.500 s at time_scale 0.5; dispatch lag (sent − scheduled) median"),
        "{stdout}"
    );
    let r = report(&out);
    let d = &r["llmbench_config"]["data_source"];
    assert_eq!(d["kind"], "trace");
    assert_eq!(d["trace_kind"], "mooncake");
    assert_eq!(d["rows"], 6);
    assert_eq!(d["timestamp_unit"], "ms");
    assert_eq!(d["hash_id_block_size"], 16);
    assert_eq!(d["distinct_blocks"], 7);
    assert_eq!(d["duration_s"], 1.0);
    assert_eq!(d["replay_duration_s"], 0.5);
    let b = &r["benchmarks"][0];
    assert_eq!(b["strategy"]["type"], "replay");
    assert_eq!(b["strategy"]["time_scale"], 0.5);
    assert_eq!(b["ended_by"], "data_exhausted");
    let want: Vec<u64> = ts
        .iter()
        .map(|t| ((t - 1000.0) * 0.5 * 1e6) as u64)
        .collect();
    assert_eq!(offsets(b), want);
    let lag = &b["summary"]["dispatch_lag_us"];
    assert_eq!(lag["count"], 6, "dispatch lag over every request");
    // Exact prompt lengths: the mock's chat frame around each row's input_length.
    let mut recs: Vec<&Value> = b["records"].as_array().unwrap().iter().collect();
    recs.sort_by_key(|r| r["id"].as_u64().unwrap());
    let content: Vec<u64> = recs
        .iter()
        .map(|r| r["content_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(content, lens.map(|l| l as u64));
    // The two rows at 1,100 ms are a burst: one write starts both, and the worker read it once.
    let stamp = |i: usize, k: &str| recs[i]["timestamps_ns"][k].as_u64().unwrap();
    assert_eq!(stamp(1, "sent"), stamp(2, "sent"));
    assert_eq!(stamp(1, "worker_received"), stamp(2, "worker_received"));
    assert!(stamp(0, "sent") < stamp(1, "sent") && stamp(2, "sent") < stamp(3, "sent"));
    // GuideLLM's view names the strategy as GuideLLM does.
    assert_eq!(b["config"]["strategy"]["type_"], "trace");
}

#[test]
fn trace_synthetic_rows_in_the_run_form_with_a_nested_source() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        r#"{"timestamp": 0.0, "input_length": 12, "output_length": 2}"#.to_string(),
        r#"{"timestamp": 0.2, "prompt": "Tell me about the sea.", "output_length": 2}"#.into(),
        r#"{"timestamp": 0.3, "input_length": 7}"#.into(),
        r#"{"timestamp": 0.6, "input_length": 9, "output_length": 1}"#.into(),
    ];
    let trace = write(dir.path(), "t.jsonl", &rows);
    let out = dir.path().join("r.json");
    let data = serde_json::json!({"kind": "trace_synthetic", "source": {"kind": "json_file", "path": trace}});
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .arg("--python")
        .arg(python())
        .args(["--engine-warmup-requests", "0"])
        .args(["--backend", "kind=vllm_python,model=mock,engine=mock"])
        .args(["--data", &data.to_string()])
        .args([
            "--profile",
            "kind=replay,time_scale=2,schedule_turn=timestamp",
        ])
        .args(["--constraint", "kind=max_requests,count=3"])
        .arg("--output")
        .arg(format!("kind=json,path={}", out.display()))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = report(&out);
    let d = &r["llmbench_config"]["data_source"];
    assert_eq!(d["trace_kind"], "trace_synthetic");
    assert_eq!(d["timestamp_unit"], "s");
    assert!(d.get("hash_id_block_size").is_none());
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "max_requests", "the constraint applies");
    assert_eq!(b["strategy"]["schedule_turn"], "timestamp");
    assert_eq!(offsets(b), vec![0, 400_000_000, 600_000_000]);
    assert_eq!(r["config"]["spec"]["profile"]["kind"], "replay");
}

/// Each bad trace: exit 2, one sentence naming the file's row, no report written.
#[test]
fn bad_traces_are_refused_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let good = mooncake_row(0.0, 20, &[1, 2]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                good.clone(),
                mooncake_row(500.0, 16, &[1]),
                mooncake_row(400.0, 16, &[3]),
            ],
            "row 3: timestamp 400 is earlier than the previous row's 500",
        ),
        (
            vec![mooncake_row(-5.0, 16, &[1])],
            "row 1: timestamp is negative (-5)",
        ),
        (
            vec![good.clone(), mooncake_row(10.0, 40, &[1, 2])],
            "row 2: 2 hash_ids for input_length 40, but blocks of 16 tokens need 3",
        ),
        (
            vec![
                good.clone(),
                r#"{"timestamp": 9, "output_length": 3, "hash_ids": [1]}"#.into(),
            ],
            "row 2 has no input_length",
        ),
    ];
    for (i, (rows, want)) in cases.iter().enumerate() {
        let trace = write(dir.path(), &format!("bad{i}.jsonl"), rows);
        let out = dir.path().join(format!("r{i}.json"));
        let o = MockRun::new()
            .data(&format!(
                "kind=mooncake,source={trace},hash_id_block_size=16"
            ))
            .profile("replay")
            .output(&out)
            .run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{want}: {stdout}\n{stderr}");
        assert!(stderr.contains(want), "want {want:?} in {stderr}");
        assert!(
            stderr.contains(&format!("bad{i}.jsonl")),
            "names the file: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
        assert!(!out.exists(), "nothing written");
    }
    // The replay profile needs a trace; --rate has no meaning for it.
    let trace = write(dir.path(), "ok.jsonl", &[good]);
    for (args, want) in [
        (
            vec![
                "--data",
                "prompt_tokens=8,output_tokens=2",
                "--profile",
                "replay",
            ],
            "--profile replay sends each row of a trace at its timestamp, so it needs trace data",
        ),
        (
            vec![
                "--data",
                &format!("kind=mooncake,source={trace},hash_id_block_size=16"),
                "--profile",
                "replay",
                "--rate",
                "2",
            ],
            "--rate is not used with --profile replay",
        ),
    ] {
        let o = MockRun::new().args(&args).run();
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "want {want:?} in {stderr}");
    }
}

/// A Mooncake trace whose rows name their conversation: each later row goes the recorded idle
/// gap (after the previous row's recorded duration, × time_scale) after the previous row has
/// ended, as its own prompt; max_session_wait trims the idle before a late session.
#[test]
fn a_conversation_trace_sends_later_rows_after_their_idle_gap() {
    let dir = tempfile::tempdir().unwrap();
    let row = |s: &str, ts: u32, n: u32, ids: &[u64], dur: Option<u32>| {
        let mut r = serde_json::json!({"session": s, "timestamp": ts, "input_length": n,
            "output_length": 3, "hash_ids": ids});
        if let Some(d) = dur {
            r["duration"] = d.into();
        }
        r.to_string()
    };
    let rows = vec![
        row("a", 0, 32, &[1, 2], Some(100)),
        row("b", 100, 16, &[3], None),
        row("a", 300, 48, &[1, 2, 4], Some(50)),
        row("a", 400, 48, &[1, 2, 5], None),
        row("c", 5000, 16, &[6], None),
    ];
    let trace = write(dir.path(), "conv.jsonl", &rows);
    let out = dir.path().join("r.json");
    let o = MockRun::new()
        .data(&format!(
            "kind=mooncake,source={trace},hash_id_block_size=16,conversation_id_column=session,max_session_wait=1000"
        ))
        .profile("replay")
        .args(&["--profile-args", "time_scale=0.5"])
        .no_engine_warmup()
        .output(&out)
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("mooncake trace of 5 rows (timestamps in ms, 6 distinct 16-token blocks, 1 conversation of several rows) spanning 5.000 s, replayed over 0.700 s after its session timing at time_scale 0.5"),
        "{stdout}"
    );
    let r = report(&out);
    let d = &r["llmbench_config"]["data_source"];
    assert_eq!(d["conversations"], 1);
    assert_eq!(d["session_timing"]["max_session_wait"], 1000.0);
    assert!(
        (d["replay_duration_s"].as_f64().unwrap() - 0.7).abs() < 1e-9,
        "{d}"
    );
    let g = &r["config"]["spec"]["data"][0];
    assert_eq!(g["max_session_wait"], 1000.0, "GuideLLM's view: {g}");
    assert_eq!(g["time_scale"], 0.001);
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "data_exhausted");
    let start = b["start_ns"].as_u64().unwrap();
    let mut recs: Vec<&Value> = b["records"].as_array().unwrap().iter().collect();
    assert_eq!(recs.len(), 5);
    recs.sort_by_key(|r| r["id"].as_u64().unwrap());
    let ts = |r: &Value, k: &str| r["timestamps_ns"][k].as_u64().unwrap();
    let mut by_conv: std::collections::BTreeMap<u64, Vec<&Value>> = Default::default();
    for q in &recs {
        by_conv
            .entry(q["turn"]["conversation"].as_u64().unwrap())
            .or_default()
            .push(q);
    }
    let convs: Vec<&Vec<&Value>> = by_conv.values().collect();
    let sizes: Vec<usize> = convs.iter().map(|c| c.len()).collect();
    assert_eq!(sizes, vec![3, 1, 1], "a's three rows, then b, then c");
    let a = convs[0];
    let content: Vec<u64> = a
        .iter()
        .map(|q| q["content_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(content, vec![32, 48, 48], "each row its own prompt");
    for (k, q) in a.iter().enumerate() {
        assert_eq!(q["turn"]["index"].as_u64().unwrap(), k as u64);
        assert_eq!(q["turn"]["history_tokens"].as_u64().unwrap_or(0), 0);
    }
    // Idle gaps: 300 − 0 − 100 = 200 ms, then 400 − 300 − 50 = 50 ms, each × 0.5.
    assert_eq!(ts(a[1], "scheduled"), ts(a[0], "end") + 100_000_000);
    assert_eq!(ts(a[2], "scheduled"), ts(a[1], "end") + 25_000_000);
    assert!(ts(a[1], "sent") >= ts(a[1], "scheduled"));
    // b at 100 ms × 0.5; c's 4,600 ms of idle after a's last row cut to 1,000: 1,400 ms × 0.5.
    assert_eq!(ts(convs[1][0], "scheduled") - start, 50_000_000);
    let c = ts(convs[2][0], "scheduled") - start;
    assert!(c.abs_diff(700_000_000) <= 1, "{c}");
}
