//! What the drivers observe of the world, as plain data: kind's node containers, their published
//! ports, and who holds host ports. Drivers fill these in; the core judges them.

use serde::Serialize;

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";
/// The container port kind publishes the API server from.
pub const API_CONTAINER_PORT: u16 = 6443;
/// kind's role label value for the haproxy container in front of several control planes
/// (`constants.ExternalLoadBalancerNodeRoleValue`, sigs.k8s.io/kind v0.32.0).
pub const LOAD_BALANCER_ROLE: &str = "external-load-balancer";

/// kind's name for a node: `<cluster>-<role>`, then `<cluster>-<role>2`, ... in config order
/// (`pkg/cluster/internal/providers/common/namer.go`).
pub fn node_name(cluster: &str, role: &str, index: usize) -> String {
    match index {
        0 => format!("{cluster}-{role}"),
        i => format!("{cluster}-{role}{}", i + 1),
    }
}

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

/// Every container labelled as a node of one kind cluster, and what runs in it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCluster {
    pub name: String,
    pub nodes: Vec<ObservedNode>,
    /// The names the API server's certificate holds, read from its TLS handshake; None when
    /// not observed (the node is not running, or the API did not answer from here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_cert_names: Option<Vec<String>>,
    /// The control-plane Node's labels, read through the kube API; None when not observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_labels: Option<std::collections::BTreeMap<String, String>>,
}

impl ObservedCluster {
    /// The first control plane, `<name>-control-plane`: the node that holds kind's admin
    /// kubeconfig, our record, the router's host ports and the config's labels. Any control
    /// plane when that one is missing.
    pub fn control_plane(&self) -> Option<&ObservedNode> {
        let first = node_name(&self.name, "control-plane", 0);
        self.nodes
            .iter()
            .find(|n| n.name == first)
            .or_else(|| self.nodes.iter().find(|n| n.role == "control-plane"))
    }

    /// kind's load balancer in front of several control planes, which publishes the API.
    pub fn load_balancer(&self) -> Option<&ObservedNode> {
        self.nodes.iter().find(|n| n.role == LOAD_BALANCER_ROLE)
    }
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
