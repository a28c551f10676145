//! The offline HTML report through a real browser: a report from the real binary against the
//! worker's mock engine, rendered by `llmbench::render::html::render`, opened in headless
//! Chromium. It must render every chart, fetch nothing from the network, and log nothing to the
//! console. A screenshot is kept in target/artifacts/report.png.
//!
//! Needs Debian's `chromium` (scripts/install-chromium.sh); without it this test fails.
mod common;
use common::*;
use llmbench::render::html::{render, CHARTS};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser: `$LLMBENCH_CHROMIUM`, or `chromium` on the PATH.
fn chromium() -> String {
    let exe = std::env::var("LLMBENCH_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let ok = Command::new(&exe)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "no Chromium (`{exe}` did not run): run scripts/install-chromium.sh (it installs Debian's chromium), or point LLMBENCH_CHROMIUM at one"
    );
    exe
}

/// What one headless run left behind.
struct Run {
    stdout: String,
    stderr: String,
    net_log: Value,
}

/// Opens `page` in a fresh headless Chromium with a fresh profile; every host name resolves to
/// nothing, so a fetch can't leave the machine, and the net log records every request.
fn open(exe: &str, page: &Path, work: &Path, extra: &[String]) -> Run {
    let profile = tempfile::tempdir_in(work).unwrap();
    let net_log = work.join(format!(
        "net-{}.json",
        profile.path().file_name().unwrap().to_string_lossy()
    ));
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{stderr}",
        out.status
    );
    let text = std::fs::read_to_string(&net_log)
        .unwrap_or_else(|e| panic!("chromium wrote no net log at {}: {e}", net_log.display()));
    let net_log = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the net log at {} is not JSON: {e}", net_log.display()));
    Run {
        stdout,
        stderr,
        net_log,
    }
}

/// The URLs the page requested. Chromium's own background requests (updates, sign-in, time)
/// carry the initiator "not an origin"; anything a page loads carries its origin (a file:// page
/// has the opaque origin "null") and a network isolation key naming the page's site.
fn page_requests(net_log: &Value) -> Vec<String> {
    let types = &net_log["constants"]["logEventTypes"];
    let start_job = types["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the net log names URL_REQUEST_START_JOB");
    let mut urls: Vec<String> = net_log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        // The job's begin event (its end event carries only the net error).
        .filter(|e| e["type"].as_u64() == Some(start_job) && e["params"]["url"].is_string())
        .filter(|e| {
            let p = &e["params"];
            let initiator = p["initiator"].as_str().unwrap_or("");
            let nik = p["network_isolation_key"].as_str().unwrap_or("");
            initiator != "not an origin" || nik.contains("file://")
        })
        .map(|e| e["params"]["url"].as_str().unwrap_or_default().to_string())
        .collect();
    urls.dedup();
    urls
}

/// Console messages (and uncaught errors) the page produced.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// A real report from the real binary with the mock engine (a sweep). Keys the report may not
/// have yet (time series, engine telemetry, stage durations) are filled in with synthetic values
/// so that every chart is drawn and checked; a key the report has is left as it is.
fn example_report(dir: &Path) -> Value {
    let path = dir.join("benchmarks.json");
    let o = bin()
        .args(["benchmark", "run", "--model", "m"])
        .args(["--data", "prompt_tokens=64,output_tokens=32"])
        .args(["--rate", "4", "--max-seconds", "2"])
        .args(["--backend-kwargs", r#"{"engine":"mock"}"#, "--python"])
        .arg(python())
        .arg("--output-path")
        .arg(&path)
        .output()
        .expect("running llmbench");
    let (stdout, stderr) = text(&o);
    assert!(
        path.exists(),
        "llmbench wrote no report ({}):\n{stdout}\n{stderr}",
        o.status
    );
    if !o.status.success() {
        // The renderer must handle the partial report a failed run leaves; the run itself is
        // other tests' business.
        eprintln!(
            "note: llmbench exited with {}; rendering the report it left\n{}",
            o.status,
            stderr.lines().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    let mut r = read_json(&path);
    let n = r["benchmarks"].as_array().map_or(0, |b| b.len());
    assert!(n >= 1, "the example report has no benchmarks");
    for (i, b) in r["benchmarks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let dur = b["summary"]["duration_s"].as_f64().unwrap_or(2.0).max(0.5);
        let t: Vec<f64> = (0..=(dur * 10.0) as usize)
            .map(|k| k as f64 / 10.0)
            .collect();
        let wave = |a: f64, k0: f64| -> Vec<f64> {
            t.iter()
                .map(|x| a * (1.0 + 0.5 * ((x + k0) * 3.0).sin()))
                .collect()
        };
        let scale = 1.0 + i as f64;
        if matches!(b.get("timeseries"), None | Some(Value::Null)) {
            b["timeseries"] = json!({"t_s": t, "output_tokens_per_s": wave(300.0 * scale, 0.0), "requests_in_flight": wave(2.0 * scale, 0.5)});
        }
        if matches!(b.get("telemetry"), None | Some(Value::Null)) {
            b["telemetry"] = json!({"t_s": t, "running": wave(2.0 * scale, 0.7), "waiting": wave(0.5, 1.0),
                                    "kv_cache_usage": wave(0.1 * scale, 0.2), "prefix_cache_hit_rate": wave(0.05, 0.0), "preemptions": wave(0.0, 0.0)});
        }
        if matches!(b["summary"].get("stages_ms"), None | Some(Value::Null)) {
            b["summary"]["stages_ms"] = json!({"dispatch": {"median": 0.05}, "handover": {"median": 0.1}, "queue": {"median": 0.3 * scale},
                                               "prefill": {"median": 1.2}, "decode": {"median": 30.0}, "delivery": {"median": 0.08}});
        }
    }
    r
}

fn artifacts() -> PathBuf {
    let d = root().join("target/artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn html_report_renders_offline_in_chromium() {
    let exe = chromium();
    let dir = tempfile::tempdir().unwrap();
    let report = example_report(dir.path());
    let html = render(&serde_json::from_value(report).expect("a typed report")).unwrap();
    let page = dir.path().join("benchmarks.html");
    std::fs::write(&page, &html).unwrap();
    let _ = std::fs::copy(&page, artifacts().join("report.html"));

    // The page as Chromium built it.
    let run = open(&exe, &page, dir.path(), &["--dump-dom".into()]);
    let dom = &run.stdout;
    assert!(dom.contains("</html>"), "no DOM dumped:\n{}", run.stderr);
    for id in CHARTS.iter().map(|c| c.id) {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} is not in the rendered page"));
        assert!(dom[at..].contains("<svg"), "chart {id} has no SVG after it");
        assert!(
            dom.contains(&format!("id=\"{id}-data\"")),
            "chart {id} has no data table"
        );
    }
    assert!(dom.contains("id=\"summary-table\"") && dom.contains("id=\"run-meta\""));
    // No script error (the page's window.onerror writes them into #js-errors), no console output.
    assert!(
        !dom.contains("class=\"js-error\""),
        "a script error in the page:\n{dom}"
    );
    assert_eq!(
        console_lines(&run.stderr),
        Vec::<&str>::new(),
        "the page logged to the console"
    );
    assert_eq!(
        page_requests(&run.net_log),
        Vec::<String>::new(),
        "the page fetched something"
    );

    // A screenshot to look at (tall window: most of the page).
    let png = artifacts().join("report.png");
    let _ = std::fs::remove_file(&png);
    let shot = open(
        &exe,
        &page,
        dir.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,3000".into(),
        ],
    );
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", png.display(), shot.stderr));
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "the screenshot is not a real PNG ({} bytes)",
        bytes.len()
    );
    assert_eq!(console_lines(&shot.stderr), Vec::<&str>::new());
    assert_eq!(page_requests(&shot.net_log), Vec::<String>::new());
}

/// The checks above must be able to fail: the same report with an external image, a console
/// message and an uncaught error (and without the page's Content-Security-Policy, which would
/// block the fetch) is caught by each of them.
#[test]
fn the_browser_checks_catch_a_fetch_and_a_console_error() {
    let exe = chromium();
    let dir = tempfile::tempdir().unwrap();
    // A report with no model and no benchmark: the version-1 fixture, emptied.
    let mut empty = llmbench::report::migrate::to_current(read_json(
        &root().join("tests/fixtures/report-v1.json"),
    ))
    .unwrap();
    empty["benchmarks"] = json!([]);
    empty["models"] = json!([]);
    let html = render(&serde_json::from_value(empty).unwrap()).unwrap();
    let start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("the page has a CSP");
    let end = start + html[start..].find('>').unwrap() + 1;
    let bad = format!(
        "{}{}",
        &html[..start],
        &html[end..].replacen(
            "</body>",
            "<img src=\"http://example.invalid/pixel.png\"><script>console.error('boom');</script><script>undefinedFunction();</script></body>",
            1
        )
    );
    let page = dir.path().join("bad.html");
    std::fs::write(&page, bad).unwrap();
    let run = open(&exe, &page, dir.path(), &["--dump-dom".into()]);
    assert_eq!(
        page_requests(&run.net_log),
        vec!["http://example.invalid/pixel.png".to_string()]
    );
    let console = console_lines(&run.stderr);
    assert!(
        console.iter().any(|l| l.contains("boom")),
        "console.error not seen: {console:?}\n{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("class=\"js-error\""),
        "window.onerror did not record the error"
    );
}
