//! `bootstrap up`: reconcile everything the file describes, then verify it.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, UpArgs};
use crate::progress::Progress;
use crate::steps::in_cluster::Settings;
use crate::steps::up::{up, Options};
use crate::verify::report::render_table;

pub fn run(g: &Global, args: &UpArgs) -> Outcome {
    let env = super::load_env(g)?;
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
