//! The Gateway API router (`router.kind: gateway-api`): Traefik's chart values, and the objects
//! bootstrap applies itself: a GatewayClass, a Gateway with one TLS listener in `Passthrough`
//! mode, and one TLSRoute per vcluster reached through the router.
//!
//! Facts from Traefik's source at v3.7.9 (traefik/traefik, the newest tag in our stored copy; the
//! chart ships v3.7.11) and its chart at v41.3.0 (traefik/traefik-helm-chart):
//! - the Gateway provider watches `gateway.networking.k8s.io/v1` TLSRoutes without the
//!   experimental channel (`pkg/provider/kubernetes/gateway/client.go`, `supportedRouteKinds` in
//!   `kubernetes.go`: protocol TLS supports TLSRoute);
//! - a listener binds the entry point whose address ends in `:<listener port>`
//!   (`entryPointName` in `kubernetes.go`); the chart's `websecure` entry point is `:8443`, which
//!   the pod publishes as hostPort 443 on the node, which kind publishes on `router.httpsPort`;
//! - its controller name is `traefik.io/gateway-controller` (chart `templates/gatewayclass.yaml`).
//!
//! The objects are `json!` values, not types: k8s-openapi has no Gateway API kinds, and the
//! `gateway-api` crate (kube-rs/gateway-api-rs; its newest release, 0.22.0, has TLSRoute `v1`)
//! is built on kube 4.2 and k8s-openapi 0.28: it would bring a second kube and k8s-openapi
//! beside ours (kube 5, k8s-openapi 0.29), and it needs Rust 1.92 where we promise 1.89.

use crate::core::config::{Env, Provider, RouterService, VclusterAccess};
use crate::core::ownership::MANAGED_BY;
use serde_json::{json, Value};

/// The GatewayClass and Gateway we own. Not `traefik`: a user's own Traefik install names its
/// class that, and ours must never be mistaken for theirs.
pub const GATEWAY_CLASS: &str = "bootstrap";
pub const GATEWAY: &str = "bootstrap";
/// The one listener: TLS, passthrough.
pub const LISTENER: &str = "tls-passthrough";
/// Traefik's `websecure` entry point (chart default `ports.websecure.port`).
pub const LISTENER_PORT: u16 = 8443;
/// Traefik's Gateway API controller, as its GatewayClass names it.
pub const CONTROLLER_NAME: &str = "traefik.io/gateway-controller";
pub const GROUP: &str = "gateway.networking.k8s.io";
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// Label on the objects of the Gateway API router that are not per-vcluster routes.
pub const ROUTER_LABEL: &str = "bootstrap/router";

/// Traefik chart values. On kind: the websecure entry point is bound as hostPort 443 on the
/// control-plane node (the one node whose 443 kind publishes), the way ingress-nginx's kind set-up
/// binds it. Traefik's own GatewayClass, Gateway, IngressClass and Ingress/CRD providers are off:
/// we render the Gateway objects ourselves (validated against the v1.6.1 CRDs, carrying our mark),
/// and a Gateway API router must not start serving the cluster's Ingresses. Traefik's Gateway
/// controller name is fixed (`traefik.io/gateway-controller`), so on a cluster where another
/// Traefik already runs, each would take the other's GatewayClasses: ours reads only the classes
/// carrying this environment's label (`providers.kubernetesGateway.labelSelector`, chart 41.3.0).
/// The file's `router.values` merge on top.
pub fn traefik_values(env: &Env) -> Value {
    let mut v = json!({
        "providers": {
            "kubernetesGateway": {
                "enabled": true,
                "labelSelector": format!("{}={}", crate::core::ownership::ENV_LABEL, env.cluster.name),
            },
            "kubernetesCRD": { "enabled": false },
            "kubernetesIngress": { "enabled": false },
        },
        "gateway": { "enabled": false },
        "gatewayClass": { "enabled": false },
        "ingressClass": { "enabled": false },
    });
    // kubeadm labels each control-plane node so; with one control plane that is the node whose
    // 443 kind publishes. With several, only the first publishes it: select that one by the name
    // kubelet labels it with (kind names the node container and its hostname alike).
    let node_selector = if env.cluster.control_planes > 1 {
        json!({
            "kubernetes.io/hostname": crate::core::observed::node_name(&env.cluster.name, "control-plane", 0),
            "kubernetes.io/os": "linux",
        })
    } else {
        json!({ "node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux" })
    };
    let kind_node = json!({
        "ports": { "websecure": { "hostPort": 443 } },
        // Reached through the node's 443: a LoadBalancer would stay pending on kind.
        "service": { "spec": { "type": "ClusterIP" } },
        "nodeSelector": node_selector,
        "tolerations": [
            { "key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule" }
        ],
    });
    match (env.cluster.provider, env.router.service) {
        (Provider::Kind, _) => super::merge(&mut v, &kind_node),
        // Chart 41.3.0 values: `service.spec.type`, `ports.websecure.exposedPort` (the
        // Service's port) and `ports.websecure.nodePort`.
        (Provider::Existing, RouterService::LoadBalancer) => super::merge(
            &mut v,
            &json!({
                "service": { "spec": { "type": "LoadBalancer" } },
                "ports": { "websecure": { "exposedPort": env.router.https_port } },
            }),
        ),
        (Provider::Existing, RouterService::NodePort) => super::merge(
            &mut v,
            &json!({
                "service": { "spec": { "type": "NodePort" } },
                "ports": { "websecure": { "nodePort": env.router.https_port } },
            }),
        ),
    }
    super::merge(&mut v, &env.router.values);
    v
}

fn labels(env: &Env) -> Value {
    json!({ MANAGED_BY.0: MANAGED_BY.1, crate::core::ownership::ENV_LABEL: env.cluster.name, ROUTER_LABEL: "gateway-api" })
}

/// The namespaces whose TLSRoutes may attach: those of the vclusters we route to, by the
/// `kubernetes.io/metadata.name` label the API server sets on every namespace. Nobody else's
/// route can take a hostname on our Gateway.
fn allowed_namespaces(env: &Env) -> Value {
    let mut names: Vec<&str> = env
        .vclusters
        .iter()
        .filter(|v| v.access == VclusterAccess::Ingress)
        .map(|v| v.namespace.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        // A selector `In []` is invalid; with no vcluster behind the router, admit none but ours.
        return json!({ "from": "Same" });
    }
    json!({
        "from": "Selector",
        "selector": { "matchExpressions": [
            { "key": "kubernetes.io/metadata.name", "operator": "In", "values": names }
        ]},
    })
}

pub fn gateway_class(env: &Env) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "GatewayClass",
        "metadata": { "name": GATEWAY_CLASS, "labels": labels(env) },
        "spec": {
            "controllerName": CONTROLLER_NAME,
            "description": "TLS passthrough to vclusters, installed by bootstrap",
        },
    })
}

pub fn gateway(env: &Env) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": { "name": GATEWAY, "namespace": env.router.namespace, "labels": labels(env) },
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "listeners": [{
                "name": LISTENER,
                "protocol": "TLS",
                "port": LISTENER_PORT,
                "tls": { "mode": "Passthrough" },
                "allowedRoutes": {
                    "namespaces": allowed_namespaces(env),
                    "kinds": [{ "group": GROUP, "kind": "TLSRoute" }],
                },
            }],
        },
    })
}

/// What the router step applies after the chart: the class, then the Gateway.
pub fn gateway_objects(env: &Env) -> Vec<Value> {
    vec![gateway_class(env), gateway(env)]
}

/// One TLSRoute per vcluster reached through the router: its hostname to its Service's 443,
/// TLS untouched, attached to our Gateway's passthrough listener.
pub fn tls_routes(env: &Env) -> Vec<Value> {
    env.vclusters
        .iter()
        .filter_map(|v| tls_route(env, v))
        .collect()
}

/// `v`'s TLSRoute, when it is reached through the router.
pub fn tls_route(env: &Env, v: &crate::core::config::Vcluster) -> Option<Value> {
    (v.access == VclusterAccess::Ingress).then(|| {
            json!({
                "apiVersion": API_VERSION,
                "kind": "TLSRoute",
                "metadata": {
                    "name": format!("{}-api", v.release),
                    "namespace": v.namespace,
                    "labels": { MANAGED_BY.0: MANAGED_BY.1, crate::core::ownership::ENV_LABEL: env.cluster.name, crate::core::ownership::VCLUSTER_LABEL: v.name },
                },
                "spec": {
                    "parentRefs": [{
                        "group": GROUP,
                        "kind": "Gateway",
                        "name": GATEWAY,
                        "namespace": env.router.namespace,
                        "sectionName": LISTENER,
                    }],
                    "hostnames": [v.hostname],
                    "rules": [{ "backendRefs": [{ "name": v.release, "port": 443 }] }],
                },
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    fn env(yaml: &str) -> Env {
        let l = load_str(yaml, "t", &[]);
        assert!(!l.diags.has_errors(), "{:?}", l.diags.items);
        l.env.unwrap()
    }

    const TWO: &str = "router: {kind: gateway-api, domain: cnoe.localtest.me}\nvclusters:\n  - name: dev\n  - name: staging\n";

    #[test]
    fn one_route_per_routed_vcluster_to_its_service_443() {
        let e = env(TWO);
        let routes = tls_routes(&e);
        assert_eq!(routes.len(), 2, "one route per vcluster");
        let dev = &routes[0];
        assert_eq!(dev["kind"], "TLSRoute");
        assert_eq!(dev["metadata"]["namespace"], "dev-vcluster");
        assert_eq!(dev["metadata"]["labels"]["bootstrap/vcluster"], "dev");
        assert_eq!(
            dev["spec"]["hostnames"],
            json!(["dev-vcluster.cnoe.localtest.me"])
        );
        assert_eq!(
            dev["spec"]["rules"][0]["backendRefs"][0],
            json!({"name": "vcluster-dev", "port": 443})
        );
        let parent = &dev["spec"]["parentRefs"][0];
        assert_eq!(parent["name"], GATEWAY);
        assert_eq!(parent["namespace"], "traefik");
        assert_eq!(parent["sectionName"], LISTENER);
    }

    #[test]
    fn gateway_listens_tls_passthrough_for_the_vcluster_namespaces_only() {
        let e = env(TWO);
        let g = gateway(&e);
        let l = &g["spec"]["listeners"][0];
        assert_eq!(l["protocol"], "TLS");
        assert_eq!(l["tls"]["mode"], "Passthrough");
        assert_eq!(l["port"], 8443);
        assert_eq!(
            l["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"],
            json!(["dev-vcluster", "staging-vcluster"])
        );
        let none = env("router: {kind: gateway-api}\n");
        assert_eq!(
            gateway(&none)["spec"]["listeners"][0]["allowedRoutes"]["namespaces"],
            json!({"from": "Same"})
        );
        assert_eq!(
            gateway_class(&none)["spec"]["controllerName"],
            CONTROLLER_NAME
        );
    }

    #[test]
    fn traefik_binds_the_nodes_443_only_on_kind() {
        let v = traefik_values(&env(TWO));
        assert_eq!(v["ports"]["websecure"]["hostPort"], 443);
        assert_eq!(v["providers"]["kubernetesIngress"]["enabled"], false);
        assert_eq!(
            v["nodeSelector"]["node-role.kubernetes.io/control-plane"],
            ""
        );
        let existing =
            env("cluster: {provider: existing, context: prod}\nrouter: {kind: gateway-api}\n");
        let v = traefik_values(&existing);
        assert!(
            v["ports"]["websecure"].get("hostPort").is_none() && v.get("nodeSelector").is_none()
        );
        assert_eq!(v["service"]["spec"]["type"], "LoadBalancer");
        assert_eq!(v["ports"]["websecure"]["exposedPort"], 443);
        let over =
            env("router:\n  kind: gateway-api\n  values: {ports: {websecure: {hostPort: 9443}}}\n");
        assert_eq!(
            traefik_values(&over)["ports"]["websecure"]["hostPort"],
            9443,
            "the file's values win"
        );
    }
}
