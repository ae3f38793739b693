//! bootstrap: a local Kubernetes platform from one declarative file.
//!
//! The layout is the architecture:
//! - `core`: the functional core. Config, rendering, the access table, diffs, kubeconfig
//!   document edits, diagnosis: pure, and where most tests live.
//! - `drivers`: the imperative shell, one module per outside system (Docker, kind, helm, the
//!   kube API, kubeconfig files, network probes). Thin: they fetch facts and carry out actions.
//! - `steps`: the pipeline `plan`, `up` and `down` walk, between the two.
//! - `commands`: one module per subcommand, on top; `cli` is the command-line surface.

// One output path for the whole crate: these shadow std's print macros in every module below
// (textual macro scope wins over the prelude), so no print anywhere can panic on a closed pipe
// or a full disk. See `output`.
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::out(format_args!($($arg)*)) };
}
#[allow(unused_macros)]
macro_rules! println {
    () => { $crate::output::out_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::out_line(format_args!($($arg)*)) };
}
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::err(format_args!($($arg)*)) };
}
#[allow(unused_macros)]
macro_rules! eprintln {
    () => { $crate::output::err_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::err_line(format_args!($($arg)*)) };
}

pub mod output;

pub mod cli;
pub mod commands;
pub mod core;
pub mod drivers;
pub mod logging;
pub mod progress;
pub mod steps;
