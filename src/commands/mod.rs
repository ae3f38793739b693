//! The commands on top: one module per subcommand, each a thin shell over the steps and the
//! core. This module loads the environment, dispatches, and maps outcomes to exit codes.

pub mod completions;
pub mod down;
pub mod init;
pub mod kubeconfig;
pub mod man;
pub mod plan;
pub mod render;
pub mod status;
pub mod up;
pub mod verify;

use crate::cli::{Cli, Command, Global, Output};
use crate::core::config::{self, Env, FlagOverrides};
use std::process::ExitCode;

/// How a command ended, mapped to the exit codes the CLI documents.
#[derive(Debug)]
pub enum Failure {
    /// An operation or a check failed (exit 1); the message was already printed when empty.
    Failed(String),
    /// Invalid input or usage (exit 2); the message was already printed when empty.
    Invalid(String),
}

pub type Outcome = Result<(), Failure>;

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(format!("{e:#}"))
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Render(args) => render::run(&cli.global, args),
        Command::Up(args) => up::run(&cli.global, args),
        Command::Down(args) => down::run(&cli.global, args),
        Command::Verify(args) => verify::run(&cli.global, args),
        Command::Status => status::run(&cli.global),
        Command::Kubeconfig(args) => kubeconfig::run(&cli.global, args),
        Command::Init(args) => init::run(&cli.global, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(msg)) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Invalid(msg)) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            ExitCode::from(2)
        }
    }
}

/// Load and validate the environment file, printing every finding; errors mean exit 2.
pub fn load_env(g: &Global) -> Result<Env, Failure> {
    let flags = FlagOverrides {
        access: g.access.clone(),
        kubeconfig: g.kubeconfig.clone(),
    };
    let overrides =
        config::gather_overrides(&flags).map_err(|e| Failure::Invalid(format!("{e}")))?;
    let loaded = match config::load_file(&g.file, &overrides) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::Invalid(format!(
                "{}: file not found\n  hint: pass -f FILE (or set BOOTSTRAP_FILE); envs/minimal.yaml is the shortest useful file",
                g.file.display()
            )))
        }
        Err(e) => return Err(Failure::Invalid(format!("{}: {e}", g.file.display()))),
    };
    report_diags(g, &loaded.diags);
    match loaded.env {
        Some(env) => Ok(env),
        None => Err(Failure::Invalid(String::new())),
    }
}

fn report_diags(g: &Global, diags: &config::Diags) {
    if diags.items.is_empty() {
        return;
    }
    let errors = diags.errors().count();
    if g.output == Output::Json && errors > 0 {
        let doc =
            serde_json::json!({ "ok": false, "file": diags.file, "diagnostics": diags.items });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    for d in &diags.items {
        eprintln!("{d}");
    }
    if errors > 0 {
        let warnings = diags.warnings().count();
        eprintln!(
            "{}: {errors} error{}{}; nothing was changed",
            diags.file,
            if errors == 1 { "" } else { "s" },
            if warnings > 0 {
                format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
}

/// One small runtime per command: the work is a handful of I/O calls, so one thread starts fastest.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))
}
