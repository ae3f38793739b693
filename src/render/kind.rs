//! kind's cluster configuration (kind.x-k8s.io/v1alpha4).

use crate::config::{Env, RouterKind};
use serde_json::{json, Value};

/// Label the router's pods select their node by (as in kind's ingress guide).
pub const INGRESS_READY_LABEL: &str = "ingress-ready";

/// The API server's certificate names. kind's kubeadm template sets
/// `certSANs: [localhost, <apiServerAddress>]`, and a kubeadm merge patch replaces that list
/// instead of appending to it, so the patch repeats kind's defaults before the extra names.
pub fn cert_sans(env: &Env) -> Vec<String> {
    let mut sans = vec!["localhost".to_owned(), env.cluster.api_server.address.clone()];
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
        labels.entry(INGRESS_READY_LABEL.into()).or_insert_with(|| "true".into());
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
        let patch = json!({ "kind": "ClusterConfiguration", "apiServer": { "certSANs": cert_sans(env) } });
        node.insert("kubeadmConfigPatches".into(), json!([super::to_yaml(&patch)]));
    }
    json!({
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": c.name,
        "networking": {
            "apiServerAddress": c.api_server.address,
            "apiServerPort": c.api_server.port,
        },
        "nodes": [Value::Object(node)],
    })
}

/// The file handed to `kind create cluster --config`.
pub fn kind_config(env: &Env) -> String {
    super::to_yaml(&kind_config_value(env))
}
