//! Verify's pure part: which contexts a file declares and how each is reached (`environment`,
//! `target` resolves a kubeconfig context into what to probe), what a failure means and what to
//! do about it (`diagnose`, whose `gateway` rule reads a refusal through host.docker.internal
//! with Docker's facts), and the report as a table or JSON (`report`). The probes themselves are
//! `drivers::probe`; `steps::verify` puts the two together.

pub mod diagnose;
pub mod environment;
pub mod report;
pub mod target;

pub use report::Report;
pub use target::{resolve_with, Resolved, Target, TargetError};
