use bootstrap::cli::Cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    bootstrap::app::run(cli)
}
