fn main() {
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
