//! Report formats: the JSON report of a real run (the real binary and worker, the worker's mock
//! engine) checked against docs/report-schema.json, rendered as CSV and YAML and read back, and
//! GuideLLM's `--outputs` list.
mod common;
use common::*;
use llmbench::render::{self, parse_outputs, Format};
use llmbench::report::guidellm::WithGuideLlm;
use llmbench::report::Report;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

/// One run shared by every test here: two concurrent benchmarks, a few requests each.
fn report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let o = MockRun::new()
            .model("mock-model")
            .data("prompt_tokens=64,output_tokens=32")
            .profile("concurrent")
            .rate("1,2")
            .max_requests(8)
            .mock(r#"{"step_base_us": 300, "prefill_base_us": 1000}"#)
            .output(&path)
            .run();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
        read_json(&path)
    })
}

/// The shared run's report, typed.
fn typed() -> Report {
    serde_json::from_value(report().clone()).expect("the report reads back as a Report")
}

fn schema() -> Value {
    let p = root().join("docs/report-schema.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).expect("the schema is JSON")
}

fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let v = jsonschema::validator_for(schema).expect("the schema compiles");
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn parse_csv(s: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(s.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(String::from).collect())
        .collect()
}

/// Equal as JSON, numbers within a relative 1e-12.
fn same(a: &Value, b: &Value, at: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) {
                Ok(())
            } else {
                Err(format!("{at}: {x} != {y}"))
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (x, y))| same(x, y, &format!("{at}[{i}]"))),
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().try_for_each(|(k, v)| {
                same(
                    v,
                    y.get(k).ok_or(format!("{at}.{k} missing"))?,
                    &format!("{at}.{k}"),
                )
            })
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{at}: {a} != {b}")),
    }
}

#[test]
fn the_schema_is_valid_2020_12_and_documents_every_field() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("docs/report-schema.json is not a valid schema: {e}");
    }
    fn walk(n: &Value, at: &str, missing: &mut Vec<String>) {
        match n {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (k, v) in props {
                        // `if` clauses only test values; everything else is a field.
                        if v.get("description").is_none() && !at.ends_with("/if") {
                            missing.push(format!("{at}/properties/{k}"));
                        }
                    }
                }
                for (k, v) in m {
                    walk(v, &format!("{at}/{k}"), missing);
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{at}/{i}"), missing)),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&s, "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

#[test]
fn the_json_report_matches_the_schema() {
    let (s, r) = (schema(), report());
    let errors = schema_errors(&s, r);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    // The validator does catch things: a required key, an enum, a strategy's parameter.
    let mut bad = r.clone();
    bad["benchmarks"][0]["summary"]
        .as_object_mut()
        .unwrap()
        .remove("ttft_ms");
    bad["benchmarks"][1]["ended_by"] = json!("tired");
    bad["benchmarks"][1]["strategy"] = json!({"type": "constant"});
    let errors = schema_errors(&s, &bad);
    assert_eq!(errors.len(), 3, "{errors:#?}");

    // New optional fields are not a version bump; the older `p999` name is still accepted.
    let mut newer = r.clone();
    newer["something_new"] = json!({"x": 1});
    newer["benchmarks"][0]["summary"]["something_new"] = json!(1.5);
    let d = newer["benchmarks"][0]["summary"]["ttft_ms"]
        .as_object_mut()
        .unwrap();
    let p = d.remove("p99_9").expect("p99_9 in the report");
    d.remove("p0_1");
    d.remove("p50");
    d.insert("p999".into(), p);
    let errors = schema_errors(&s, &newer);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    newer["benchmarks"][0]["summary"]["ttft_ms"]
        .as_object_mut()
        .unwrap()
        .remove("p999");
    assert_eq!(
        schema_errors(&s, &newer).len(),
        1,
        "a distribution needs p99_9 or p999"
    );
}

#[test]
fn csv_has_a_three_row_header_and_one_row_per_benchmark() {
    let r = report();
    let benchmarks = r["benchmarks"].as_array().unwrap();
    assert_eq!(benchmarks.len(), 2);
    let rows = parse_csv(&render::csv::render(&typed()));
    assert_eq!(
        rows.len(),
        3 + benchmarks.len(),
        "three header rows, then one per benchmark"
    );
    let n = rows[0].len();
    assert!(rows.iter().all(|row| row.len() == n));
    let (groups, metrics, stats) = (&rows[0], &rows[1], &rows[2]);
    for g in [
        "Run",
        "Benchmark",
        "Requests",
        "Throughput",
        "TTFT ms",
        "ITL ms",
        "TPOT ms",
        "Latency ms",
        "Stages ms",
        "Headroom",
    ] {
        assert!(groups.iter().any(|x| x == g), "no group {g}: {groups:?}");
    }
    let col = |m: &str, s: &str| {
        (0..n)
            .find(|&i| metrics[i] == m && stats[i] == s)
            .unwrap_or_else(|| panic!("no column {m} / {s}"))
    };
    assert_eq!(
        [
            col("model", "value"),
            col("index", "value"),
            col("strategy", "type")
        ],
        [0, 1, 2]
    );
    // Every distribution of the summary, flattened: count, mean, median, std, min, max and each
    // percentile, in that order.
    let stat_names: Vec<String> = r["benchmarks"][0]["summary"]["ttft_ms"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for s in [
        "count", "mean", "median", "std", "min", "max", "p0_1", "p1", "p50", "p99", "p99_9",
    ] {
        assert!(
            stat_names.iter().any(|k| k == s),
            "{s} not in the report's distribution"
        );
    }
    let ttft: Vec<usize> = (0..n)
        .filter(|&i| metrics[i] == "summary.ttft_ms")
        .collect();
    assert_eq!(ttft.len(), stat_names.len());
    let order: Vec<&str> = ttft.iter().map(|&i| stats[i].as_str()).collect();
    assert_eq!(order[..6], ["count", "mean", "median", "std", "min", "max"]);
    assert_eq!(order[6..9], ["p0_1", "p1", "p5"]);
    assert_eq!(order.last(), Some(&"p99_9"));
    for stage in [
        "dispatch", "handover", "queue", "prefill", "decode", "delivery",
    ] {
        col(&format!("summary.stages_ms.{stage}"), "p99");
    }
    for (m, s) in [
        ("ended_by", "value"),
        ("summary.duration_s", "value"),
        ("strategy", "streams"),
        ("summary.requests", "successful"),
        ("summary.requests", "incomplete"),
        ("summary.requests", "errored"),
        ("summary.requests_per_second", "value"),
        ("summary.input_tokens_per_second", "value"),
        ("summary.output_tokens_per_second", "value"),
        ("summary.concurrency", "value"),
        ("headroom.harness_limited", "value"),
        ("headroom.dispatch_rate", "value"),
    ] {
        col(m, s);
    }
    // No per-request or time-series columns.
    assert!(!metrics.iter().any(|m| m.starts_with("records")
        || m.starts_with("timeseries")
        || m.starts_with("telemetry")));
    // Every cell is the JSON's value at benchmarks[row][metric][statistic].
    for (row, b) in rows[3..].iter().zip(benchmarks) {
        for i in 0..n {
            let mut v = Some(b);
            for k in metrics[i]
                .split('.')
                .chain((stats[i] != "value").then_some(stats[i].as_str()))
            {
                v = v.and_then(|v| v.get(k));
            }
            let want = match v {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map_or(x.to_string(), String::from))
                    .collect::<Vec<_>>()
                    .join("; "),
                Some(x) => x.to_string(),
            };
            assert_eq!(
                row[i], want,
                "{} / {} / {}",
                groups[i], metrics[i], stats[i]
            );
        }
    }
    assert_eq!(rows[3][col("strategy", "streams")], "1");
    assert_eq!(rows[4][col("strategy", "streams")], "2");
}

#[test]
fn csv_of_an_older_report_still_renders() {
    // A version-1 report of an early shape: `config` and `requests`, `p999` instead of `p99_9`,
    // no p0_1/p50, no stages, no total tokens/s. from-file migrates it; its CSV has today's
    // columns, the old 99.9th percentiles under `p99_9`.
    let mut old = report().clone();
    old["report_version"] = json!(1);
    let root = old.as_object_mut().unwrap();
    let config = root.remove("llmbench_config").unwrap();
    root.insert("config".into(), config);
    for b in old["benchmarks"].as_array_mut().unwrap() {
        let records = b.as_object_mut().unwrap().remove("records").unwrap();
        b["requests"] = records;
    }
    let b0 = &mut old["benchmarks"][0];
    let s = b0["summary"].as_object_mut().unwrap();
    s.remove("stages_ms");
    s.remove("total_tokens_per_second");
    for (_, d) in s.iter_mut() {
        if let Some(d) = d.as_object_mut().filter(|d| d.contains_key("p99_9")) {
            let p = d.remove("p99_9").unwrap();
            d.remove("p0_1");
            d.remove("p50");
            d.insert("p999".into(), p);
        }
    }
    let migrated = llmbench::report::migrate::to_current(old).unwrap();
    let r: Report = serde_json::from_value(migrated).expect("the old shape reads");
    let rows = parse_csv(&render::csv::render(&r));
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0..3], parse_csv(&render::csv::render(&typed()))[0..3]);
    let col = |m: &str, s: &str| {
        (0..rows[0].len())
            .find(|&i| rows[1][i] == m && rows[2][i] == s)
            .unwrap_or_else(|| panic!("no column {m} / {s}"))
    };
    let p = col("summary.ttft_ms", "p99_9");
    let want = &report()["benchmarks"][0]["summary"]["ttft_ms"]["p99_9"];
    assert_eq!(rows[3][p], want.to_string());
    assert!(!rows[4][p].is_empty());
    assert_eq!(
        rows[3][col("summary.ttft_ms", "p50")],
        report()["benchmarks"][0]["summary"]["ttft_ms"]["median"].to_string(),
        "p50 is the median"
    );
    assert_eq!(rows[3][col("summary.stages_ms.prefill", "count")], "0");
}

#[test]
fn yaml_round_trips_to_the_same_report() {
    let r = report();
    let text = render::yaml::render(&WithGuideLlm(&typed()));
    let back: Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
    same(r, &back, "report").unwrap();
}

#[test]
fn write_all_writes_the_requested_files() {
    let dir = tempfile::tempdir().unwrap();
    let outs = parse_outputs("json,yaml,csv,html,console,mine.csv").unwrap();
    let written = render::write_all(&typed(), &outs, dir.path()).unwrap();
    let names: Vec<PathBuf> = [
        "benchmarks.json",
        "benchmarks.yaml",
        "benchmarks.csv",
        "benchmarks.html",
        "mine.csv",
    ]
    .iter()
    .map(|n| dir.path().join(n))
    .collect();
    assert_eq!(written, names);
    same(report(), &read_json(&names[0]), "json").unwrap();
    assert_eq!(
        std::fs::read_to_string(&names[2]).unwrap(),
        std::fs::read_to_string(&names[4]).unwrap()
    );
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 5, "no temporary files left");
}

#[test]
fn outputs_accepts_guidellm_lists_and_file_names() {
    assert_eq!(
        parse_outputs("json,csv").unwrap(),
        vec![(Format::Json, None), (Format::Csv, None)]
    );
    assert_eq!(
        parse_outputs(render::DEFAULT_OUTPUTS).unwrap(),
        parse_outputs("json,csv").unwrap()
    );
    assert_eq!(
        parse_outputs("yaml,yml,HTML, console").unwrap(),
        vec![
            (Format::Yaml, None),
            (Format::Html, None),
            (Format::Console, None)
        ]
    );
    assert_eq!(
        parse_outputs("results.csv,run/report.yml,out.JSON,page.html").unwrap(),
        vec![
            (Format::Csv, Some(PathBuf::from("results.csv"))),
            (Format::Yaml, Some(PathBuf::from("run/report.yml"))),
            (Format::Json, Some(PathBuf::from("out.JSON"))),
            (Format::Html, Some(PathBuf::from("page.html"))),
        ]
    );
    let e = parse_outputs("json,pdf").unwrap_err();
    assert_eq!(
        e,
        "--outputs: unknown output `pdf`; valid outputs are json, yaml, csv, guidellm-csv, html, plot, console, or a file name ending in .json, .yaml, .yml, .csv, .html, .svg or .png"
    );
    assert!(parse_outputs("report.txt")
        .unwrap_err()
        .contains("`report.txt`"));
    assert!(parse_outputs("").is_err());
}

#[test]
fn run_writes_every_asked_format_and_from_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = common::MockRun::new()
        .model("m")
        .data("prompt_tokens=16,output_tokens=8")
        .profile("concurrent")
        .rate("1,2")
        .max_requests(6)
        .args(&["--outputs", "json,csv,yaml,html,console"])
        .args(&["--output-dir".as_ref(), a.as_os_str()])
        .run();
    let (stdout, stderr) = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    for title in [
        "Run Summary Info",
        "Request Token Statistics (Completed Requests)",
        "Request Latency Statistics (Completed Requests)",
        "Server Throughput Statistics (All Requests)",
    ] {
        assert!(
            stdout.contains(&format!("\u{2139} {title}\n|===")),
            "no {title}: {stdout}"
        );
    }
    // No per-request lines unless asked for; end reasons in snake_case.
    assert!(!stdout.contains("latency ms"), "{stdout}");
    assert!(stdout.contains("ended by max_requests"), "{stdout}");
    assert!(!stdout.contains("MaxRequests"), "{stdout}");
    for f in [
        "benchmarks.json",
        "benchmarks.csv",
        "benchmarks.yaml",
        "benchmarks.html",
    ] {
        assert!(a.join(f).exists(), "{f} written");
    }
    let o = common::bin()
        .args(["benchmark", "from-file"])
        .arg(a.join("benchmarks.json"))
        .args(["--outputs", "json,csv,html"])
        .arg("--output-dir")
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o).1);
    assert_eq!(
        std::fs::read(a.join("benchmarks.json")).unwrap(),
        std::fs::read(b.join("benchmarks.json")).unwrap(),
        "JSON → JSON is identical"
    );
    let rows = parse_csv(&std::fs::read_to_string(b.join("benchmarks.csv")).unwrap());
    assert_eq!(
        rows.len(),
        3 + 2,
        "three header rows and one row per benchmark"
    );
    assert_eq!(
        std::fs::read(a.join("benchmarks.html")).unwrap(),
        std::fs::read(b.join("benchmarks.html")).unwrap()
    );
    // Bad input to from-file: one sentence, exit 2.
    let o = common::bin()
        .args(["benchmark", "from-file"])
        .arg(dir.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::text(&o).1.contains("cannot read it"));
}

#[test]
fn from_file_reads_a_version_1_report() {
    let fixture = root().join("tests/fixtures/report-v1.json");
    let v1 = read_json(&fixture);
    assert_eq!(v1["report_version"], 1);
    let dir = tempfile::tempdir().unwrap();
    let o = common::bin()
        .args(["benchmark", "from-file"])
        .arg(&fixture)
        .args(["--outputs", "json,csv,yaml,html"])
        .arg("--output-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o).1);
    let v2 = read_json(&dir.path().join("benchmarks.json"));
    assert_eq!(v2["report_version"], 2);
    // `config` is now GuideLLM's scenario (the GuideLLM view), not version 1's llmbench config.
    assert!(v2["config"].get("spec").is_some());
    assert_eq!(v2["llmbench_config"], v1["config"]);
    for (a, b) in v1["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v2["benchmarks"].as_array().unwrap())
    {
        assert_eq!(b["records"], a["requests"]);
        // `requests` is now GuideLLM's map by status, not version 1's list.
        assert!(b["requests"]["successful"].is_array());
        assert_eq!(b["summary"], a["summary"]);
        assert_eq!(b["headroom"], a["headroom"]);
        assert_eq!(b["timeseries"], a["timeseries"]);
    }
    let errors = schema_errors(&schema(), &v2);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let rows = parse_csv(&std::fs::read_to_string(dir.path().join("benchmarks.csv")).unwrap());
    assert_eq!(rows.len(), 3 + 2);

    // A report of a version this llmbench does not know: one sentence naming it, exit 2.
    let mut newer = v1.clone();
    newer["report_version"] = json!(3);
    let p = dir.path().join("newer.json");
    std::fs::write(&p, newer.to_string()).unwrap();
    let o = common::bin()
        .args(["benchmark", "from-file"])
        .arg(&p)
        .arg("--output-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = common::text(&o).1;
    assert!(
        err.contains(
            "report version 3 is newer than this llmbench reads (up to 2); upgrade llmbench"
        ),
        "{err}"
    );
}

/// Every text of an SVG document.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the plot is XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn the_plot_output_writes_svg_and_png_and_refuses_other_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = MockRun::new()
        .model("m")
        .data("prompt_tokens=16,output_tokens=8")
        .profile("concurrent")
        .rate("1,2")
        .max_requests(6)
        .args(&[
            "--outputs",
            "console,plot,figs/run.svg",
            "--print-requests",
            "2",
        ])
        .args(&["--output-dir".as_ref(), out.as_os_str()])
        .run();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    // --print-requests 2: two lines per benchmark, the rest counted.
    assert_eq!(stdout.matches("latency ms").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("… 4 more requests").count(), 2, "{stdout}");

    let svg = std::fs::read_to_string(out.join("figs/run.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the plot is XML");
    let root = doc.root_element();
    assert!(root.has_tag_name("svg"));
    let panels = root.children().filter(|n| n.has_tag_name("svg")).count();
    assert_eq!(panels, render::html::PLOT_CHARTS.len());
    let texts = svg_texts(&svg);
    for t in [
        "1. Latency (TTFT & E2E) vs. request rate",
        "2. Generation speed (TPOT & ITL) vs. request rate",
        "3. Token throughput vs. concurrency",
        "4. Knee plot: latency vs. throughput",
        "5. Request status counts vs. concurrency",
        "6. Latency breakdown at peak throughput",
        "7. Throughput efficiency vs. concurrency",
        "8. Token throughput mix vs. request rate",
        "9. Time to first token (TTFT) distribution (ms)",
        "TTFT p95",
    ] {
        assert!(texts.iter().any(|x| x == t), "no {t:?} in the SVG");
    }

    // The default plot file: a PNG of the same figure.
    let bytes = std::fs::read(out.join("benchmarks.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let height: u32 = root.attribute("height").unwrap().parse().unwrap();
    assert_eq!((info.width, info.height), (1536, height));
    assert!(height > 2000, "{height} px: six rows of panels");
    let px = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let pixels: Vec<&[u8]> = px.chunks(step).collect();
    let ink = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    assert!(
        ink > pixels.len() / 50,
        "{ink} of {} pixels drawn",
        pixels.len()
    );
    let colored = pixels
        .iter()
        .filter(|p| p[..3].iter().max().unwrap() - p[..3].iter().min().unwrap() > 80)
        .count();
    assert!(colored > 1000, "{colored} coloured pixels");

    // A .jpg (GuideLLM writes one, llmbench does not): refused before anything runs.
    for args in [
        vec!["--outputs", "json,ttft.jpg"],
        vec!["--output-path", "ttft.jpg"],
    ] {
        let elsewhere = dir.path().join("refused");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let o = MockRun::new()
            .data("prompt_tokens=16,output_tokens=8")
            .max_requests(2)
            .args(&args)
            .command()
            .current_dir(&elsewhere)
            .output()
            .unwrap();
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(".svg or .png"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().collect();
        assert!(left.is_empty(), "{args:?}: nothing written, found {left:?}");
    }
}
