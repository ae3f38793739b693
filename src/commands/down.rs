//! `bootstrap down`: remove what `up` made, and nothing else.

use super::Outcome;
use crate::cli::{DownArgs, Global, Output};
use crate::progress::Progress;
use crate::steps::up::{down, DownOptions};

pub fn run(g: &Global, args: &DownArgs) -> Outcome {
    let env = super::load_env(g)?;
    // `down` never downloads: kind and helm from their variables, PATH or the cache `up` filled.
    super::use_found_tools(&env);
    let progress = Progress::auto();
    let opts = DownOptions {
        keep_cluster: args.keep_cluster,
        kubeconfig: g.kubeconfig.clone(),
    };
    let result = super::runtime()?.block_on(down(&env, &opts, &progress));
    progress.summary();
    let removed = result?;
    match g.output {
        Output::Json => println!("{}", serde_json::json!({ "ok": true, "removed": removed })),
        Output::Table if removed.is_empty() => {
            println!("Nothing to remove: nothing of this environment was found.")
        }
        Output::Table => {
            println!("Removed:");
            for r in &removed {
                println!("  - {r}");
            }
        }
    }
    Ok(())
}
