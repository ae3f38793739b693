//! The commands on top: one module per subcommand, each a thin shell over the steps and the
//! core. This module loads the environment, dispatches, and maps outcomes to exit codes.

pub mod cache;
pub mod completions;
pub mod down;
pub mod init;
mod interrupt;
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

pub fn run(mut cli: Cli) -> ExitCode {
    let json = cli.global.output == Output::Json;
    crate::logging::init(cli.global.verbose);
    if let Err(Failure::Invalid(msg) | Failure::Failed(msg)) = resolve_variables(&mut cli.global) {
        return finish(fail(json, Kind::Invalid, &msg));
    }
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
        Command::Cache(args) => cache::run(&cli.global, args),
    };
    let code = match result {
        Ok(()) => 0,
        Err(Failure::Failed(msg)) => fail(json, Kind::Failed, &msg),
        Err(Failure::Invalid(msg)) => fail(json, Kind::Invalid, &msg),
    };
    finish(code)
}

/// What kind of failure ended a command: the exit codes the CLI documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exit 1: an operation or a check failed.
    Failed,
    /// Exit 2: invalid input or usage.
    Invalid,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Failed => 1,
            Kind::Invalid => 2,
        }
    }
}

/// Pure: the JSON document a failed command prints when nothing else was printed.
pub fn error_document(kind: Kind, message: &str) -> serde_json::Value {
    serde_json::json!({
        "ok": false,
        "exitCode": kind.code(),
        "error": {
            "kind": match kind { Kind::Failed => "failed", Kind::Invalid => "invalid" },
            "message": message,
        },
    })
}

/// Report a failure: the message on stderr for people and, with `-o json`, an error document on
/// stdout unless the command already printed its own (which then says `"ok": false`).
pub fn fail(json: bool, kind: Kind, msg: &str) -> u8 {
    if !msg.is_empty() {
        eprintln!("error: {msg}");
    }
    if json && !crate::output::stdout_used() {
        let text = if msg.is_empty() {
            "failed; see stderr".to_owned()
        } else {
            msg.to_owned()
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&error_document(kind, &text)).unwrap_or_default()
        );
    }
    kind.code()
}

/// End a command: flush stdout; a write that failed (other than a closed pipe, which means the
/// reader is done) is an error and exit 1.
pub fn finish(code: u8) -> ExitCode {
    match crate::output::finish() {
        Some(e) => {
            eprintln!("error: cannot write the output to stdout: {e}");
            ExitCode::from(if code == 0 { 1 } else { code })
        }
        None => ExitCode::from(code),
    }
}

/// The one place BOOTSTRAP_* variables are read for every command (with BOOTSTRAP_FILE, read by
/// clap, and BOOTSTRAP_KIND/BOOTSTRAP_HELM, read where the tools are located): flags win over
/// variables, and the result is left in `g` so that a command with or without an environment
/// file sees the same kubeconfig and access mode. The overrides, each with where it came from,
/// are kept for the file's decoding, which names a bad value by its variable.
pub fn resolve_variables(g: &mut Global) -> Result<(), Failure> {
    let flags = FlagOverrides {
        access: g.access.clone(),
        kubeconfig: g.kubeconfig.clone(),
    };
    let overrides = crate::drivers::config::gather_overrides(&flags)
        .map_err(|e| Failure::Invalid(format!("{e}")))?;
    crate::drivers::toolchain::offline_from_env().map_err(Failure::Invalid)?;
    let value = |key: &str| {
        overrides
            .iter()
            .find(|o| o.key == key)
            .filter(|o| !o.value.trim().is_empty())
    };
    if let Some(a) = value("access") {
        if a.value.parse::<config::AccessMode>().is_err() {
            return Err(Failure::Invalid(format!(
                "{}: access.mode: `{}` is not a valid value\n  hint: valid values: {}",
                a.from,
                a.value,
                config::AccessMode::NAMES.join(", ")
            )));
        }
    }
    g.kubeconfig = value("kubeconfig").map(|o| o.value.clone());
    g.access = value("access").map(|o| o.value.clone());
    g.overrides = overrides;
    Ok(())
}

/// The kubeconfig files of a command, as kubectl finds them (`drivers::kubeconfig::paths`):
/// `--kubeconfig` or BOOTSTRAP_KUBECONFIG (relative to where the user stands), else the file's
/// `kubeconfig.path` (relative to the envs.yaml's folder), else KUBECONFIG, else
/// `~/.kube/config`; a leading `~` or `$HOME` is the home folder in both.
pub fn kubeconfig_paths(
    g: &Global,
    env: Option<&Env>,
) -> Result<crate::drivers::kubeconfig::Paths, Failure> {
    let setting = env
        .and_then(|e| e.kubeconfig.path.as_deref())
        .map(|p| (p, g.file.as_path()));
    crate::drivers::kubeconfig::paths::for_command(
        g.kubeconfig.as_deref().map(std::ffi::OsStr::new),
        setting,
    )
    .map_err(|e| Failure::Invalid(e.to_string()))
}

/// The Docker config file `cache.credentials` names, made absolute as `kubeconfig.path` is
/// (`~` and `$HOME` expanded, a relative path taken from the envs.yaml's folder).
pub fn cache_credentials(g: &Global, env: &Env) -> Result<Option<std::path::PathBuf>, Failure> {
    let Some(raw) = env.cache.credentials.as_deref() else {
        return Ok(None);
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    crate::drivers::kubeconfig::paths::expand(
        std::ffi::OsStr::new(raw),
        crate::drivers::kubeconfig::paths::Named::Setting {
            envs_file: g.file.as_path(),
        },
        home.as_deref(),
    )
    .map(Some)
    .map_err(|_| {
        Failure::Invalid(format!(
            "cache.credentials `{raw}` starts with `~` or `$HOME`, but HOME is not set: write the full path"
        ))
    })
}

/// Load and validate the environment file, printing every finding; errors mean exit 2.
pub fn load_env(g: &Global) -> Result<Env, Failure> {
    let loaded = match crate::drivers::config::load_file(&g.file, &g.overrides) {
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
        let doc = serde_json::json!({
            "ok": false,
            "exitCode": Kind::Invalid.code(),
            "file": diags.file,
            "diagnostics": diags.items,
        });
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

/// The stack of every thread a command runs on (`main`'s, the runtimes' workers and blocking
/// threads). A kubeconfig may nest as deep as kubectl reads (go-yaml stops at 10,000 levels),
/// and it is parsed, walked, cloned, written and dropped by recursive code: 8 MiB overflowed and
/// aborted near 3,000 levels. Only the pages a deep file really touches are ever committed.
pub const STACK: usize = 1 << 30;

/// One small runtime per command: the work is a handful of I/O calls, so one thread starts fastest.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .thread_stack_size(STACK)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))
}

/// A command line clap refused. `--help` and `--version` are not errors: their text goes to
/// stdout with exit 0; under `-o json` as one document (`{"ok": true, "help": ...}` or
/// `"version"`), so a script that always parses stdout never meets text. Everything else is a usage error, exit 2:
/// clap's text on stderr (a missing subcommand shows the command's help there, as clap does)
/// and, with `-o json`, the same error document every failure gives on stdout. Colour only where
/// `output::colour` allows it.
pub fn usage_error(e: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let render = |stdout: bool| {
        let text = e.render();
        if crate::output::colour(stdout) {
            text.ansi().to_string()
        } else {
            text.to_string()
        }
    };
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        if crate::cli::wants_json(args) {
            let key = if e.kind() == ErrorKind::DisplayHelp {
                "help"
            } else {
                "version"
            };
            let text = e.render().to_string();
            let text = match key {
                "version" => text
                    .trim()
                    .rsplit(' ')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                _ => text,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "ok": true, key: text }))
                    .unwrap_or_default()
            );
        } else {
            print!("{}", render(true));
        }
        return finish(0);
    }
    let message = usage_message(&e, args);
    match (e.kind(), crate::cli::first_not_utf8(args)) {
        // clap's own text says only "invalid UTF-8 was detected in one or more arguments".
        (ErrorKind::InvalidUtf8, Some(_)) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.")
        }
        _ => eprint!("{}", render(false)),
    }
    if crate::cli::wants_json(args) {
        println!(
            "{}",
            serde_json::to_string_pretty(&error_document(Kind::Invalid, &message))
                .unwrap_or_default()
        );
    }
    finish(Kind::Invalid.code())
}

/// Pure: one line saying what was wrong with the command line, for the JSON error document
/// and for the errors whose clap text does not say it.
pub fn usage_message(e: &clap::Error, args: &[std::ffi::OsString]) -> String {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            missing_subcommand(args)
        }
        ErrorKind::InvalidUtf8 => match crate::cli::first_not_utf8(args) {
            Some((i, shown)) => format!(
                "argument {i} (`{shown}`) is not UTF-8 text: names, contexts and values must be; only the file path of -f and of `man --dir` may hold other bytes"
            ),
            None => "an argument is not UTF-8 text".to_owned(),
        },
        _ => {
            let text = e.to_string();
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        }
    }
}

/// "`bootstrap render` needs a command: kind-config, router, ...": the deepest command the
/// arguments name, and the commands it takes.
fn missing_subcommand(args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    let mut path = vec![cmd.get_name().to_owned()];
    for a in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = cmd.find_subcommand(a).cloned() {
            path.push(sub.get_name().to_owned());
            cmd = sub;
        }
    }
    let subs: Vec<&str> = cmd
        .get_subcommands()
        .map(|c| c.get_name())
        .filter(|n| *n != "help")
        .collect();
    format!("`{}` needs a command: {}", path.join(" "), subs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::ffi::OsString;

    fn refused(args: &[&str]) -> (clap::Error, Vec<OsString>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = crate::cli::Cli::try_parse_from(&args).unwrap_err();
        (e, args)
    }

    #[test]
    fn a_missing_subcommand_names_the_ones_there_are() {
        let (e, args) = refused(&["bootstrap", "-o", "json", "render"]);
        assert_eq!(
            usage_message(&e, &args),
            "`bootstrap render` needs a command: kind-config, router, vcluster, routes, contexts, images"
        );
        let (e, args) = refused(&["bootstrap"]);
        assert!(usage_message(&e, &args).starts_with("`bootstrap` needs a command: up, verify,"));
    }

    #[test]
    fn an_argument_that_is_not_utf8_is_named() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("bootstrap"),
            OsString::from("verify"),
            OsString::from("--context"),
            OsString::from_vec(b"dev\xff".to_vec()),
        ];
        let e = crate::cli::Cli::try_parse_from(&args).unwrap_err();
        let m = usage_message(&e, &args);
        assert!(
            m.starts_with("argument 3 (`dev\\xFF`) is not UTF-8 text"),
            "{m}"
        );
    }

    #[test]
    fn other_usage_errors_keep_clap_s_first_line_without_colour() {
        let (e, args) = refused(&["bootstrap", "plan", "--timeout", "1h30m"]);
        let m = usage_message(&e, &args);
        assert!(
            m.starts_with("invalid value '1h30m' for '--timeout <TIMEOUT>': unknown unit"),
            "{m}"
        );
        assert!(!m.contains('\x1b'), "{m:?}");
    }
}
