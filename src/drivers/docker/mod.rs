//! Docker through bollard: connecting, observing kind's nodes, and the few writes we make.

pub mod cache;
pub mod connect;
pub mod df;
pub mod files;
pub mod network;
pub mod nodes;
pub mod observe;
pub mod registry;

pub use connect::{connect, Conn, DockerError, Endpoint};
pub use observe::{ObservedCluster, ObservedNode, PortHolder, PublishedPort};
