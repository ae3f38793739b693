use bootstrap::cli::Cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    bootstrap::commands::run(cli)
}
