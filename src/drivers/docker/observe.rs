//! Reading kind's node containers (and who holds host ports) from Docker. Reads only: every call
//! here is a GET, which is what lets a converged `up` make zero writes.

use super::connect::{Conn, DockerError};
use bollard::models::{ContainerInspectResponse, ContainerSummary, PortMap};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use std::collections::HashMap;

pub use crate::core::observed::*;

fn label_filter(cluster: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        vec![format!("{CLUSTER_LABEL}={cluster}")],
    )])
}

/// List (all states) the containers carrying this cluster's label, then inspect each: inspect
/// gives the port bindings of a stopped container too, which the list leaves out.
pub async fn observe_cluster(conn: &Conn, cluster: &str) -> Result<ObservedCluster, DockerError> {
    let list = conn
        .docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(cluster)),
            ..Default::default()
        }))
        .await
        .map_err(|e| conn.error("listing kind's node containers", e))?;
    let mut nodes = Vec::with_capacity(list.len());
    for c in list {
        let Some(id) = c.id else { continue };
        match conn
            .docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => nodes.push(node_from_inspect(i)),
            // Removed between the list and the inspect: it is gone, which is what we report.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(conn.error(&format!("inspecting container {id}"), e)),
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ObservedCluster {
        name: cluster.to_owned(),
        nodes,
    })
}

/// Pure: the parts of `docker inspect` the diff needs.
pub fn node_from_inspect(i: ContainerInspectResponse) -> ObservedNode {
    let config = i.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let state = i.state.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let node_state = if state.paused == Some(true) {
        NodeState::Paused
    } else if state.running == Some(true) {
        NodeState::Running
    } else if status == "exited" {
        NodeState::Stopped
    } else {
        NodeState::Other
    };
    let ports = i
        .host_config
        .and_then(|h| h.port_bindings)
        .map(ports_from_bindings)
        .unwrap_or_default();
    let mut networks: Vec<String> = i
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    networks.sort();
    ObservedNode {
        id: i.id.unwrap_or_default(),
        name: i
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        role: labels.get(ROLE_LABEL).cloned().unwrap_or_default(),
        state: node_state,
        status,
        image: config.image.or(i.image).unwrap_or_default(),
        ports,
        networks,
    }
}

/// Pure: `{"6443/tcp": [{HostIp, HostPort}]}` into a sorted list. An empty HostIp is how Docker
/// writes "all addresses", which kind's config calls 0.0.0.0.
pub fn ports_from_bindings(map: PortMap) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    for (key, bindings) in map {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            let host_ip = match b.host_ip.as_deref() {
                None | Some("") => "0.0.0.0".to_owned(),
                Some(ip) => ip.to_owned(),
            };
            out.push(PublishedPort {
                container_port,
                protocol: proto.to_ascii_lowercase(),
                host_ip,
                host_port,
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Running containers that publish host ports, with their names: who holds a port we need.
pub async fn port_holders(conn: &Conn) -> Result<Vec<PortHolder>, DockerError> {
    let list = conn
        .docker
        .list_containers(None::<ListContainersOptions>)
        .await
        .map_err(|e| conn.error("listing running containers", e))?;
    Ok(holders_from_summaries(&list))
}

/// Pure: flatten the summaries' published ports.
pub fn holders_from_summaries(list: &[ContainerSummary]) -> Vec<PortHolder> {
    let mut out = Vec::new();
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_owned())
            .or_else(|| c.id.clone())
            .unwrap_or_default();
        let cluster = c
            .labels
            .as_ref()
            .and_then(|l| l.get(CLUSTER_LABEL))
            .cloned();
        for p in c.ports.iter().flatten() {
            let Some(host_port) = p.public_port else {
                continue;
            };
            out.push(PortHolder {
                container: name.clone(),
                cluster: cluster.clone(),
                host_ip: p
                    .ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                host_port,
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerState, ContainerStateStatusEnum, HostConfig, PortBinding,
    };

    fn bind(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    #[test]
    fn bindings_become_sorted_ports_with_all_addresses_named() {
        let map: PortMap = HashMap::from([
            ("6443/tcp".to_owned(), Some(vec![bind("127.0.0.1", "6443")])),
            ("443/tcp".to_owned(), Some(vec![bind("", "8443")])),
            ("80/tcp".to_owned(), None),
        ]);
        let ports = ports_from_bindings(map);
        assert_eq!(
            ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["0.0.0.0:8443->443/tcp", "127.0.0.1:6443->6443/tcp"]
        );
    }

    #[test]
    fn inspect_of_a_stopped_node() {
        let i = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/dev-control-plane".into()),
            config: Some(ContainerConfig {
                image: Some("kindest/node:v1.34.0".into()),
                labels: Some(HashMap::from([(
                    ROLE_LABEL.to_owned(),
                    "control-plane".to_owned(),
                )])),
                ..Default::default()
            }),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::EXITED),
                running: Some(false),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "6443/tcp".to_owned(),
                    Some(vec![bind("127.0.0.1", "6443")]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let n = node_from_inspect(i);
        assert_eq!(n.name, "dev-control-plane");
        assert_eq!(n.role, "control-plane");
        assert_eq!(n.state, NodeState::Stopped);
        assert_eq!(n.image, "kindest/node:v1.34.0");
        assert_eq!(n.ports.len(), 1);
    }
}
