//! kind's cluster configuration (kind.x-k8s.io/v1alpha4).

use crate::core::config::Env;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The API server's certificate names. kind's kubeadm template sets
/// `certSANs: [localhost, <apiServerAddress>]` (v1beta3 and v1beta4 alike). Up to kind v0.31 a
/// merge patch replaces that list; from v0.32 (commit df0d56c5, with v1beta4 for Kubernetes
/// 1.36+) kind appends the patch's names not already there. The patch repeats kind's defaults
/// first, so both rules give the same names in the same order (tests/kind_cert_sans.rs).
pub fn cert_sans(env: &Env) -> Vec<String> {
    let mut sans = vec![
        "localhost".to_owned(),
        env.cluster.api_server.address.clone(),
    ];
    for s in &env.cluster.extra_cert_sans {
        if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    sans
}

/// kind's `Cluster` (sigs.k8s.io/kind pkg/apis/config/v1alpha4 types.go), the fields we set, as
/// ctlptl embeds it: rendering, the drift check (`core::cluster_diff`) and the create step share
/// this one value. Field order is kind's documentation order, which the rendered file keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindCluster {
    #[serde(default = "cluster_kind")]
    pub kind: String,
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default)]
    pub nodes: Vec<KindNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containerd_config_patches: Vec<String>,
}

fn cluster_kind() -> String {
    "Cluster".into()
}

fn api_version() -> String {
    "kind.x-k8s.io/v1alpha4".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// kind's default: the loopback address.
    #[serde(default = "loopback")]
    pub api_server_address: String,
    /// 0: kind picks a free port.
    #[serde(default)]
    pub api_server_port: u16,
}

impl Default for Networking {
    fn default() -> Self {
        Networking {
            api_server_address: loopback(),
            api_server_port: 0,
        }
    }
}

fn loopback() -> String {
    "127.0.0.1".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindNode {
    /// `control-plane` or `worker`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_port_mappings: Vec<KindPortMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubeadm_config_patches: Vec<String>,
}

impl KindNode {
    fn plain(role: &str, image: Option<&str>) -> KindNode {
        KindNode {
            role: role.into(),
            image: image.map(str::to_owned),
            labels: BTreeMap::new(),
            extra_port_mappings: Vec::new(),
            kubeadm_config_patches: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindPortMapping {
    pub container_port: u16,
    pub host_port: u16,
    /// kind's default: every address.
    #[serde(default = "every_address")]
    pub listen_address: String,
    /// `TCP` (kind's default), `UDP` or `SCTP`.
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn every_address() -> String {
    "0.0.0.0".into()
}

fn tcp() -> String {
    "TCP".into()
}

impl KindCluster {
    /// The first control plane: the node that carries the router's ports and labels.
    pub fn first_control_plane(&self) -> Option<&KindNode> {
        self.nodes.iter().find(|n| n.role == "control-plane")
    }

    pub fn count(&self, role: &str) -> u32 {
        self.nodes.iter().filter(|n| n.role == role).count() as u32
    }
}

/// What `up` asks kind for.
pub fn kind_cluster(env: &Env) -> KindCluster {
    let c = &env.cluster;
    let mut first = KindNode::plain("control-plane", c.node_image.as_deref());
    first.labels = c.node_labels.clone();
    for (k, v) in crate::core::router::router_for(env).node_labels() {
        first
            .labels
            .entry((*k).into())
            .or_insert_with(|| (*v).into());
    }
    first.extra_port_mappings = c
        .port_mappings
        .iter()
        .map(|m| KindPortMapping {
            container_port: m.container_port,
            host_port: m.host_port,
            listen_address: m.listen_address.clone(),
            protocol: serde_json::to_value(m.protocol)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(tcp),
        })
        .collect();
    // The router listens on the node's 443; publish it on the https port unless the file did.
    if !c.port_mappings.iter().any(|m| m.container_port == 443) {
        first.extra_port_mappings.push(KindPortMapping {
            container_port: 443,
            host_port: env.router.https_port,
            listen_address: every_address(),
            protocol: tcp(),
        });
    }
    if !c.extra_cert_sans.is_empty() {
        // kind matches merge patches by kind alone, so the patch carries no apiVersion and works
        // whichever kubeadm API version the node image uses.
        let patch =
            json!({ "kind": "ClusterConfiguration", "apiServer": { "certSANs": cert_sans(env) } });
        first.kubeadm_config_patches = vec![super::to_yaml(&patch)];
    }
    KindCluster {
        kind: cluster_kind(),
        api_version: api_version(),
        name: c.name.clone(),
        networking: Networking {
            api_server_address: c.api_server.address.clone(),
            api_server_port: c.api_server.port,
        },
        nodes: nodes(first, c.control_planes, c.workers, c.node_image.as_deref()),
        // The local registry and the caches: containerd reads per-registry host files (see
        // render::registry).
        containerd_config_patches: if env.registry.enabled || env.cache.enabled {
            vec![super::registry::containerd_patch()]
        } else {
            Vec::new()
        },
    }
}

/// The same, as the JSON tree `render kind-config` prints.
pub fn kind_config_value(env: &Env) -> Value {
    serde_json::to_value(kind_cluster(env)).unwrap_or(Value::Null)
}

/// kind's `nodes`: the first control plane, which carries the router's host ports, the
/// `ingress-ready` label and the file's labels (kind's ingress guide puts them on one
/// control-plane node; with workers the control planes keep their NoSchedule taint, which the
/// router tolerates, so the vclusters run on the workers), then the other control planes, then
/// one `role: worker` per worker, all on the same image. kind names them `<name>-control-plane`,
/// `<name>-control-plane2`, ..., `<name>-worker`, `<name>-worker2`, ... in this order, and puts
/// its load balancer in front of several control planes.
fn nodes(first: KindNode, control_planes: u32, workers: u32, image: Option<&str>) -> Vec<KindNode> {
    let mut nodes = vec![first];
    nodes.extend((1..control_planes).map(|_| KindNode::plain("control-plane", image)));
    nodes.extend((0..workers).map(|_| KindNode::plain("worker", image)));
    nodes
}

/// The file handed to `kind create cluster --config`.
pub fn kind_config(env: &Env) -> String {
    super::to_yaml(&kind_config_value(env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    #[test]
    fn extra_names_keep_kinds_defaults() {
        let env = load_str(
            "cluster:\n  extraCertSANs: [host.docker.internal, 172.17.0.1]\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        let v = kind_config_value(&env);
        let patch = v["nodes"][0]["kubeadmConfigPatches"][0].as_str().unwrap();
        let parsed: serde_json::Value = serde_saphyr::from_str(patch).unwrap();
        assert_eq!(parsed["kind"], "ClusterConfiguration");
        assert_eq!(
            parsed["apiServer"]["certSANs"],
            serde_json::json!([
                "localhost",
                "127.0.0.1",
                "host.docker.internal",
                "172.17.0.1"
            ])
        );
    }

    #[test]
    fn workers_follow_the_control_plane_which_keeps_the_ports_and_labels() {
        let env = load_str(
            "cluster: {workers: 2, nodeImage: kindest/node:v1.35.0, nodeLabels: {tier: edge}}\nrouter: {kind: ingress-nginx}\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        let v = kind_config_value(&env);
        let nodes = v["nodes"].as_array().unwrap();
        let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["control-plane", "worker", "worker"]);
        assert_eq!(nodes[0]["extraPortMappings"][0]["containerPort"], 443);
        assert_eq!(nodes[0]["labels"]["ingress-ready"], "true");
        assert_eq!(nodes[0]["labels"]["tier"], "edge");
        for w in &nodes[1..] {
            assert_eq!(w["image"], "kindest/node:v1.35.0");
            assert!(w.get("extraPortMappings").is_none() && w.get("labels").is_none());
        }
        let ha = load_str("cluster: {workers: 1, controlPlanes: 3}\n", "t", &[])
            .env
            .unwrap();
        let v = kind_config_value(&ha);
        let roles: Vec<&str> = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["control-plane", "control-plane", "control-plane", "worker"]
        );
        assert!(v["nodes"][0].get("extraPortMappings").is_some());
        assert!(v["nodes"][1].get("extraPortMappings").is_none());
        let one = load_str("cluster: {}\n", "t", &[]).env.unwrap();
        assert_eq!(
            kind_config_value(&one)["nodes"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn router_port_is_published_when_the_file_maps_nothing() {
        let env = load_str("router: {httpsPort: 9443}\n", "t", &[])
            .env
            .unwrap();
        let v = kind_config_value(&env);
        assert_eq!(v["nodes"][0]["extraPortMappings"][0]["hostPort"], 9443);
        assert_eq!(v["nodes"][0]["extraPortMappings"][0]["containerPort"], 443);
        assert_eq!(v["nodes"][0]["labels"]["ingress-ready"], "true");
        assert!(v["nodes"][0].get("kubeadmConfigPatches").is_none());
    }
}
