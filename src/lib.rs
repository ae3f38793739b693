//! bootstrap: a local Kubernetes platform from one declarative file.
//!
//! The layout is the architecture:
//! - `core`: the functional core. Config, rendering, the access table, diffs, kubeconfig
//!   document edits, diagnosis: pure, and where most tests live.
//! - `drivers`: the imperative shell, one module per outside system (Docker, kind, helm, the
//!   kube API, kubeconfig files, network probes). Thin: they fetch facts and carry out actions.
//! - `steps`: the pipeline `plan`, `up` and `down` walk, between the two.
//! - `commands`: one module per subcommand, on top; `cli` is the command-line surface.

pub mod cli;
pub mod commands;
pub mod core;
pub mod drivers;
pub mod progress;
pub mod steps;
