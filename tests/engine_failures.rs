//! Engines that fail the way GPU engines fail, on the real vLLM engine and the tiny models: a
//! wedged engine (its core process frozen) is found by the watchdog and contained, a shorter
//! freeze is reported as a stall, and a failure inside vLLM's engine-core process keeps its root
//! cause in the console and the report.
mod common;
use common::*;
use std::time::Duration;

fn base(models: &[&str], out: &std::path::Path) -> std::process::Command {
    base_with(models, out, VLLM_KWARGS)
}

fn base_with(models: &[&str], out: &std::path::Path, kwargs: &str) -> std::process::Command {
    base_data(models, out, kwargs, "prompt_tokens=32,output_tokens=16")
}

fn base_data(
    models: &[&str],
    out: &std::path::Path,
    kwargs: &str,
    data: &str,
) -> std::process::Command {
    let mut c = bin();
    c.args(["benchmark", "run", "--backend", "vllm_python"]);
    for m in models {
        c.args(["--model", m]);
    }
    c.args(["--data", data, "--backend-kwargs", kwargs])
        .arg("--python")
        .arg(python())
        .arg("--output-path")
        .arg(out)
        .env("HF_HUB_OFFLINE", "1");
    c
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: plain kill syscall on a process of this test's run.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// The engine-core process of a running llmbench, once its first benchmark has run `after`.
fn engine_core_after(run: &Running, after: Duration) -> i32 {
    assert!(
        run.wait_stderr("running benchmark 0", Duration::from_secs(300)),
        "{}",
        run.stderr()
    );
    std::thread::sleep(after);
    descendants(run.child.id())
        .into_iter()
        .find(|(_, c)| c.contains("EngineCor"))
        .expect("an EngineCore process")
        .0
}

#[test]
fn a_frozen_engine_core_is_stalled_killed_and_the_next_model_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (llama, qwen) = (model("tiny-llama"), model("tiny-qwen3"));
    let mut run = spawn_cmd(base(&[&llama, &qwen], &out).args([
        "--profile",
        "concurrent",
        "--rate",
        "4",
        "--max-requests",
        "300",
        "--engine-stall-timeout",
        "10",
    ]));
    let core = engine_core_after(&run, Duration::from_secs(1));
    signal(core, libc::SIGSTOP);
    let status = run.child.wait().unwrap();
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(1), "a model failed\n{stderr}");
    assert!(stderr.contains("engine_stalled"), "{stderr}");
    let r = read_json(&out);
    let m = r["models"].as_array().unwrap();
    assert_eq!(m[0]["status"], "failed");
    assert!(m[0]["error"]
        .as_str()
        .unwrap()
        .contains("last progress was"));
    assert_eq!(m[1]["status"], "ok", "the next model ran");
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b[0]["ended_by"], "engine_stalled");
    let stall = b[0]["longest_stall"]["seconds"].as_f64().unwrap();
    assert!(
        (10.0..30.0).contains(&stall),
        "ended one timeout after the freeze: {stall} s"
    );
    let stuck = requests(&r, 0)
        .iter()
        .filter(|q| {
            q["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("engine_stalled"))
        })
        .count();
    assert!((1..=4).contains(&stuck), "the requests in flight: {stuck}");
    assert!(requests(&r, 0).iter().any(|q| q["status"] == "successful"));
    assert_eq!(b[1]["model"], qwen.as_str());
    assert_eq!(b[1]["ended_by"], "max_requests");
    // The stopped process was killed (a SIGTERM would have waited for it to be continued), and
    // nothing of either model is left.
    assert!(!alive(core), "the frozen EngineCore is gone");
    assert!(m.iter().all(|x| x["teardown"]["processes_left"] == 0));
    assert!(descendants(run.child.id()).is_empty());
}

#[test]
fn a_freeze_shorter_than_the_timeout_is_reported_as_a_stall() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let llama = model("tiny-llama");
    let mut run = spawn_cmd(base(&[&llama], &out).args([
        "--profile",
        "concurrent",
        "--rate",
        "2",
        "--max-seconds",
        "8",
        "--engine-stall-timeout",
        "10",
    ]));
    let core = engine_core_after(&run, Duration::from_millis(1500));
    signal(core, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    signal(core, libc::SIGCONT);
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    let r = read_json(&out);
    assert_eq!(r["models"][0]["status"], "ok");
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "max_seconds");
    let stall = b["longest_stall"]["seconds"].as_f64().unwrap();
    // The model worker keeps polling for 1 s after its last read (counted as computing), so
    // the stall measured is the freeze less up to about 1.5 s.
    assert!((3.0..10.0).contains(&stall), "the 5 s freeze: {stall} s");
    let w = b["engine_warnings"][0].as_str().unwrap_or("");
    assert!(
        w.contains("no progress") && w.contains("not llmbench"),
        "{b}"
    );
}

#[test]
fn an_engine_that_fails_in_its_core_process_shows_vllms_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    // A copy of the tiny model whose weights file is corrupt.
    let m = dir.path().join("corrupt");
    std::fs::create_dir(&m).unwrap();
    for e in std::fs::read_dir(model("tiny-llama")).unwrap().flatten() {
        std::fs::copy(e.path(), m.join(e.file_name())).unwrap();
    }
    let mut junk = 16u64.to_le_bytes().to_vec();
    junk.extend(b"{\"garbage\": 1}  ");
    std::fs::write(m.join("model.safetensors"), junk).unwrap();
    let o = base(&[m.to_str().unwrap()], &out)
        .args(["--max-requests", "4"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    // vLLM's own line from the process that failed, in the console and the report.
    let cause = "SafetensorError: Error while deserializing header";
    assert!(stderr.contains(cause), "{stderr}");
    let r = read_json(&out);
    let rc: Vec<&str> = r["models"][0]["root_cause"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        rc.iter()
            .any(|l| l.contains(cause) && l.starts_with("(Worker pid=")),
        "{rc:?}"
    );
    // The whole engine log is kept beside the report.
    let log = r["models"][0]["engine_log"].as_str().unwrap();
    assert!(std::path::Path::new(log).starts_with(dir.path()));
    assert!(std::fs::read_to_string(log).unwrap().contains(cause));
}

#[test]
fn tensor_parallel_2_on_cpu_shows_vllms_numa_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let kw = r#"{"vllm_config": {"enforce_eager": true, "max_model_len": 1024, "kv_cache_memory_bytes": 67108864, "tensor_parallel_size": 2}}"#;
    let o = base_with(&[&model("tiny-llama")], &out, kw)
        .args(["--max-requests", "4", "--engine-log", "none"])
        .env("VLLM_CPU_OMP_THREADS_BIND", "auto")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let cause = "Not enough allowed NUMA nodes to bind threads";
    assert!(stderr.contains(cause), "{stderr}");
    assert!(stderr.contains("(EngineCore pid="), "{stderr}");
    let r = read_json(&out);
    let m = &r["models"][0];
    assert!(m["root_cause"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains(cause)));
    assert!(m["engine_log"].is_null(), "--engine-log none keeps no file");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the report"
    );
}

/// One long engine step — a single 40,000-token prefill on the CPU, seconds with no token and
/// no step event (about 2 s for 20,000 tokens on a fast 2-core machine, tens of seconds on a
/// slow one) — is not a stall: the model workers computing count as progress, so a 1 s
/// watchdog lets it finish.
#[test]
fn a_long_prefill_step_outlasting_the_watchdog_is_not_a_stall() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let kw = r#"{"vllm_config": {"enforce_eager": true, "max_model_len": 40960, "max_num_batched_tokens": 40960, "kv_cache_memory_bytes": 1073741824}}"#;
    let o = base_data(
        &[&model("tiny-llama")],
        &out,
        kw,
        "prompt_tokens=40000,output_tokens=2",
    )
    .args(["--profile", "synchronous", "--max-requests", "1"])
    .args([
        "--engine-warmup-requests",
        "0",
        "--engine-stall-timeout",
        "1",
    ])
    .args(["--request-format", "plain"])
    .env("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "1")
    .output()
    .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out);
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "max_requests");
    let q = &requests(&r, 0)[0];
    assert_eq!(q["status"], "successful");
    let ttft_s = q["ttft_ms"].as_f64().unwrap() / 1e3;
    eprintln!("the 40,000-token prefill step took {ttft_s:.1} s");
    assert!(
        ttft_s > 2.0,
        "precondition: the prefill step ({ttft_s:.1} s) must outlast the 1 s watchdog; raise prompt_tokens"
    );
    assert!(b["longest_stall"]["seconds"].as_f64().unwrap() < 1.0);
}

#[test]
fn a_vllm_config_of_the_wrong_type_is_named_with_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = base_with(
        &[&model("tiny-llama")],
        &out,
        r#"{"vllm_config": {"enforce_eager": true, "max_model_len": "lots"}}"#,
    )
    .args(["--profile", "synchronous", "--max-requests", "1"])
    .output()
    .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("vllm_config.max_model_len = 'lots': Input should be a valid integer"),
        "{stderr}"
    );
}
