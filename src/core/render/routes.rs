//! The passthrough routes: one Ingress per vcluster reached through the router (ingress-nginx), or
//! the Gateway API objects (`router.kind: gateway-api`, see `gateway.rs`).

use crate::core::config::{Env, RouterKind};
use crate::core::ownership::MANAGED_BY;
use serde_json::{json, Value};

/// Every object the router needs besides its chart, as `render routes` prints them: the
/// Ingresses, or the GatewayClass, the Gateway and the TLSRoutes.
pub fn routes(env: &Env) -> Vec<Value> {
    match env.router.kind {
        RouterKind::IngressNginx => ingresses(env),
        RouterKind::GatewayApi => {
            let mut all = super::gateway::gateway_objects(env);
            all.extend(super::gateway::tls_routes(env));
            all
        }
    }
}

/// One Ingress per vcluster reached through ingress-nginx, with SSL passthrough.
pub fn ingresses(env: &Env) -> Vec<Value> {
    env.vclusters.iter().map(|v| ingress(env, v)).collect()
}

/// `v`'s Ingress.
pub fn ingress(env: &Env, v: &crate::core::config::Vcluster) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": format!("{}-api", v.release),
            "namespace": v.namespace,
            "labels": { MANAGED_BY.0: MANAGED_BY.1, crate::core::ownership::ENV_LABEL: env.cluster.name, "bootstrap/vcluster": v.name },
            "annotations": {
                "nginx.ingress.kubernetes.io/ssl-passthrough": "true",
                "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
                "nginx.ingress.kubernetes.io/ssl-redirect": "false",
            },
        },
        "spec": {
            "ingressClassName": crate::core::render::router::ingress_class(env),
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
}
