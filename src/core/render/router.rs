//! The passthrough router's Helm release.

use super::kind::INGRESS_READY_LABEL;
use crate::core::config::Env;
use serde_json::{json, Value};

/// ingress-nginx values for a kind node: bind the node's 80/443 as host ports (kind maps them to
/// the host), run on the labelled control-plane node, and pass TLS through untouched so each
/// vcluster presents its own certificate. The file's `router.values` merge on top.
pub fn router_values(env: &Env) -> Value {
    let mut v = json!({
        "controller": {
            "extraArgs": {
                "enable-ssl-passthrough": "true",
                "publish-status-address": "localhost",
            },
            "hostPort": { "enabled": true, "ports": { "http": 80, "https": 443 } },
            "service": { "type": "NodePort" },
            "publishService": { "enabled": false },
            "nodeSelector": { INGRESS_READY_LABEL: "true", "kubernetes.io/os": "linux" },
            "tolerations": [
                { "key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "effect": "NoSchedule" }
            ],
            "watchIngressWithoutClass": true,
            "ingressClassResource": { "name": "nginx", "default": true },
            "admissionWebhooks": { "enabled": false },
        }
    });
    if !env.router.passthrough {
        if let Some(args) = v
            .pointer_mut("/controller/extraArgs")
            .and_then(Value::as_object_mut)
        {
            args.remove("enable-ssl-passthrough");
        }
    }
    super::merge(&mut v, &env.router.values);
    v
}
