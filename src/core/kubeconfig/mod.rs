//! Kubeconfig documents: the pure edits (`doc`) on a generic tree that keeps everything we do
//! not own, the fast reader (`fastyaml`), and the judgement of a lock another writer holds
//! (`lock`). Files, the lock's own and atomic writes are drivers'.

pub mod doc;
mod fastyaml;
pub mod lock;

pub use doc::{Change, Changes, ContextView, Credentials, DocError, Entry};
