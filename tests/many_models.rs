//! Many models in one run: each in a fresh worker that is completely gone before the next,
//! failures contained, signals handled. Real engine on the tiny models, plus the mock where the
//! behaviour is the worker's own (setsid grandchildren).
mod common;
use common::*;
use std::time::Duration;

fn base(models: &[&str], out: &std::path::Path) -> std::process::Command {
    let mut c = bin();
    c.args(["benchmark", "run", "--backend", "vllm_python"]);
    for m in models {
        c.args(["--model", m]);
    }
    c.args([
        "--data",
        "prompt_tokens=64,output_tokens=32",
        "--backend-kwargs",
        VLLM_KWARGS,
        "--request-format",
        "plain",
    ])
    .arg("--python")
    .arg(python())
    .arg("--output-path")
    .arg(out)
    // A model id that is not a directory would otherwise be looked up on an unreachable hub.
    .env("HF_HUB_OFFLINE", "1");
    c
}

fn worker_pids(r: &serde_json::Value) -> Vec<i32> {
    r["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["worker"]["pid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

#[test]
fn a_failing_model_is_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (llama, qwen) = (model("tiny-llama"), model("tiny-qwen3"));
    let o = base(&[&llama, "does-not-exist", &qwen], &out)
        .args(["--profile", "synchronous", "--max-requests", "3"])
        .env("VLLM_ENABLE_V1_MULTIPROCESSING", "0") // layout does not matter here: engine_bin()
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed model makes the exit code non-zero\n{stdout}\n{stderr}"
    );
    let r = read_json(&out);
    let m = r["models"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (
            m[0]["status"].as_str(),
            m[1]["status"].as_str(),
            m[2]["status"].as_str()
        ),
        (Some("ok"), Some("failed"), Some("ok"))
    );
    assert!(
        m[1]["error"].as_str().unwrap().contains("does-not-exist"),
        "{}",
        m[1]["error"]
    );
    for i in [0, 2] {
        assert_eq!(m[i]["engine_starts"], 1);
        assert_eq!(
            m[i]["teardown"]["processes_left"], 0,
            "worker tree gone after teardown"
        );
    }
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["model"], llama.as_str());
    assert_eq!(b[1]["model"], qwen.as_str());
    assert!(b.iter().all(|x| x["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["status"] == "successful")));
    assert_eq!(r["host"]["gpu"]["present"], false);
    assert!(worker_pids(&r).iter().all(|&p| !alive(p)));
}

#[test]
fn engine_core_killed_mid_benchmark_keeps_the_partial_result_and_the_next_model_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (llama, qwen) = (model("tiny-llama"), model("tiny-qwen3"));
    let shm_before = shm_entries();
    let mut run = spawn_cmd(base(&[&llama, &qwen], &out).args([
        "--profile",
        "constant",
        "--rate",
        "10",
        "--max-seconds",
        "6",
    ]));
    assert!(
        run.wait_stderr("running benchmark 0", Duration::from_secs(240)),
        "{}",
        run.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let core = descendants(run.child.id())
        .into_iter()
        .find(|(_, c)| c.contains("EngineCor"))
        .expect("EngineCore process");
    unsafe { libc::kill(core.0, libc::SIGKILL) };
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", run.stderr());
    let r = read_json(&out);
    let m = r["models"].as_array().unwrap();
    assert_eq!(m[0]["status"], "failed");
    assert_eq!(m[1]["status"], "ok");
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b[0]["ended_by"], "worker_died");
    let reqs = b[0]["records"].as_array().unwrap();
    assert!(
        reqs.iter().filter(|q| q["status"] == "successful").count() >= 5,
        "finished requests kept"
    );
    assert_eq!(b[1]["model"], qwen.as_str());
    assert_eq!(b[1]["ended_by"], "max_seconds");
    // vLLM's CPU default binds its model worker's OpenMP threads and keeps a CPU for the rest:
    // llmbench's supervisor and worker ran there (on a host with more than one CPU).
    let placed = check_cpu_placement(&m[1], &b[1]);
    assert_eq!(
        placed,
        std::thread::available_parallelism().unwrap().get() > 1,
        "{}",
        m[1]["engine"]["config"]
    );
    assert!(worker_pids(&r).iter().all(|&p| !alive(p)));
    // The dead engine's shared memory did not outlive it (nor the healthy one's).
    let leaked: Vec<String> = shm_entries().difference(&shm_before).cloned().collect();
    assert!(leaked.is_empty(), "left in /dev/shm: {leaked:?}");
}

#[test]
fn ctrl_c_writes_a_partial_report_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let llama = model("tiny-llama");
    let shm_before = shm_entries();
    let mut run = spawn_cmd(base(&[&llama, &llama], &out).args([
        "--profile",
        "constant",
        "--rate",
        "5",
        "--max-seconds",
        "60",
    ]));
    assert!(
        run.wait_stderr("running benchmark 0", Duration::from_secs(240)),
        "{}",
        run.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let kids = descendants(run.child.id());
    let t0 = std::time::Instant::now();
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let status = run.child.wait().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "torn down within 10 s: {:?}",
        t0.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", run.stderr());
    let r = read_json(&out);
    assert_eq!(r["partial"], true);
    assert_eq!(r["interrupted"], true);
    let b = r["benchmarks"].as_array().unwrap();
    assert_eq!(b.len(), 1, "the second model never started");
    assert_eq!(b[0]["ended_by"], "interrupted");
    assert!(b[0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["status"] == "successful"));
    assert!(wait_gone(&kids, Duration::from_secs(5)).is_empty());
    let leaked: Vec<String> = shm_entries().difference(&shm_before).cloned().collect();
    assert!(leaked.is_empty(), "left in /dev/shm: {leaked:?}");
}

#[test]
fn kill_9_without_v1_multiprocessing_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let llama = model("tiny-llama");
    let mut run = spawn_cmd(
        base(&[&llama], &out)
            .args([
                "--profile",
                "constant",
                "--rate",
                "5",
                "--max-seconds",
                "60",
            ])
            .env("VLLM_ENABLE_V1_MULTIPROCESSING", "0"),
    );
    assert!(
        run.wait_stderr("running benchmark 0", Duration::from_secs(240)),
        "{}",
        run.stderr()
    );
    let kids = descendants(run.child.id());
    assert!(!kids.is_empty());
    run.kill9();
    let left = wait_gone(&kids, Duration::from_secs(5));
    assert!(left.is_empty(), "left after kill -9: {left:?}");
}

#[test]
fn models_file_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let list = dir.path().join("models.txt");
    std::fs::write(
        &list,
        format!(
            "# two models\n\n{} {{\"max_model_len\": 512}}\n{}\n",
            model("tiny-llama"),
            model("tiny-qwen3")
        ),
    )
    .unwrap();
    let o = base(&[], &out)
        .args([
            "--models-file",
            list.to_str().unwrap(),
            "--profile",
            "synchronous",
            "--max-requests",
            "2",
        ])
        .env("VLLM_ENABLE_V1_MULTIPROCESSING", "0") // layout does not matter here: engine_bin()
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let r = read_json(&out);
    let m = r["models"].as_array().unwrap();
    assert_eq!(m[0]["engine"]["max_model_len"], 512, "per-model override");
    assert_eq!(m[1]["engine"]["max_model_len"], 1024, "shared vllm_config");
}
