//! kind's cluster configuration (kind.x-k8s.io/v1alpha4).

use crate::core::config::{Env, RouterKind};
use serde_json::{json, Value};

/// Label the router's pods select their node by (as in kind's ingress guide).
pub const INGRESS_READY_LABEL: &str = "ingress-ready";

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

pub fn kind_config_value(env: &Env) -> Value {
    let c = &env.cluster;
    let mut node = serde_json::Map::new();
    node.insert("role".into(), json!("control-plane"));
    if let Some(image) = &c.node_image {
        node.insert("image".into(), json!(image));
    }
    let mut labels = c.node_labels.clone();
    if env.router.kind == RouterKind::IngressNginx {
        labels
            .entry(INGRESS_READY_LABEL.into())
            .or_insert_with(|| "true".into());
    }
    if !labels.is_empty() {
        node.insert("labels".into(), json!(labels));
    }
    let mut mappings: Vec<Value> = c
        .port_mappings
        .iter()
        .map(|m| {
            json!({
                "containerPort": m.container_port,
                "hostPort": m.host_port,
                "listenAddress": m.listen_address,
                "protocol": m.protocol,
            })
        })
        .collect();
    // The router listens on the node's 443; publish it on the https port unless the file did.
    if !c.port_mappings.iter().any(|m| m.container_port == 443) {
        mappings.push(json!({
            "containerPort": 443,
            "hostPort": env.router.https_port,
            "listenAddress": "0.0.0.0",
            "protocol": "TCP",
        }));
    }
    node.insert("extraPortMappings".into(), Value::Array(mappings));
    if !c.extra_cert_sans.is_empty() {
        // kind matches merge patches by kind alone, so the patch carries no apiVersion and works
        // whichever kubeadm API version the node image uses.
        let patch =
            json!({ "kind": "ClusterConfiguration", "apiServer": { "certSANs": cert_sans(env) } });
        node.insert(
            "kubeadmConfigPatches".into(),
            json!([super::to_yaml(&patch)]),
        );
    }
    let mut cluster = json!({
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": c.name,
        "networking": {
            "apiServerAddress": c.api_server.address,
            "apiServerPort": c.api_server.port,
        },
        "nodes": nodes(Value::Object(node), c.control_planes, c.workers, c.node_image.as_deref()),
    });
    if env.registry.enabled || env.cache.enabled {
        // The local registry: containerd reads per-registry host files (see render::registry).
        cluster["containerdConfigPatches"] = json!([super::registry::containerd_patch()]);
    }
    cluster
}

/// kind's `nodes`: the first control plane, which carries the router's host ports, the
/// `ingress-ready` label and the file's labels (kind's ingress guide puts them on one
/// control-plane node; with workers the control planes keep their NoSchedule taint, which the
/// router tolerates, so the vclusters run on the workers), then the other control planes, then
/// one `role: worker` per worker, all on the same image. kind names them `<name>-control-plane`,
/// `<name>-control-plane2`, ..., `<name>-worker`, `<name>-worker2`, ... in this order, and puts
/// its load balancer in front of several control planes.
fn nodes(first: Value, control_planes: u32, workers: u32, image: Option<&str>) -> Value {
    let plain = |role: &str| {
        let mut node = serde_json::Map::new();
        node.insert("role".into(), json!(role));
        if let Some(image) = image {
            node.insert("image".into(), json!(image));
        }
        Value::Object(node)
    };
    let mut nodes = vec![first];
    nodes.extend((1..control_planes).map(|_| plain("control-plane")));
    nodes.extend((0..workers).map(|_| plain("worker")));
    Value::Array(nodes)
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
