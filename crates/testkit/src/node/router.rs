//! What answers a TLS connection to the node's port 443, as pure functions of the applied
//! objects: a router listens there only if its controller runs with that host port, and routes
//! a hostname through untouched only when its own configuration and the route objects say so.
//! One `Router` per kind of router; ingress-nginx now, a Gateway API router (Gateway listener
//! `protocol: TLS`, `tls.mode: Passthrough`, TLSRoute hostnames) fits the same trait.

use super::vcluster::PortRef;
use crate::kube::Key;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Nothing listens on the node's 443: the connection is refused.
    Nobody,
    /// The router terminates TLS itself with its default certificate.
    DefaultCertificate,
    /// The router passes the connection through to this Service.
    Passthrough {
        namespace: String,
        service: String,
        port: PortRef,
    },
}

pub trait Router {
    /// None when this router does not listen on the node's 443.
    fn answer(&self, objects: &[(Key, Value)], sni: Option<&str>) -> Option<Answer>;
}

/// Every kind of router the double knows, asked in turn.
pub fn answer(objects: &[(Key, Value)], sni: Option<&str>) -> Answer {
    let routers: [&dyn Router; 1] = [&IngressNginx];
    routers
        .iter()
        .find_map(|r| r.answer(objects, sni))
        .unwrap_or(Answer::Nobody)
}

/// ingress-nginx (kubernetes/ingress-nginx, controller-v1.14.1 / v1.15.1).
pub struct IngressNginx;

/// The controller's flags, from its container args (pkg/flags/flags.go defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct NginxFlags {
    pub ssl_passthrough: bool,
    pub controller_class: String,
    pub ingress_class: String,
    pub watch_without_class: bool,
    pub class_by_name: bool,
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().find_map(|a| {
        let rest = a.strip_prefix("--").or_else(|| a.strip_prefix('-'))?;
        if rest == name {
            Some("true")
        } else {
            rest.strip_prefix(name)?.strip_prefix('=')
        }
    })
}

/// Go's strconv.ParseBool, which both pflag booleans and GetBoolAnnotation use.
fn go_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

pub fn nginx_flags(args: &[String]) -> NginxFlags {
    NginxFlags {
        ssl_passthrough: flag(args, "enable-ssl-passthrough").is_some_and(go_bool),
        controller_class: flag(args, "controller-class")
            .unwrap_or("k8s.io/ingress-nginx")
            .into(),
        ingress_class: flag(args, "ingress-class").unwrap_or("nginx").into(),
        watch_without_class: flag(args, "watch-ingress-without-class").is_some_and(go_bool),
        class_by_name: flag(args, "ingress-class-by-name").is_some_and(go_bool),
    }
}

/// The ingress-nginx controllers that are running and bind the node's 443 (Deployment or
/// DaemonSet with a container started as /nginx-ingress-controller and `hostPort: 443`).
pub fn nginx_controllers(objects: &[(Key, Value)]) -> Vec<NginxFlags> {
    objects
        .iter()
        .filter(|(k, _)| {
            k.group == "apps" && (k.plural == "deployments" || k.plural == "daemonsets")
        })
        .filter(|(k, w)| {
            let ready = if k.plural == "deployments" {
                w["status"]["readyReplicas"].as_i64().unwrap_or(0)
            } else {
                w["status"]["numberReady"].as_i64().unwrap_or(0)
            };
            ready >= 1
        })
        .flat_map(|(_, w)| {
            w["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| {
            let args: Vec<&str> = c["args"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(c["command"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            args.contains(&"/nginx-ingress-controller")
                && c["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["hostPort"] == 443)
        })
        .map(|c| {
            let args: Vec<String> = c["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            nginx_flags(&args)
        })
        .collect()
}

/// Is this Ingress the controller's? internal/ingress/controller/store/store.go
/// GetIngressClass: `spec.ingressClassName` names an IngressClass whose `spec.controller` is
/// the controller's class (classes of other controllers are never in its lister), else the
/// `kubernetes.io/ingress.class` annotation equals `--ingress-class`, else
/// `--watch-ingress-without-class`.
pub fn serves(flags: &NginxFlags, ingress: &Value, objects: &[(Key, Value)]) -> bool {
    if let Some(class) = ingress["spec"]["ingressClassName"].as_str() {
        let key = Key::new("networking.k8s.io", "ingressclasses", "", class);
        return objects.iter().any(|(k, ic)| {
            *k == key
                && (ic["spec"]["controller"].as_str() == Some(flags.controller_class.as_str())
                    || (flags.class_by_name && class == flags.ingress_class))
        });
    }
    if let Some(a) = ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"].as_str() {
        return a == flags.ingress_class;
    }
    flags.watch_without_class
}

impl Router for IngressNginx {
    fn answer(&self, objects: &[(Key, Value)], sni: Option<&str>) -> Option<Answer> {
        let controllers = nginx_controllers(objects);
        let flags = controllers.first()?;
        // Without --enable-ssl-passthrough no TCP proxy peeks at the SNI: nginx terminates
        // TLS, and for a host no TLS Ingress names it serves its default ("Fake") certificate
        // (internal/ingress/controller/nginx.go: the passthrough proxy runs only when enabled).
        let (true, Some(host)) = (flags.ssl_passthrough, sni) else {
            return Some(Answer::DefaultCertificate);
        };
        for (k, ing) in objects {
            if k.group != "networking.k8s.io"
                || k.plural != "ingresses"
                || !serves(flags, ing, objects)
            {
                continue;
            }
            let annotation = ing["metadata"]["annotations"]
                ["nginx.ingress.kubernetes.io/ssl-passthrough"]
                .as_str()
                .unwrap_or("");
            if !go_bool(annotation) {
                continue;
            }
            for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
                if rule["host"].as_str() != Some(host) {
                    continue;
                }
                let backend = &rule["http"]["paths"][0]["backend"]["service"];
                let Some(service) = backend["name"].as_str() else {
                    continue;
                };
                let port = match (
                    backend["port"]["number"].as_u64(),
                    backend["port"]["name"].as_str(),
                ) {
                    (Some(n), _) => PortRef::Number(n as u16),
                    (None, Some(n)) => PortRef::Name(n.into()),
                    _ => continue,
                };
                // A passthrough backend whose Service is missing is skipped ("Missing Service
                // for SSL Passthrough backend"): nginx answers instead.
                let svc = Key::new("", "services", &k.namespace, service);
                if !objects.iter().any(|(sk, _)| *sk == svc) {
                    continue;
                }
                return Some(Answer::Passthrough {
                    namespace: k.namespace.clone(),
                    service: service.into(),
                    port,
                });
            }
        }
        Some(Answer::DefaultCertificate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn controller(args: &[&str], host_port: bool) -> (Key, Value) {
        let mut ports = vec![json!({"name": "https", "containerPort": 443})];
        if host_port {
            ports[0]["hostPort"] = json!(443);
        }
        let mut all = vec!["/nginx-ingress-controller"];
        all.extend(args);
        (
            Key::new(
                "apps",
                "deployments",
                "ingress-nginx",
                "ingress-nginx-controller",
            ),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "controller", "args": all, "ports": ports}]}}},
                "status": {"readyReplicas": 1}}),
        )
    }

    fn world(args: &[&str]) -> Vec<(Key, Value)> {
        vec![
            controller(args, true),
            (
                Key::new("networking.k8s.io", "ingressclasses", "", "nginx"),
                json!({"spec": {"controller": "k8s.io/ingress-nginx"}}),
            ),
            (
                Key::new(
                    "networking.k8s.io",
                    "ingresses",
                    "dev-vcluster",
                    "vcluster-dev-helm-api",
                ),
                json!({"metadata": {"annotations": {"nginx.ingress.kubernetes.io/ssl-passthrough": "true"}},
                    "spec": {"ingressClassName": "nginx", "rules": [{"host": "dev.example", "http": {"paths": [
                        {"path": "/", "backend": {"service": {"name": "vcluster-dev-helm", "port": {"number": 443}}}}]}}]}}),
            ),
            (
                Key::new("", "services", "dev-vcluster", "vcluster-dev-helm"),
                json!({}),
            ),
        ]
    }

    const CHART_ARGS: &[&str] = &[
        "--controller-class=k8s.io/ingress-nginx",
        "--ingress-class=nginx",
        "--enable-ssl-passthrough=true",
    ];

    #[test]
    fn passthrough_only_with_the_flag_the_annotation_and_a_class_it_serves() {
        let passthrough = Answer::Passthrough {
            namespace: "dev-vcluster".into(),
            service: "vcluster-dev-helm".into(),
            port: PortRef::Number(443),
        };
        assert_eq!(answer(&world(CHART_ARGS), Some("dev.example")), passthrough);
        assert_eq!(
            answer(&world(CHART_ARGS), Some("other.example")),
            Answer::DefaultCertificate
        );
        let no_flag = world(&["--controller-class=k8s.io/ingress-nginx"]);
        assert_eq!(
            answer(&no_flag, Some("dev.example")),
            Answer::DefaultCertificate,
            "no --enable-ssl-passthrough"
        );
        let mut foreign_class = world(CHART_ARGS);
        foreign_class[1].1["spec"]["controller"] = json!("example.com/other");
        assert_eq!(
            answer(&foreign_class, Some("dev.example")),
            Answer::DefaultCertificate,
            "another controller's class"
        );
        let mut no_annotation = world(CHART_ARGS);
        no_annotation[2].1["metadata"]["annotations"] = json!({});
        assert_eq!(
            answer(&no_annotation, Some("dev.example")),
            Answer::DefaultCertificate
        );
        let mut no_service = world(CHART_ARGS);
        no_service.pop();
        assert_eq!(
            answer(&no_service, Some("dev.example")),
            Answer::DefaultCertificate
        );
    }

    #[test]
    fn nobody_answers_without_a_running_controller_on_the_host_port() {
        let mut w = world(CHART_ARGS);
        w[0] = controller(CHART_ARGS, false);
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
        let mut w = world(CHART_ARGS);
        w[0].1["status"]["readyReplicas"] = json!(0);
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
        assert_eq!(answer(&[], None), Answer::Nobody);
    }

    #[test]
    fn flags_read_as_pflag_reads_them() {
        let f = nginx_flags(&[
            "--enable-ssl-passthrough".into(),
            "--watch-ingress-without-class=true".into(),
        ]);
        assert!(f.ssl_passthrough && f.watch_without_class);
        assert_eq!(
            (f.controller_class.as_str(), f.ingress_class.as_str()),
            ("k8s.io/ingress-nginx", "nginx")
        );
        assert!(!nginx_flags(&["--enable-ssl-passthrough=false".into()]).ssl_passthrough);
        let without_class = json!({"spec": {}});
        assert!(serves(&f, &without_class, &[]));
        assert!(!serves(&nginx_flags(&[]), &without_class, &[]));
    }
}
