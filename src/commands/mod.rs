//! One module per subcommand; each is a thin shell over the pure core.

pub mod down;
pub mod kubeconfig;
pub mod plan;
pub mod render;
pub mod status;
pub mod up;
pub mod verify;

use crate::app::Failure;

/// One small runtime per command: the work is a handful of I/O calls, so one thread starts fastest.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))
}
