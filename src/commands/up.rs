//! `bootstrap up`: reconcile everything the file describes, then verify it.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, UpArgs};
use crate::core::verify::report::render_table;
use crate::progress::Progress;
use crate::steps::Options;

/// Ctrl-C (or SIGTERM) lets the step that runs end cleanly: its helm or kind child is asked to
/// stop as a terminal would ask it, and no further step starts. A second Ctrl-C stops at once
/// (children are then killed with their handles). The kubeconfig is only ever replaced by
/// rename, and a release a killed helm left pending is recovered by the next `up`.
async fn interruptible<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let resume = "interrupted; run `bootstrap up` again to resume";
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::Failed(format!("watching for SIGTERM: {e}")))?;
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => return r.map_err(Failure::from),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("interrupt: letting the running step end cleanly (Ctrl-C again to stop at once)");
    crate::drivers::process::interrupt();
    tokio::select! {
        r = &mut work => match r {
            Ok(_) => Err(Failure::Failed(resume.into())),
            Err(e) => Err(Failure::Failed(format!("{e:#}\n{resume}"))),
        },
        _ = tokio::signal::ctrl_c() => Err(Failure::Failed(resume.into())),
        _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => Err(Failure::Failed(format!("{resume} (the running step did not end within 60s and was stopped)"))),
    }
}

pub fn run(g: &Global, args: &UpArgs) -> Outcome {
    let env = super::load_env(g)?;
    let progress = Progress::auto();
    let opts = Options {
        recreate: args.recreate,
        verify: !args.no_verify,
        timeout: args.timeout,
        helm_timeout: args.wait,
        secret_timeout: args.wait,
        kubeconfig: g.kubeconfig.clone(),
        offline: args.offline,
        ..Options::default()
    };
    let runtime = super::runtime()?;
    let result = runtime.block_on(interruptible(crate::steps::up(&env, &opts, &progress)));
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
