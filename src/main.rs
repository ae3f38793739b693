use bootstrap::cli::Cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bootstrap::commands::usage_error(e),
    };
    bootstrap::commands::run(cli)
}
