//! The passthrough router's Helm release.

use super::kind::INGRESS_READY_LABEL;
use crate::core::config::{Env, RouterKind, RouterService};
use serde_json::{json, Value};

/// The router chart's values for the router kind the file names.
pub fn router_values(env: &Env) -> Value {
    match env.router.kind {
        RouterKind::IngressNginx => ingress_nginx_values(env),
        RouterKind::GatewayApi => super::gateway::traefik_values(env),
    }
}

/// ingress-nginx values for a kind node: bind the node's 80/443 as host ports (kind maps them to
/// the host), run on the labelled control-plane node, and pass TLS through untouched so each
/// vcluster presents its own certificate. The file's `router.values` merge on top.
pub fn ingress_nginx_values(env: &Env) -> Value {
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
    if env.cluster.provider == crate::core::config::Provider::Existing {
        existing_cluster(&mut v, env);
    }
    super::merge(&mut v, &env.router.values);
    v
}

/// On a cluster bootstrap did not create, the kind-only settings would keep the controller
/// Pending (no node carries `ingress-ready`) or bind ports on whatever node it lands on; expose it
/// the way such a cluster exposes things, a LoadBalancer Service (or a NodePort one, when the
/// file says so) on `router.httpsPort`, and do not make it the default class nor let it take the
/// cluster's classless Ingresses. Chart 4.14.1 values: `controller.service.type`,
/// `controller.service.ports.https`, `controller.service.nodePorts.https`.
fn existing_cluster(v: &mut Value, env: &Env) {
    let Some(c) = v.get_mut("controller").and_then(Value::as_object_mut) else {
        return;
    };
    for kind_only in ["hostPort", "nodeSelector", "tolerations", "publishService"] {
        c.remove(kind_only);
    }
    if let Some(args) = c.get_mut("extraArgs").and_then(Value::as_object_mut) {
        args.remove("publish-status-address");
    }
    let port = env.router.https_port;
    c.insert(
        "service".into(),
        match env.router.service {
            RouterService::LoadBalancer => {
                json!({ "type": "LoadBalancer", "ports": { "https": port } })
            }
            RouterService::NodePort => {
                json!({ "type": "NodePort", "nodePorts": { "https": port } })
            }
        },
    );
    c.insert("watchIngressWithoutClass".into(), json!(false));
    // A cluster of its own already runs an ingress controller more often than not, very often
    // ingress-nginx with the class `nginx` and the controller value `k8s.io/ingress-nginx`. Our
    // router gets a class and a controller value of its own: helm would refuse to take over the
    // user's IngressClass `nginx`, and two controllers with one controller value would both
    // serve each other's Ingresses (theirs without passthrough answering our hostnames).
    let class = ingress_class(env);
    c.insert("ingressClass".into(), json!(class));
    c.insert(
        "ingressClassResource".into(),
        json!({ "name": class, "default": false, "controllerValue": controller_value(env) }),
    );
}

/// The IngressClass our vcluster Ingresses name: kind's cluster is ours alone and keeps
/// ingress-nginx's own `nginx`; on an existing cluster it is this environment's.
pub fn ingress_class(env: &Env) -> String {
    match env.cluster.provider {
        crate::core::config::Provider::Kind => "nginx".into(),
        crate::core::config::Provider::Existing => format!("{}-passthrough", env.cluster.name),
    }
}

/// The controller value (`--controller-class`) of our ingress-nginx on an existing cluster.
fn controller_value(env: &Env) -> String {
    format!("bootstrap.dev/{}-passthrough", env.cluster.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    #[test]
    fn an_existing_cluster_gets_a_load_balancer_not_kind_host_ports() {
        let env = load_str(
            "cluster: {provider: existing, context: prod}\nrouter: {kind: ingress-nginx}\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        let v = ingress_nginx_values(&env);
        let c = &v["controller"];
        assert_eq!(c["service"]["type"], "LoadBalancer");
        assert_eq!(c["service"]["ports"]["https"], 443);
        assert!(c.get("hostPort").is_none() && c.get("nodeSelector").is_none());
        assert_eq!(c["extraArgs"]["enable-ssl-passthrough"], "true");
        assert!(c["extraArgs"].get("publish-status-address").is_none());
        assert_eq!(c["ingressClassResource"]["default"], false);
        assert_eq!(c["watchIngressWithoutClass"], false);
        let np = load_str(
            "cluster: {provider: existing, context: prod}\nrouter: {service: NodePort, httpsPort: 30443, domain: dev.example.com}\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        let c = &ingress_nginx_values(&np)["controller"];
        assert_eq!(c["service"]["type"], "NodePort");
        assert_eq!(c["service"]["nodePorts"]["https"], 30443);
        let kind = load_str("router: {kind: ingress-nginx}\n", "t", &[])
            .env
            .unwrap();
        assert_eq!(
            ingress_nginx_values(&kind)["controller"]["hostPort"]["enabled"],
            true
        );
    }
}
