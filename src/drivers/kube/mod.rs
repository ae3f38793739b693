//! Talking to a cluster's API: a client from a kubeconfig context, server-side apply of
//! manifests, vcluster secrets, bounded waits. Everything goes through `kube::Client`, so tests
//! drive it with kube's mock service and assert the requests.

pub mod apply;
pub mod auth;
pub mod client;
pub mod releases;
pub mod secrets;

pub use apply::{apply_manifests, delete_manifests, Applied, FIELD_MANAGER};
pub use client::client_for_context;
pub use secrets::{read_vcluster_secret, wait_for_vcluster_secret, VclusterSecret};
