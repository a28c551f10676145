/// Diagnostics (`tracing`) go to stderr: with `-v`/`--verbose` llmbench's debug events, else
/// whatever `RUST_LOG` asks for (nothing by default). Results go to stdout and the report files.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let verbose = std::env::args().any(|a| a == "-v" || a == "--verbose");
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::new(f),
        _ if verbose => EnvFilter::new("llmbench=debug"),
        _ => EnvFilter::new("off"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() {
    init_tracing();
    let cli = match llmbench::sources::parse_with_sources(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let argv: Vec<String> = std::env::args().collect();
    match llmbench::run(cli, argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let code = llmbench::error::exit_code(&e);
            if code == 2 {
                eprintln!("error: {e}");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::exit(code);
        }
    }
}
