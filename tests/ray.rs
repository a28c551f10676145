//! Engines on Ray, on a machine without GPUs (docs/cluster.md, "Ray"). A Ray head started here
//! stands in for an existing cluster (`RAY_ADDRESS`). Ray comes from LLMBENCH_TEST_RAY_SITE
//! (scripts/setup-ray.sh installs it there; scripts/test.sh sets it), put on the worker's
//! PYTHONPATH. What is proved:
//! (a) the real vLLM with `distributed_executor_backend: "ray"` fails with vLLM's own root cause
//!     (its CPU platform has no Ray executor) and leaves no actor, placement group or process;
//! (b) with the mock engine creating a placement group and actors the way vLLM's Ray executor
//!     does: a normal run releases them (Ray's state, and the report's `models[].ray`), a kill -9
//!     of llmbench mid-benchmark releases them too, and a local Ray instance started by the
//!     engine ends with it.
mod common;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn ray_site() -> PathBuf {
    let p = std::env::var_os("LLMBENCH_TEST_RAY_SITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/ray-site"));
    assert!(
        p.join("ray").is_dir(),
        "no Ray at {} — run scripts/setup-ray.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A Ray head of its own (its own temp dir and port), stopped when dropped.
struct Head {
    address: String,
    _tmp: tempfile::TempDir,
}

/// Ray 2.5x turns token authentication on for a cluster started where a token file exists
/// (~/.ray/auth_token, written by any local `ray.init()` that started an instance), and a
/// client without the token cannot connect: every Ray process here runs with it off.
const AUTH: (&str, &str) = ("RAY_AUTH_MODE", "disabled");

fn py_with_ray() -> Command {
    let mut c = Command::new(python());
    c.env("PYTHONPATH", ray_site()).env(AUTH.0, AUTH.1);
    c
}

impl Head {
    fn start() -> Head {
        let tmp = tempfile::Builder::new()
            .prefix("rt")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = py_with_ray()
            .args([
                "-c",
                "from ray.scripts.scripts import main; main()",
                "start",
                "--head",
            ])
            .arg(format!("--port={port}"))
            .args([
                "--num-cpus=2",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ])
            .arg(format!("--temp-dir={}", tmp.path().display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ray start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Head {
            address: format!("127.0.0.1:{port}"),
            _tmp: tmp,
        }
    }

    /// Ray's state, read independently of llmbench: each actor and placement group with its
    /// state and job.
    fn state(&self) -> Value {
        let script = r#"
import json, sys, ray
from ray._private import state
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print("STATE " + json.dumps({
  "actors": [{"id": k, "state": v["State"], "job": v["JobID"]} for k, v in state.actors().items()],
  "groups": [{"id": k, "state": v["state"], "job": k[-8:]} for k, v in state.state.placement_group_table().items()],
}))
"#;
        let o = py_with_ray()
            .args(["-c", script, &self.address])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("STATE "))
            .unwrap_or_else(|| panic!("state: {}", String::from_utf8_lossy(&o.stderr)));
        serde_json::from_str(line).unwrap()
    }

    /// (alive actors, placement groups not removed) of `job`.
    fn held_by(&self, job: &str) -> (usize, usize) {
        let s = self.state();
        let n = |k: &str, gone: &str| {
            s[k].as_array()
                .unwrap()
                .iter()
                .filter(|x| x["job"] == job && x["state"] != gone)
                .count()
        };
        (n("actors", "DEAD"), n("groups", "REMOVED"))
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        let _ = py_with_ray()
            .args([
                "-c",
                "from ray.scripts.scripts import main; main()",
                "stop",
                "--force",
            ])
            .output();
    }
}

/// The pids of Ray's own daemons on this host (gcs_server, raylet).
fn ray_daemons() -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if matches!(comm.trim(), "gcs_server" | "raylet") && alive(pid) {
            out.push(pid);
        }
    }
    out
}

fn mock_ray_run(dir: &std::path::Path, address: Option<&str>, seconds: &str) -> Command {
    let mut c = bin();
    c.args([
        "benchmark",
        "run",
        "--model",
        "mock-model",
        "--backend-kwargs",
    ])
    .arg(r#"{"engine": "mock", "mock": {"ray_actors": 2, "step_base_us": 2000}}"#)
    .args([
        "--data",
        "prompt_tokens=16,output_tokens=8",
        "--rate-type",
        "synchronous",
    ])
    .args(["--max-seconds", seconds, "--python"])
    .arg(python())
    .arg("--output-path")
    .arg(dir.join("r.json"))
    .env("PYTHONPATH", ray_site())
    .env(AUTH.0, AUTH.1);
    match address {
        Some(a) => c.env("RAY_ADDRESS", a),
        None => c.env_remove("RAY_ADDRESS"),
    };
    c
}

#[test]
fn ray_engines_release_their_actors_and_fail_with_vllms_cause_on_cpu() {
    let head = Head::start();
    let dir = tempfile::tempdir().unwrap();

    // (b) A normal run: the mock's two actors and placement group live on the cluster during
    // the run and are released after it; the report says so.
    let o = mock_ray_run(dir.path(), Some(&head.address), "2")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&dir.path().join("r.json"));
    let m = &r["models"][0];
    let cfg = &m["engine"]["config"];
    let job = cfg["ray_job_id"].as_str().unwrap().to_string();
    assert_eq!(cfg["ray_actor_pids"].as_array().unwrap().len(), 2);
    assert_eq!(head.held_by(&job), (0, 0), "released after a normal run");
    let ray = &m["ray"];
    assert_eq!(ray["address"], head.address.as_str());
    assert_eq!(ray["nodes_alive"], 1);
    assert_eq!(ray["engine_jobs"], serde_json::json!([job]));
    assert_eq!(
        (&ray["engine_actors"], &ray["engine_placement_groups"]),
        (&2.into(), &1.into())
    );
    assert_eq!(ray["left"], serde_json::json!([]));
    assert!(ray["released_after_s"].as_f64().is_some());
    assert!(ray["note"]
        .as_str()
        .unwrap()
        .contains("GPU memory on other nodes"));
    assert!(
        r["benchmarks"][0]["summary"]["requests"]["successful"]
            .as_u64()
            .unwrap()
            > 0
    );

    // (b) kill -9 of llmbench while its engine's actors are alive: the worker dies with it, Ray
    // sees its driver gone and ends the actors and the placement group.
    let dir2 = tempfile::tempdir().unwrap();
    let mut run = spawn_cmd(&mut mock_ray_run(dir2.path(), Some(&head.address), "120"));
    let pid = run.child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.stderr().contains("running benchmark 0") {
        assert!(Instant::now() < deadline, "never started: {}", run.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its two actors are alive on the cluster (the only ones on this head).
    let job2 = loop {
        let s = head.state();
        let alive: Vec<String> = s["actors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "ALIVE")
            .map(|a| a["job"].as_str().unwrap().to_string())
            .collect();
        if alive.len() == 2 {
            break alive[0].clone();
        }
        assert!(Instant::now() < deadline, "actors never alive: {s}");
    };
    let kids = descendants(pid);
    run.kill9();
    let t0 = Instant::now();
    let held = loop {
        let held = head.held_by(&job2);
        if held == (0, 0) || t0.elapsed() > Duration::from_secs(60) {
            break held;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        held,
        (0, 0),
        "Ray released the actors of a SIGKILLed llmbench's engine"
    );
    eprintln!(
        "kill -9: Ray released the engine's actors and placement group within {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        wait_gone(&kids, Duration::from_secs(10)),
        vec![],
        "no process of llmbench left"
    );

    // (a) The real vLLM on Ray: its CPU platform has no Ray executor. vLLM's root cause reaches
    // the console and the report, and nothing of the engine stays on the cluster.
    let dir3 = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["benchmark", "run", "--model", &model("tiny-llama"), "--backend-kwargs"])
        .arg(r#"{"vllm_config": {"enforce_eager": true, "max_model_len": 1024, "kv_cache_memory_bytes": 67108864, "distributed_executor_backend": "ray"}}"#)
        .args(["--data", "prompt_tokens=16,output_tokens=4", "--max-requests", "2", "--python"])
        .arg(python())
        .arg("--output-path")
        .arg(dir3.path().join("r.json"))
        .env("PYTHONPATH", ray_site())
        .env(AUTH.0, AUTH.1)
        .env("RAY_ADDRESS", &head.address)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("current platform cpu does not support ray"),
        "{stderr}"
    );
    let r = read_json(&dir3.path().join("r.json"));
    let m = &r["models"][0];
    assert_eq!(m["status"], "failed");
    assert!(
        m["root_cause"].to_string().contains("does not support ray"),
        "{m}"
    );
    let ray = &m["ray"];
    assert_eq!(
        ray["engine_jobs"].as_array().unwrap().len(),
        1,
        "EngineCore connected: {ray}"
    );
    assert_eq!(
        (&ray["engine_actors"], &ray["left"]),
        (&0.into(), &serde_json::json!([]))
    );
    let engine_job = ray["engine_jobs"][0].as_str().unwrap();
    assert_eq!(head.held_by(engine_job), (0, 0));
    assert_eq!(m["teardown"]["processes_left"], 0);

    // (b) No RAY_ADDRESS: the engine starts a local Ray instance of its own; it ends with the
    // engine (no new gcs_server or raylet on the host afterwards).
    let daemons = ray_daemons();
    let dir4 = tempfile::tempdir().unwrap();
    let o = mock_ray_run(dir4.path(), None, "2").output().unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&dir4.path().join("r.json"));
    let m = &r["models"][0];
    assert_eq!(m["engine"]["config"]["ray_local_instance"], true);
    assert!(m["ray"]["address"].is_null());
    assert_eq!(m["teardown"]["processes_left"], 0);
    let after: Vec<i32> = ray_daemons()
        .into_iter()
        .filter(|p| !daemons.contains(p))
        .collect();
    assert_eq!(
        after,
        Vec::<i32>::new(),
        "the local Ray instance's daemons ended"
    );
}
