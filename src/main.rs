use clap::Parser;

fn main() {
    let cli = llmbench::cli::Cli::parse();
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
