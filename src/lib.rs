//! bootstrap: a local Kubernetes platform from one declarative file.
//!
//! The functional core (config, render, plan, access, kubeconfig edits, diagnosis) is pure and
//! unit-tested; the shell (docker, kind, helm, kube, files, network) is thin around it.

pub mod config;
pub mod app;
pub mod cli;
pub mod commands;
pub mod kubeconfig;
