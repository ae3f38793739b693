use bootstrap::cli::Cli;
use clap::Parser;

/// Every command runs on a thread with `commands::STACK` (a deep kubeconfig needs it).
fn main() -> std::process::ExitCode {
    match std::thread::Builder::new()
        .name("bootstrap".into())
        .stack_size(bootstrap::commands::STACK)
        .spawn(run)
    {
        Ok(t) => t.join().unwrap_or(std::process::ExitCode::from(101)),
        // No thread of that size (a tight ulimit -v): run where we are.
        Err(_) => run(),
    }
}

fn run() -> std::process::ExitCode {
    // As the OS gave them: an argument that is not UTF-8 must reach clap (a path may hold any
    // bytes) and the usage error path, never a panic in `std::env::args`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return bootstrap::commands::usage_error(e, &args),
    };
    bootstrap::commands::run(cli)
}
