//! The functional core: everything here is pure (no I/O: drivers read the files and pass their
//! text in), so every decision is unit-tested without Docker, a cluster or a network.

pub mod access;
pub mod argocd;
pub mod boolean;
pub mod charts;
pub mod cluster_diff;
pub mod config;
pub mod exposure;
pub mod images;
pub mod kubeconfig;
pub mod labels;
pub mod objects;
pub mod observed;
pub mod ownership;
pub mod plan;
pub mod ports;
pub mod release;
pub mod render;
pub mod router;
pub mod verify;
pub mod version;
pub mod yaml_error;
pub mod zone;
