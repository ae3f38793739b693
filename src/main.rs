use bootstrap::cli::Cli;
use clap::Parser;

/// The stack of the thread every command runs on. A kubeconfig nested as deep as kubectl reads
/// (go-yaml stops at 10,000 levels) is parsed, walked, written and dropped by recursive code;
/// the 8 MiB main thread overflowed near 3,000 levels and aborted. Only the pages a deep file
/// really touches are ever committed.
const STACK: usize = 1 << 30;

fn main() -> std::process::ExitCode {
    match std::thread::Builder::new()
        .name("bootstrap".into())
        .stack_size(STACK)
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
