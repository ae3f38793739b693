//! `bootstrap down`: delete the cluster the file names, and nothing else.

use crate::app::{Failure, Outcome};
use crate::cli::{DownArgs, Global};
use crate::cluster::DownOutcome;
use crate::progress::Progress;

pub fn run(g: &Global, args: &DownArgs) -> Outcome {
    let env = crate::app::load_env(g)?;
    if args.keep_cluster {
        eprintln!("cluster `{}`: kept (--keep-cluster)", env.cluster.name);
        return Ok(());
    }
    let progress = Progress::auto();
    let result = super::runtime()?.block_on(async {
        let conn = crate::docker::connect()
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        Ok::<_, Failure>(crate::cluster::down(&env, &conn, &progress).await?)
    });
    progress.summary();
    match result? {
        DownOutcome::NotManaged => eprintln!(
            "cluster: provider `existing`: bootstrap did not create it and leaves it alone"
        ),
        DownOutcome::AlreadyAbsent => eprintln!("cluster `{}`: already absent", env.cluster.name),
        DownOutcome::Deleted { nodes, by } => {
            eprintln!(
                "cluster `{}`: deleted {} through {by}",
                env.cluster.name,
                nodes.join(", ")
            )
        }
    }
    Ok(())
}
