//! `bootstrap plan`: what `up` would do, changing nothing.

use crate::app::Outcome;
use crate::cli::{Global, Output};
use crate::plan::{format_plan, plan, Observed};

pub fn run(g: &Global) -> Outcome {
    let env = crate::app::load_env(g)?;
    // Observation of Docker, the cluster and the kubeconfig lands with the reconcile work; until
    // then nothing is observed and the plan is everything, which the output says.
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
                "Plan for {} (nothing observed yet: every step is listed)\n",
                g.file.display()
            );
            print!("{}", format_plan(&p));
        }
    }
    Ok(())
}
