//! The real binary and the real worker, with the worker's mock engine: handshake, streaming,
//! abort, shutdown, and a worker killed mid-run.
mod common;
use common::*;
use std::time::Duration;

/// `calibrate` measures the machine's ceiling: it runs alone, not beside the other tests of this
/// file (they share two cores), which take this lock shared.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_machine() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

fn out_json(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("r.json")
}

#[test]
fn synchronous_requests_stream_exact_counts_and_shut_down_cleanly() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .model("mock-model")
        .data("prompt_tokens=64,output_tokens=32")
        .profile("synchronous")
        .max_requests(5)
        .args(&["--print-requests"])
        .mock(r#"{"step_base_us": 500, "prefill_base_us": 2000}"#)
        .output(&out_json(&dir))
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    // One line per request on the console (--print-requests alone: up to 20).
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_end().ends_with("successful (length)"))
            .count(),
        5,
        "{stdout}"
    );
    let r = read_json(&out_json(&dir));
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 5);
    for q in &reqs {
        assert_eq!(q["status"], "successful");
        assert_eq!(q["prompt_tokens"], 64);
        assert_eq!(q["output_tokens"], 32);
        assert!(q["ttft_ms"].as_f64().unwrap() > 0.0);
    }
    // Synchronous: each request is sent only after the previous one ended.
    for w in reqs.windows(2) {
        assert!(w[1]["timestamps_ns"]["sent"].as_i64() >= w[0]["timestamps_ns"]["end"].as_i64());
    }
    assert_eq!(r["benchmarks"][0]["ended_by"], "max_requests");
    assert_eq!(r["models"][0]["engine_starts"], 1);
    assert_eq!(r["partial"], false);
    let pid = r["models"][0]["worker"]["pid"].as_i64().unwrap() as i32;
    assert!(
        !alive(pid),
        "worker {pid} must be gone after llmbench exits"
    );
}

#[test]
fn max_seconds_aborts_in_flight_requests_keeping_their_tokens() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .data("prompt_tokens=16,output_tokens=100000")
        .profile("concurrent")
        .rate("3")
        .max_seconds(1.0)
        .mock(r#"{"step_base_us": 1000, "max_model_len": 200000}"#)
        .output(&out_json(&dir))
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out_json(&dir));
    assert_eq!(r["benchmarks"][0]["ended_by"], "max_seconds");
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 3, "three streams, none finished");
    for q in &reqs {
        assert_eq!(q["status"], "incomplete");
        assert_eq!(q["finish_reason"], "abort");
        let n = q["output_tokens"].as_u64().unwrap();
        assert!(n > 10 && n < 100000, "partial tokens kept: {n}");
    }
}

#[test]
fn worker_killed_mid_run_gives_a_clear_error_and_keeps_finished_records() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let path = out_json(&dir);
    let mut run = spawn_cmd(
        &mut MockRun::new()
            .data("prompt_tokens=16,output_tokens=20")
            .profile("constant")
            .rate("20")
            .max_seconds(60.0)
            .no_engine_warmup()
            .mock(r#"{"step_base_us": 1000}"#)
            .output(&path)
            .command(),
    );
    assert!(
        run.wait_stderr("engine ready", Duration::from_secs(60)),
        "{}",
        run.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let kids = descendants(run.child.id());
    let worker = kids
        .iter()
        .find(|(_, c)| c.starts_with("python"))
        .expect("worker process")
        .0;
    unsafe { libc::kill(worker, libc::SIGKILL) };
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    assert!(err.contains("killed by signal 9"), "{err}");
    let r = read_json(&path);
    let reqs = requests(&r, 0);
    let ok = reqs.iter().filter(|q| q["status"] == "successful").count();
    assert!(ok >= 5, "finished requests are kept: {ok}");
    assert!(
        reqs.iter().all(|q| q["status"] != "incomplete"),
        "in-flight requests of a dead worker are errored"
    );
    assert_eq!(r["benchmarks"][0]["ended_by"], "worker_died");
    assert_eq!(r["models"][0]["status"], "failed");
    assert!(wait_gone(&kids, Duration::from_secs(5)).is_empty());
}

#[test]
fn worker_that_exits_on_its_own_is_reported_with_its_status() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .data("prompt_tokens=16,output_tokens=10")
        .profile("synchronous")
        .max_requests(50)
        .no_engine_warmup()
        .mock(r#"{"step_base_us": 1000, "exit_after_outputs": 100}"#)
        // An item per token: 100 items are 10 requests of 10 tokens.
        .args(&["--token-coalesce-ms", "0"])
        .output(&out_json(&dir))
        .run();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exit status 3"), "{stderr}");
    let r = read_json(&out_json(&dir));
    let ok = requests(&r, 0)
        .iter()
        .filter(|q| q["status"] == "successful")
        .count();
    assert!(
        (5..=10).contains(&ok),
        "about 100 outputs / 10 tokens finished: {ok}"
    );
}

#[test]
fn a_setsid_grandchild_is_found_and_ended() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .model("m1")
        .model("m2")
        .data("prompt_tokens=8,output_tokens=4")
        .profile("synchronous")
        .max_requests(2)
        .mock(r#"{"spawn_setsid_child": true}"#)
        .output(&out_json(&dir))
        .run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let r = read_json(&out_json(&dir));
    for m in r["models"].as_array().unwrap() {
        let pid = m["engine"]["config"]["setsid_child_pid"]
            .as_i64()
            .expect("the mock reports its grandchild") as i32;
        assert!(
            !alive(pid),
            "setsid grandchild {pid} must be ended with its model"
        );
        assert_eq!(m["teardown"]["processes_left"], 0);
    }
}

#[test]
fn fake_gpu_memory_is_waited_for_and_reported() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("calls");
    let smi = dir.path().join("nvidia-smi");
    // Baseline 500 MiB; right after each teardown 4000 MiB, then back to 510 on the next read.
    std::fs::write(
        &smi,
        format!(
            "#!/bin/sh\nn=$(cat {s} 2>/dev/null || echo 0); echo $((n+1)) > {s}\nif [ $n -lt 2 ] || [ $((n % 2)) -eq 1 ]; then u=500; else u=4000; fi\n[ $n -ge 2 ] && [ $((n % 2)) -eq 1 ] && u=510\necho \"0, $u, 81559\"\n",
            s = state.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = MockRun::new()
        .model("a")
        .model("b")
        .data("prompt_tokens=8,output_tokens=4")
        .profile("synchronous")
        .max_requests(1)
        .output(&out_json(&dir))
        .env("LLMBENCH_NVIDIA_SMI", &smi.to_string_lossy())
        .run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let r = read_json(&out_json(&dir));
    assert_eq!(r["host"]["gpu"]["present"], true);
    for m in r["models"].as_array().unwrap() {
        let g = &m["teardown"]["gpu"];
        assert_eq!(g["baseline_mib"], serde_json::json!([500]));
        assert_eq!(g["after_teardown_mib"], serde_json::json!([4000]));
        assert_eq!(g["final_mib"], serde_json::json!([510]));
        assert_eq!(g["returned"], true);
    }
}

#[test]
fn a_starved_harness_is_flagged_and_a_comfortable_one_is_not() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let run = |rate: &str, mock: &str, name: &str| {
        let path = dir.path().join(name);
        let o = MockRun::new()
            .model("m")
            .data("prompt_tokens=32,output_tokens=32")
            .profile("constant")
            .rate(rate)
            .max_seconds(2.0)
            .no_engine_warmup()
            .args(&["--print-requests", "0"])
            .mock(mock)
            .output(&path)
            .run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        (
            read_json(&path)["benchmarks"][0]["headroom"].clone(),
            stdout,
        )
    };
    // Far above what one Python worker can stream back.
    let (h, stdout) = run(
        "40000",
        r#"{"prefill_base_us": 5000, "step_base_us": 1000}"#,
        "starved.json",
    );
    assert_eq!(h["harness_limited"], true, "{h}");
    assert!(!h["warnings"].as_array().unwrap().is_empty());
    assert!(
        stdout.contains("llmbench, not the engine, may have been the limit"),
        "{stdout}"
    );
    assert!(h["cpu_seconds_supervisor"].as_f64().unwrap() > 0.0);
    assert!(
        h["loop_lag_us"]["count"].as_u64().unwrap() >= 5,
        "the worker's ticker reported"
    );
    // A slow engine (10 ms steps) at a modest rate: the harness is nowhere near its limit.
    let (h, stdout) = run(
        "50",
        r#"{"prefill_base_us": 20000, "step_base_us": 10000}"#,
        "ok.json",
    );
    assert_eq!(h["harness_limited"], false, "{h}");
    assert!(!stdout.contains("may have been the limit"));
    assert!(h["delivery_us"]["median"].as_f64().unwrap() > 0.0);
}

#[test]
fn calibrate_reports_a_ceiling() {
    let _alone = MACHINE.write().unwrap_or_else(|e| e.into_inner());
    let o = bin()
        .args(["calibrate", "--seconds", "3", "--python"])
        .arg(python())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("harness ceiling"), "{stdout}");
    // One table row per rate of the ladder, each with its verdict: never dispatched above its
    // rate, and "yes" only where it was dispatched within 1% of it.
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.trim_end().ends_with("yes") || l.trim_end().ends_with("no"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 10, "{stdout}");
    for r in &rows {
        let (rate, dispatched): (f64, f64) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert!(dispatched <= 1.01 * rate, "{stdout}");
        if *r.last().unwrap() == "yes" {
            assert!((dispatched - rate).abs() <= 0.01 * rate, "{stdout}");
        }
    }
    // The verdict names the highest sustained rate of the table (when the machine sustained one).
    let line = stdout
        .lines()
        .find(|l| l.starts_with("harness ceiling"))
        .unwrap();
    if let Some(rest) = line.split("at least ").nth(1) {
        let rate = rest.split_whitespace().next().unwrap();
        let best = rows.iter().rev().find(|r| *r.last().unwrap() == "yes");
        assert_eq!(best.map(|r| r[0]), Some(rate), "{stdout}");
    }
}

/// An engine that hangs while runnable (its step never returns; the worker stays responsive, so
/// nothing about the process looks wrong): the watchdog ends the benchmark as `engine_stalled`,
/// fails the model with the time of its last progress and kills its processes. (The real-engine
/// version, with a next model that runs, is in tests/engine_failures.rs.)
#[test]
fn an_engine_that_hangs_while_runnable_is_stalled() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let o = MockRun::new()
        .model("wedged")
        .data("prompt_tokens=16,output_tokens=10")
        .profile("concurrent")
        .rate("4")
        .max_requests(200)
        .args(&["--engine-stall-timeout", "2"])
        .no_engine_warmup()
        .mock(r#"{"step_base_us": 1000, "hang_after_steps": 30}"#)
        .output(&out_json(&dir))
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("engine_stalled"), "{stderr}");
    let r = read_json(&out_json(&dir));
    let m = &r["models"][0];
    assert_eq!(m["status"], "failed");
    let err = m["error"].as_str().unwrap();
    assert!(
        err.contains("no progress for 2 s") && err.contains("last progress was"),
        "{err}"
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "engine_stalled");
    let stuck: Vec<_> = requests(&r, 0)
        .into_iter()
        .filter(|q| {
            q["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("engine_stalled"))
        })
        .collect();
    assert_eq!(stuck.len(), 4, "the four streams' requests in flight");
    assert!(stuck.iter().all(|q| q["status"] == "incomplete"));
    assert!(b["longest_stall"]["seconds"].as_f64().unwrap() >= 2.0);
    // 30 steps of 1 ms with 4 streams of 10 tokens: about 12 requests finished before the hang.
    let ok = requests(&r, 0)
        .iter()
        .filter(|q| q["status"] == "successful")
        .count();
    assert!((4..=20).contains(&ok), "{ok} finished before the hang");
    assert_eq!(m["teardown"]["processes_left"], 0);
    assert!(!alive(m["worker"]["pid"].as_i64().unwrap() as i32));
}

/// Multi-turn data on the mock engine, both ways of counting: GuideLLM's (every turn takes a
/// slot, think time frees it) and `--conversation-slots` (a stream holds its conversation).
#[test]
fn conversations_take_turns_and_conversation_slots_hold_a_stream() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let o = MockRun::new()
            .data("prompt_tokens=20,output_tokens=8,turns=3,delay=0.05")
            .profile("concurrent")
            .rate("2")
            .max_requests(12)
            .no_engine_warmup()
            .args(extra)
            .output(&out_json(&dir))
            .run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("Conversations by Turn"), "{stdout}");
        read_json(&out_json(&dir))
    };
    let held = run(&["--conversation-slots"]);
    let c = &held["benchmarks"][0]["summary"]["conversations"];
    assert_eq!(
        (
            c["started"].as_u64(),
            c["completed"].as_u64(),
            c["cut"].as_u64()
        ),
        (Some(4), Some(4), Some(0)),
        "{c}"
    );
    let reqs = requests(&held, 0);
    assert_eq!(reqs.len(), 12);
    for q in &reqs {
        let t = &q["turn"];
        let k = t["index"].as_u64().unwrap();
        // the mock's prompts: 20 tokens per message, 8 per reply, nothing between
        assert_eq!(q["prompt_tokens"].as_u64().unwrap(), 20 + k * 28, "{q}");
        if k > 0 {
            let prev = reqs
                .iter()
                .find(|p| {
                    p["turn"]["conversation"] == t["conversation"]
                        && p["turn"]["index"].as_u64() == Some(k - 1)
                })
                .expect("the previous turn");
            assert_eq!(
                q["timestamps_ns"]["scheduled"].as_i64().unwrap(),
                prev["timestamps_ns"]["end"].as_i64().unwrap() + 50_000_000,
                "due at reply + think time"
            );
        }
    }
    // The HTML report shows the same per-turn rows.
    let o = bin()
        .args(["benchmark", "from-file"])
        .arg(out_json(&dir))
        .args(["--outputs", "html", "--output-dir"])
        .arg(dir.path().join("html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let html = std::fs::read_to_string(dir.path().join("html/benchmarks.html")).unwrap();
    assert!(
        html.contains("id=\"turns-table\""),
        "the HTML report has the turns table"
    );
    assert!(html.contains("4 started, 4 completed, 0 cut"));
    let free = run(&[]);
    let c = &free["benchmarks"][0]["summary"]["conversations"];
    assert!(
        c["started"].as_u64().unwrap() > 4,
        "think time frees the slot for a new conversation: {c}"
    );
    assert_eq!(
        c["started"].as_u64().unwrap(),
        c["completed"].as_u64().unwrap() + c["cut"].as_u64().unwrap()
    );
    // Think-time keys without turns are refused before anything runs.
    let o = MockRun::new()
        .data("prompt_tokens=20,output_tokens=8,delay=1")
        .profile("synchronous")
        .max_requests(1)
        .output(&dir.path().join("no.json"))
        .run();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("delay describes multi-turn conversations and needs turns of 2 or more"),
        "{stderr}"
    );
    assert!(!dir.path().join("no.json").exists());
}

/// File conversations with `recorded_replies`: the dataset's replies stand in the history (the
/// mock's built-in tokenizer counts one token per word) and their lengths are the output
/// targets; a turn without a role is refused, naming the row.
#[test]
fn file_conversations_with_recorded_replies() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chats.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"messages": [{"role": "user", "content": "a b c"}, {"role": "assistant", "content": "one two three four"}, {"role": "user", "content": "d e"}, {"role": "assistant", "content": "five six"}]}"#,
            "\n",
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y z"}, {"role": "user", "content": "w"}, {"role": "assistant", "content": "v"}, {"role": "user", "content": "u t"}]}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = MockRun::new()
        .model("mock-chat")
        .data(file.to_str().unwrap())
        .args(&["--data-args", r#"{"recorded_replies": true}"#])
        .profile("synchronous")
        .no_engine_warmup()
        .output(&out_json(&dir))
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out_json(&dir));
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 5, "2 + 3 user turns");
    let turn_ids = r["models"][0]["request_format"]["turn_ids"]
        .as_array()
        .unwrap()
        .len() as u64;
    let suffix = r["models"][0]["request_format"]["template_suffix_tokens"]
        .as_u64()
        .unwrap();
    let n = |q: &serde_json::Value, k: &str| q[k].as_u64().unwrap();
    // Synchronous: conversation 1's turns, then conversation 2's.
    let recorded = [4u64, 0, 2, 1, 0];
    for (k, q) in reqs.iter().enumerate() {
        let idx = q["turn"]["index"].as_u64().unwrap();
        if idx == 0 {
            continue;
        }
        let prev = &reqs[k - 1];
        assert_eq!(prev["turn"]["conversation"], q["turn"]["conversation"]);
        let history = n(prev, "prompt_tokens") + recorded[k - 1];
        assert_eq!(
            q["turn"]["history_tokens"].as_u64().unwrap(),
            history,
            "{q}"
        );
        assert_eq!(
            n(q, "prompt_tokens"),
            history + turn_ids + n(q, "content_tokens") + suffix
        );
    }
    // Output targets: the recorded replies' lengths (4 and 2 words; 2, 1, and the mock's
    // default of 128 for the last turn, which has no reply).
    let outs: Vec<u64> = reqs.iter().map(|q| n(q, "output_tokens")).collect();
    assert_eq!(outs, [4, 2, 2, 1, 128]);

    std::fs::write(
        &file,
        r#"{"messages": [{"role": "user", "content": "a"}, {"content": "b"}, {"role": "user", "content": "c"}]}"#,
    )
    .unwrap();
    let o = MockRun::new()
        .data(file.to_str().unwrap())
        .profile("synchronous")
        .output(&dir.path().join("no.json"))
        .run();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 1: turn 1 of its conversation in column \"messages\" has no role"),
        "{stderr}"
    );
    assert!(!dir.path().join("no.json").exists());
}

#[test]
fn vllm_python_batch_in_the_run_form_batches_by_size_and_by_timeout() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let path = out_json(&dir);
    // Two benchmarks: 5 streams with batches of 4 (a full batch at once, the fifth request
    // waits for the timeout or for three more), then one stream (every batch partial: each
    // request waits the whole timeout before the engine sees it).
    let o = bin()
        .args([
            "run",
            "--backend",
            r#"kind=vllm_python_batch,model=mock-model,engine=mock,batch_size=4,batch_timeout=0.03,mock={"step_base_us": 500}"#,
            "--profile",
            "kind=concurrent,streams=[5,1]",
            "--data",
            "kind=synthetic_text,prompt_tokens=16,output_tokens=8",
            "--constraint",
            "kind=max_requests,count=12",
            "--python",
            "python3",
            "--output",
        ])
        .arg(format!("kind=json,path={}", path.display()))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&path);
    assert_eq!(r["llmbench_config"]["backend"], "vllm_python_batch");
    assert_eq!(
        r["llmbench_config"]["batching"],
        serde_json::json!({"batch_size": 4, "batch_timeout": 0.03})
    );
    let g = &r["benchmarks"][0]["config"]["backend"];
    assert_eq!(
        (&g["kind"], &g["batch_size"], &g["batch_timeout"]),
        (
            &serde_json::json!("vllm_python_batch"),
            &serde_json::json!(4),
            &serde_json::json!(0.03)
        )
    );
    check_micro_batches(&r["benchmarks"][0], 4, 8);
    let alone = &r["benchmarks"][1];
    assert_eq!(
        check_micro_batches(alone, 1, 8),
        12,
        "one stream: a batch per request"
    );
    for q in alone["records"].as_array().unwrap() {
        let t = &q["timestamps_ns"];
        let waited =
            t["worker_submitted"].as_u64().unwrap() - t["worker_received"].as_u64().unwrap();
        assert!(
            waited >= 30_000_000,
            "a partial batch waits batch_timeout: {waited} ns"
        );
    }
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
}

#[test]
fn offline_ceiling_runs_one_batch_on_the_same_engine_and_gives_each_benchmark_its_share() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let path = out_json(&dir);
    let o = bin()
        .args([
            "run",
            "--backend",
            r#"kind=vllm_python,model=mock-model,engine=mock,mock={"step_base_us": 1000, "max_num_seqs": 32}"#,
            "--profile",
            "kind=concurrent,streams=[1,4]",
            "--data",
            "kind=synthetic_text,prompt_tokens=16,output_tokens=12",
            "--constraint",
            "kind=max_requests,count=8",
            "--offline-ceiling",
            "24",
            "--python",
            "python3",
            "--output",
        ])
        .arg(format!("kind=json,path={}", path.display()))
        .arg("--output")
        .arg(format!("kind=html,path={}", dir.path().join("c.html").display()))
        .arg("--output")
        .arg(format!("kind=csv,path={}", dir.path().join("c.csv").display()))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&path);
    assert_eq!(r["models"][0]["engine_starts"], 1);
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b.len(), 3);
    let c = &b[2];
    assert_eq!(c["offline_ceiling"]["is_ceiling"], true);
    assert_eq!(c["summary"]["requests"]["successful"], 24);
    assert_eq!(check_micro_batches(c, 24, 12), 1, "one batch of 24");
    let tps = |b: &serde_json::Value| b["summary"]["output_tokens_per_second"].as_f64().unwrap();
    for s in &b[..2] {
        assert_eq!(s["offline_ceiling"]["is_ceiling"], false);
        let share = s["offline_ceiling"]["share"].as_f64().unwrap();
        assert!((share - tps(s) / tps(c)).abs() < 1e-9);
        // the streamed benchmarks kept streaming
        assert!(s["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["output_events"].as_u64().unwrap() > 2));
    }
    // One stream of one request at a time cannot reach a batch of 24 on a 32-sequence engine.
    assert!(b[0]["offline_ceiling"]["share"].as_f64().unwrap() < 0.5);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("offline ceiling of mock-model"))
        .expect(&stdout);
    assert!(
        line.contains("24 requests at once") && line.contains("0 (concurrent@1)"),
        "{line}"
    );
    let html = std::fs::read_to_string(dir.path().join("c.html")).unwrap();
    let table = &html[html.find("id=\"ceiling-table\"").expect("ceiling table")..];
    assert!(table.contains("the ceiling") && table.contains("streamed"));
    // The CSV: a column per figure, under the JSON path it comes from.
    let csv = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
    let rows: Vec<Vec<String>> = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let col = rows[1]
        .iter()
        .position(|m| m == "offline_ceiling.share")
        .expect("share column");
    assert_eq!(rows[0][col], "Offline ceiling");
    assert_eq!(rows[5][col], "1.0", "the ceiling's own row");
    let share0: f64 = rows[3][col].parse().unwrap();
    assert!((share0 - b[0]["offline_ceiling"]["share"].as_f64().unwrap()).abs() < 1e-12);
    assert!(schema_errors(&r).is_empty(), "{:?}", schema_errors(&r));
}

/// A chat template that renders a conversation's earlier replies under another tag than the one
/// it opens a reply with: history is rewritten, so later turns cannot be spliced.
const REWRITING_TEMPLATE: &str = "{% for m in messages %}{% if m['role'] == 'user' %}<|user|>\n{{ m['content'] }}<|end|>\n{% else %}<|bot|>\n{{ m['content'] }}<|end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

#[test]
fn a_template_that_rewrites_history_has_later_turns_rendered_and_says_by_how_much() {
    let _machine = shared_machine();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("rewrite.jinja");
    std::fs::write(&template, REWRITING_TEMPLATE).unwrap();
    // ShareGPT conversations of three user turns each (the engine's replies form the history).
    let data = dir.path().join("chats.jsonl");
    let row = |k: usize| {
        let say = |t: usize| {
            format!("conversation {k} turn {t}: tell me more about the river and the mill by the old bridge")
        };
        serde_json::json!({"conversations": [
            {"from": "human", "value": say(0)}, {"from": "gpt", "value": "sure, the river ran past the mill for a long time"},
            {"from": "human", "value": say(1)}, {"from": "gpt", "value": "and then the mill stopped and the bridge fell"},
            {"from": "human", "value": say(2)}, {"from": "gpt", "value": "that is all there is to tell"}]}).to_string()
    };
    std::fs::write(&data, (0..4).map(row).collect::<Vec<_>>().join("\n")).unwrap();
    // The mock engine with the tiny model's real tokenizer (no vLLM engine needed to render).
    let o = bin()
        .args([
            "benchmark",
            "run",
            "--model",
            &model("tiny-llama"),
            "--backend-kwargs",
        ])
        .arg(mock_kwargs(r#"{"step_base_us": 500}"#))
        .arg("--request-format")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args([
            "--data-args",
            r#"{"output_tokens_from_reply": true}"#,
            "--rate-type",
            "concurrent",
        ])
        .args([
            "--rate",
            "2",
            "--max-requests",
            "12",
            "--engine-warmup-requests",
            "0",
            "--python",
        ])
        .arg(python())
        .arg("--output-path")
        .arg(out_json(&dir))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("renders a conversation's history differently")
            && stderr.contains("rendered from the conversation's messages"),
        "{stderr}"
    );
    let r = read_json(&out_json(&dir));
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 12);
    let mut differs = 0;
    for q in &reqs {
        assert_eq!(q["status"], "successful", "{q}");
        let (engine, spliced) = (
            q["prompt_tokens"].as_u64().unwrap(),
            q["prompt_tokens_sent"].as_u64().unwrap(),
        );
        if q["turn"]["index"] == 0 {
            assert_eq!(engine, spliced, "a first turn is sent as built: {q}");
        } else {
            // the rendering: the earlier reply under <|bot|>, decoded and tokenized again
            differs += usize::from(engine != spliced);
            assert!(
                engine > q["turn"]["history_tokens"].as_u64().unwrap() / 2,
                "{q}"
            );
        }
    }
    assert_eq!(differs, 8, "every later turn was rendered, not spliced");
    let turns = &r["benchmarks"][0]["summary"]["conversations"]["turns"];
    assert!(turns[0].get("rendered_minus_spliced_tokens").is_none());
    for t in [&turns[1], &turns[2]] {
        let d = &t["rendered_minus_spliced_tokens"];
        assert_eq!(d["count"], 4, "{t}");
        assert!(d["mean"].as_f64().unwrap() != 0.0, "{d}");
    }
    assert!(r["models"][0]["request_format"]["turn_note"].is_string());
}

/// `--token-coalesce-ms`: the worker sends a lone stream's later tokens together (far fewer
/// frames than tokens) and every token keeps its own arrival time (gaps are not collapsed to
/// zero, the mean gap is the request's TPOT); 0 sends one frame per token. The console and the
/// HTML say what llmbench used per 1,000 tokens.
#[test]
fn coalesced_token_frames_keep_every_tokens_time() {
    let _machine = shared_machine();
    let run = |coalesce: &str, dir: &tempfile::TempDir| {
        let o = MockRun::new()
            .data("prompt_tokens=16,output_tokens=48")
            .profile("synchronous")
            .max_requests(6)
            .mock(r#"{"step_base_us": 1000, "ttft_us": 2000}"#)
            .args(&[
                "--token-coalesce-ms",
                coalesce,
                "--outputs",
                "json,html",
                "--output-dir",
            ])
            .args(&[dir.path()])
            .run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
        (read_json(&dir.path().join("benchmarks.json")), stdout)
    };
    for (coalesce, held) in [("20", true), ("0", false)] {
        let dir = tempfile::tempdir().unwrap();
        let (r, stdout) = run(coalesce, &dir);
        let b = &r["benchmarks"][0];
        let reqs = requests(&r, 0);
        assert_eq!(reqs.len(), 6);
        let tokens: u64 = reqs
            .iter()
            .map(|q| q["output_tokens"].as_u64().unwrap())
            .sum();
        assert_eq!(tokens, 6 * 48);
        let frames = b["headroom"]["output_frames"].as_u64().unwrap();
        if held {
            // 48 tokens a millisecond apart: the first alone, the rest in 20 ms frames
            assert!(frames * 3 < tokens, "{frames} frames for {tokens} tokens");
        } else {
            assert!(frames >= tokens, "{frames} frames for {tokens} tokens");
        }
        let itl = &b["summary"]["itl_ms"];
        assert_eq!(itl["count"].as_u64(), Some(6 * 47));
        // Sending 20 ms of tokens in one frame must not stamp them alike: were they given their
        // frame's arrival, 19 of every 20 gaps would be 0. (A single gap may still be 0: a held
        // token stamped before its request's first token arrived is placed at that arrival,
        // which on a loaded host can be more than a step after the engine made it; and with
        // coalescing off, two frames read together arrive together.)
        assert!(itl["p50"].as_f64().unwrap() > 0.0, "most gaps are 0: {itl}");
        let tpot = b["summary"]["tpot_ms"]["mean"].as_f64().unwrap();
        let mean = itl["mean"].as_f64().unwrap();
        assert!(
            (tpot - mean).abs() < 1e-6 * tpot.max(1.0),
            "{tpot} vs {mean}"
        );
        assert!(
            stdout.contains("llmbench's Own Cost (per 1,000 output tokens)"),
            "{stdout}"
        );
        let per1k = &b["headroom"]["per_1k_output_tokens"];
        let f = per1k["output_frames"].as_f64().unwrap();
        assert!((f - frames as f64 * 1000.0 / tokens as f64).abs() < 1e-6);
        let html = std::fs::read_to_string(dir.path().join("benchmarks.html")).unwrap();
        assert!(html.contains("id=\"harness-cost-table\""));
    }
}
