//! What answers a TLS connection to the node's port 443, as pure functions of the applied
//! objects: a router listens there only if its controller runs with that host port, and routes
//! a hostname through untouched only when its own configuration and the route objects say so.
//! One `Router` per kind of router: ingress-nginx, and Traefik as a Gateway API router (its
//! decision is `crate::gateway::route_tls`: a Gateway listener `protocol: TLS`,
//! `tls.mode: Passthrough` admitting a TLSRoute that names it).
//!
//! Only one workload can hold the node's 443: a second pod asking for the same hostPort stays
//! Pending (the scheduler's NodePorts filter), so when two routers claim it the one created first
//! answers. A switch that installed the new router before removing the old one would therefore
//! keep answering with the old router, as the real node would.

use super::vcluster::PortRef;
use crate::kube::Key;
use serde_json::Value;

/// Whose default certificate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// ingress-nginx's "Fake" certificate and nginx's 404.
    IngressNginx,
    /// Traefik's generated `TRAEFIK DEFAULT CERT` and its `404 page not found`.
    Traefik,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Nothing listens on the node's 443: the connection is refused.
    Nobody,
    /// The router terminates TLS itself with its default certificate.
    DefaultCertificate(Fallback),
    /// The router passes the connection through to this Service.
    Passthrough {
        namespace: String,
        service: String,
        port: PortRef,
    },
}

pub trait Router {
    /// When this router's running workload binds the node's 443: that workload's creation time
    /// (the earliest holds the port). None when it does not listen there.
    fn holds_443(&self, objects: &[(Key, Value)]) -> Option<String>;
    /// What it answers, given that it holds the port.
    fn answer(&self, objects: &[(Key, Value)], sni: Option<&str>) -> Answer;
}

/// Every kind of router the double knows; the one whose workload took the node's 443 first
/// answers.
pub fn answer(objects: &[(Key, Value)], sni: Option<&str>) -> Answer {
    let routers: [&dyn Router; 2] = [&IngressNginx, &Traefik];
    routers
        .iter()
        .filter_map(|r| r.holds_443(objects).map(|t| (t, r)))
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r.answer(objects, sni))
        .unwrap_or(Answer::Nobody)
}

/// Running Deployments and DaemonSets (at least one ready pod) with their containers.
fn running_workloads(objects: &[(Key, Value)]) -> impl Iterator<Item = (&Key, &Value)> {
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
        .map(|(k, w)| (k, w))
}

/// The objects as the node `this` sees them: every object, but of the Deployments and
/// DaemonSets only those whose pods the scheduler puts on `this` (the node whose 443 kind
/// publishes, the first control plane in kind's ingress guide). A pod fits a node when its
/// nodeSelector matches the Node's labels and its tolerations cover the Node's NoSchedule and
/// NoExecute taints (with workers, kind keeps the control planes'
/// `node-role.kubernetes.io/control-plane:NoSchedule`). A DaemonSet runs on every node it fits;
/// a Deployment's pod is placed on one of the nodes it fits, so it is on `this` for sure only
/// when `this` is the only one (with several, the real scheduler may bind another node's 443,
/// which kind does not publish). Without Node objects (unit tests of the routers alone) every
/// workload is kept.
pub fn scheduled_on(objects: Vec<(Key, Value)>, this: &str) -> Vec<(Key, Value)> {
    let nodes: Vec<(&str, &Value)> = objects
        .iter()
        .filter(|(k, _)| k.group.is_empty() && k.plural == "nodes")
        .map(|(k, n)| (k.name.as_str(), n))
        .collect();
    if nodes.is_empty() {
        return objects;
    }
    let keep: Vec<bool> = objects
        .iter()
        .map(|(k, w)| {
            if k.group != "apps" || !(k.plural == "deployments" || k.plural == "daemonsets") {
                return true;
            }
            let pod = &w["spec"]["template"]["spec"];
            let fitting: Vec<&str> = nodes
                .iter()
                .filter(|(_, n)| fits(pod, n))
                .map(|(name, _)| *name)
                .collect();
            fitting.contains(&this) && (k.plural == "daemonsets" || fitting.len() == 1)
        })
        .collect();
    objects
        .into_iter()
        .zip(keep)
        .filter_map(|(o, keep)| keep.then_some(o))
        .collect()
}

fn fits(pod: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    let selected = pod["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let tolerated = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
        .all(|taint| {
            pod["tolerations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| tolerates(t, taint))
        });
    selected && tolerated
}

/// Kubernetes' toleration matching (`v1.Toleration.ToleratesTaint`): an empty key with
/// `Exists` tolerates everything; otherwise the keys are equal, the effect is empty or equal,
/// and the operator is `Exists` or (the default) `Equal` with the same value.
fn tolerates(t: &Value, taint: &Value) -> bool {
    let key = t["key"].as_str().unwrap_or_default();
    let op = t["operator"].as_str().unwrap_or("Equal");
    let effect = t["effect"].as_str().unwrap_or_default();
    if !effect.is_empty() && Some(effect) != taint["effect"].as_str() {
        return false;
    }
    if key.is_empty() {
        return op == "Exists";
    }
    if Some(key) != taint["key"].as_str() {
        return false;
    }
    match op {
        "Exists" => true,
        _ => t["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default(),
    }
}

fn created(w: &Value) -> String {
    w["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn containers(w: &Value) -> Vec<Value> {
    w["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn str_args(c: &Value, field: &str) -> Vec<String> {
    c[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// The container port published as the node's 443 (`hostPort: 443`), if any.
fn host_443(c: &Value) -> Option<u16> {
    c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["hostPort"] == 443)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
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
/// DaemonSet with a container started as /nginx-ingress-controller and `hostPort: 443`), with
/// their workload's creation time, oldest first.
pub fn nginx_controllers(objects: &[(Key, Value)]) -> Vec<(String, NginxFlags)> {
    let mut all: Vec<(String, NginxFlags)> = running_workloads(objects)
        .flat_map(|(_, w)| containers(w).into_iter().map(move |c| (created(w), c)))
        .filter(|(_, c)| {
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
        .map(|(t, c)| (t, nginx_flags(&str_args(&c, "args"))))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
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
    fn holds_443(&self, objects: &[(Key, Value)]) -> Option<String> {
        nginx_controllers(objects)
            .into_iter()
            .next()
            .map(|(t, _)| t)
    }

    fn answer(&self, objects: &[(Key, Value)], sni: Option<&str>) -> Answer {
        let fallback = Answer::DefaultCertificate(Fallback::IngressNginx);
        let Some((_, flags)) = nginx_controllers(objects).into_iter().next() else {
            return Answer::Nobody;
        };
        let flags = &flags;
        // Without --enable-ssl-passthrough no TCP proxy peeks at the SNI: nginx terminates
        // TLS, and for a host no TLS Ingress names it serves its default ("Fake") certificate
        // (internal/ingress/controller/nginx.go: the passthrough proxy runs only when enabled).
        let (true, Some(host)) = (flags.ssl_passthrough, sni) else {
            return fallback;
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
                return Answer::Passthrough {
                    namespace: k.namespace.clone(),
                    service: service.into(),
                    port,
                };
            }
        }
        fallback
    }
}

/// Traefik (v3.7, chart 41.3.0) as a Gateway API router.
pub struct Traefik;

/// What a running Traefik container is configured with, from its args (Traefik reads its static
/// configuration from CLI flags; the chart renders them in templates/_podtemplate.tpl).
#[derive(Debug, Clone, PartialEq)]
pub struct TraefikConfig {
    /// The container port published as the node's 443.
    pub port: u16,
    /// An entry point listens on that port (`--entryPoints.<name>.address=:<port>/tcp`).
    pub entry_point: Option<String>,
    /// `--providers.kubernetesgateway`: the Gateway API provider is on.
    pub gateway_provider: bool,
    /// `--providers.kubernetesgateway.labelSelector`: only GatewayClasses whose labels match
    /// are Traefik's (the chart's `providers.kubernetesGateway.labelSelector`).
    pub gateway_class_selector: Option<String>,
}

/// An equality-based label selector (`k=v,k2=v2`, what we render) against an object's labels;
/// a selector of another form selects nothing here, rather than everything.
fn selects(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) if !k.ends_with('!') => {
                labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
            }
            _ => false,
        })
}

/// Is this container Traefik? Its image's repository is `traefik` (the chart's `image.repository`
/// default `traefik`, registry `docker.io`), whatever registry it comes from.
fn is_traefik(c: &Value) -> bool {
    let image = c["image"].as_str().unwrap_or_default();
    let repo = image.split('@').next().unwrap_or_default();
    let repo = match repo.rfind(':') {
        Some(i) if !repo[i..].contains('/') => &repo[..i],
        _ => repo,
    };
    repo.rsplit('/').next() == Some("traefik")
}

/// Traefik's flags: `--a.b=v`, or `--a.b` alone meaning true (paerser's flag parser); names are
/// case-insensitive (`--entryPoints` and `--entrypoints` are one option).
fn traefik_flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().find_map(|a| {
        let rest = a.strip_prefix("--")?;
        let (k, v) = rest.split_once('=').unwrap_or((rest, "true"));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

pub fn traefik_config(c: &Value) -> Option<TraefikConfig> {
    if !is_traefik(c) {
        return None;
    }
    let port = host_443(c)?;
    let args = str_args(c, "args");
    let entry_point = args.iter().find_map(|a| {
        let rest = a.strip_prefix("--")?;
        let (k, v) = rest.split_once('=')?;
        let name = k
            .to_ascii_lowercase()
            .strip_prefix("entrypoints.")?
            .strip_suffix(".address")?
            .to_owned();
        // `:8443/tcp`, `:8443`, `0.0.0.0:8443/tcp`
        let p = v.split('/').next()?.rsplit(':').next()?;
        (p.parse::<u16>().ok()? == port).then_some(name)
    });
    Some(TraefikConfig {
        port,
        entry_point,
        gateway_provider: traefik_flag(&args, "providers.kubernetesgateway")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        gateway_class_selector: traefik_flag(&args, "providers.kubernetesgateway.labelSelector")
            .map(str::to_owned),
    })
}

/// The running Traefik containers binding the node's 443, oldest workload first.
pub fn traefik_controllers(objects: &[(Key, Value)]) -> Vec<(String, TraefikConfig)> {
    let mut all: Vec<(String, TraefikConfig)> = running_workloads(objects)
        .flat_map(|(_, w)| {
            containers(w)
                .into_iter()
                .filter_map(move |c| traefik_config(&c).map(|t| (created(w), t)))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

impl Router for Traefik {
    fn holds_443(&self, objects: &[(Key, Value)]) -> Option<String> {
        // A container port no entry point listens on is a closed port inside the pod.
        traefik_controllers(objects)
            .into_iter()
            .find(|(_, t)| t.entry_point.is_some())
            .map(|(created, _)| created)
    }

    /// A Gateway listener binds the entry point whose port is the listener's port
    /// (`entryPointName`, pkg/provider/kubernetes/gateway/kubernetes.go at v3.7.9): the route
    /// decision is made for the container port behind the node's 443. Without the Gateway
    /// provider no TLSRoute is read at all: every SNI falls through to the default certificate.
    fn answer(&self, objects: &[(Key, Value)], sni: Option<&str>) -> Answer {
        let fallback = Answer::DefaultCertificate(Fallback::Traefik);
        let Some((_, t)) = traefik_controllers(objects)
            .into_iter()
            .find(|(_, t)| t.entry_point.is_some())
        else {
            return Answer::Nobody;
        };
        if !t.gateway_provider {
            return fallback;
        }
        // A GatewayClass the selector does not pick is not Traefik's, as if it were absent.
        let values: Vec<Value> = objects
            .iter()
            .filter(|(k, v)| {
                k.plural != "gatewayclasses"
                    || t.gateway_class_selector
                        .as_deref()
                        .is_none_or(|sel| selects(sel, &v["metadata"]["labels"]))
            })
            .map(|(_, v)| v.clone())
            .collect();
        match crate::gateway::route_tls(&values, &crate::gateway::TRAEFIK, t.port, sni) {
            crate::gateway::Answer::Backend(b) => Answer::Passthrough {
                namespace: b.namespace,
                service: b.service,
                port: PortRef::Number(b.port),
            },
            crate::gateway::Answer::DefaultCertificate(_) => fallback,
        }
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
    fn only_a_pod_the_scheduler_puts_on_the_control_plane_node_answers_there() {
        let passthrough = answer(&world(CHART_ARGS), Some("dev.example"));
        assert!(matches!(passthrough, Answer::Passthrough { .. }));
        let node = |name: &str, labels: Value, taints: Value| {
            (
                Key::new("", "nodes", "", name),
                json!({"metadata": {"labels": labels}, "spec": {"taints": taints}}),
            )
        };
        let role = "node-role.kubernetes.io/control-plane";
        let cp_labels =
            json!({role: "", "ingress-ready": "true", "kubernetes.io/hostname": "x-control-plane"});
        let taint = json!([{"key": role, "effect": "NoSchedule"}]);
        let with = |nodes: Vec<(Key, Value)>, selector: Value, tolerations: Value| {
            let mut w = world(CHART_ARGS);
            w[0].1["spec"]["template"]["spec"]["nodeSelector"] = selector;
            w[0].1["spec"]["template"]["spec"]["tolerations"] = tolerations;
            w.extend(nodes);
            answer(&scheduled_on(w, "x-control-plane"), Some("dev.example"))
        };
        let cp = |taints: &Value| node("x-control-plane", cp_labels.clone(), taints.clone());
        let selector = json!({"ingress-ready": "true"});
        let tolerate = json!([{"key": role, "operator": "Equal", "effect": "NoSchedule"}]);
        let none = json!([]);
        // One node, untainted (kind without workers): the selector decides.
        assert_eq!(
            with(vec![cp(&none)], selector.clone(), none.clone()),
            passthrough
        );
        let unlabelled = node("x-control-plane", json!({role: ""}), none.clone());
        assert_eq!(
            with(vec![unlabelled], selector.clone(), none.clone()),
            Answer::Nobody,
            "no node labelled ingress-ready"
        );
        // Tainted (kind with workers): only a pod that tolerates the taint runs there.
        let worker = node(
            "x-worker",
            json!({"kubernetes.io/hostname": "x-worker"}),
            none.clone(),
        );
        assert_eq!(
            with(
                vec![cp(&taint), worker.clone()],
                selector.clone(),
                none.clone()
            ),
            Answer::Nobody
        );
        assert_eq!(
            with(
                vec![cp(&taint), worker.clone()],
                selector.clone(),
                tolerate.clone()
            ),
            passthrough
        );
        assert_eq!(
            with(
                vec![cp(&taint)],
                selector.clone(),
                json!([{"operator": "Exists"}])
            ),
            passthrough,
            "an empty key with Exists tolerates every taint"
        );
        assert_eq!(
            with(
                vec![cp(&taint)],
                selector.clone(),
                json!([{"key": role, "operator": "Equal", "value": "x", "effect": "NoSchedule"}])
            ),
            Answer::Nobody,
            "Equal compares the value"
        );
        // No selector on a cluster with workers: the scheduler may put it on a worker.
        assert_eq!(
            with(vec![cp(&none), worker.clone()], json!({}), none.clone()),
            Answer::Nobody
        );
        // Several control planes: the role selects all of them, so a Deployment may land on one
        // whose 443 kind does not publish; the node's own name selects the one that does.
        let cp2 = node(
            "x-control-plane2",
            json!({role: "", "kubernetes.io/hostname": "x-control-plane2"}),
            none.clone(),
        );
        assert_eq!(
            with(
                vec![cp(&none), cp2.clone()],
                json!({role: ""}),
                none.clone()
            ),
            Answer::Nobody
        );
        assert_eq!(
            with(
                vec![cp(&none), cp2],
                json!({"kubernetes.io/hostname": "x-control-plane"}),
                none
            ),
            passthrough
        );
    }

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
            Answer::DefaultCertificate(Fallback::IngressNginx)
        );
        let no_flag = world(&["--controller-class=k8s.io/ingress-nginx"]);
        assert_eq!(
            answer(&no_flag, Some("dev.example")),
            Answer::DefaultCertificate(Fallback::IngressNginx),
            "no --enable-ssl-passthrough"
        );
        let mut foreign_class = world(CHART_ARGS);
        foreign_class[1].1["spec"]["controller"] = json!("example.com/other");
        assert_eq!(
            answer(&foreign_class, Some("dev.example")),
            Answer::DefaultCertificate(Fallback::IngressNginx),
            "another controller's class"
        );
        let mut no_annotation = world(CHART_ARGS);
        no_annotation[2].1["metadata"]["annotations"] = json!({});
        assert_eq!(
            answer(&no_annotation, Some("dev.example")),
            Answer::DefaultCertificate(Fallback::IngressNginx)
        );
        let mut no_service = world(CHART_ARGS);
        no_service.pop();
        assert_eq!(
            answer(&no_service, Some("dev.example")),
            Answer::DefaultCertificate(Fallback::IngressNginx)
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

    /// The Traefik workload as chart 41.3.0 renders it with bootstrap's values (the real Helm
    /// engine's output, checked in tests/gateway_api.rs `traefik_chart_renders_what_our_gateway_needs`).
    fn traefik(args: &[&str], created: &str) -> (Key, Value) {
        let mut all = vec![
            "--entryPoints.metrics.address=:9100/tcp",
            "--entryPoints.traefik.address=:8080/tcp",
            "--entryPoints.web.address=:8000/tcp",
            "--entryPoints.websecure.address=:8443/tcp",
            "--entryPoints.websecure.http.tls=true",
        ];
        all.extend(args);
        (
            Key::new("apps", "deployments", "traefik", "traefik"),
            json!({"metadata": {"creationTimestamp": created},
                "spec": {"template": {"spec": {"containers": [{"name": "traefik", "image": "docker.io/traefik:v3.7.11",
                "args": all, "ports": [{"name": "web", "containerPort": 8000},
                    {"name": "websecure", "containerPort": 8443, "hostPort": 443}]}]}}},
                "status": {"readyReplicas": 1}}),
        )
    }

    fn gw(kind: &str, plural: &str, ns: &str, name: &str, spec: Value) -> (Key, Value) {
        (
            Key::new("gateway.networking.k8s.io", plural, ns, name),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": spec}),
        )
    }

    /// Traefik with the Gateway provider, our class, Gateway and one TLSRoute, as bootstrap
    /// renders them (core::render::gateway).
    fn gateway_world() -> Vec<(Key, Value)> {
        vec![
            traefik(&["--providers.kubernetesgateway"], "2026-01-01T00:00:02Z"),
            gw(
                "GatewayClass",
                "gatewayclasses",
                "",
                "bootstrap",
                json!({"controllerName": "traefik.io/gateway-controller"}),
            ),
            gw(
                "Gateway",
                "gateways",
                "traefik",
                "bootstrap",
                json!({"gatewayClassName": "bootstrap",
                "listeners": [{"name": "tls-passthrough", "protocol": "TLS", "port": 8443,
                    "tls": {"mode": "Passthrough"},
                    "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["dev-vcluster"]}]}},
                        "kinds": [{"group": "gateway.networking.k8s.io", "kind": "TLSRoute"}]}}]}),
            ),
            gw(
                "TLSRoute",
                "tlsroutes",
                "dev-vcluster",
                "vcluster-dev-helm-api",
                json!({
                "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "bootstrap",
                    "namespace": "traefik", "sectionName": "tls-passthrough"}],
                "hostnames": ["dev.example"],
                "rules": [{"backendRefs": [{"name": "vcluster-dev-helm", "port": 443}]}]}),
            ),
        ]
    }

    const TRAEFIK_DEFAULT: Answer = Answer::DefaultCertificate(Fallback::Traefik);

    fn dev() -> Answer {
        Answer::Passthrough {
            namespace: "dev-vcluster".into(),
            service: "vcluster-dev-helm".into(),
            port: PortRef::Number(443),
        }
    }

    #[test]
    fn traefik_serves_only_the_gateway_classes_its_label_selector_picks() {
        let mut w = gateway_world();
        w[0] = traefik(
            &[
                "--providers.kubernetesgateway",
                "--providers.kubernetesgateway.labelSelector=bootstrap/env=dev",
            ],
            "2026-01-01T00:00:02Z",
        );
        assert_eq!(
            answer(&w, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "unlabelled class"
        );
        w[1].1["metadata"]["labels"] = json!({"bootstrap/env": "dev"});
        assert_eq!(answer(&w, Some("dev.example")), dev());
        w[1].1["metadata"]["labels"] = json!({"bootstrap/env": "other"});
        assert_eq!(
            answer(&w, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "another env's class"
        );
    }

    #[test]
    fn traefik_routes_a_tlsroute_only_through_a_passthrough_listener_it_serves() {
        let w = gateway_world();
        assert_eq!(answer(&w, Some("dev.example")), dev());
        assert_eq!(answer(&w, Some("other.example")), TRAEFIK_DEFAULT);
        assert_eq!(answer(&w, None), TRAEFIK_DEFAULT);

        // Each fact removed: Traefik's default certificate answers instead.
        let mut terminate = gateway_world();
        terminate[2].1["spec"]["listeners"][0]["tls"]["mode"] = json!("Terminate");
        assert_eq!(
            answer(&terminate, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "mode Terminate"
        );
        let mut https = gateway_world();
        https[2].1["spec"]["listeners"][0]["protocol"] = json!("HTTPS");
        assert_eq!(
            answer(&https, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "protocol HTTPS"
        );
        let mut section = gateway_world();
        section[3].1["spec"]["parentRefs"][0]["sectionName"] = json!("web");
        assert_eq!(
            answer(&section, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "wrong sectionName"
        );
        let mut other_gateway = gateway_world();
        other_gateway[3].1["spec"]["parentRefs"][0]["name"] = json!("traefik");
        assert_eq!(
            answer(&other_gateway, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "another Gateway"
        );
        let mut not_admitted = gateway_world();
        not_admitted[2].1["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"]
            ["matchExpressions"][0]["values"] = json!(["staging-vcluster"]);
        assert_eq!(
            answer(&not_admitted, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "allowedRoutes"
        );
        let mut listener_host = gateway_world();
        listener_host[2].1["spec"]["listeners"][0]["hostname"] = json!("*.elsewhere.example");
        assert_eq!(
            answer(&listener_host, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "listener hostname"
        );
        let mut foreign_class = gateway_world();
        foreign_class[1].1["spec"]["controllerName"] =
            json!("gateway.envoyproxy.io/gatewayclass-controller");
        assert_eq!(
            answer(&foreign_class, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "another controller's class"
        );
        // The listener must sit on the entry point behind the node's 443 (8443 in the pod).
        let mut port = gateway_world();
        port[2].1["spec"]["listeners"][0]["port"] = json!(443);
        assert_eq!(
            answer(&port, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "listener on 443"
        );
        let mut no_provider = gateway_world();
        no_provider[0] = traefik(&[], "2026-01-01T00:00:02Z");
        assert_eq!(
            answer(&no_provider, Some("dev.example")),
            TRAEFIK_DEFAULT,
            "no Gateway provider"
        );
    }

    #[test]
    fn nobody_answers_without_traefik_on_the_host_port() {
        let mut w = gateway_world();
        w[0].1["spec"]["template"]["spec"]["containers"][0]["ports"][1]
            .as_object_mut()
            .unwrap()
            .remove("hostPort");
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
        let mut w = gateway_world();
        w[0].1["status"]["readyReplicas"] = json!(0);
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
        // An entry point on another port: nothing listens behind the node's 443.
        let mut w = gateway_world();
        let args = w[0].1["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array_mut()
            .unwrap();
        args.retain(|a| {
            !a.as_str()
                .unwrap()
                .starts_with("--entryPoints.websecure.address")
        });
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
        // Another image with the same flags is not Traefik.
        let mut w = gateway_world();
        w[0].1["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("example.com/proxy:v1");
        assert_eq!(answer(&w, Some("dev.example")), Answer::Nobody);
    }

    #[test]
    fn the_router_that_took_the_nodes_443_first_answers() {
        let mut both = gateway_world();
        let mut nginx = controller(CHART_ARGS, true);
        nginx.1["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:01Z");
        both.push(nginx);
        both.extend(world(CHART_ARGS).into_iter().skip(1));
        // ingress-nginx was there first: Traefik's pod cannot bind 443 and stays Pending.
        assert_eq!(
            answer(&both, Some("other.example")),
            Answer::DefaultCertificate(Fallback::IngressNginx)
        );
        let i = both
            .iter()
            .position(|(k, _)| k.name == "ingress-nginx-controller")
            .unwrap();
        both[i].1["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:03Z");
        assert_eq!(answer(&both, Some("dev.example")), dev());
        assert_eq!(answer(&both, Some("other.example")), TRAEFIK_DEFAULT);
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
