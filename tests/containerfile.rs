//! What can be checked of Containerfile.vllm without a container engine: every path it copies
//! from the build context exists, and its build command builds this project's binary.
mod common;
use common::root;

fn lines() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("Containerfile.vllm")).expect("Containerfile.vllm");
    // Join continuation lines.
    text.replace("\\\n", " ")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn every_copied_path_exists() {
    let copies: Vec<String> = lines()
        .into_iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .collect();
    assert!(copies.len() >= 3, "{copies:?}");
    for c in copies {
        let parts: Vec<&str> = c.split_whitespace().skip(1).collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "COPY source {src} does not exist"
            );
        }
    }
    // The worker is embedded through include_str!, so copying src/ and worker/ is enough.
    let main = std::fs::read_to_string(root().join("src/backend/worker.rs")).unwrap();
    assert!(main.contains("include_str!(\"../../worker/llmbench_worker.py\")"));
}

#[test]
fn the_build_stage_builds_the_same_binary() {
    let l = lines();
    let run = l
        .iter()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("a cargo build step");
    let args: Vec<&str> = run.split_whitespace().skip(2).collect();
    assert!(
        args.contains(&"--locked"),
        "the image builds from Cargo.lock"
    );
    assert!(l
        .iter()
        .any(|x| x.contains("COPY --from=build /src/target/release/llmbench")));
    assert!(l
        .iter()
        .any(|x| x.starts_with("ENTRYPOINT") && x.contains("tini") && x.contains("llmbench")));
    assert!(l
        .iter()
        .any(|x| x.starts_with("CMD") && x.contains("\"benchmark\", \"run\"")));
    assert!(l
        .iter()
        .any(|x| x.starts_with("USER ") && !x.contains("root")));
    assert!(l
        .iter()
        .any(|x| x == "ARG BASE_IMAGE=vllm/vllm-openai:latest"));
    // Run the build stage's own command here (same flags; the release build is shared with the demo).
    let st = std::process::Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(root())
        .status()
        .expect("cargo");
    assert!(st.success(), "`cargo {}` failed", args.join(" "));
    assert!(root().join("target/release/llmbench").exists());
}
