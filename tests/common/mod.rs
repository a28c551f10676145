//! Shared helpers for the tests that run the real binary and real worker processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with vLLM that scripts/test.sh set up (or the repo's venv).
pub fn python() -> PathBuf {
    let p = std::env::var_os("LLMBENCH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/vllm-venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with vLLM at {} — run scripts/test.sh (it builds the venv)",
        p.display()
    );
    p
}

pub fn model(name: &str) -> String {
    let dir = std::env::var_os("LLMBENCH_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/models"));
    let p = dir.join(name);
    assert!(
        p.join("config.json").exists(),
        "tiny model {} missing — run scripts/make-tiny-model.sh",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmbench"));
    c.env_remove("LLMBENCH_PYTHON").env_remove("VIRTUAL_ENV");
    c
}

/// llmbench for a test whose engine layout does not matter to what it checks (data, counts,
/// searches, report contents): vLLM's engine core runs the model itself (`UniProcExecutor`, the
/// layout vLLM uses for one GPU) instead of in a third process. vLLM's CPU platform picks its
/// multiprocessing executor unless `VLLM_ENABLE_V1_MULTIPROCESSING=0`; the variable only changes
/// the executor, as `AsyncLLM` always runs its engine core as a child process. It saves a process
/// start and a vLLM import (about 10 s of 20) per engine start on 2 cores. The tests of teardown,
/// kills, failures and parallel layouts keep vLLM's CPU default (`bin()`).
pub fn engine_bin() -> Command {
    let mut c = bin();
    c.env("VLLM_ENABLE_V1_MULTIPROCESSING", "0");
    c
}

/// The real-engine config used throughout the tests.
pub const VLLM_KWARGS: &str = r#"{"vllm_config": {"enforce_eager": true, "max_model_len": 1024, "kv_cache_memory_bytes": 67108864}}"#;

pub fn mock_kwargs(mock: &str) -> String {
    format!(r#"{{"engine": "mock", "mock": {mock}}}"#)
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("running llmbench");
    out
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn read_json(p: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    serde_json::from_str(&s).expect("report is JSON")
}

pub fn requests(report: &serde_json::Value, bench: usize) -> Vec<serde_json::Value> {
    report["benchmarks"][bench]["records"]
        .as_array()
        .expect("records")
        .clone()
}

/// Live (non-zombie) descendants of `pid`, with their command names.
pub fn descendants(pid: u32) -> Vec<(i32, String)> {
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat[stat.find('(').unwrap() + 1..close].to_string();
        let mut it = stat[close + 2..].split_whitespace();
        let state = it.next().unwrap_or("");
        let ppid: i32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        procs.push((p, ppid, state.to_string(), comm));
    }
    let mut found = vec![pid as i32];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for (p, pp, _, _) in &procs {
            if *pp == parent && !found.contains(p) {
                found.push(*p);
            }
        }
        i += 1;
    }
    procs
        .into_iter()
        .filter(|(p, _, st, _)| *p != pid as i32 && found.contains(p) && st != "Z")
        .map(|(p, _, _, c)| (p, c))
        .collect()
}

/// Names in /dev/shm of the kinds a vLLM worker group creates: Python shared memory (`psm_*`,
/// vLLM's ring buffers) and multiprocessing semaphores (`sem.mp-*`).
pub fn shm_entries() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("psm_") || n.starts_with("sem.mp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The value following `flag` on the command line of process `pid`.
pub fn cmdline_arg(pid: i32, flag: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let close = s.rfind(')').unwrap_or(0);
            !s[close + 2..].starts_with('Z')
        }
    }
}

/// Waits up to `within` for every pid to be gone; returns those still alive.
pub fn wait_gone(pids: &[(i32, String)], within: Duration) -> Vec<(i32, String)> {
    let end = Instant::now() + within;
    loop {
        let left: Vec<_> = pids.iter().filter(|(p, _)| alive(*p)).cloned().collect();
        if left.is_empty() || Instant::now() > end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns llmbench with stderr captured line by line into a shared buffer.
pub struct Running {
    pub child: Child,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

pub fn spawn(args: &[&str]) -> Running {
    spawn_cmd(bin().args(args))
}

pub fn spawn_cmd(cmd: &mut Command) -> Running {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning llmbench");
    let err = child.stderr.take().unwrap();
    let buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            b.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    Running { child, stderr: buf }
}

impl Running {
    pub fn wait_stderr(&self, needle: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if self.stderr.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
    pub fn kill9(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a test's llmbench behind, even when an assertion failed.
        let pids = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for (p, _) in pids {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
}

/// Errors of `report` against docs/report-schema.json (empty when it validates).
pub fn schema_errors(report: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/report-schema.json")).unwrap(),
    )
    .expect("the schema is JSON");
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    v.iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// One `llmbench benchmark run` against the worker's mock engine, with the flags a test needs:
/// `MockRun::new().data("prompt_tokens=16,output_tokens=10").profile("synchronous")
/// .max_requests(50).mock(r#"{"step_base_us": 1000}"#).output(&path).run()`.
/// The model is `mock` unless `model` names others; the mock engine's shape is `{}` unless
/// `mock` gives one; `--python` is the test Python.
#[derive(Debug, Clone, Default)]
pub struct MockRun {
    models: Vec<String>,
    mock: Option<String>,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
}

impl MockRun {
    pub fn new() -> MockRun {
        MockRun::default()
    }
    /// A model (repeat for several); `mock` when none is named.
    pub fn model(mut self, name: &str) -> MockRun {
        self.models.push(name.into());
        self
    }
    pub fn data(self, spec: &str) -> MockRun {
        self.args(&["--data", spec])
    }
    pub fn profile(self, profile: &str) -> MockRun {
        self.args(&["--profile", profile])
    }
    pub fn rate(self, rate: &str) -> MockRun {
        self.args(&["--rate", rate])
    }
    pub fn max_requests(self, n: u64) -> MockRun {
        self.args(&["--max-requests", &n.to_string()])
    }
    pub fn max_seconds(self, s: f64) -> MockRun {
        self.args(&["--max-seconds", &s.to_string()])
    }
    /// `--engine-warmup-requests 0`: every request the engine sees is a recorded one.
    pub fn no_engine_warmup(self) -> MockRun {
        self.args(&["--engine-warmup-requests", "0"])
    }
    /// The mock engine's shape (the `mock` object of `--backend-kwargs`).
    pub fn mock(mut self, shape: &str) -> MockRun {
        self.mock = Some(shape.into());
        self
    }
    /// `--output-path`.
    pub fn output(self, path: &Path) -> MockRun {
        self.args(&["--output-path".as_ref(), path.as_os_str()])
    }
    /// Any other flags, as typed.
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> MockRun {
        self.args.extend(args.iter().map(|a| a.as_ref().to_owned()));
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> MockRun {
        self.env.push((key.into(), value.into()));
        self
    }
    /// The command line, for `spawn_cmd` or for a test that adds to it.
    pub fn command(&self) -> Command {
        let mut c = bin();
        c.args(["benchmark", "run"]);
        if self.models.is_empty() {
            c.args(["--model", "mock"]);
        }
        for m in &self.models {
            c.args(["--model", m]);
        }
        let shape = self.mock.as_deref().unwrap_or("{}");
        c.args(["--backend-kwargs", &mock_kwargs(shape)])
            .arg("--python")
            .arg(python())
            .args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
    pub fn run(&self) -> Output {
        self.command().output().expect("running llmbench")
    }
}

/// Checks what vllm_python_batch promises in a report's benchmark: every request came back in
/// one item (not streamed) timed by the engine's stamps; requests reached the engine in
/// micro-batches of at most `size`, each after every request of the one before had ended.
pub fn check_micro_batches(bench: &serde_json::Value, size: usize, out_tokens: u64) -> usize {
    let mut reqs: Vec<&serde_json::Value> = bench["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["status"] == "successful")
        .collect();
    assert!(!reqs.is_empty());
    let ts = |q: &serde_json::Value, k: &str| q["timestamps_ns"][k].as_u64();
    for q in &reqs {
        assert_eq!(q["output_tokens"], out_tokens, "{q}");
        assert!(q["output_events"].as_u64().unwrap() <= 2, "{q}");
        assert_eq!(ts(q, "first_token"), ts(q, "engine_first_token"), "{q}");
        assert_eq!(ts(q, "last_token"), ts(q, "engine_last_token"), "{q}");
        assert!(ts(q, "worker_first_token").is_none(), "{q}");
        let ttft = q["ttft_ms"].as_f64().unwrap();
        let from_engine =
            (ts(q, "engine_first_token").unwrap() - ts(q, "sent").unwrap()) as f64 / 1e6;
        assert!((ttft - from_engine).abs() < 1e-3, "{ttft} vs {from_engine}");
    }
    // Batches: a request handed to the engine before every request handed over earlier had
    // ended is in their batch (the worker hands a batch's requests over one after another, and
    // on a busy machine that can take milliseconds); one handed over after all of them ended
    // starts the next. Batches that overlapped would merge here into one larger than `size`.
    reqs.sort_by_key(|q| ts(q, "worker_submitted").unwrap());
    let mut batches: Vec<Vec<&serde_json::Value>> = Vec::new();
    let mut ended = 0u64;
    for q in reqs {
        let sub = ts(q, "worker_submitted").unwrap();
        let end = ts(q, "engine_last_token").unwrap();
        match batches.last_mut() {
            Some(b) if sub < ended => b.push(q),
            _ => batches.push(vec![q]),
        }
        ended = ended.max(end);
    }
    assert!(
        batches.iter().all(|b| b.len() <= size),
        "{:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    batches.len()
}

/// A kernel CPU list ("0-2,5") from a report.
pub fn cpu_set(v: &serde_json::Value) -> std::collections::BTreeSet<u32> {
    let mut out = std::collections::BTreeSet::new();
    for part in v
        .as_str()
        .unwrap_or_else(|| panic!("a CPU list: {v}"))
        .split(',')
    {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        out.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap());
    }
    out
}

/// llmbench's CPU placement as a model's report entry and a benchmark of it show it: where the
/// engine bound some CPUs (`engine_bound_cpus`) and left others, the supervisor and the worker
/// ran on exactly the others (`llmbench_cpus`, the headroom's CPUs); else where they were.
/// Returns whether they were moved.
pub fn check_cpu_placement(model: &serde_json::Value, bench: &serde_json::Value) -> bool {
    let cfg = &model["engine"]["config"];
    let h = &bench["headroom"];
    let all: std::collections::BTreeSet<u32> =
        (0..std::thread::available_parallelism().unwrap().get() as u32).collect();
    let bound = match cfg.get("engine_bound_cpus") {
        Some(v) => cpu_set(v),
        None => Default::default(),
    };
    let rest: std::collections::BTreeSet<u32> = all.difference(&bound).cloned().collect();
    if bound.is_empty() || rest.is_empty() {
        assert!(
            cfg.get("llmbench_cpus").is_none(),
            "nothing to move to: {cfg}"
        );
        assert_eq!(cpu_set(&h["cpus_supervisor"]), all, "{h}");
        return false;
    }
    assert_eq!(cpu_set(&cfg["llmbench_cpus"]), rest, "{cfg}");
    assert_eq!(cpu_set(&h["cpus_supervisor"]), rest, "{h}");
    assert_eq!(cpu_set(&h["cpus_worker"]), rest, "{h}");
    true
}
