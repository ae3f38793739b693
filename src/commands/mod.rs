//! One module per subcommand; each is a thin shell over the pure core.

pub mod down;
pub mod kubeconfig;
pub mod plan;
pub mod render;
pub mod status;
pub mod up;
pub mod verify;

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

/// One small runtime per command: the work is a handful of I/O calls, so one thread starts fastest.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))
}
