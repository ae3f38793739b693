//! One module per subcommand; each is a thin shell over the pure core.

pub mod kubeconfig;
pub mod plan;
pub mod render;

use crate::app::{Failure, Outcome};
use crate::cli::Global;

/// A command whose machinery has not landed: it validates the file, says so plainly and fails.
pub fn not_yet<A: std::fmt::Debug>(name: &str, what: &str, g: &Global, _args: &A) -> Outcome {
    if name != "verify" && name != "kubeconfig" {
        crate::app::load_env(g)?;
    }
    Err(Failure::Failed(format!(
        "`bootstrap {name}` is not implemented in this build: {what} has not landed yet. \
`bootstrap plan` shows what it would do."
    )))
}
