//! Data through the CLI, against the real vLLM engine on the tiny models: synthetic
//! distributions, shared prefixes and the prefix cache, dataset files, request formats with the
//! BOS-adding tokenizer, a Mooncake trace replayed with its prefix reuse, and the checks that run
//! before any engine loads.
mod common;
use common::*;
use serde_json::Value;

fn run_ok(args: &[&str], engine_kwargs: &str, out: &std::path::Path) -> Value {
    let o = engine_bin()
        .args(["benchmark", "run"])
        .args(args)
        .args(["--backend-kwargs", engine_kwargs, "--python"])
        .arg(python())
        .arg("--output-path")
        .arg(out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
    read_json(out)
}

#[test]
fn synthetic_distribution_counts_match_the_engine_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let r = run_ok(
        &["--model", &m, "--request-format", "plain", "--profile", "concurrent", "--rate", "4", "--max-requests", "24",
          "--data", "prompt_tokens=100,prompt_tokens_stdev=40,prompt_tokens_min=20,prompt_tokens_max=200,output_tokens=16,output_tokens_stdev=4"],
        VLLM_KWARGS,
        &dir.path().join("a.json"),
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 24);
    let mut lens = std::collections::HashSet::new();
    for q in &reqs {
        let drawn = q["content_tokens"].as_u64().unwrap();
        assert!((20..=200).contains(&drawn));
        assert_eq!(
            q["prompt_tokens"].as_u64().unwrap(),
            drawn,
            "plain: the engine sees exactly what the spec drew"
        );
        assert_eq!(
            q["output_tokens"], q["max_tokens"],
            "output target honoured (ignore_eos)"
        );
        lens.insert(drawn);
    }
    assert!(lens.len() > 10, "lengths vary: {lens:?}");
}

#[test]
fn shared_prefixes_hit_the_engine_prefix_cache() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let r = run_ok(
        &[
            "--model",
            &m,
            "--request-format",
            "plain",
            "--profile",
            "synchronous",
            "--max-requests",
            "8",
            "--data",
            "prompt_tokens=64,output_tokens=4,prefix_tokens=256,prefix_count=2",
        ],
        VLLM_KWARGS,
        &dir.path().join("p.json"),
    );
    let reqs = requests(&r, 0);
    for q in &reqs {
        assert_eq!(q["prefix_tokens"], 256);
        assert_eq!(q["prompt_tokens"], 320);
    }
    // Two distinct prefixes: after each has been seen once, vLLM on CPU caches their whole
    // 128-token blocks (256 tokens) for every later request with the same prefix.
    let cached: Vec<u64> = reqs
        .iter()
        .map(|q| q["cached_tokens"].as_u64().unwrap())
        .collect();
    assert!(
        cached.iter().filter(|&&c| c >= 256).count() >= 5,
        "cached tokens: {cached:?}"
    );
    assert!(cached.iter().all(|&c| c == 0 || c >= 256), "{cached:?}");
}

#[test]
fn too_long_prompts_are_refused_before_any_engine_starts() {
    let m = model("tiny-llama");
    let t0 = std::time::Instant::now();
    let o = bin()
        .args([
            "benchmark",
            "run",
            "--model",
            &m,
            "--data",
            "prompt_tokens=1000,output_tokens=100",
            "--max-requests",
            "1",
        ])
        .args(["--backend-kwargs", VLLM_KWARGS, "--python"])
        .arg(python())
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("max_model_len 1024") && stderr.contains("raise it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("engine ready"),
        "no engine may start: {stderr}"
    );
    eprintln!("refused after {:?}", t0.elapsed());
}

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn dataset_files_jsonl_csv_sharegpt_txt_with_the_real_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let jsonl = write(&dir, "d.jsonl", "{\"Prompt\": \"the cat sat on the mat\", \"output_tokens_count\": 5}\n{\"Prompt\": \"a dog ran far away\", \"prompt_tokens_count\": 12, \"output_tokens_count\": 3}\n");
    let r = run_ok(
        &[
            "--model",
            &m,
            "--data",
            &jsonl,
            "--profile",
            "synchronous",
            "--request-format",
            "plain",
        ],
        VLLM_KWARGS,
        &dir.path().join("j.json"),
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 2, "one pass over the file");
    assert_eq!(r["benchmarks"][0]["ended_by"], "data_exhausted");
    assert_eq!(
        (
            reqs[0]["output_tokens"].as_u64(),
            reqs[1]["output_tokens"].as_u64()
        ),
        (Some(5), Some(3))
    );
    assert_eq!(reqs[1]["prompt_tokens"], 12, "per-row prompt target");

    let csv = write(
        &dir,
        "d.csv",
        "id,article,n\n1,\"hello, world and more\",4\n2,\"another text here\",6\n3,third,2\n",
    );
    let r = run_ok(
        &[
            "--model",
            &m,
            "--data",
            &csv,
            "--data-column-mapper",
            r#"{"text_column": "article", "output_tokens_count_column": "n"}"#,
            "--profile",
            "concurrent",
            "--rate",
            "2",
        ],
        VLLM_KWARGS,
        &dir.path().join("c.json"),
    );
    let outs: Vec<u64> = requests(&r, 0)
        .iter()
        .map(|q| q["output_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(outs, vec![4, 6, 2]);

    let share = write(
        &dir,
        "s.json",
        r#"[{"conversations": [{"from": "human", "value": "tell me a story"}, {"from": "gpt", "value": "once upon a time there was a very small model"}]},
            {"conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there"}]}]"#,
    );
    let r = run_ok(
        &[
            "--model",
            &m,
            "--data",
            &share,
            "--data-args",
            r#"{"output_tokens_from_reply": true}"#,
            "--profile",
            "synchronous",
        ],
        VLLM_KWARGS,
        &dir.path().join("s.out.json"),
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter()
            .all(|q| q["output_tokens"].as_u64().unwrap() > 1),
        "reply length as output target"
    );
    // The second row's system message is inside the template: more template tokens than the first.
    assert!(
        reqs[1]["prompt_tokens"].as_u64().unwrap() > reqs[1]["content_tokens"].as_u64().unwrap()
    );

    let txt = write(&dir, "l.txt", "first line\n\nsecond line\nthird line\n");
    let r = run_ok(
        &[
            "--model",
            &m,
            "--data",
            &txt,
            "--data-samples",
            "2",
            "--profile",
            "synchronous",
        ],
        VLLM_KWARGS,
        &dir.path().join("t.json"),
    );
    assert_eq!(
        requests(&r, 0).len(),
        2,
        "--data-samples takes the first N rows"
    );
}

#[test]
fn parquet_file_on_the_real_engine() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.parquet");
    let py = python();
    let st = std::process::Command::new(&py)
        .args(["-c", "import pyarrow as pa, pyarrow.parquet as pq, sys; pq.write_table(pa.table({'question': ['what is a benchmark', 'why count tokens exactly', 'how fast is it'], 'output_tokens_count': [8, 8, 8]}), sys.argv[1])"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success(), "pyarrow writes the test file");
    let r = run_ok(
        &[
            "--model",
            &model("tiny-llama"),
            "--data",
            p.to_str().unwrap(),
            "--profile",
            "synchronous",
            "--request-format",
            "default-template",
        ],
        VLLM_KWARGS,
        &dir.path().join("pq.json"),
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 3);
    for q in &reqs {
        assert_eq!(q["output_tokens"], 8);
        assert_eq!(
            q["prompt_tokens"], q["prompt_tokens_sent"],
            "the engine counted what was sent"
        );
    }
}

#[test]
fn request_formats_with_the_bos_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama-bos");
    let jinja = write(
        &dir,
        "t.jinja",
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant]",
    );
    let mut seen = Vec::new();
    for fmt in [
        "plain",
        "default-template",
        jinja.as_str(),
        "{{ bos_token }}{% for m in messages %}<{{ m['content'] }}>{% endfor %}",
    ] {
        let r = run_ok(
            &[
                "--model",
                &m,
                "--data",
                "prompt_tokens=32,output_tokens=2",
                "--profile",
                "synchronous",
                "--max-requests",
                "2",
                "--request-format",
                fmt,
            ],
            VLLM_KWARGS,
            &dir.path().join(format!("f{}.json", seen.len())),
        );
        let rf = &r["models"][0]["request_format"];
        let ids: Vec<u64> = rf["template_prefix_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let bos = r["models"][0]["engine"]["bos_token_id"].as_u64().unwrap();
        assert!(
            ids.iter().filter(|&&t| t == bos).count() <= 1,
            "{fmt}: BOS never doubled: {ids:?}"
        );
        let q = &requests(&r, 0)[0];
        let expect = if fmt == "plain" {
            32
        } else {
            32 + rf["template_prefix_tokens"].as_u64().unwrap()
                + rf["template_suffix_tokens"].as_u64().unwrap()
        };
        assert_eq!(q["prompt_tokens"].as_u64().unwrap(), expect, "{fmt}");
        seen.push((rf["format"].as_str().unwrap().to_string(), ids.len()));
    }
    assert_eq!(
        seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["plain", "default-template", "jinja", "jinja"]
    );
}

#[test]
fn the_same_seed_prepares_byte_identical_requests_without_an_engine() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let prepare = |seed: &str, name: &str| {
        let path = dir.path().join(name);
        let o = bin()
            .args(["benchmark", "run", "--model", &m, "--data", "prompt_tokens=50,prompt_tokens_stdev=20,output_tokens=3,prefix_tokens=16,prefix_count=2"])
            .args(["--data-samples", "40", "--random-seed", seed, "--dry-run", "--save-requests"])
            .arg(&path)
            .args(["--backend-kwargs", VLLM_KWARGS, "--python"])
            .arg(python())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("no engine was started"), "{stdout}");
        assert!(!stderr.contains("engine ready"), "{stderr}");
        std::fs::read(&path).unwrap()
    };
    let a = prepare("5", "a.jsonl");
    assert_eq!(
        a,
        prepare("5", "b.jsonl"),
        "same seed, byte-identical prepared requests"
    );
    assert_ne!(a, prepare("6", "c.jsonl"), "another seed, other requests");
    let first: serde_json::Value =
        serde_json::from_slice(a.split(|&b| b == b'\n').next().unwrap()).unwrap();
    let ids = first["prompt_token_ids"].as_array().unwrap();
    // Chat template (the default format) around 16 shared-prefix tokens plus the drawn content.
    assert!(ids.len() as u64 > first["content_tokens"].as_u64().unwrap() + 16);
}

#[test]
fn bad_data_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--data".into(), write(&dir, "e.jsonl", "")], "empty"),
        (
            vec![
                "--data".into(),
                write(&dir, "bad.jsonl", "{\"prompt\": \"x\"}\n{oops\n"),
            ],
            "line 2",
        ),
        (
            vec!["--data".into(), write(&dir, "cols.csv", "a,b\n1,2\n")],
            "a, b",
        ),
        (
            vec![
                "--data".into(),
                dir.path()
                    .join("missing.jsonl")
                    .to_string_lossy()
                    .into_owned(),
            ],
            "no such file",
        ),
        (
            vec!["--data".into(), "prompt_tokens=8,prompt_tokenz=3".into()],
            "unknown key 'prompt_tokenz'",
        ),
        (
            vec![
                "--data".into(),
                "prompt_tokens=8,prompt_tokens_min=9,prompt_tokens_max=3".into(),
            ],
            "greater than",
        ),
    ];
    for (args, needle) in cases {
        let o = bin()
            .args([
                "benchmark",
                "run",
                "--model",
                &m,
                "--max-requests",
                "1",
                "--python",
            ])
            .arg(python())
            .args(&args)
            .arg("--output-dir")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: expected {needle:?} in {stderr}"
        );
        assert!(!dir.path().join("out").exists(), "nothing written");
    }
}

/// Prepares the requests of `args` (`benchmark run` or `run`) with the tiny model's tokenizer
/// and no engine; returns the saved requests, byte for byte.
fn prepared(args: &[&str], path: &std::path::Path) -> Vec<u8> {
    let o = bin()
        .args(args)
        .args(if args[0] == "run" {
            ["--seed", "value=3"]
        } else {
            ["--random-seed", "3"]
        })
        .args(["--dry-run", "--save-requests"])
        .arg(path)
        .args(["--python"])
        .arg(python())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("no engine was started"), "{stdout}");
    std::fs::read(path).unwrap()
}

#[test]
fn arrow_files_and_hugging_face_directories_give_the_rows_of_the_same_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // pyarrow writes an IPC file (large_string prompts, int64 targets, record batches of 2
    // rows) and a feather file (lz4, pyarrow's default); datasets' save_to_disk writes a
    // DatasetDict (train in two .arrow stream shards); a Hub layout holds parquet per split.
    let script = r#"
import json, sys, pyarrow as pa, pyarrow.ipc as ipc, pyarrow.feather as feather, pyarrow.parquet as pq, datasets
d = sys.argv[1]
train = {"prompt": ["what is a benchmark", "why count tokens exactly", "how fast is it", "say something long about caches", "five"], "output_tokens_count": [3, 4, 5, 6, 7]}
test = {"prompt": ["a test prompt", "another one"], "output_tokens_count": [2, 9]}
for name, rows in (("train", train), ("test", test)):
    with open(f"{d}/{name}.jsonl", "w") as f:
        for p, n in zip(rows["prompt"], rows["output_tokens_count"]):
            f.write(json.dumps({"prompt": p, "output_tokens_count": n}) + "\n")
t = pa.table({"prompt": pa.array(train["prompt"], pa.large_string()), "output_tokens_count": pa.array(train["output_tokens_count"], pa.int64())})
with ipc.new_file(f"{d}/train.arrow", t.schema) as w:
    for b in t.to_batches(max_chunksize=2):
        w.write_batch(b)
feather.write_feather(t, f"{d}/train.feather")
feather.write_feather(t, f"{d}/train-zstd.feather", compression="zstd")
datasets.DatasetDict({"train": datasets.Dataset.from_dict(train), "test": datasets.Dataset.from_dict(test)}).save_to_disk(f"{d}/saved", num_shards={"train": 2, "test": 1})
import os
os.makedirs(f"{d}/hub/data")
pq.write_table(pa.table(train), f"{d}/hub/data/train-00000-of-00001.parquet")
pq.write_table(pa.table(test), f"{d}/hub/data/test-00000-of-00001.parquet")
# A Hub repository whose README.md header declares its configs: file names say nothing of splits.
os.makedirs(f"{d}/hub2/parts/first")
os.makedirs(f"{d}/hub2/parts/second")
pq.write_table(pa.table(train), f"{d}/hub2/parts/first/a.parquet")
pq.write_table(pa.table(test), f"{d}/hub2/parts/second/b.parquet")
with open(f"{d}/hub2/README.md", "w") as f:
    f.write("---\nconfigs:\n- config_name: other\n  data_files: parts/second/*.parquet\n- config_name: main\n  default: true\n  data_files:\n  - split: train\n    path: parts/first/*.parquet\n  - split: test\n    path: parts/second/*.parquet\n---\n# rows\n")
"#;
    let st = std::process::Command::new(python())
        .args(["-c", script])
        .arg(d)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "pyarrow and datasets write the test data (scripts/setup-vllm-cpu.sh installs datasets)"
    );
    let m = model("tiny-llama");
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let old = |data: &str, extra: &[&str], out: &str| {
        let mut a = vec!["benchmark", "run", "--model", &m, "--data", data];
        a.extend(extra);
        prepared(&a, &d.join(out))
    };
    let backend = format!("kind=vllm_python,model={m}");
    let new = |data: &str, out: &str| {
        prepared(
            &[
                "run",
                "--backend",
                &backend,
                "--profile",
                "kind=synchronous",
                "--data",
                data,
            ],
            &d.join(out),
        )
    };
    let train = old(&p("train.jsonl"), &[], "train.out");
    let test = old(&p("test.jsonl"), &[], "test.out");
    assert_eq!(
        train
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        5
    );
    assert_ne!(train, test);
    for (what, got) in [
        (
            "arrow IPC file, 0.6 form",
            old(&p("train.arrow"), &[], "a.out"),
        ),
        (
            "feather (lz4), arrow_file",
            new(
                &format!("kind=arrow_file,path={}", p("train.feather")),
                "f.out",
            ),
        ),
        (
            "feather (zstd), 0.6 form",
            old(&p("train-zstd.feather"), &[], "z.out"),
        ),
        (
            "save_to_disk, default split",
            old(&p("saved"), &[], "s.out"),
        ),
        (
            "Hub layout, hf kind",
            new(&format!("kind=hf,source={}", p("hub")), "h.out"),
        ),
        (
            "README configs, the default config's default split",
            old(&p("hub2"), &[], "c.out"),
        ),
    ] {
        assert!(got == train, "{what}: not the rows of train.jsonl");
    }
    let named = serde_json::json!({"kind": "hf", "source": p("hub2"),
        "load_kwargs": {"name": "main", "split": "test"}});
    for (what, got) in [
        (
            "save_to_disk, split=test",
            new(
                &format!("kind=huggingface,source={},split=test", p("saved")),
                "st.out",
            ),
        ),
        (
            "README configs, load_kwargs name and split",
            new(&named.to_string(), "ct.out"),
        ),
        (
            "README configs, the other config by --data-args name",
            old(
                &p("hub2"),
                &["--data-args", r#"{"name": "other"}"#],
                "co.out",
            ),
        ),
    ] {
        assert!(got == test, "{what}: not the rows of test.jsonl");
    }
}

#[test]
fn prefix_buckets_mix_and_per_bucket_cache_hits_on_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    // Bucket 0: one shared prefix of two full 128-token blocks (vLLM's CPU block size); bucket
    // 1: no prefix. Weights 3:1.
    let spec = r#"{"prompt_tokens": 64, "output_tokens": 2, "prefix_buckets": [{"bucket_weight": 3, "prefix_count": 1, "prefix_tokens": 256}, {"bucket_weight": 1, "prefix_tokens": 0}]}"#;
    let out = dir.path().join("b.json");
    let o = engine_bin()
        .args([
            "benchmark",
            "run",
            "--model",
            &m,
            "--request-format",
            "plain",
            "--profile",
            "synchronous",
        ])
        .args([
            "--max-requests",
            "24",
            "--random-seed",
            "11",
            "--data",
            spec,
        ])
        .args(["--backend-kwargs", VLLM_KWARGS, "--python"])
        .arg(python())
        .arg("--output-path")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out);
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 24);
    let mut n = [0u64; 2];
    let mut seen_bucket0 = false;
    for q in &reqs {
        let b = q["prefix_bucket"]
            .as_u64()
            .expect("each request records its bucket") as usize;
        n[b] += 1;
        let cached = q["cached_tokens"].as_u64().unwrap();
        if b == 0 {
            assert_eq!(q["prefix_tokens"], 256);
            assert_eq!(q["prompt_tokens"], 256 + 64);
            // Its one prefix is cached after the bucket's first request (synchronous: in order).
            if seen_bucket0 {
                assert!(cached >= 256, "bucket 0 request after the first: {q}");
            }
            seen_bucket0 = true;
        } else {
            assert_eq!(q["prefix_tokens"], 0);
            assert_eq!(cached, 0, "no shared prefix, no hit: {q}");
        }
    }
    // 24 seeded draws at 3:1: 18 expected in bucket 0, binomial σ 2.1; the draw is fixed by
    // the seed, so this is a check of the weights, never a flake.
    assert!((12..=23).contains(&n[0]), "mix {n:?}");
    let mix = r["benchmarks"][0]["summary"]["prefix_buckets"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(mix.len(), 2, "{mix:?}");
    for (b, m) in mix.iter().enumerate() {
        assert_eq!(m["bucket"], b as u64);
        assert_eq!(m["requests"], n[b]);
        assert!((m["share"].as_f64().unwrap() - n[b] as f64 / 24.0).abs() < 1e-9);
    }
    let share0 = mix[0]["cache_hit_share"].as_f64().unwrap();
    // (n0 − 1) of n0 requests have ≥ 256 of their 320 tokens cached.
    let floor = (n[0] - 1) as f64 * 256.0 / (n[0] as f64 * 320.0);
    assert!(
        share0 >= floor - 1e-9 && share0 <= 1.0,
        "{share0} vs {floor}"
    );
    assert_eq!(mix[1]["cache_hit_share"].as_f64(), Some(0.0));
    assert!(
        stdout.contains(&format!("benchmark 0: prefix buckets #0 {} requests", n[0])),
        "the console shows the mix: {stdout}"
    );
}

/// Three-turn chats on the real engine: each later turn's prompt is exactly the previous prompt,
/// the engine's reply and the template's framing of a new message (checked against the engine's
/// own prompt counts), the prefix cache serves the history, and think time is respected.
#[test]
fn multi_turn_conversations_extend_their_history_exactly_and_hit_the_prefix_cache() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let r = run_ok(
        &[
            "--model",
            &m,
            "--profile",
            "concurrent",
            "--rate",
            "2",
            "--max-requests",
            "12",
            "--data",
            "first_prompt_tokens=300,prompt_tokens=40,output_tokens=64,turns=3,delay=0.3",
        ],
        // No KV-cache size: llmbench's CPU default applies, and the engine says what it got.
        r#"{"vllm_config": {"enforce_eager": true, "max_model_len": 1024}}"#,
        &dir.path().join("a.json"),
    );
    let engine = &r["models"][0]["engine"];
    let kv = engine["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("VLLM_CPU_KVCACHE_SPACE=1 (GiB)"))
        .unwrap_or_else(|| panic!("the KV-cache default is announced: {engine}"));
    let blocks = engine["config"]["num_gpu_blocks"].as_u64().unwrap();
    let block = engine["config"]["block_size"].as_u64().unwrap();
    // What applied, read back (releases before 0.20 keep the size out of their config).
    let bytes = &engine["config"]["kv_cache_memory_bytes"];
    assert!(bytes.is_null() || *bytes == 1u64 << 30, "{bytes}");
    assert!(
        kv.contains(&format!("{blocks} blocks of {block} tokens")),
        "{kv}"
    );
    let fmt = &r["models"][0]["request_format"];
    assert_eq!(fmt["format"], "default-template");
    let frame = fmt["turn_ids"]
        .as_array()
        .expect("the turn framing is recorded")
        .len() as u64;
    let suffix = fmt["template_suffix_tokens"].as_u64().unwrap();
    assert!(
        frame > 0,
        "a chat template closes the reply and opens the next message"
    );
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 12);
    let mut convs: std::collections::BTreeMap<u64, Vec<&Value>> = Default::default();
    for q in &reqs {
        assert_eq!(q["status"], "successful", "{q}");
        assert_eq!(q["prompt_tokens"], q["prompt_tokens_sent"], "{q}");
        convs
            .entry(q["turn"]["conversation"].as_u64().unwrap())
            .or_default()
            .push(q);
    }
    let mut later = 0;
    for (c, turns) in &convs {
        for (k, q) in turns.iter().enumerate() {
            assert_eq!(
                q["turn"]["index"].as_u64().unwrap(),
                k as u64,
                "conversation {c}: in order"
            );
            let n = |q: &Value, key: &str| q[key].as_u64().unwrap();
            if k == 0 {
                assert_eq!(n(q, "content_tokens"), 300);
                assert_eq!(
                    n(q, "cached_tokens"),
                    0,
                    "a first turn starts with a unique block"
                );
                continue;
            }
            later += 1;
            let prev = turns[k - 1];
            let history = n(prev, "prompt_tokens") + n(prev, "output_tokens");
            assert_eq!(q["turn"]["history_tokens"].as_u64().unwrap(), history);
            assert_eq!(n(q, "content_tokens"), 40);
            assert_eq!(
                n(q, "prompt_tokens"),
                history + frame + 40 + suffix,
                "conversation {c} turn {k}: history + framing + the new message, exactly"
            );
            // The engine caches full 128-token blocks: every full block of the previous prompt
            // at least, never more than the history.
            let cached = n(q, "cached_tokens");
            assert!(
                cached >= n(prev, "prompt_tokens") / 128 * 128 && cached <= history,
                "conversation {c} turn {k}: {cached} cached of {history}"
            );
            let gap = q["timestamps_ns"]["sent"].as_i64().unwrap()
                - prev["timestamps_ns"]["end"].as_i64().unwrap();
            assert!(gap >= 300_000_000, "think time: {gap} ns after the reply");
        }
    }
    assert!(later >= 4, "{later} later turns");
    let conv = &r["benchmarks"][0]["summary"]["conversations"];
    let turns = conv["turns"].as_array().unwrap();
    assert_eq!(turns[0]["index"], 0);
    assert!(turns.len() >= 2);
    assert!(
        turns[1]["cache_hit_share"].as_f64().unwrap() > 0.5,
        "{conv}"
    );
    assert_eq!(turns[0]["cache_hit_share"].as_f64().unwrap(), 0.0);
    assert!(turns[1]["after_reply_ms"]["min"].as_f64().unwrap() >= 300.0);
}

/// ShareGPT conversations of several user turns, replayed turn by turn on the real engine: the
/// engine's replies form the history, each turn's output target is its recorded reply's length.
#[test]
fn sharegpt_conversations_replay_turn_by_turn() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let share = write(
        &dir,
        "s.json",
        r#"[{"conversations": [{"from": "system", "value": "be brief"},
                               {"from": "human", "value": "tell me a story about a fox"}, {"from": "gpt", "value": "once upon a time a fox ran into the woods"},
                               {"from": "human", "value": "what happened next"}, {"from": "gpt", "value": "it found a river and crossed it"},
                               {"from": "human", "value": "and then"}, {"from": "gpt", "value": "it slept"}]},
            {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there friend"},
                               {"from": "human", "value": "how are you"}, {"from": "gpt", "value": "fine thanks"}]},
            {"conversations": [{"from": "human", "value": "one turn only"}, {"from": "gpt", "value": "ok"}]}]"#,
    );
    let r = run_ok(
        &[
            "--model",
            &m,
            "--data",
            &share,
            "--data-args",
            r#"{"output_tokens_from_reply": true}"#,
            "--profile",
            "concurrent",
            "--rate",
            "2",
        ],
        VLLM_KWARGS,
        &dir.path().join("s.out.json"),
    );
    let src = &r["llmbench_config"]["data_source"];
    assert_eq!(src["conversations"], 2, "{src}");
    let fmt = &r["models"][0]["request_format"];
    let frame = fmt["turn_ids"].as_array().unwrap().len() as u64;
    let suffix = fmt["template_suffix_tokens"].as_u64().unwrap();
    let reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 3 + 2 + 1, "every user turn is a request");
    assert_eq!(r["benchmarks"][0]["ended_by"], "data_exhausted");
    let mut convs: std::collections::BTreeMap<u64, Vec<&Value>> = Default::default();
    for q in &reqs {
        assert_eq!(q["status"], "successful", "{q}");
        convs
            .entry(q["turn"]["conversation"].as_u64().unwrap())
            .or_default()
            .push(q);
    }
    let sizes: Vec<usize> = convs.values().map(Vec::len).collect();
    assert_eq!(sizes, [3, 2, 1]);
    for turns in convs.values() {
        for w in turns.windows(2) {
            let n = |q: &Value, k: &str| q[k].as_u64().unwrap();
            let history = n(w[0], "prompt_tokens") + n(w[0], "output_tokens");
            assert_eq!(w[1]["turn"]["history_tokens"].as_u64().unwrap(), history);
            assert_eq!(
                n(w[1], "prompt_tokens"),
                history + frame + n(w[1], "content_tokens") + suffix,
                "history + framing + the next user message, exactly"
            );
            assert!(n(w[1], "output_tokens") >= 1);
        }
    }
    assert!(
        r["benchmarks"][0]["summary"]["conversations"]["turns"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );
}

/// A Mooncake-format trace of 20 rows over 4.75 s in 128-token blocks (vLLM's block size on
/// CPU), some rows sharing leading hash ids with earlier ones, others starting with a new block.
fn mooncake_trace(dir: &tempfile::TempDir) -> (String, Vec<(f64, Vec<u64>)>) {
    let mut fresh = 100u64;
    let mut new_id = || {
        fresh += 1;
        fresh
    };
    let rows: Vec<(f64, Vec<u64>)> = (0..20)
        .map(|i| {
            let ids = match i % 4 {
                0 => vec![1, 2, new_id()],
                1 => vec![1, new_id(), new_id()],
                2 => vec![new_id(), new_id(), new_id()],
                _ => vec![3, 4, new_id()],
            };
            (5000.0 + 250.0 * i as f64, ids)
        })
        .collect();
    let body: String = rows
        .iter()
        .map(|(ts, ids)| {
            serde_json::json!({"timestamp": ts, "input_length": 300, "output_length": 4, "hash_ids": ids})
                .to_string()
                + "\n"
        })
        .collect();
    (write(dir, "trace.jsonl", &body), rows)
}

#[test]
fn a_mooncake_trace_replays_on_schedule_and_its_shared_blocks_hit_the_prefix_cache() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let (trace, rows) = mooncake_trace(&dir);
    let r = run_ok(
        &[
            "--model",
            &m,
            "--request-format",
            "plain",
            "--data",
            &format!("kind=mooncake,source={trace},hash_id_block_size=128"),
            "--profile",
            "replay",
            "--profile-args",
            "time_scale=0.5",
        ],
        VLLM_KWARGS,
        &dir.path().join("t.json"),
    );
    let b = &r["benchmarks"][0];
    assert_eq!(b["ended_by"], "data_exhausted");
    assert_eq!(r["llmbench_config"]["data_source"]["distinct_blocks"], 39);
    let start = b["start_ns"].as_u64().unwrap();
    let mut reqs = requests(&r, 0);
    assert_eq!(reqs.len(), 20);
    reqs.sort_by_key(|q| q["id"].as_u64().unwrap());
    let t = |q: &Value, k: &str| q["timestamps_ns"][k].as_u64().unwrap();
    // Dispatched in the trace's order, each at start + (timestamp − first) × 0.5.
    for (q, (ts, _)) in reqs.iter().zip(&rows) {
        assert_eq!(
            t(q, "scheduled") - start,
            ((ts - 5000.0) * 0.5 * 1e6) as u64
        );
        assert_eq!(
            q["prompt_tokens"], 300,
            "plain: exactly input_length tokens"
        );
    }
    assert!(reqs
        .windows(2)
        .all(|w| t(&w[0], "sent") <= t(&w[1], "sent")));
    assert_eq!(
        b["summary"]["dispatch_lag_us"]["count"], 20,
        "dispatch lag reported"
    );
    // A row sharing its first k hash ids with an earlier row finds k whole 128-token blocks
    // cached; a row whose first block is new finds none.
    for (j, q) in reqs.iter().enumerate() {
        let ids = &rows[j].1;
        let k = rows[..j]
            .iter()
            .map(|(_, e)| e.iter().zip(ids).take_while(|(a, b)| a == b).count())
            .max()
            .unwrap_or(0);
        let cached = q["cached_tokens"].as_u64().unwrap();
        assert_eq!(cached, 128 * k as u64, "row {}: {k} shared blocks", j + 1);
    }
}

#[test]
fn a_trace_row_longer_than_the_context_is_refused_before_any_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let body = "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 4}\n\
                {\"timestamp\": 1, \"input_length\": 1000, \"output_length\": 100}\n";
    let trace = write(&dir, "long.jsonl", body);
    let o = bin()
        .args(["benchmark", "run", "--model", &m, "--profile", "replay"])
        .args(["--data", &format!("kind=trace_synthetic,source={trace}")])
        .args(["--backend-kwargs", VLLM_KWARGS, "--python"])
        .arg(python())
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("long.jsonl row 2 asks for")
            && stderr.contains("plus 100 output tokens, but model")
            && stderr.contains("max_model_len 1024"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("engine ready"),
        "no engine may start: {stderr}"
    );
}

#[test]
fn a_dry_run_prepares_a_whole_trace_with_its_copies_not_the_first_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("tiny-llama");
    let body: String = (0..1200)
        .map(|i| format!("{{\"timestamp\": {i}, \"input_length\": 20, \"output_length\": 4}}\n"))
        .collect();
    let trace = write(&dir, "t.jsonl", &body);
    let o = bin()
        .args(["run", "--backend", &format!("kind=vllm_python,model={m}")])
        .args(["--profile", "kind=replay", "--dry-run", "--python"])
        .arg(python())
        .args([
            "--data",
            &format!("kind=trace_synthetic,source={trace},copies=2"),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("prepared 2400 requests"),
        "1,200 rows twice: {stdout}{stderr}"
    );
}
