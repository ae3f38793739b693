//! `bootstrap down`: remove what `up` made, and nothing else.

use super::Outcome;
use crate::cli::{DownArgs, Global, Output};
use crate::progress::Progress;
use crate::steps::Options;

pub fn run(g: &Global, args: &DownArgs) -> Outcome {
    let env = super::load_env(g)?;
    let progress = Progress::auto();
    let opts = Options {
        keep_cluster: args.keep_cluster,
        force: args.force,
        kubeconfig: Some(super::kubeconfig_paths(g, Some(&env))?),
        cache_credentials: super::cache_credentials(g, &env)?,
        ..Options::default()
    };
    let result = super::runtime()?.block_on(super::interrupt::interruptible(
        crate::steps::down(&env, &opts, &progress),
        "bootstrap down",
    ));
    progress.summary();
    let removed = result?.changes;
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
