//! Pure: what the file wants of the kind cluster against what Docker shows, and what to do about
//! it. Published ports, the API address and the node image are fixed when kind creates a node, so
//! a difference there can only be fixed by recreating the cluster.

use crate::core::config::Env;
use crate::core::observed::{NodeState, ObservedCluster, PublishedPort, API_CONTAINER_PORT};
use serde::Serialize;

/// The part of the environment a node container must match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredCluster {
    pub name: String,
    /// None: whatever image kind picks by default, which we do not second-guess.
    pub node_image: Option<String>,
    /// The API server's port first, then each port mapping.
    pub ports: Vec<PublishedPort>,
}

/// Read from the very kind config `up` hands to kind, so what we compare is what kind was asked
/// for (defaults included, such as the router's 443 published on the HTTPS port).
pub fn desired(env: &Env) -> DesiredCluster {
    from_kind_config(
        &env.cluster.name,
        &crate::core::render::kind::kind_config_value(env),
    )
}

/// Pure: the published ports and image a kind.x-k8s.io/v1alpha4 Cluster asks of its control plane.
pub fn from_kind_config(name: &str, cfg: &serde_json::Value) -> DesiredCluster {
    let net = &cfg["networking"];
    let mut ports = vec![PublishedPort {
        container_port: API_CONTAINER_PORT,
        protocol: "tcp".into(),
        host_ip: net["apiServerAddress"]
            .as_str()
            .unwrap_or("127.0.0.1")
            .to_owned(),
        host_port: net["apiServerPort"].as_u64().unwrap_or(0) as u16,
    }];
    let control_plane = cfg["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["role"] == "control-plane"))
        .cloned()
        .unwrap_or_default();
    for m in control_plane["extraPortMappings"]
        .as_array()
        .into_iter()
        .flatten()
    {
        ports.push(PublishedPort {
            container_port: m["containerPort"].as_u64().unwrap_or(0) as u16,
            protocol: m["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
            // kind's default listen address is all addresses.
            host_ip: m["listenAddress"].as_str().unwrap_or("0.0.0.0").to_owned(),
            host_port: m["hostPort"].as_u64().unwrap_or(0) as u16,
        });
    }
    DesiredCluster {
        name: name.to_owned(),
        node_image: control_plane["image"].as_str().map(str::to_owned),
        ports,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Absent,
    Converged,
    Stopped { nodes: Vec<String> },
    Drifted { differences: Vec<String> },
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Absent => "absent",
            Verdict::Converged => "converged",
            Verdict::Stopped { .. } => "stopped",
            Verdict::Drifted { .. } => "drifted",
        }
    }
}

pub fn diff(want: &DesiredCluster, seen: &ObservedCluster) -> Verdict {
    if seen.nodes.is_empty() {
        return Verdict::Absent;
    }
    let mut differences = Vec::new();
    let Some(cp) = seen.nodes.iter().find(|n| n.role == "control-plane") else {
        let names: Vec<&str> = seen.nodes.iter().map(|n| n.name.as_str()).collect();
        return Verdict::Drifted {
            differences: vec![format!(
                "no control-plane node: only {} carry the cluster's label",
                names.join(", ")
            )],
        };
    };
    let api_want = &want.ports[0];
    let api_seen: Vec<&PublishedPort> = cp
        .ports
        .iter()
        .filter(|p| p.container_port == API_CONTAINER_PORT && p.protocol == "tcp")
        .collect();
    if !api_seen.contains(&api_want) {
        let found = if api_seen.is_empty() {
            "not published".to_owned()
        } else {
            api_seen
                .iter()
                .map(|p| format!("{}:{}", p.host_ip, p.host_port))
                .collect::<Vec<_>>()
                .join(", ")
        };
        differences.push(format!(
            "API server: the file wants {}:{}, the node publishes {found}",
            api_want.host_ip, api_want.host_port
        ));
    }
    for p in &want.ports[1..] {
        if !cp.ports.contains(p) {
            differences.push(format!("port mapping {p} is missing on {}", cp.name));
        }
    }
    for p in &cp.ports {
        if p.container_port == API_CONTAINER_PORT && p.protocol == "tcp" {
            continue;
        }
        if !want.ports.contains(p) {
            differences.push(format!(
                "{} publishes {p}, which the file does not ask for",
                cp.name
            ));
        }
    }
    if let Some(image) = &want.node_image {
        for n in &seen.nodes {
            if !same_image(image, &n.image) {
                differences.push(format!(
                    "node image of {}: the file wants {image}, the node runs {}",
                    n.name, n.image
                ));
            }
        }
    }
    if !differences.is_empty() {
        return Verdict::Drifted { differences };
    }
    let stopped: Vec<String> = seen
        .nodes
        .iter()
        .filter(|n| n.state != NodeState::Running)
        .map(|n| n.name.clone())
        .collect();
    if stopped.is_empty() {
        Verdict::Converged
    } else {
        Verdict::Stopped { nodes: stopped }
    }
}

/// kind pins node images by digest (`kindest/node:v1.34.0@sha256:...`); a file naming only the
/// tag still matches.
fn same_image(want: &str, seen: &str) -> bool {
    let strip = |s: &str| s.split('@').next().unwrap_or(s).to_owned();
    want == seen || (!want.contains('@') && strip(seen) == want)
}

/// What the cluster step will do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Create,
    Nothing,
    Start {
        nodes: Vec<String>,
    },
    Recreate {
        differences: Vec<String>,
    },
    /// Drifted and `--recreate` not given: stop and explain.
    Refuse {
        differences: Vec<String>,
    },
}

pub fn action(v: &Verdict, recreate: bool) -> Action {
    match v {
        Verdict::Absent => Action::Create,
        Verdict::Converged => Action::Nothing,
        Verdict::Stopped { nodes } => Action::Start {
            nodes: nodes.clone(),
        },
        Verdict::Drifted { differences } if recreate => Action::Recreate {
            differences: differences.clone(),
        },
        Verdict::Drifted { differences } => Action::Refuse {
            differences: differences.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::observed::ObservedNode;

    fn port(cp: u16, ip: &str, hp: u16) -> PublishedPort {
        PublishedPort {
            container_port: cp,
            protocol: "tcp".into(),
            host_ip: ip.into(),
            host_port: hp,
        }
    }

    fn want() -> DesiredCluster {
        DesiredCluster {
            name: "localdev".into(),
            node_image: Some("kindest/node:v1.34.0".into()),
            ports: vec![port(6443, "127.0.0.1", 6443), port(443, "0.0.0.0", 8443)],
        }
    }

    fn node(state: NodeState, ports: Vec<PublishedPort>, image: &str) -> ObservedNode {
        ObservedNode {
            id: "id1".into(),
            name: "localdev-control-plane".into(),
            role: "control-plane".into(),
            state,
            status: String::new(),
            image: image.into(),
            ports,
            networks: vec!["kind".into()],
        }
    }

    fn seen(nodes: Vec<ObservedNode>) -> ObservedCluster {
        ObservedCluster {
            name: "localdev".into(),
            nodes,
        }
    }

    fn good_ports() -> Vec<PublishedPort> {
        vec![port(443, "0.0.0.0", 8443), port(6443, "127.0.0.1", 6443)]
    }

    #[test]
    fn absent_when_no_node_carries_the_label() {
        assert_eq!(diff(&want(), &seen(vec![])), Verdict::Absent);
        assert_eq!(action(&Verdict::Absent, false), Action::Create);
    }

    #[test]
    fn converged_when_everything_matches() {
        let s = seen(vec![node(
            NodeState::Running,
            good_ports(),
            "kindest/node:v1.34.0@sha256:abc",
        )]);
        assert_eq!(diff(&want(), &s), Verdict::Converged);
        assert_eq!(action(&Verdict::Converged, true), Action::Nothing);
    }

    #[test]
    fn stopped_when_a_matching_node_is_not_running() {
        let s = seen(vec![node(
            NodeState::Stopped,
            good_ports(),
            "kindest/node:v1.34.0",
        )]);
        let v = diff(&want(), &s);
        assert_eq!(
            v,
            Verdict::Stopped {
                nodes: vec!["localdev-control-plane".into()]
            }
        );
        assert!(matches!(action(&v, false), Action::Start { .. }));
    }

    #[test]
    fn drifted_api_port_is_explained() {
        let s = seen(vec![node(
            NodeState::Running,
            vec![port(443, "0.0.0.0", 8443), port(6443, "127.0.0.1", 7443)],
            "kindest/node:v1.34.0",
        )]);
        let Verdict::Drifted { differences } = diff(&want(), &s) else {
            panic!("expected drift")
        };
        assert_eq!(
            differences,
            ["API server: the file wants 127.0.0.1:6443, the node publishes 127.0.0.1:7443"]
        );
    }

    #[test]
    fn drifted_mappings_name_missing_and_extra() {
        let s = seen(vec![node(
            NodeState::Running,
            vec![port(443, "0.0.0.0", 9443), port(6443, "127.0.0.1", 6443)],
            "kindest/node:v1.34.0",
        )]);
        let Verdict::Drifted { differences } = diff(&want(), &s) else {
            panic!("expected drift")
        };
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].contains("0.0.0.0:8443->443/tcp is missing"));
        assert!(differences[1].contains("publishes 0.0.0.0:9443->443/tcp"));
    }

    #[test]
    fn drifted_image_wins_over_stopped_and_needs_recreate() {
        let s = seen(vec![node(
            NodeState::Stopped,
            good_ports(),
            "kindest/node:v1.31.0",
        )]);
        let v = diff(&want(), &s);
        let Verdict::Drifted { differences } = &v else {
            panic!("expected drift")
        };
        assert!(differences[0]
            .contains("wants kindest/node:v1.34.0, the node runs kindest/node:v1.31.0"));
        assert!(matches!(action(&v, false), Action::Refuse { .. }));
        assert!(matches!(action(&v, true), Action::Recreate { .. }));
    }

    #[test]
    fn no_image_in_the_file_accepts_kinds_default() {
        let mut w = want();
        w.node_image = None;
        let s = seen(vec![node(
            NodeState::Running,
            good_ports(),
            "kindest/node:anything",
        )]);
        assert_eq!(diff(&w, &s), Verdict::Converged);
    }

    #[test]
    fn labelled_workers_without_control_plane_are_drift() {
        let mut n = node(NodeState::Running, good_ports(), "kindest/node:v1.34.0");
        n.role = "worker".into();
        assert!(matches!(
            diff(&want(), &seen(vec![n])),
            Verdict::Drifted { .. }
        ));
    }

    #[test]
    fn desired_reads_the_env() {
        let loaded = crate::core::config::load_str(
            "apiVersion: bootstrap/v1alpha1\ncluster:\n  name: localdev\n  apiServer: {port: 7443}\n  portMappings:\n    - {containerPort: 443, hostPort: 8443}\n",
            "t.yaml",
            &[],
        );
        let env = loaded
            .env
            .unwrap_or_else(|| panic!("{:?}", loaded.diags.items));
        let d = desired(&env);
        assert_eq!(
            d.ports,
            vec![port(6443, "127.0.0.1", 7443), port(443, "0.0.0.0", 8443)]
        );
    }

    #[test]
    fn kind_config_defaults_are_kinds() {
        let cfg = serde_json::json!({
            "networking": {"apiServerAddress": "0.0.0.0", "apiServerPort": 7443},
            "nodes": [
                {"role": "worker"},
                {"role": "control-plane", "image": "kindest/node:v1.34.0",
                 "extraPortMappings": [{"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]}
            ]
        });
        let d = from_kind_config("x", &cfg);
        assert_eq!(d.node_image.as_deref(), Some("kindest/node:v1.34.0"));
        assert_eq!(d.ports[0], port(6443, "0.0.0.0", 7443));
        assert_eq!(
            d.ports[1],
            PublishedPort {
                container_port: 53,
                protocol: "udp".into(),
                host_ip: "0.0.0.0".into(),
                host_port: 5353
            }
        );
    }

    #[test]
    fn the_router_port_is_published_when_the_file_maps_nothing() {
        let loaded = crate::core::config::load_str("router: {httpsPort: 9443}\n", "t.yaml", &[]);
        let env = loaded
            .env
            .unwrap_or_else(|| panic!("{:?}", loaded.diags.items));
        let d = desired(&env);
        assert_eq!(d.ports[1..], [port(443, "0.0.0.0", 9443)]);
    }
}
