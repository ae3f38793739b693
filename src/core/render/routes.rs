//! The passthrough routes: one Ingress per vcluster reached through the router.

use crate::core::config::{Env, VclusterAccess};
use serde_json::{json, Value};

pub const MANAGED_BY: &str = "bootstrap";

pub fn routes(env: &Env) -> Vec<Value> {
    env.vclusters
        .iter()
        .filter(|v| v.access == VclusterAccess::Ingress)
        .map(|v| {
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": format!("{}-api", v.release),
                    "namespace": v.namespace,
                    "labels": { "app.kubernetes.io/managed-by": MANAGED_BY, "bootstrap/vcluster": v.name },
                    "annotations": {
                        "nginx.ingress.kubernetes.io/ssl-passthrough": "true",
                        "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
                        "nginx.ingress.kubernetes.io/ssl-redirect": "false",
                    },
                },
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [{
                        "host": v.hostname,
                        "http": { "paths": [{
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": { "service": { "name": v.release, "port": { "number": 443 } } },
                        }]},
                    }],
                },
            })
        })
        .collect()
}
