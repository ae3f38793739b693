use bootstrap::cli::Cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    // As the OS gave them: an argument that is not UTF-8 must reach clap (a path may hold any
    // bytes) and the usage error path, never a panic in `std::env::args`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return bootstrap::commands::usage_error(e, &args),
    };
    bootstrap::commands::run(cli)
}
