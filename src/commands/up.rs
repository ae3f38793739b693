//! `bootstrap up`: reconcile everything the file describes, then verify it.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, UpArgs};
use crate::core::verify::report::render_table;
use crate::progress::Progress;
use crate::steps::Options;

pub fn run(g: &Global, args: &UpArgs) -> Outcome {
    let env = super::load_env(g)?;
    let progress = Progress::auto();
    let opts = Options {
        recreate: args.recreate,
        verify: !args.no_verify,
        timeout: args.timeout,
        helm_timeout: args.wait,
        secret_timeout: args.wait,
        kubeconfig: Some(super::kubeconfig_paths(g, Some(&env))?),
        offline: args.offline,
        cache_credentials: super::cache_credentials(g, &env)?,
        ..Options::default()
    };
    let runtime = super::runtime()?;
    let result = runtime.block_on(super::interrupt::interruptible(
        crate::steps::up(&env, &opts, &progress),
        "bootstrap up",
    ));
    progress.summary();
    let summary = result?;
    match (g.output, &summary.report) {
        // Always a document, with or without verify (`up --no-verify -o json`).
        (Output::Json, report) => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.as_ref().is_none_or(|r| r.ok),
                "changes": summary.changes,
                "kubeconfig": summary.kubeconfig,
                "verify": report,
            }))
            .unwrap_or_default()
        ),
        (Output::Table, Some(report)) => print!("{}", render_table(report)),
        (Output::Table, None) => {}
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
