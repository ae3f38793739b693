//! `bootstrap plan`: what `up` would do, changing nothing. It runs `up`'s own steps in observe
//! mode (Docker, helm, the cluster's API and the kubeconfig are read, never written), so the
//! plan and `up` cannot disagree. `--offline` plans from the file alone.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, PlanArgs};
use crate::core::plan::{format_plan, plan, Observed};
use crate::progress::Progress;
use crate::steps::in_cluster::Settings;
use crate::steps::up::{up, Options};

pub fn run(g: &Global, args: &PlanArgs) -> Outcome {
    let env = super::load_env(g)?;
    if args.offline {
        let p = plan(&env, &Observed::default());
        match g.output {
            Output::Json => {
                let doc = serde_json::json!({
                    "file": g.file.display().to_string(),
                    "observed": false,
                    "changes": p.changes,
                    "actions": p.actions,
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            Output::Table => {
                println!(
                    "Plan for {} (offline: nothing observed, every step is listed)\n",
                    g.file.display()
                );
                print!("{}", format_plan(&p));
            }
        }
        return Ok(());
    }
    super::use_found_tools(&env);
    let opts = Options {
        recreate: false,
        verify: false,
        timeout: args.timeout,
        kubeconfig: g.kubeconfig.clone(),
        settings: Settings {
            dry_run: true,
            ..Settings::default()
        },
    };
    // Plans print data on stdout; progress goes to stderr only when it is a terminal.
    let progress = Progress::auto();
    let summary = super::runtime()?
        .block_on(up(&env, &opts, &progress))
        .map_err(|e| {
            Failure::Failed(format!(
                "{e:#}\n  hint: `bootstrap plan --offline` plans from the file alone"
            ))
        })?;
    match g.output {
        Output::Json => {
            let doc = serde_json::json!({
                "file": g.file.display().to_string(),
                "observed": true,
                "changes": summary.changes.len(),
                "actions": summary.changes,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Table => {
            println!(
                "Plan for {} (observed: Docker, helm, the cluster's API, the kubeconfig)\n",
                g.file.display()
            );
            if summary.changes.is_empty() {
                println!("Nothing to change: the environment is converged.");
            } else {
                for (i, c) in summary.changes.iter().enumerate() {
                    println!("{:>2}. {}", i + 1, c.trim_start_matches("would "));
                }
                println!("{} change(s) to make.", summary.changes.len());
            }
        }
    }
    Ok(())
}
