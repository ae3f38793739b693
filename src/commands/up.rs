//! `bootstrap up`: reconcile everything the file describes, then verify it.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, UpArgs};
use crate::progress::Progress;
use crate::steps::in_cluster::Settings;
use crate::steps::up::{up, Options};
use crate::verify::report::render_table;

pub fn run(g: &Global, args: &UpArgs) -> Outcome {
    let env = super::load_env(g)?;
    provide_tools(&env, args.offline)?;
    let progress = Progress::auto();
    let opts = Options {
        recreate: args.recreate,
        verify: !args.no_verify,
        timeout: args.timeout,
        kubeconfig: g.kubeconfig.clone(),
        settings: Settings::default(),
    };
    let runtime = super::runtime()?;
    // Ctrl-C stops between awaits; child processes are killed with their handles and the
    // kubeconfig is only ever replaced by rename, so nothing is left half-written.
    let result = runtime.block_on(async {
        tokio::select! {
            r = up(&env, &opts, &progress) => r.map_err(Failure::from),
            _ = tokio::signal::ctrl_c() => Err(Failure::Failed("interrupted; run `bootstrap up` again to resume".into())),
        }
    });
    progress.summary();
    let summary = result?;
    if let Some(report) = &summary.report {
        match g.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "ok": report.ok,
                    "changes": summary.changes,
                    "kubeconfig": summary.kubeconfig,
                    "verify": report,
                }))
                .unwrap_or_default()
            ),
            Output::Table => print!("{}", render_table(report)),
        }
    }
    if g.output == Output::Table {
        if summary.changes.is_empty() {
            println!("Nothing to change: the environment is converged.");
        } else {
            println!("{} change(s):", summary.changes.len());
            for c in &summary.changes {
                println!("  - {c}");
            }
        }
    }
    match &summary.report {
        Some(r) if !r.ok => Err(Failure::Failed(
            "verify found failing contexts (see above)".into(),
        )),
        _ => Ok(()),
    }
}

/// The toolchain, before anything else: kind and helm from their variables, PATH (at a fitting
/// version) or the cache, else the pinned releases fetched for this machine. The steps find them
/// through the override variables, set here while the process is still single-threaded.
// TODO(pipeline): the toolchain step hands the paths to the steps instead.
fn provide_tools(env: &crate::core::config::Env, offline: bool) -> Outcome {
    use crate::drivers::toolchain::{self, Source};
    let needs = toolchain::needed(env);
    if needs.is_empty() {
        return Ok(());
    }
    let opts = toolchain::Options::from_env(offline);
    for pin in needs {
        let found = toolchain::ensure(pin, &opts)
            .map_err(|e| Failure::Failed(format!("{e}\nnothing was changed")))?;
        if found.source != Source::Override {
            if !matches!(found.source, Source::Path { .. }) || found.passed_over.is_some() {
                eprintln!("toolchain: {}: {}", pin.tool.name, found.describe(pin));
            }
            std::env::set_var(pin.tool.var, &found.path);
        }
    }
    Ok(())
}
