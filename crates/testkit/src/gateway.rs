//! Where a Gateway API implementation sends a TLS ClientHello, decided from the stored objects
//! alone (pure): the node double's router answers with the backend this names, or with the
//! implementation's default certificate. Strict on purpose, like the real thing: a TLSRoute is
//! followed only through a Gateway listener with `protocol: TLS` and `tls.mode: Passthrough` on
//! the port the connection arrived at, of a Gateway whose GatewayClass names the implementation's
//! controller, when the listener admits the route (allowedRoutes kinds and namespaces) and the
//! route names that Gateway (and listener, and port) as parent and holds a hostname matching the
//! SNI (and the listener's hostname, when it has one).
//!
//! Rules from Gateway API v1.6.1 (the CRD descriptions in standard-install.yaml): a `*.` prefix is
//! a suffix match of one or more labels (`*.example.com` matches `a.example.com` and
//! `a.b.example.com`, not `example.com`); parentRef defaults are group
//! `gateway.networking.k8s.io`, kind `Gateway`, the route's namespace; a backendRef defaults to
//! kind `Service` in the route's namespace, and a reference to another namespace needs a
//! ReferenceGrant there. Among routes for one SNI, an exact hostname beats a wildcard and a longer
//! wildcard beats a shorter one; ties go to the oldest route, then namespace/name order (the
//! API's conflict rule). Only `gateway.networking.k8s.io/v1` TLSRoutes count: v1.6.1's standard
//! channel serves no other version of it.

use serde_json::Value;
use std::collections::BTreeMap;

pub const GROUP: &str = "gateway.networking.k8s.io";
const V1: &str = "gateway.networking.k8s.io/v1";

/// The implementation serving the Gateway: its controller name and the certificate it answers
/// with when no route takes the SNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Implementation {
    pub controller_name: &'static str,
    pub default_cert_cn: &'static str,
}

/// Traefik v3.7: controller `traefik.io/gateway-controller` (traefik-helm-chart v41.3.0,
/// templates/gatewayclass.yaml). An SNI no TCP router takes falls through to its HTTPS handler,
/// which terminates TLS with the default store's generated self-signed certificate, CN
/// `TRAEFIK DEFAULT CERT` (traefik v3.7.9: pkg/server/router/tcp/router.go `ServeTCP`, its last
/// fallback `httpsForwarder`; pkg/tls/generate/generate.go `DefaultDomain`).
pub const TRAEFIK: Implementation = Implementation {
    controller_name: "traefik.io/gateway-controller",
    default_cert_cn: "TRAEFIK DEFAULT CERT",
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Passed through untouched to this Service port.
    Backend(Backend),
    /// The implementation's default certificate answers (subject CN).
    DefaultCertificate(&'static str),
}

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects
        .iter()
        .filter(move |o| o["apiVersion"] == V1 && o["kind"] == kind)
}

/// Gateway API hostname matching: exact (case-insensitive), or `*.suffix` matching names that end
/// in `.suffix` with at least one label before it.
pub fn hostname_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|head| !head.is_empty()),
        None => pattern == name,
    }
}

/// How specific a matching route hostname is: exact first, then longer wildcards.
fn specificity(pattern: &str) -> (bool, usize) {
    (!pattern.starts_with("*."), pattern.len())
}

/// The labels of a namespace: those stored on its Namespace object, plus the
/// `kubernetes.io/metadata.name` label the API server sets on every namespace.
fn namespace_labels(objects: &[Value], ns: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = objects
        .iter()
        .find(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == ns)
        .and_then(|o| o["metadata"]["labels"].as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".into(), ns.into());
    labels
}

/// A Kubernetes label selector (matchLabels and matchExpressions; an empty one selects all).
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector["matchLabels"].as_object().is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    });
    let exprs_ok = selector["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).map(String::as_str);
            match e["operator"].as_str() {
                Some("In") => have.is_some_and(|h| values.contains(&h)),
                Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                Some("Exists") => have.is_some(),
                Some("DoesNotExist") => have.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

/// Does the listener admit a TLSRoute from `route_ns`?
fn admits(objects: &[Value], gateway_ns: &str, listener: &Value, route_ns: &str) -> bool {
    let allowed = &listener["allowedRoutes"];
    let kind_ok = allowed["kinds"].as_array().is_none_or(|kinds| {
        kinds.is_empty()
            || kinds
                .iter()
                .any(|k| k["kind"] == "TLSRoute" && k["group"].as_str().unwrap_or(GROUP) == GROUP)
    });
    let ns_ok = match allowed["namespaces"]["from"].as_str().unwrap_or("Same") {
        "All" => true,
        "Same" => route_ns == gateway_ns,
        "Selector" => selector_matches(
            &allowed["namespaces"]["selector"],
            &namespace_labels(objects, route_ns),
        ),
        _ => false,
    };
    kind_ok && ns_ok
}

/// Does `parent` (a TLSRoute parentRef) name this Gateway listener?
fn names_listener(parent: &Value, route_ns: &str, gateway: &Value, listener: &Value) -> bool {
    parent["group"].as_str().unwrap_or(GROUP) == GROUP
        && parent["kind"].as_str().unwrap_or("Gateway") == "Gateway"
        && parent["name"] == gateway["metadata"]["name"]
        && parent["namespace"].as_str().unwrap_or(route_ns)
            == s(gateway, "/metadata/namespace").unwrap_or("default")
        && parent["sectionName"]
            .as_str()
            .is_none_or(|section| listener["name"] == section)
        && parent["port"]
            .as_u64()
            .is_none_or(|port| listener["port"].as_u64() == Some(port))
}

/// A backendRef's target, when it resolves: a Service (the only kind we model) in the route's
/// namespace, or in another one that grants it with a ReferenceGrant.
fn backend(objects: &[Value], route: &Value) -> Option<Backend> {
    let route_ns = s(route, "/metadata/namespace").unwrap_or("default");
    let refs = route.pointer("/spec/rules/0/backendRefs")?.as_array()?;
    let r = refs
        .iter()
        .find(|r| r["weight"].as_u64().is_none_or(|w| w > 0))?;
    if !r["group"].as_str().unwrap_or("").is_empty()
        || r["kind"].as_str().unwrap_or("Service") != "Service"
    {
        return None;
    }
    let ns = r["namespace"].as_str().unwrap_or(route_ns);
    let service = r["name"].as_str()?;
    if ns != route_ns && !granted(objects, route_ns, ns, service) {
        return None;
    }
    Some(Backend {
        namespace: ns.into(),
        service: service.into(),
        port: u16::try_from(r["port"].as_u64()?).ok()?,
    })
}

/// A ReferenceGrant in `to_ns` lets TLSRoutes of `from_ns` reference Service `service`.
fn granted(objects: &[Value], from_ns: &str, to_ns: &str, service: &str) -> bool {
    objects
        .iter()
        .filter(|o| {
            o["kind"] == "ReferenceGrant"
                && o["apiVersion"]
                    .as_str()
                    .is_some_and(|a| a.starts_with(GROUP))
                && o["metadata"]["namespace"] == to_ns
        })
        .any(|g| {
            let from_ok = g["spec"]["from"].as_array().is_some_and(|fs| {
                fs.iter().any(|f| {
                    f["group"] == GROUP && f["kind"] == "TLSRoute" && f["namespace"] == from_ns
                })
            });
            let to_ok = g["spec"]["to"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    t["group"].as_str().unwrap_or("").is_empty()
                        && t["kind"] == "Service"
                        && t["name"].as_str().is_none_or(|n| n == service)
                })
            });
            from_ok && to_ok
        })
}

/// Where a ClientHello with `sni` arriving on listener port `port` goes.
pub fn route_tls(
    objects: &[Value],
    implementation: &Implementation,
    port: u16,
    sni: Option<&str>,
) -> Answer {
    let default = Answer::DefaultCertificate(implementation.default_cert_cn);
    let Some(sni) = sni else { return default };
    let classes: Vec<&str> = of_kind(objects, "GatewayClass")
        .filter(|c| c["spec"]["controllerName"] == implementation.controller_name)
        .filter_map(|c| s(c, "/metadata/name"))
        .collect();
    // (specificity, creation time, namespace/name) → backend; the best key wins.
    type Candidate = ((bool, usize), String, String, Option<Backend>);
    let mut candidates: Vec<Candidate> = Vec::new();
    for gateway in of_kind(objects, "Gateway") {
        if !s(gateway, "/spec/gatewayClassName").is_some_and(|c| classes.contains(&c)) {
            continue;
        }
        let gateway_ns = s(gateway, "/metadata/namespace").unwrap_or("default");
        let listeners = gateway["spec"]["listeners"].as_array().map(Vec::as_slice);
        for listener in listeners.unwrap_or_default() {
            let passthrough = listener["protocol"] == "TLS"
                && listener["tls"]["mode"] == "Passthrough"
                && listener["port"].as_u64() == Some(u64::from(port));
            let listener_host_ok = listener["hostname"]
                .as_str()
                .is_none_or(|h| h.is_empty() || hostname_matches(h, sni));
            if !passthrough || !listener_host_ok {
                continue;
            }
            for route in of_kind(objects, "TLSRoute") {
                let route_ns = s(route, "/metadata/namespace").unwrap_or("default");
                let attached = route["spec"]["parentRefs"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| names_listener(p, route_ns, gateway, listener))
                });
                if !attached || !admits(objects, gateway_ns, listener, route_ns) {
                    continue;
                }
                let best = route["spec"]["hostnames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|h| hostname_matches(h, sni))
                    .map(specificity)
                    .max();
                if let Some(spec) = best {
                    candidates.push((
                        spec,
                        s(route, "/metadata/creationTimestamp")
                            .unwrap_or_default()
                            .to_owned(),
                        format!(
                            "{route_ns}/{}",
                            s(route, "/metadata/name").unwrap_or_default()
                        ),
                        backend(objects, route),
                    ));
                }
            }
        }
    }
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    match candidates.into_iter().next() {
        Some((_, _, _, Some(b))) => Answer::Backend(b),
        // The winning route's backend does not resolve: nothing is passed through.
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(controller: &str) -> Value {
        json!({"apiVersion": V1, "kind": "GatewayClass", "metadata": {"name": "bootstrap"},
               "spec": {"controllerName": controller}})
    }

    fn gateway(listener: Value) -> Value {
        json!({"apiVersion": V1, "kind": "Gateway", "metadata": {"name": "bootstrap", "namespace": "traefik"},
               "spec": {"gatewayClassName": "bootstrap", "listeners": [listener]}})
    }

    fn passthrough() -> Value {
        json!({"name": "tls-passthrough", "protocol": "TLS", "port": 8443, "tls": {"mode": "Passthrough"},
               "allowedRoutes": {"namespaces": {"from": "All"}}})
    }

    fn route(ns: &str, host: &str, parent: Value) -> Value {
        json!({"apiVersion": V1, "kind": "TLSRoute", "metadata": {"name": "r", "namespace": ns},
               "spec": {"parentRefs": [parent], "hostnames": [host],
                        "rules": [{"backendRefs": [{"name": "vc", "port": 443}]}]}})
    }

    fn parent() -> Value {
        json!({"name": "bootstrap", "namespace": "traefik", "sectionName": "tls-passthrough"})
    }

    fn to(ns: &str) -> Answer {
        Answer::Backend(Backend {
            namespace: ns.into(),
            service: "vc".into(),
            port: 443,
        })
    }

    const DEFAULT: Answer = Answer::DefaultCertificate("TRAEFIK DEFAULT CERT");

    fn world(listener: Value, r: Value) -> Vec<Value> {
        vec![class(TRAEFIK.controller_name), gateway(listener), r]
    }

    #[test]
    fn a_passthrough_listener_routes_the_routes_hostname() {
        let w = world(passthrough(), route("dev", "dev.example.test", parent()));
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            to("dev")
        );
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("DEV.example.test")),
            to("dev")
        );
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("other.example.test")),
            DEFAULT
        );
        assert_eq!(route_tls(&w, &TRAEFIK, 8443, None), DEFAULT);
        assert_eq!(
            route_tls(&w, &TRAEFIK, 443, Some("dev.example.test")),
            DEFAULT,
            "another port"
        );
    }

    #[test]
    fn only_tls_passthrough_listeners_of_our_implementation_route() {
        let r = route("dev", "dev.example.test", parent());
        let mut terminate = passthrough();
        terminate["tls"]["mode"] = json!("Terminate");
        let mut https = passthrough();
        https["protocol"] = json!("HTTPS");
        let mut no_tls = passthrough();
        no_tls.as_object_mut().unwrap().remove("tls");
        for l in [terminate, https, no_tls] {
            let w = world(l.clone(), r.clone());
            assert_eq!(
                route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
                DEFAULT,
                "{l}"
            );
        }
        let mut w = world(passthrough(), r.clone());
        w[0] = class("example.com/other-controller");
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            DEFAULT
        );
        let mut alpha = r;
        alpha["apiVersion"] = json!("gateway.networking.k8s.io/v1alpha2");
        let w = world(passthrough(), alpha);
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            DEFAULT,
            "v1.6.1's standard channel serves TLSRoute v1 only"
        );
    }

    #[test]
    fn parent_refs_must_name_the_gateway_section_and_port() {
        for (p, routed) in [
            (json!({"name": "bootstrap", "namespace": "traefik"}), true),
            (
                json!({"name": "bootstrap", "namespace": "traefik", "port": 8443}),
                true,
            ),
            (
                json!({"name": "bootstrap", "namespace": "traefik", "port": 443}),
                false,
            ),
            (
                json!({"name": "bootstrap", "namespace": "traefik", "sectionName": "web"}),
                false,
            ),
            (json!({"name": "other", "namespace": "traefik"}), false),
            (json!({"name": "bootstrap"}), false),
            (
                json!({"name": "bootstrap", "namespace": "traefik", "kind": "ListenerSet"}),
                false,
            ),
        ] {
            let w = world(passthrough(), route("dev", "dev.example.test", p.clone()));
            let got = route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test"));
            assert_eq!(got == to("dev"), routed, "{p}");
        }
    }

    #[test]
    fn allowed_routes_decide_which_namespaces_attach() {
        let r = route("dev-vcluster", "dev.example.test", parent());
        let mut same = passthrough();
        same["allowedRoutes"] = json!({"namespaces": {"from": "Same"}});
        assert_eq!(
            route_tls(
                &world(same, r.clone()),
                &TRAEFIK,
                8443,
                Some("dev.example.test")
            ),
            DEFAULT
        );
        let mut defaulted = passthrough();
        defaulted.as_object_mut().unwrap().remove("allowedRoutes");
        assert_eq!(
            route_tls(
                &world(defaulted, r.clone()),
                &TRAEFIK,
                8443,
                Some("dev.example.test")
            ),
            DEFAULT,
            "allowedRoutes defaults to the Gateway's namespace"
        );
        let selector = |values: Value| {
            let mut l = passthrough();
            l["allowedRoutes"] = json!({"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": values}]}}});
            l
        };
        let ours = world(selector(json!(["dev-vcluster"])), r.clone());
        assert_eq!(
            route_tls(&ours, &TRAEFIK, 8443, Some("dev.example.test")),
            to("dev-vcluster")
        );
        let theirs = world(selector(json!(["staging-vcluster"])), r.clone());
        assert_eq!(
            route_tls(&theirs, &TRAEFIK, 8443, Some("dev.example.test")),
            DEFAULT
        );
        let mut http_only = passthrough();
        http_only["allowedRoutes"]["kinds"] = json!([{"group": GROUP, "kind": "HTTPRoute"}]);
        assert_eq!(
            route_tls(
                &world(http_only, r),
                &TRAEFIK,
                8443,
                Some("dev.example.test")
            ),
            DEFAULT
        );
    }

    #[test]
    fn wildcards_are_suffix_matches_and_the_most_specific_route_wins() {
        assert!(hostname_matches("*.example.test", "a.example.test"));
        assert!(hostname_matches("*.example.test", "a.b.example.test"));
        assert!(!hostname_matches("*.example.test", "example.test"));
        assert!(!hostname_matches("*.example.test", "aexample.test"));
        let mut wild = route("wild", "*.example.test", parent());
        wild["metadata"]["name"] = json!("a-wild");
        let exact = route("exact", "dev.example.test", parent());
        let mut w = world(passthrough(), wild);
        w.push(exact);
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            to("exact")
        );
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("x.example.test")),
            to("wild")
        );
        let mut scoped = passthrough();
        scoped["hostname"] = json!("*.other.test");
        let w = world(scoped, route("dev", "dev.example.test", parent()));
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            DEFAULT,
            "the listener's hostname must match the SNI too"
        );
    }

    #[test]
    fn a_backend_in_another_namespace_needs_a_reference_grant() {
        let mut r = route("dev", "dev.example.test", parent());
        r["spec"]["rules"][0]["backendRefs"][0]["namespace"] = json!("elsewhere");
        let mut w = world(passthrough(), r);
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            DEFAULT
        );
        w.push(
            json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "g", "namespace": "elsewhere"},
            "spec": {"from": [{"group": GROUP, "kind": "TLSRoute", "namespace": "dev"}],
                     "to": [{"group": "", "kind": "Service"}]}}),
        );
        assert_eq!(
            route_tls(&w, &TRAEFIK, 8443, Some("dev.example.test")),
            to("elsewhere")
        );
    }
}
