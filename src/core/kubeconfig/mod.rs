//! Kubeconfig documents: the pure edits (`doc`) on a generic tree that keeps everything we do
//! not own, and the fast reader (`fastyaml`). Files, locks and atomic writes are drivers'.

pub mod doc;
mod fastyaml;

pub use doc::{Change, Changes, ContextView, Credentials, DocError, Entry};
