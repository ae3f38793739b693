//! bootstrap: a local Kubernetes platform from one declarative file.
//!
//! The functional core (config, render, plan, access, kubeconfig edits, diagnosis) is pure and
//! unit-tested; the shell (docker, kind, helm, kube, files, network) is thin around it.

pub mod access;
pub mod app;
pub mod argocd;
pub mod cli;
pub mod cluster;
pub mod cluster_api;
pub mod cluster_diff;
pub mod commands;
pub mod config;
pub mod docker;
pub mod helm;
pub mod kind;
pub mod kubeconfig;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod reconcile;
pub mod render;
pub mod router;
pub mod verify;
pub mod zone;
