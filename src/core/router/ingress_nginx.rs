//! `router.kind: ingress-nginx`: the chart's values (SSL passthrough, the node's 443 on kind),
//! one Ingress per vcluster, and what proves it serves. Everything ingress-nginx is here.

use super::{DefaultCertificate, Kind, ObjectType};
use crate::core::config::{pins, Env, RouterService};
use crate::core::objects;
use crate::core::release::Release;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};

/// ingress-nginx chart 4.15.1 (controller v1.15.1): kubernetes/ingress-nginx tag
/// helm-chart-4.15.1, the last release before the project was retired (March 2026).
const INGRESS_NGINX_REPO: &str = "https://kubernetes.github.io/ingress-nginx";
const INGRESS_NGINX_VERSION: &str = "4.15.1";

/// The newest Kubernetes minor each ingress-nginx chart line was tested on: the "Supported
/// Versions table" of README.md at kubernetes/ingress-nginx tag helm-chart-4.15.1 (v1.15.x: 1.35
/// down to 1.31; v1.14.x: 1.34; v1.13.x: 1.33).
const INGRESS_NGINX_MAX_KUBERNETES: &[(&str, (u32, u32))] =
    &[("4.15.", (1, 35)), ("4.14.", (1, 34)), ("4.13.", (1, 33))];

/// The newest Kubernetes minor an ingress-nginx chart version is known to support.
fn ingress_nginx_max_kubernetes(chart_version: &str) -> Option<(u32, u32)> {
    let v = chart_version.trim_start_matches('v');
    INGRESS_NGINX_MAX_KUBERNETES
        .iter()
        .find(|(prefix, _)| v.starts_with(prefix))
        .map(|(_, max)| *max)
}

/// Label the router's pods select their node by (as in kind's ingress guide); kind puts it on
/// the first control plane.
pub const INGRESS_READY_LABEL: &str = "ingress-ready";

const INGRESS: ObjectType = ObjectType {
    api_version: "networking.k8s.io/v1",
    kind: "Ingress",
    namespaced: true,
};

pub struct IngressNginx;

impl Kind for IngressNginx {
    fn name(&self) -> &'static str {
        "ingress-nginx"
    }

    fn release(&self, env: &Env) -> Release {
        Release {
            name: env.router.release.clone(),
            namespace: env.router.namespace.clone(),
            chart: env.router.chart.clone(),
            values: ingress_nginx_values(env),
        }
    }

    fn vcluster_routes(&self, env: &Env, v: &crate::core::config::Vcluster) -> Vec<Value> {
        vec![ingress(env, v)]
    }

    fn owned_types(&self) -> &'static [ObjectType] {
        &[INGRESS]
    }

    fn defaults(&self) -> super::Defaults {
        super::Defaults {
            name: "ingress-nginx",
            repo: INGRESS_NGINX_REPO,
            chart: "ingress-nginx",
            version: INGRESS_NGINX_VERSION,
        }
    }

    fn about(&self) -> &'static str {
        "# The router: ingress-nginx with SSL passthrough; each vcluster is reached by its hostname (SNI).\n# ingress-nginx was retired in March 2026 and its last chart is tested up to Kubernetes 1.35,\n# older than kind v0.32.0's default node: bootstrap warns; `kind: gateway-api` is current.\n"
    }

    fn node_labels(&self) -> &'static [(&'static str, &'static str)] {
        &[(INGRESS_READY_LABEL, "true")]
    }

    fn node_selector(&self) -> &'static str {
        "/controller/nodeSelector"
    }

    /// The node image runs a Kubernetes newer than the chart line was tested on.
    fn kubernetes_support(&self, env: &Env, node_image: &str) -> Option<(String, String)> {
        let version = env.router.chart.version.as_deref()?;
        let max = ingress_nginx_max_kubernetes(version)?;
        let node = pins::kubernetes_minor(node_image)?;
        (node > max).then(|| {
            (
                format!(
                    "ingress-nginx chart {version} is tested up to Kubernetes {}.{}, but the node image `{node_image}` runs Kubernetes {}.{}",
                    max.0, max.1, node.0, node.1
                ),
                format!(
                    "ingress-nginx was retired in March 2026; use `router.kind: gateway-api`, or a Kubernetes {}.{} node image",
                    max.0, max.1
                ),
            )
        })
    }

    fn default_certificate(&self) -> DefaultCertificate {
        DefaultCertificate {
            subject_cn: "Kubernetes Ingress Controller Fake Certificate",
            source: "kubernetes/ingress-nginx controller-v1.15.1: internal/net/ssl/ssl.go (its fake default certificate)",
        }
    }
}

/// What ingress-nginx reads on each Ingress: hand the TLS stream to the vcluster's HTTPS Service
/// untouched, and never redirect. In this order in what `render routes` prints.
const ANNOTATIONS: [(&str, &str); 3] = [
    ("nginx.ingress.kubernetes.io/ssl-passthrough", "true"),
    ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
    ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
];

/// `v`'s Ingress.
pub fn ingress(env: &Env, v: &crate::core::config::Vcluster) -> Value {
    let mut labels = crate::core::ownership::labels(&env.cluster.name);
    labels.insert(
        crate::core::ownership::VCLUSTER_LABEL.into(),
        v.name.clone(),
    );
    let ingress = Ingress {
        metadata: ObjectMeta {
            name: Some(format!("{}-api", v.release)),
            namespace: Some(v.namespace.clone()),
            labels: Some(labels),
            annotations: Some(
                ANNOTATIONS
                    .iter()
                    .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: Some(ingress_class(env)),
            rules: Some(vec![IngressRule {
                host: Some(v.hostname.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: v.release.clone(),
                                port: Some(ServiceBackendPort {
                                    number: Some(443),
                                    ..Default::default()
                                }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut out = objects::manifest(&ingress);
    // `render routes` prints this value and the golden routes.yaml pins its order: the
    // annotations as listed above (passthrough first), not sorted, and a path before its backend.
    objects::lead(
        &mut out,
        "/metadata/annotations",
        &ANNOTATIONS.map(|(k, _)| k),
    );
    objects::lead(
        &mut out,
        "/spec/rules/0/http/paths/0",
        &["path", "pathType", "backend"],
    );
    out
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
    crate::core::render::values::merge(&mut v, &env.router.values);
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
    fn ingress_nginx_support_by_chart_line() {
        assert_eq!(ingress_nginx_max_kubernetes("4.15.1"), Some((1, 35)));
        assert_eq!(ingress_nginx_max_kubernetes("4.14.1"), Some((1, 34)));
        assert_eq!(ingress_nginx_max_kubernetes("9.0.0"), None);
    }

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
