use super::*;
use crate::report::tests::fixture;

const GUIDELLM_TOP: [&str; 3] = ["metadata", "config", "conclusions"];
const GUIDELLM_BENCH: [&str; 12] = [
    "type_",
    "config",
    "scheduler_state",
    "scheduler_metrics",
    "metrics",
    "requests",
    "warnings",
    "start_time",
    "end_time",
    "duration",
    "warmup_duration",
    "cooldown_duration",
];

fn view(r: &Report) -> Value {
    serde_json::to_value(WithGuideLlm(r)).unwrap()
}

#[test]
fn the_view_adds_guidellm_keys_and_leaves_llmbench_keys_as_they_were() {
    let r = fixture();
    let plain = serde_json::to_value(&r).unwrap();
    let mut v = view(&r);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys[keys.len() - 3..],
        GUIDELLM_TOP
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()[..],
        "GuideLLM's keys follow llmbench's"
    );
    for k in GUIDELLM_TOP {
        v.as_object_mut().unwrap().remove(k);
    }
    for b in v["benchmarks"].as_array_mut().unwrap() {
        for k in GUIDELLM_BENCH {
            assert!(b.get(k).is_some(), "benchmark has {k}");
            b.as_object_mut().unwrap().remove(k);
        }
    }
    assert_eq!(v, plain, "without GuideLLM's keys: the report as before");
}

#[test]
fn reading_the_view_back_and_writing_it_again_gives_the_same_bytes() {
    let r = fixture();
    let a = serde_json::to_string_pretty(&WithGuideLlm(&r)).unwrap();
    let back: Report = serde_json::from_str(&a).unwrap();
    let b = serde_json::to_string_pretty(&WithGuideLlm(&back)).unwrap();
    assert_eq!(a, b);
    // YAML too.
    let y = crate::render::yaml::render(&WithGuideLlm(&r));
    let yv: Value = serde_yaml_ng::from_str(&y).unwrap();
    assert_eq!(yv, view(&r));
}

#[test]
fn per_request_values_are_guidellms_definitions_of_llmbenchs_timestamps() {
    let r = fixture();
    let v = view(&r);
    let b = &v["benchmarks"][1];
    let records = b["records"].as_array().unwrap();
    let ok = b["requests"]["successful"].as_array().unwrap();
    assert_eq!(ok.len(), records.len());
    for (q, rec) in ok.iter().zip(records) {
        assert_eq!(q["request_id"], rec["id"].to_string());
        let close = |a: &Value, b: f64, tol: f64| (a.as_f64().unwrap() - b).abs() < tol;
        assert!(close(
            &q["time_to_first_token_ms"],
            rec["ttft_ms"].as_f64().unwrap(),
            1e-3
        ));
        assert!(close(
            &q["request_latency"],
            rec["latency_ms"].as_f64().unwrap() / 1e3,
            1e-6
        ));
        let t = &rec["timestamps_ns"];
        let ns = |k: &str| t[k].as_i64().unwrap() as f64 / 1e6;
        let out = rec["output_tokens"].as_f64().unwrap();
        let itl = (ns("last_token") - ns("first_token")) / (out - 1.0);
        assert!(close(&q["inter_token_latency_ms"], itl, 1e-3), "{q}");
        let tpot = (ns("last_token") - ns("sent")) / out;
        assert!(close(&q["time_per_output_token_ms"], tpot, 1e-3));
        assert_eq!(q["output_tokens"], rec["output_tokens"]);
        assert_eq!(q["prompt_tokens"], rec["prompt_tokens"]);
        assert_eq!(q["info"]["status"], "completed");
        assert_eq!(
            q["info"]["timings"]["token_iterations"],
            rec["output_events"]
        );
    }
}

#[test]
fn metrics_agree_with_the_summary_where_the_definitions_coincide() {
    let r = fixture();
    let v = view(&r);
    for (b, e) in v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&r.benchmarks)
    {
        let m = &b["metrics"];
        let s = &e.summary;
        assert_eq!(m["request_totals"]["successful"], s.requests.successful);
        assert_eq!(m["request_totals"]["errored"], s.requests.errored);
        let ttft = &m["time_to_first_token_ms"]["successful"];
        assert_eq!(ttft["count"], s.ttft_ms.count);
        assert!((ttft["mean"].as_f64().unwrap() - s.ttft_ms.mean).abs() < 1e-3);
        let lat = &m["request_latency"]["successful"];
        assert!((lat["mean"].as_f64().unwrap() * 1e3 - s.request_latency_ms.mean).abs() < 1e-3);
        // GuideLLM's times are Unix seconds in a float (a 0.24 µs step): over this fixture's
        // 8 ms benchmarks that is a few parts in 1e5 of the window.
        let rps = m["requests_per_second"]["successful"]["mean"]
            .as_f64()
            .unwrap();
        assert!(
            (rps - s.requests_per_second).abs() < 1e-4 * s.requests_per_second,
            "{rps} vs {}",
            s.requests_per_second
        );
        assert_eq!(
            b["duration"].as_f64().unwrap().round(),
            s.duration_s.round()
        );
        assert_eq!(b["type_"], "generative_benchmark");
        assert_eq!(b["config"]["strategy"]["type_"], "concurrent");
        assert!(m["request_dispatch_delay"].is_null(), "no arrival schedule");
        assert_eq!(m["time_to_last_round_trip_ms"]["total"]["count"], 0);
    }
    assert_eq!(v["metadata"]["version"], 2);
    assert_eq!(v["config"]["spec"]["backend"]["model"], "mock-model");
    assert_eq!(v["config"]["spec"]["profile"]["streams"], json!([1, 2]));
    assert_eq!(v["config"]["benchmarks"], json!([null]));
}

#[test]
fn a_run_of_several_models_names_each_in_its_benchmarks_and_the_scenario() {
    let mut r = fixture();
    r.llmbench_config.models.push(crate::report::ModelConfig {
        name: "second".into(),
        overrides: [("max_model_len".to_string(), json!(512))]
            .into_iter()
            .collect(),
    });
    r.benchmarks[1].model = "second".into();
    let v = view(&r);
    assert_eq!(v["config"]["spec"]["backend"]["model"], "mock-model");
    assert_eq!(
        v["config"]["benchmarks"],
        json!([null, {"backend.model": "second", "backend.vllm_config": {"max_model_len": 512}}])
    );
    assert_eq!(v["benchmarks"][1]["config"]["backend"]["model"], "second");
    assert_eq!(
        v["benchmarks"][1]["config"]["run_index"], 0,
        "first of its model"
    );
}

#[test]
fn a_sampled_benchmark_says_its_metrics_come_from_the_sample() {
    let mut r = fixture();
    r.benchmarks[1].requests_total += 10;
    let v = view(&r);
    let w = v["benchmarks"][1]["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w["code"] == "llmbench_metrics_from_sample"),
        "{w:?}"
    );
}

#[test]
fn linspace_is_numpys() {
    assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(linspace(2.0, 2.0, 3), vec![2.0, 2.0, 2.0]);
    assert_eq!(linspace(1.0, 3.0, 1), vec![1.0]);
}

#[test]
fn late_dispatch_raises_guidellms_root_late_warning() {
    let mut r = fixture();
    // Every request of benchmark 1 sent 0.5 s after it was due.
    if let Records::Loaded(v) = &mut r.benchmarks[1].records {
        for q in v.iter_mut() {
            let sent = q.timestamps_ns.sent.unwrap();
            q.timestamps_ns.scheduled = Some(sent - 500_000_000);
        }
    }
    let v = view(&r);
    let w = &v["benchmarks"][1]["warnings"][0];
    assert_eq!(w["code"], "root_late");
    assert_eq!(w["unit"], "seconds");
    assert_eq!(w["threshold"], 0.2);
    let p95 = w["observed"].as_f64().unwrap();
    assert!((p95 - 0.5).abs() < 1e-6, "{w}");
    assert_eq!(
        w["message"],
        format!(
            "p95 root dispatch delay was 0.500s over {} samples (threshold 0.200s).",
            w["sample_count"]
        )
    );
    assert!(v["benchmarks"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["code"] != "root_late"));
}

#[test]
fn a_dataset_file_is_guidellms_file_data_by_its_extension() {
    let mut r = fixture();
    for (path, kind) in [
        ("d/chat.jsonl", "json_file"),
        ("d/x.CSV", "csv_file"),
        ("p.parquet", "parquet_file"),
        ("t.txt", "text_file"),
        ("t.feather", "arrow_file"),
    ] {
        r.llmbench_config.data_source = crate::report::DataSourceInfo::File {
            path: path.into(),
            rows: 3,
            output_tokens_from_reply: false,
            split: None,
            conversations: 0,
            recorded_replies: false,
        };
        let v = view(&r);
        assert_eq!(
            v["config"]["spec"]["data"],
            json!([{"kind": kind, "path": path}])
        );
        assert_eq!(
            v["benchmarks"][0]["config"]["requests"]["data"][0]["kind"],
            kind
        );
    }
    // A Hugging Face dataset directory: GuideLLM's huggingface kind, with the split read.
    for (split, want) in [
        (
            Some("test"),
            json!([{"kind": "huggingface", "source": "d/saved", "load_kwargs": {"split": "test"}}]),
        ),
        (None, json!([{"kind": "huggingface", "source": "d/saved"}])),
    ] {
        r.llmbench_config.data_source = crate::report::DataSourceInfo::File {
            path: "d/saved".into(),
            rows: 3,
            output_tokens_from_reply: false,
            split: split.map(String::from),
            conversations: 0,
            recorded_replies: false,
        };
        assert_eq!(view(&r)["config"]["spec"]["data"], want);
    }
}
