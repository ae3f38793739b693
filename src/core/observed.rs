//! What the drivers observe of the world, as plain data: kind's node containers, their published
//! ports, and who holds host ports. Drivers fill these in; the core judges them.

use serde::Serialize;

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";
/// The container port kind publishes the API server from.
pub const API_CONTAINER_PORT: u16 = 6443;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    Running,
    Paused,
    Stopped,
    /// Created, restarting, removing, dead: nothing we can simply start.
    Other,
}

/// One published port: `host_ip:host_port` on the host reaches `container_port/protocol`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedPort {
    pub container_port: u16,
    /// Lower case, as Docker writes it: tcp, udp, sctp.
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

impl std::fmt::Display for PublishedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.protocol
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNode {
    pub id: String,
    pub name: String,
    pub role: String,
    pub state: NodeState,
    /// Docker's own word for the state (running, exited, paused...).
    pub status: String,
    pub image: String,
    pub ports: Vec<PublishedPort>,
    pub networks: Vec<String>,
}

/// Every container labelled as a node of one kind cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCluster {
    pub name: String,
    pub nodes: Vec<ObservedNode>,
}

/// A container that publishes a host port.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortHolder {
    pub container: String,
    /// The kind cluster it belongs to, when it carries kind's label.
    pub cluster: Option<String>,
    pub host_ip: String,
    pub host_port: u16,
    pub protocol: String,
}
