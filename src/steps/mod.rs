//! Reconcile steps: each observes, acts only on the difference, and says what it changed.

pub mod cluster;
pub mod in_cluster;
pub mod routes;
pub mod up;
