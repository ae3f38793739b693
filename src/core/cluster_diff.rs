//! Pure: what the file wants of the kind cluster against what runs (Docker's view of the node
//! containers, the API server's certificate, the Node's labels), and what to do about it.
//! Published ports, the API address, the node image, the certificate's names and the node's
//! labels are all set when kind creates the node, so a difference can only be fixed by
//! recreating the cluster (labels can also be set in place, which the difference says how).
//! docs/reference.md lists every field of the kind config and how it is compared.

use crate::core::config::Env;
use crate::core::observed::{
    node_name, NodeState, ObservedCluster, ObservedNode, PublishedPort, API_CONTAINER_PORT,
    LOAD_BALANCER_ROLE,
};
use crate::core::render::kind::KindCluster;
use serde::Serialize;
use std::collections::BTreeMap;

/// The part of the environment a node container must match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredCluster {
    pub name: String,
    /// None: whatever image kind picks by default, which we do not second-guess.
    pub node_image: Option<String>,
    /// The API server's port first, then each port mapping.
    pub ports: Vec<PublishedPort>,
    /// The control-plane node's labels.
    pub node_labels: BTreeMap<String, String>,
    /// The names the API server's certificate must hold: kind's own (localhost and the API
    /// address, from its kubeadm template) and any extra ones the config's patch asks for.
    pub cert_names: Vec<String>,
    /// Nodes with `role: worker` in kind's config.
    pub workers: u32,
    /// Nodes with `role: control-plane`; with more than one, kind's load balancer publishes the
    /// API instead of the first control plane.
    pub control_planes: u32,
}

/// Read from the very kind config `up` hands to kind, so what we compare is what kind was asked
/// for (defaults included, such as the router's 443 published on the HTTPS port).
pub fn desired(env: &Env) -> DesiredCluster {
    from_kind_config(
        &env.cluster.name,
        &crate::core::render::kind::kind_cluster(env),
    )
}

/// Pure: the published ports and image a kind.x-k8s.io/v1alpha4 Cluster asks of its control plane.
pub fn from_kind_config(name: &str, cfg: &KindCluster) -> DesiredCluster {
    let mut ports = vec![PublishedPort {
        container_port: API_CONTAINER_PORT,
        protocol: "tcp".into(),
        host_ip: cfg.networking.api_server_address.clone(),
        host_port: cfg.networking.api_server_port,
    }];
    let control_plane = cfg.first_control_plane();
    for m in control_plane
        .map(|n| &n.extra_port_mappings)
        .into_iter()
        .flatten()
    {
        ports.push(PublishedPort {
            container_port: m.container_port,
            protocol: m.protocol.to_ascii_lowercase(),
            host_ip: m.listen_address.clone(),
            host_port: m.host_port,
        });
    }
    let node_labels = control_plane.map(|n| n.labels.clone()).unwrap_or_default();
    // kind's kubeadm template sets `certSANs: [localhost, "{{.APIServerAddress}}"]`
    // (sigs.k8s.io/kind pkg/cluster/internal/kubeadm/config.go); our patch replaces that list
    // with one that repeats those first (render::kind::cert_sans).
    let address = ports[0].host_ip.clone();
    let mut cert_names = vec!["localhost".to_owned(), address];
    for patch in control_plane
        .map(|n| &n.kubeadm_config_patches)
        .into_iter()
        .flatten()
    {
        let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(patch) else {
            continue;
        };
        if doc["kind"] != "ClusterConfiguration" {
            continue;
        }
        if let Some(sans) = doc["apiServer"]["certSANs"].as_array() {
            cert_names = sans
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
        }
    }
    DesiredCluster {
        workers: cfg.count("worker"),
        control_planes: cfg.count("control-plane").max(1),
        name: name.to_owned(),
        node_image: control_plane.and_then(|n| n.image.clone()),
        ports,
        node_labels,
        cert_names,
    }
}

/// Pure: whether a certificate name list holds `name`: DNS names compare without case, IP
/// addresses by value (`::1` is `0:0:0:0:0:0:0:1`).
fn holds(names: &[String], name: &str) -> bool {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => names
            .iter()
            .any(|n| n.parse::<std::net::IpAddr>().is_ok_and(|m| m == ip)),
        Err(_) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
    }
}

/// Pure: what runs inside the node against the file. Only what the file asks for is compared:
/// kubeadm adds its own certificate names (kubernetes, the service IP, the node's name and IP)
/// and kubelet its own labels (kubernetes.io/hostname, ...), which cannot be told from a name
/// or label removed from the file; a certificate with one name too many does no harm.
pub fn running_differences(want: &DesiredCluster, seen: &ObservedCluster) -> Vec<String> {
    let mut out = Vec::new();
    let node = format!("{}-control-plane", want.name);
    if let Some(names) = &seen.api_cert_names {
        let missing: Vec<&str> = want
            .cert_names
            .iter()
            .filter(|n| !holds(names, n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "API server certificate: the file wants it to hold {}, which it does not (it holds {}); kind sets the names when it creates the cluster",
                missing.join(", "),
                names.join(", ")
            ));
        }
    }
    if let Some(labels) = &seen.node_labels {
        for (k, v) in &want.node_labels {
            match labels.get(k) {
                Some(have) if have == v => {}
                have => out.push(format!(
                    "node label {k}={v}: {node} has {}; kind sets labels when it creates the node, or set it in place: kubectl --context kind-{} label node {node} --overwrite {k}={v}",
                    have.map(|h| format!("{k}={h}"))
                        .unwrap_or_else(|| "no such label".into()),
                    want.name
                )),
            }
        }
    }
    out
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
    let Some(cp) = seen.control_plane() else {
        let names: Vec<&str> = seen.nodes.iter().map(|n| n.name.as_str()).collect();
        return Verdict::Drifted {
            differences: vec![format!(
                "no control-plane node: only {} carry the cluster's label",
                names.join(", ")
            )],
        };
    };
    let lb = seen.load_balancer();
    differences.extend(api_difference(want, cp, lb));
    let planes: Vec<&str> = seen
        .nodes
        .iter()
        .filter(|n| n.role == "control-plane")
        .map(|n| n.name.as_str())
        .collect();
    if planes.len() != want.control_planes as usize {
        differences.push(format!(
            "nodes: the file wants {} (cluster.controlPlanes), the cluster has {} ({}); kind sets the nodes when it creates the cluster",
            count_of(want.control_planes as usize, "control plane"),
            count_of(planes.len(), "control plane"),
            planes.join(", ")
        ));
    } else if want.control_planes > 1 && lb.is_none() {
        differences.push(format!(
            "no load balancer: kind puts `{}` in front of several control planes, and the cluster has none",
            node_name(&want.name, LOAD_BALANCER_ROLE, 0)
        ));
    }
    differences.extend(port_differences(want, cp));
    let workers: Vec<&str> = seen
        .nodes
        .iter()
        .filter(|n| n.role == "worker")
        .map(|n| n.name.as_str())
        .collect();
    if workers.len() != want.workers as usize {
        differences.push(format!(
            "nodes: the file wants {} (cluster.workers), the cluster has {}; kind sets the nodes when it creates the cluster",
            count_of(want.workers as usize, "worker"),
            match workers.len() {
                0 => "none".to_owned(),
                _ => format!("{} ({})", count_of(workers.len(), "worker"), workers.join(", ")),
            }
        ));
    }
    differences.extend(image_differences(want, seen));
    differences.extend(running_differences(want, seen));
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

/// The API server's published port: on the node, or with several control planes on kind's
/// load balancer.
fn api_difference(
    want: &DesiredCluster,
    cp: &ObservedNode,
    lb: Option<&ObservedNode>,
) -> Option<String> {
    let api_want = &want.ports[0];
    // With several control planes kind's load balancer publishes the API, and each control plane
    // its own 6443 on a random loopback port (kind's provision.go), which is not compared.
    let api_holder = match (want.control_planes > 1, lb) {
        (true, Some(lb)) => lb,
        _ => cp,
    };
    let api_seen: Vec<&PublishedPort> = api_holder
        .ports
        .iter()
        .filter(|p| p.container_port == API_CONTAINER_PORT && p.protocol == "tcp")
        .collect();
    if api_seen.contains(&api_want) {
        return None;
    }
    let found = if api_seen.is_empty() {
        "not published".to_owned()
    } else {
        api_seen
            .iter()
            .map(|p| format!("{}:{}", p.host_ip, p.host_port))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "API server: the file wants {}:{}, {} publishes {found}",
        api_want.host_ip,
        api_want.host_port,
        if api_holder.role == LOAD_BALANCER_ROLE {
            "the load balancer"
        } else {
            "the node"
        }
    ))
}

fn port_differences(want: &DesiredCluster, cp: &ObservedNode) -> Vec<String> {
    let mut differences = Vec::new();
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
    differences
}

fn image_differences(want: &DesiredCluster, seen: &ObservedCluster) -> Vec<String> {
    let mut differences = Vec::new();
    if let Some(image) = &want.node_image {
        // kind's load balancer runs its own haproxy image.
        for n in seen.nodes.iter().filter(|n| n.role != LOAD_BALANCER_ROLE) {
            if !same_image(image, &n.image) {
                differences.push(format!(
                    "node image of {}: the file wants {image}, the node runs {}",
                    n.name, n.image
                ));
            }
        }
    }
    differences
}

fn count_of(n: usize, what: &str) -> String {
    match n {
        0 => format!("no {what}"),
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
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
            node_labels: BTreeMap::from([("ingress-ready".into(), "true".into())]),
            cert_names: vec!["localhost".into(), "127.0.0.1".into()],
            workers: 0,
            control_planes: 1,
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
            ..Default::default()
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

    fn worker(name: &str, state: NodeState) -> ObservedNode {
        ObservedNode {
            id: name.into(),
            name: name.into(),
            role: "worker".into(),
            ..node(state, vec![], "kindest/node:v1.34.0")
        }
    }

    #[test]
    fn the_worker_count_is_compared_and_needs_a_recreate() {
        let cp = || node(NodeState::Running, good_ports(), "kindest/node:v1.34.0");
        let two = DesiredCluster {
            workers: 2,
            ..want()
        };
        let both = seen(vec![
            cp(),
            worker("localdev-worker", NodeState::Running),
            worker("localdev-worker2", NodeState::Running),
        ]);
        assert_eq!(diff(&two, &both), Verdict::Converged);
        // A stopped worker is started, not recreated.
        let mut one_stopped = both.clone();
        one_stopped.nodes[2].state = NodeState::Stopped;
        assert_eq!(
            diff(&two, &one_stopped),
            Verdict::Stopped {
                nodes: vec!["localdev-worker2".into()]
            }
        );
        let Verdict::Drifted { differences } = diff(&want(), &both) else {
            panic!("expected drift")
        };
        assert_eq!(
            differences,
            ["nodes: the file wants no worker (cluster.workers), the cluster has 2 workers (localdev-worker, localdev-worker2); kind sets the nodes when it creates the cluster"]
        );
        let v = diff(&two, &seen(vec![cp()]));
        let Verdict::Drifted { differences } = &v else {
            panic!("expected drift")
        };
        assert!(differences[0].contains("wants 2 workers (cluster.workers), the cluster has none"));
        assert!(matches!(action(&v, false), Action::Refuse { .. }));
        assert!(matches!(action(&v, true), Action::Recreate { .. }));
        // Read from the kind config the cluster step hands to kind.
        let env = crate::core::config::load_str("cluster: {workers: 3}\n", "t", &[])
            .env
            .unwrap();
        assert_eq!(desired(&env).workers, 3);
    }

    #[test]
    fn several_control_planes_publish_the_api_from_the_load_balancer() {
        let three = DesiredCluster {
            control_planes: 3,
            ..want()
        };
        let plane = |name: &str, api_port: u16| ObservedNode {
            id: name.into(),
            name: name.into(),
            // each control plane's own 6443 on a random loopback port, as kind publishes it
            ports: vec![port(6443, "127.0.0.1", api_port)],
            ..node(NodeState::Running, vec![], "kindest/node:v1.34.0")
        };
        let lb = ObservedNode {
            id: "lb".into(),
            name: "localdev-external-load-balancer".into(),
            role: LOAD_BALANCER_ROLE.into(),
            image: "kindest/haproxy:v20260101".into(),
            ports: vec![port(6443, "127.0.0.1", 6443)],
            ..node(NodeState::Running, vec![], "")
        };
        let first = node(
            NodeState::Running,
            vec![port(443, "0.0.0.0", 8443), port(6443, "127.0.0.1", 40001)],
            "kindest/node:v1.34.0",
        );
        let all = seen(vec![
            plane("localdev-control-plane3", 40003),
            lb.clone(),
            first.clone(),
            plane("localdev-control-plane2", 40002),
        ]);
        // The first control plane is found by name whatever Docker's order; the haproxy image
        // is not held against the node image.
        assert_eq!(diff(&three, &all), Verdict::Converged);
        let mut no_lb = all.clone();
        no_lb.nodes.retain(|n| n.role != LOAD_BALANCER_ROLE);
        let Verdict::Drifted { differences } = diff(&three, &no_lb) else {
            panic!("expected drift")
        };
        assert!(
            differences.iter().any(|d| d.contains("no load balancer")),
            "{differences:?}"
        );
        let Verdict::Drifted { differences } = diff(&want(), &all) else {
            panic!("expected drift")
        };
        assert!(
            differences.iter().any(|d| d.contains(
                "the file wants 1 control plane (cluster.controlPlanes), the cluster has 3 control planes"
            )),
            "{differences:?}"
        );
        let mut moved = all.clone();
        moved.nodes[1].ports = vec![port(6443, "127.0.0.1", 7443)];
        let Verdict::Drifted { differences } = diff(&three, &moved) else {
            panic!("expected drift")
        };
        assert_eq!(
            differences,
            ["API server: the file wants 127.0.0.1:6443, the load balancer publishes 127.0.0.1:7443"]
        );
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
        let d = from_kind_config("x", &serde_json::from_value(cfg).unwrap());
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

    fn running() -> ObservedCluster {
        let mut s = seen(vec![node(
            NodeState::Running,
            good_ports(),
            "kindest/node:v1.34.0",
        )]);
        s.api_cert_names = Some(vec![
            "localdev-control-plane".into(),
            "kubernetes".into(),
            "localhost".into(),
            "127.0.0.1".into(),
            "10.96.0.1".into(),
        ]);
        s.node_labels = Some(BTreeMap::from([
            ("ingress-ready".into(), "true".into()),
            (
                "kubernetes.io/hostname".into(),
                "localdev-control-plane".into(),
            ),
        ]));
        s
    }

    #[test]
    fn what_runs_matches_and_kubeadms_and_kubelets_extras_are_not_drift() {
        assert_eq!(diff(&want(), &running()), Verdict::Converged);
    }

    #[test]
    fn a_label_changed_in_the_file_is_drift_with_the_way_to_fix_it_in_place() {
        let mut w = want();
        w.node_labels.insert("tier".into(), "frontend".into());
        w.node_labels.insert("ingress-ready".into(), "false".into());
        let Verdict::Drifted { differences } = diff(&w, &running()) else {
            panic!("expected drift")
        };
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(
            differences[0].starts_with(
                "node label ingress-ready=false: localdev-control-plane has ingress-ready=true"
            ),
            "{differences:?}"
        );
        assert!(differences[1].contains("tier=frontend: localdev-control-plane has no such label"));
        assert!(differences[1].contains("kubectl --context kind-localdev label node localdev-control-plane --overwrite tier=frontend"));
        assert!(matches!(
            action(&Verdict::Drifted { differences }, false),
            Action::Refuse { .. }
        ));
    }

    #[test]
    fn a_certificate_name_added_in_the_file_is_drift() {
        let mut w = want();
        w.cert_names.push("host.docker.internal".into());
        w.cert_names.push("0:0:0:0:0:0:0:1".into());
        let mut r = running();
        r.api_cert_names.as_mut().unwrap().push("::1".into());
        let Verdict::Drifted { differences } = diff(&w, &r) else {
            panic!("expected drift")
        };
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(
            differences[0].contains("hold host.docker.internal, which it does not"),
            "{differences:?}"
        );
    }

    #[test]
    fn nothing_observed_inside_is_not_compared() {
        let mut w = want();
        w.node_labels.insert("tier".into(), "x".into());
        w.cert_names.push("extra.example".into());
        let s = seen(vec![node(
            NodeState::Running,
            good_ports(),
            "kindest/node:v1.34.0",
        )]);
        assert_eq!(diff(&w, &s), Verdict::Converged);
    }

    #[test]
    fn labels_and_names_are_read_from_the_kind_config() {
        let env = crate::core::config::load_str(
            "cluster:\n  nodeLabels: {tier: a}\n  extraCertSANs: [a.example.com, 10.0.0.1]\n",
            "t.yaml",
            &[],
        )
        .env
        .unwrap();
        let d = desired(&env);
        assert_eq!(d.node_labels.get("tier").map(String::as_str), Some("a"));
        assert_eq!(
            d.node_labels.get("ingress-ready").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            d.cert_names,
            ["localhost", "127.0.0.1", "a.example.com", "10.0.0.1"]
        );
        let plain = crate::core::config::load_str("cluster: {name: x}\n", "t.yaml", &[])
            .env
            .unwrap();
        assert_eq!(desired(&plain).cert_names, ["localhost", "127.0.0.1"]);
    }
}
