//! The imperative shell: one module per outside system. Drivers observe and act; they decide
//! nothing the core could decide from their observations.

pub mod cache;
pub mod charts;
pub mod config;
pub mod docker;
pub mod fetch;
pub mod helm;
pub mod kind;
pub mod kind_node;
pub mod kube;
pub mod kubeconfig;
pub mod ports;
pub mod probe;
pub mod process;
pub mod registry;
pub mod state;
pub mod toolchain;
pub mod tools;
pub mod warm;
pub mod zone;
