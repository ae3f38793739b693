//! `bootstrap plan`: what `up` would do, changing nothing. It walks `up`'s own steps with
//! observe + diff (Docker, the cluster's API and the kubeconfig are read, never written), so the
//! plan and `up` cannot disagree. `--offline` diffs against nothing observed.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, PlanArgs};
use crate::core::plan::format_plan;
use crate::progress::Progress;
use crate::steps::Options;

pub fn run(g: &Global, args: &PlanArgs) -> Outcome {
    let env = super::load_env(g)?;
    let opts = Options {
        timeout: args.timeout,
        kubeconfig: Some(super::kubeconfig_paths(g, Some(&env))?),
        cache_credentials: super::cache_credentials(g, &env)?,
        ..Options::default()
    };
    // Plans print data on stdout; progress goes to stderr only when it is a terminal.
    let progress = Progress::auto();
    let out = super::runtime()?
        .block_on(crate::steps::plan(&env, &opts, &progress, args.offline))
        .map_err(|e| {
            Failure::Failed(format!(
                "{e:#}\n  hint: `bootstrap plan --offline` plans from the file alone"
            ))
        })?;
    match g.output {
        Output::Json => {
            let doc = serde_json::json!({
                "file": g.file.display().to_string(),
                "observed": !args.offline,
                "changes": out.plan.changes,
                "actions": out.plan.actions,
            });
            let mut doc = doc;
            if !out.blockers.is_empty() {
                doc["blockers"] = serde_json::json!(out.blockers);
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Table => {
            if args.offline {
                println!(
                    "Plan for {} (offline: nothing observed, every step is listed)\n",
                    g.file.display()
                );
            } else {
                println!(
                    "Plan for {} (observed: Docker, the cluster's API, the kubeconfig)\n",
                    g.file.display()
                );
            }
            print!("{}", format_plan(&out.plan));
            if !out.blockers.is_empty() {
                println!("\n`up` would stop before any change:");
                for b in &out.blockers {
                    println!("  - {b}");
                }
            }
        }
    }
    if out.blockers.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(String::new()))
    }
}
