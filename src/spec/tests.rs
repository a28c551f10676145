//! The `run` form read into `RunArgs`: what each spec becomes, and the refusals.

use super::*;
use clap::Parser;

fn args(argv: &[&str]) -> Result<RunArgs> {
    let mut full = vec!["llmbench", "run"];
    full.extend_from_slice(argv);
    let cli = crate::cli::Cli::try_parse_from(full).expect("clap parses");
    let crate::cli::Command::Run(r) = cli.command else {
        panic!("not run")
    };
    run_args(&r)
}

fn err(argv: &[&str]) -> String {
    args(argv).expect_err("refused").to_string()
}

const BASE: [&str; 6] = [
    "--backend",
    "kind=vllm_python,model=m",
    "--data",
    "kind=synthetic_text,prompt_tokens=8,output_tokens=4",
    "--constraint",
    "kind=max_requests,count=5",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = BASE.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn the_issue_example_becomes_the_0_6_arguments() {
    let a = args(&[
        "--backend",
        r#"kind=vllm_python,model=Qwen/Qwen3-0.6B,vllm_config={"max_model_len": 4096}"#,
        "--profile",
        "kind=sweep,sweep_size=4",
        "--constraint",
        "kind=max_duration,seconds=20",
        "--data",
        "kind=synthetic_text,prompt_tokens=256,output_tokens=128",
        "--output",
        "kind=json,path=results/run.json",
        "--output",
        "kind=html",
    ])
    .unwrap();
    assert_eq!(a.model, vec!["Qwen/Qwen3-0.6B"]);
    assert_eq!(a.profile, Some(ProfileKind::Sweep));
    assert_eq!(a.rate.as_deref(), Some("4"));
    assert_eq!(a.max_seconds, Some(Values::one(20.0)));
    assert_eq!(
        serde_json::from_str::<Value>(a.backend_kwargs.as_deref().unwrap()).unwrap(),
        json!({"vllm_config": {"max_model_len": 4096}})
    );
    assert_eq!(
        serde_json::from_str::<Value>(a.data.as_deref().unwrap()).unwrap(),
        json!({"prompt_tokens": 256, "output_tokens": 128})
    );
    let f = a.from_spec.unwrap();
    assert_eq!(
        f.outputs,
        vec![
            (Format::Json, Some(PathBuf::from("results/run.json"))),
            (Format::Html, Some(PathBuf::from("benchmarks.html")))
        ]
    );
    assert_eq!(a.random_seed, 42);
}

#[test]
fn profiles_constraints_and_windows() {
    let a = args(&with(&[
        "--profile",
        "kind=concurrent,streams=[1,4,16],rampup_duration=2,warmup=0.1,cooldown={percent: 0.2, mode: requests}",
        "--constraint",
        "kind=max_errors,count=3",
        "--constraint",
        r#"{"kind": "over_saturation", "min_seconds": 5}"#,
    ]))
    .unwrap();
    assert_eq!(a.rate.as_deref(), Some("1,4,16"));
    assert_eq!(a.rampup, Some(2.0));
    assert_eq!((a.warmup, a.cooldown), (Some(0.1), Some(0.2)));
    assert_eq!(a.max_errors, Some(Values::one(3.0)));
    assert_eq!(a.max_requests, Some(Values::one(5.0)));
    let sat: Value = serde_json::from_str(a.over_saturation.as_deref().unwrap()).unwrap();
    assert_eq!(sat, json!({"min_seconds": 5}));
    assert_eq!(
        a.from_spec.unwrap().window_by,
        [WindowBy::PreferDuration, WindowBy::Requests]
    );
    let a = args(&with(&["--profile", "kind=poisson,rate=2.5"])).unwrap();
    assert_eq!(
        (a.profile, a.rate.as_deref()),
        (Some(ProfileKind::Poisson), Some("2.5"))
    );
}

#[test]
fn search_knobs_become_the_0_6_arguments() {
    let a = args(&[
        "--backend",
        "kind=vllm_python,model=m",
        "--data",
        "kind=synthetic_text,prompt_tokens=8,output_tokens=4",
        "--profile",
        "kind=sweep,sweep_size=4,strategy_type=poisson,max_concurrency=8",
        "--constraint",
        "kind=max_duration,seconds=[10,20,30]",
        "--constraint",
        "kind=min_requests,count=[5,10],stopping_scope=all",
        "--constraint",
        "kind=max_errors,count=2,stopping_scope=all",
        "--constraint",
        r#"{"kind": "over_saturation", "mode": "monitor", "moe_threshold": 3, "stopping_scope": "current"}"#,
    ])
    .unwrap();
    assert_eq!(a.max_seconds, Some(Values(vec![10.0, 20.0, 30.0])));
    assert_eq!(a.min_requests, Some(Values(vec![5.0, 10.0])));
    assert_eq!(
        a.stopping_scope_all.as_deref(),
        Some("min_requests,max_errors")
    );
    assert_eq!(
        (a.max_concurrency, a.sweep_strategy.as_deref()),
        (Some(8), Some("poisson"))
    );
    let sat: Value = serde_json::from_str(a.over_saturation.as_deref().unwrap()).unwrap();
    assert_eq!(sat, json!({"mode": "monitor", "moe_threshold": 3}));
    // GuideLLM's sweep default (written back in saved scenarios) is llmbench's default.
    let a = args(&with(&["--profile", "kind=sweep,max_concurrency=512"])).unwrap();
    assert_eq!(a.max_concurrency, None);
    let a = args(&with(&[
        "--profile",
        "kind=poisson,rate=[1,2],max_concurrency=3",
    ]))
    .unwrap();
    assert_eq!(a.max_concurrency, Some(3));
}

#[test]
fn overrides_make_the_profile_list() {
    let a = args(&with(&[
        "--profile",
        "kind=concurrent,streams=1",
        "--override",
        "profile.streams",
        "2,8",
        "--label",
        "team=infra",
    ]))
    .unwrap();
    assert_eq!(a.rate.as_deref(), Some("2,8"));
    let f = a.from_spec.unwrap();
    assert_eq!(f.labels.get("team").map(String::as_str), Some("infra"));
    let e = err(&with(&[
        "--profile",
        "kind=concurrent,streams=1",
        "--override",
        "constraints[0].count",
        "5,10",
    ]));
    assert!(e.contains("not supported yet"), "{e}");
    assert!(
        e.contains("as a list instead, e.g. --constraint kind=max_duration,seconds=[10,20,30]"),
        "{e}"
    );
}

#[test]
fn repeated_backends_are_models_with_their_own_config() {
    let a = args(&[
        "--backend",
        r#"kind=vllm_python,model=a,vllm_config={"max_model_len": 64}"#,
        "--backend",
        "kind=vllm_python,model=[b, c]",
        "--profile",
        "kind=synchronous",
        "--data",
        "kind=synthetic_text,prompt_tokens=8",
        "--constraint",
        "kind=max_requests,count=2",
    ])
    .unwrap();
    assert_eq!(a.model, vec!["a", "b", "c"]);
    let f = a.from_spec.unwrap();
    assert_eq!(
        f.model_overrides[0].1.get("max_model_len"),
        Some(&json!(64))
    );
    assert!(f.model_overrides[1].1.is_empty());
}

#[test]
fn refusals_are_one_sentence_naming_option_kind_and_key() {
    for (extra, want) in [
        (vec!["--profile", "kind=swep"], "--profile: unknown kind `swep`; valid kinds are synchronous, concurrent"),
        (vec!["--profile", "kind=sweep,size=4"], "--profile kind=sweep: unknown key `size`; valid keys are rampup_duration, warmup, cooldown, sweep_size"),
        (vec!["--profile", "kind=replay,time_scale=0"], "--profile kind=replay: time_scale must be greater than 0"),
        (vec!["--profile", "kind=replay,schedule_turn=later"], "--profile kind=replay: schedule_turn must be idle_gap or timestamp, not later"),
        (vec!["--profile", "kind=replay,rampup_duration=2"], "rampup_duration applies to constant, concurrent and throughput profiles"),
        (vec!["--profile", "kind=goodput,target_attainment=1"], "--profile kind=goodput: target_attainment must be a fraction above 0 and below 1"),
        (vec!["--profile", "kind=goodput,initial_streams=64,max_streams=8"], "initial_streams (64) must not exceed max_streams (8)"),
        (vec!["--profile", "kind=knee,min_streams=16,max_streams=4,count=5"], "--profile kind=knee: min_streams (16) must be less than max_streams (4)"),
        (vec!["--profile", "kind=knee,initial_streams=[1,2,3]"], "initial_streams needs at least 5 concurrency points"),
        (vec!["--profile", "kind=knee,initial_streams=[1,2,8,4,16]"], "distinct and increasing"),
        (vec!["--profile", "kind=knee"], "needs initial_streams"),
        (vec!["--profile", "kind=knee,initial_streams=[1,2,4,8,16],count=5"], "not both"),
        (vec!["--profile", "kind=goodput,max_probe=3"], "unknown key `max_probe`"),
        (vec!["--profile", "kind=concurrent"], "--profile kind=concurrent: streams is required"),
        (vec!["--profile", "kind=constant,rate=2,max_concurrency=0"], "--profile kind=constant: max_concurrency must be a whole number ≥ 1 (got 0)"),
        (vec!["--profile", "kind=sweep,strategy_type=burst"], "--profile kind=sweep: strategy_type must be constant or poisson, not burst"),
        (vec!["--profile", "kind=concurrent,streams=2,max_concurrency=4"], "--profile kind=concurrent: unknown key `max_concurrency`"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=min_requests,count=2.5"], "--constraint kind=min_requests: count must be a whole number ≥ 1 (or a list of them) (got 2.5)"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=min_requests"], "--constraint kind=min_requests: count is required"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=max_requests,count=3"], "--constraint kind=max_requests: is given twice"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=max_duration,seconds=[10,0]"], "--constraint kind=max_duration: seconds must be greater than 0 (got 0)"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=max_duration,seconds=[]"], "--constraint kind=max_duration: seconds is an empty list"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=max_duration,seconds=5,stopping_scope=some"], "--constraint kind=max_duration: stopping_scope must be current or all, not some"),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=over_saturation,mode=warn"], "--constraint kind=over_saturation: mode must be enforce or monitor, not \"warn\""),
        (vec!["--profile", "kind=synchronous", "--constraint", "kind=over_saturation,min_growth=0.5,moe_threshold=3"], "--constraint kind=over_saturation: moe_threshold belongs to GuideLLM's statistical detector"),
        (vec!["--profile", "kind=synchronous", "--output", "kind=plot,path=x.jpg"], "--output kind=plot"),
        (vec!["--profile", "kind=synchronous", "--metrics", "kind=generative,slo=500"], "--metrics kind=generative: slo must be a JSON object"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=synthetic_text,prompt_tokens=8,tool_call_turns=2"], "--data kind=synthetic_text: `tool_call_turns` is not supported yet"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=mooncake,source=t.csv"], "--data kind=mooncake: the trace t.csv must be a .jsonl or .json file"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=trace_synthetic,source=t.jsonl,timestamp_unit=us"], "--data kind=trace_synthetic: timestamp_unit must be s or ms"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=mooncake"], "--data kind=mooncake: source is required"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=synthetic_image"], "--data kind=synthetic_image is refused: llmbench benchmarks text generation"),
        (vec!["--profile", "kind=synchronous", "--data", "kind=csv_file,path=x.json"], "path x.json must end in .csv"),
        (vec!["--profile", "kind=synchronous", "--warmup-percent", "3"], "UNPARSED"),
    ] {
        if want == "UNPARSED" {
            continue;
        }
        let mut argv = BASE.to_vec();
        // A second --data or --constraint of the same kind would be a different error.
        if extra.contains(&"--data") {
            argv.truncate(2);
            argv.extend(["--constraint", "kind=max_requests,count=5"]);
        }
        argv.extend(extra.iter().copied());
        let e = err(&argv);
        assert!(e.contains(want), "{extra:?}: {e}");
        assert!(!e.contains('\n'), "one sentence: {e}");
    }
    let e = err(&[
        "--backend",
        "kind=openai_http,target=http://x",
        "--profile",
        "kind=synchronous",
        "--data",
        "kind=synthetic_text,prompt_tokens=8",
    ]);
    assert!(e.contains("llmbench runs vLLM's engine in-process"), "{e}");
    let e = err(&[
        "--profile",
        "kind=synchronous",
        "--data",
        "kind=synthetic_text,prompt_tokens=8",
    ]);
    assert!(e.contains("--backend is required"), "{e}");
    let e = err(&[
        "--backend",
        "kind=vllm_python,model=m",
        "--data",
        "kind=synthetic_text,prompt_tokens=8",
    ]);
    assert!(e.contains("--profile is required"), "{e}");
}

#[test]
fn builtin_scenarios_load_with_a_vllm_backend() {
    for (name, _) in BUILTIN_SCENARIOS.iter() {
        let a = args(&["--config", name, "--backend", "kind=vllm_python,model=m"]).unwrap();
        assert_eq!(a.profile, Some(ProfileKind::Concurrent), "{name}");
        assert!(a.rate.is_some() && a.max_seconds.is_some(), "{name}");
    }
    let a = args(&[
        "--config",
        "concurrent-1k-1k-equal",
        "--backend",
        "kind=vllm_python,model=m",
    ])
    .unwrap();
    assert_eq!(a.rate.as_deref(), Some("1,50,100,200,300"));
    assert_eq!(a.max_seconds, Some(Values::one(450.0)));
    let a = args(&[
        "--config",
        "rhaiis/concurrent-1k-1k-multiturn",
        "--backend",
        "kind=vllm_python,model=m",
    ])
    .unwrap();
    assert!(
        a.data.as_deref().unwrap().contains("\"turns\":5"),
        "{:?}",
        a.data
    );
}

#[test]
fn metrics_slo_becomes_the_0_6_forms_slo() {
    let mut argv = with(&["--profile", "kind=synchronous", "--metrics"]);
    argv.push(r#"kind=generative,slo={"ttft_ms": 500, "itl_ms": 80}"#);
    let a = args(&argv).unwrap();
    let slo: Value = serde_json::from_str(a.slo.as_deref().unwrap()).unwrap();
    assert_eq!(slo, json!({"ttft_ms": 500, "itl_ms": 80}));
    // YAML flow keys, as GuideLLM's own examples write them.
    let mut argv = with(&["--profile", "kind=synchronous", "--metrics"]);
    argv.push("kind=generative,slo={tpot_ms: 50}");
    let a = args(&argv).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(a.slo.as_deref().unwrap()).unwrap(),
        json!({"tpot_ms": 50})
    );
    let plan = crate::plan::slo(a.slo.as_deref(), true).unwrap().unwrap();
    assert_eq!(plan.tpot_ms, Some(50.0));
}

#[test]
fn metrics_confidence_becomes_the_0_6_forms_confidence_and_null_turns_it_off() {
    let level = |spec: &'static str| {
        let a = args(&with(&["--profile", "kind=synchronous", "--metrics", spec])).unwrap();
        crate::plan::confidence(a.confidence.as_deref(), true)
    };
    assert_eq!(level("kind=generative").unwrap(), Some(0.95));
    assert_eq!(level("kind=generative,confidence=0.9").unwrap(), Some(0.9));
    assert_eq!(level("kind=generative,confidence=null").unwrap(), None);
    assert_eq!(
        level(r#"{"kind": "generative", "confidence": null}"#).unwrap(),
        None
    );
    let e = level("kind=generative,confidence=1.5")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--metrics kind=generative: confidence must be a level between 0.5 and 1, both excluded (e.g. 0.95), or null to turn confidence intervals off, not 1.5");
}
