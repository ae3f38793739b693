//! Semantic checks on a decoded `Env`: things that are each well-typed but wrong together.

use super::decode::Origins;
use super::diag::Diags;
use super::model::*;
use super::pins;
use std::collections::BTreeMap;

/// RFC 1123 label: what Kubernetes accepts for namespaces, and kind for cluster names.
pub fn is_rfc1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_rfc1123_label)
}

fn label_hint(s: &str) -> String {
    let fixed: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let fixed = fixed.trim_matches('-');
    format!(
        "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters{}",
        if is_rfc1123_label(fixed) && fixed != s { format!(" (for example `{fixed}`)") } else { String::new() }
    )
}

struct Check<'a> {
    o: &'a Origins,
    d: &'a mut Diags,
}

impl Check<'_> {
    /// A finding on `field`, unless its value is a stand-in for one decoding rejected (that
    /// error is already reported, and the stand-in's consequences are not the user's mistakes).
    fn err(&mut self, field: &str, msg: String, hint: Option<String>) {
        if self.o.rejected(field) {
            return;
        }
        let at = self.o.get(field);
        self.d.error(&at, field, msg, hint);
    }

    fn warn(&mut self, field: &str, msg: String, hint: Option<String>) {
        if self.o.rejected(field) {
            return;
        }
        let at = self.o.get(field);
        self.d.warn(&at, field, msg, hint);
    }

    /// Whether every field a rule reads beyond the one it reports on holds what was written.
    fn trusted(&self, fields: &[&str]) -> bool {
        fields.iter().all(|f| !self.o.rejected(f))
    }

    fn label(&mut self, field: &str, value: &str, what: &str, max: usize) {
        if !is_rfc1123_label(value) || value.len() > max {
            self.err(
                field,
                format!("`{value}` is not a valid {what} (an RFC 1123 label of at most {max} characters)"),
                Some(label_hint(value)),
            );
        }
    }

    /// Report every value seen twice, pointing at the second and naming the first.
    fn unique(&mut self, what: &str, items: &[(String, String)], hint: &str) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (field, value) in items {
            if self.o.rejected(field) {
                continue;
            }
            if let Some(first) = seen.get(value.as_str()) {
                let at = self.o.get(first);
                let line = if at.pos.line > 0 {
                    format!(" (line {})", at.pos.line)
                } else {
                    String::new()
                };
                self.err(
                    field,
                    format!("duplicate {what} `{value}`, already used by {first}{line}"),
                    Some(hint.to_owned()),
                );
            } else {
                seen.insert(value, field);
            }
        }
    }
}

pub fn validate(env: &Env, o: &Origins, d: &mut Diags) {
    let mut c = Check { o, d };
    let cl = &env.cluster;
    // With the provider rejected, neither provider's rules can be told to apply.
    let kind = cl.provider == Provider::Kind && c.trusted(&["cluster.provider"]);
    let existing = cl.provider == Provider::Existing && c.trusted(&["cluster.provider"]);
    cluster_fields(&mut c, env, kind, existing);
    host_ports(&mut c, env, kind);
    registry(&mut c, env);
    router_exposure(&mut c, env);
    router_fields(&mut c, env, kind);
    vcluster_fields(&mut c, env);
    names_and_contexts(&mut c, env);
}

/// The cluster section: names, addresses and what `provider: existing` ignores.
fn cluster_fields(c: &mut Check, env: &Env, kind: bool, existing: bool) {
    let o = c.o;
    let cl = &env.cluster;
    let mapping = |i: usize| o.item("cluster.portMappings", i);
    if kind {
        // kind names its node containers `<name>-control-plane`; Docker and DNS both need a label.
        c.label("cluster.name", &cl.name, "kind cluster name", 50);
    }
    if existing {
        for (field, set) in [
            ("cluster.portMappings", !cl.port_mappings.is_empty()),
            ("cluster.nodeImage", cl.node_image.is_some()),
            ("cluster.extraCertSANs", !cl.extra_cert_sans.is_empty()),
        ] {
            if set {
                c.warn(
                    field,
                    "ignored with `provider: existing` (bootstrap does not create that cluster)"
                        .into(),
                    None,
                );
            }
        }
    }
    for (i, san) in cl.extra_cert_sans.iter().enumerate() {
        if san.parse::<std::net::IpAddr>().is_err() && !is_dns_name(san.trim_start_matches("*.")) {
            c.err(
                &o.item("cluster.extraCertSANs", i),
                format!("`{san}` is neither an IP address nor a DNS name"),
                None,
            );
        }
    }
    if cl.api_server.address.parse::<std::net::IpAddr>().is_err() {
        c.err(
            "cluster.apiServer.address",
            format!("`{}` is not an IP address", cl.api_server.address),
            Some("kind publishes the API server on an IP address, such as 127.0.0.1".into()),
        );
    }
    for (i, m) in cl.port_mappings.iter().enumerate() {
        if m.listen_address.parse::<std::net::IpAddr>().is_err() {
            c.err(
                &format!("{}.listenAddress", mapping(i)),
                format!("`{}` is not an IP address", m.listen_address),
                Some("use 0.0.0.0 (all addresses, kind's default) or 127.0.0.1".into()),
            );
        }
    }
}

/// Host ports: the API port, every mapped port, the registry and the router's 443 are bound on the host at once, each once.
fn host_ports(c: &mut Check, env: &Env, kind: bool) {
    let o = c.o;
    let cl = &env.cluster;
    let mapping = |i: usize| o.item("cluster.portMappings", i);
    // Host ports: the API port and every mapped port are bound on the host at once.
    let mut host_ports = Vec::new();
    if kind {
        host_ports.push((
            "cluster.apiServer.port".to_owned(),
            cl.api_server.port.to_string(),
        ));
        for (i, m) in cl.port_mappings.iter().enumerate() {
            host_ports.push((
                format!("{}.hostPort", mapping(i)),
                format!("{}/{:?}", m.host_port, m.protocol).to_uppercase(),
            ));
        }
    }
    if env.registry.enabled && !env.registry.shared {
        host_ports.push((
            "registry.port".to_owned(),
            format!("{}/TCP", env.registry.port),
        ));
    }
    // The API port is TCP; compare it on the same footing as the rest.
    if let Some(first) = host_ports.first_mut() {
        if first.0 == "cluster.apiServer.port" {
            first.1 = format!("{}/TCP", cl.api_server.port);
        }
    }
    // Unless the file maps node 443 itself, the router's 443 is published on httpsPort too (the
    // kind config gets that mapping): it is bound with the rest. Found by fuzzing: a mapping of
    // containerPort 442 on 8443 passed, and kind would have failed half-way through creating.
    if kind && !cl.port_mappings.iter().any(|m| m.container_port == 443) {
        let router = (
            "router.httpsPort".to_owned(),
            format!("{}/TCP", env.router.https_port),
        );
        // Reported on the field the file wrote: the mapping when httpsPort is the default.
        if o.written("router.httpsPort") {
            host_ports.push(router);
        } else {
            host_ports.insert(host_ports.len().min(1), router);
        }
    }
    c.unique(
        "host port",
        &host_ports,
        "each host port can be bound once: choose another hostPort, or another router.httpsPort (node 443 is published on it unless a mapping has containerPort 443)",
    );
    for (field, port) in &host_ports {
        let n: u16 = port
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(1024);
        if n < 1024 {
            c.warn(
                field,
                format!("host port {n} is privileged (below 1024)"),
                Some("binding it needs root or CAP_NET_BIND_SERVICE on Linux; a port above 1024 avoids that".into()),
            );
        }
    }
}

/// The router section.
fn router_fields(c: &mut Check, env: &Env, kind: bool) {
    let o = c.o;
    let cl = &env.cluster;
    let mapping = |i: usize| o.item("cluster.portMappings", i);
    // The router.
    let r = &env.router;
    router_supports_node_image(c, env);
    if !is_dns_name(&r.domain) {
        c.err(
            "router.domain",
            format!("`{}` is not a DNS name", r.domain),
            Some("for example `cnoe.localtest.me` (every name under localtest.me resolves to 127.0.0.1)".into()),
        );
    }
    c.label("router.namespace", &r.namespace, "namespace", 63);
    c.label("router.release", &r.release, "Helm release name", 53);
    if !env.vclusters.is_empty() && !r.passthrough {
        c.err(
            "router.passthrough",
            "vclusters are reached through the router, which needs TLS passthrough".into(),
            Some("set `passthrough: true` (the default): each vcluster then presents its own certificate".into()),
        );
    }
    if kind && c.trusted(&["router.httpsPort"]) {
        match cl.port_mappings.iter().position(|m| m.container_port == 443) {
            Some(i) if cl.port_mappings[i].host_port != r.https_port => c.err(
                &format!("{}.hostPort", mapping(i)),
                format!(
                    "node port 443 is mapped to host port {}, but router.httpsPort is {}",
                    cl.port_mappings[i].host_port, r.https_port
                ),
                Some("make them equal: the router listens on the node's 443, users dial the httpsPort".into()),
            ),
            _ => {}
        }
    }
}

/// Each vcluster's own fields.
fn vcluster_fields(c: &mut Check, env: &Env) {
    let o = c.o;
    let r = &env.router;
    let vcluster = |i: usize| o.item("vclusters", i);
    // vclusters.
    for (i, v) in env.vclusters.iter().enumerate() {
        let p = vcluster(i);
        c.label(&format!("{p}.name"), &v.name, "vcluster name", 63);
        // Defaults made from a bad name are bad for the same reason: said once, at the name.
        let from_name = |field: &str| o.written(field) || is_rfc1123_label(&v.name);
        let (ns, rel, host, ctx) = (
            format!("{p}.namespace"),
            format!("{p}.release"),
            format!("{p}.hostname"),
            format!("{p}.context"),
        );
        if from_name(&ns) {
            c.label(&ns, &v.namespace, "namespace", 63);
        }
        if from_name(&rel) {
            c.label(&rel, &v.release, "Helm release name", 53);
        }
        // The default hostname comes from the context, whose default comes from the name.
        let host_from_bad_name =
            !(o.written(&host) || o.written(&ctx) || is_rfc1123_label(&v.name));
        if host_from_bad_name {
            // Said once, at the name.
        } else if !is_dns_name(&v.hostname) {
            c.err(
                &format!("{p}.hostname"),
                format!("`{}` is not a DNS name", v.hostname),
                None,
            );
        } else if !v.hostname.ends_with(&format!(".{}", r.domain)) && c.trusted(&["router.domain"])
        {
            c.err(
                &format!("{p}.hostname"),
                format!(
                    "`{}` is outside the router's domain `{}`, so it would not resolve to the router",
                    v.hostname, r.domain
                ),
                Some(format!(
                    "use a name under the domain, such as `{}.{}`",
                    v.context, r.domain
                )),
            );
        }
        chart_tls_route(c, &p, v);
        if v.values
            .get("controlPlane")
            .and_then(|c| c.get("proxy"))
            .and_then(|p| p.get("extraSANs"))
            .is_some()
        {
            c.warn(
                &format!("{p}.values.controlPlane.proxy.extraSANs"),
                "bootstrap adds the vcluster's hostname and service names here itself; yours are kept too".into(),
                None,
            );
        }
    }
}

/// What must be unique across the file (names, contexts, hostnames, releases), and the fields that refer to them.
fn names_and_contexts(c: &mut Check, env: &Env) {
    let o = c.o;
    let cl = &env.cluster;
    let vcluster = |i: usize| o.item("vclusters", i);
    let names: Vec<_> = env
        .vclusters
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{}.name", vcluster(i)), v.name.clone()))
        .collect();
    c.unique("vcluster name", &names, "each vcluster needs its own name");
    let mut contexts = vec![("cluster.context".to_owned(), cl.context.clone())];
    contexts.extend(
        env.vclusters
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{}.context", vcluster(i)), v.context.clone())),
    );
    c.unique(
        "context",
        &contexts,
        "each context name must be unique in the kubeconfig",
    );
    let hosts: Vec<_> = env
        .vclusters
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{}.hostname", vcluster(i)), v.hostname.clone()))
        .collect();
    c.unique(
        "hostname",
        &hosts,
        "the router sends each hostname to one vcluster only",
    );
    let releases: Vec<_> = env
        .vclusters
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                format!("{}.release", vcluster(i)),
                format!("{}/{}", v.namespace, v.release),
            )
        })
        .collect();
    c.unique(
        "Helm release",
        &releases,
        "each vcluster needs its own release or namespace",
    );

    if env.access.insecure_skip_tls_verify {
        c.warn(
            "access.insecureSkipTLSVerify",
            "certificates will NOT be verified for the contexts bootstrap writes".into(),
            Some("bootstrap sets tls-server-name and the cluster's CA so this is never needed; remove it".into()),
        );
    }
    // A vcluster left out, or a context rejected, would make a good name look unknown.
    let contexts_known =
        c.trusted(&["cluster.context"]) && !o.any_rejected_in("vclusters", "context");
    if let Some(cur) = &env.kubeconfig.current_context {
        if contexts_known && !contexts.iter().any(|(_, c)| c == cur) {
            c.err(
                "kubeconfig.currentContext",
                format!("`{cur}` is not one of the contexts this file defines"),
                Some(format!(
                    "valid values: {}",
                    contexts
                        .iter()
                        .map(|(_, c)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
    if env.argocd.register {
        c.label("argocd.namespace", &env.argocd.namespace, "namespace", 63);
    }
}

/// ingress-nginx is retired: its last chart line is tested up to Kubernetes 1.35, while kind
/// v0.32.0 creates 1.36 nodes by default. Say so when the file names the node image (a warning:
/// it may well still work). With `cluster.nodeImage` unset the image is kind's default: the
/// pinned kind v0.32.0's is assumed, and the warning says so (a kind of another version on PATH
/// may default to another image).
fn router_supports_node_image(c: &mut Check<'_>, env: &Env) {
    if env.cluster.provider != Provider::Kind {
        return;
    }
    match &env.cluster.node_image {
        Some(image) => {
            if let Some((message, hint)) = ingress_nginx_support(env, image) {
                c.warn("cluster.nodeImage", message, Some(hint));
            }
        }
        // No image written: kind's own default, which for the pinned kind v0.32.0 is a 1.36 node.
        // Said when the file chose ingress-nginx; a file that names no router gets the default
        // one quietly (the reference says which, and why it is still ingress-nginx).
        None if c.o.written("router.kind") => {
            if let Some((message, hint)) = ingress_nginx_support(env, pins::KIND_DEFAULT_NODE_IMAGE)
            {
                c.warn(
                    "router.kind",
                    format!("{message} (kind v0.32.0's default; `cluster.nodeImage` is not set)"),
                    Some(hint),
                );
            }
        }
        None => {}
    }
}

/// When the file's router is ingress-nginx and `node_image` runs a Kubernetes newer than the
/// chart line was tested on: what to tell the user, and the hint.
pub fn ingress_nginx_support(env: &Env, node_image: &str) -> Option<(String, String)> {
    let r = &env.router;
    if r.kind != RouterKind::IngressNginx {
        return None;
    }
    let version = r.chart.version.as_deref()?;
    let max = pins::ingress_nginx_max_kubernetes(version)?;
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

/// vcluster renders a TLSRoute of its own (`controlPlane.tlsRoute`) from chart 0.34 on. bootstrap
/// renders each vcluster's route itself, so the chart's would be a second route for the same
/// hostname; and a chart older than 0.34 rejects the key at install.
fn chart_tls_route(c: &mut Check<'_>, p: &str, v: &Vcluster) {
    let Some(tls_route) = v.values.pointer("/controlPlane/tlsRoute") else {
        return;
    };
    let field = format!("{p}.values.controlPlane.tlsRoute");
    let minor = v.chart.version.as_deref().and_then(|ver| {
        let mut it = ver.trim_start_matches('v').split('.');
        Some((
            it.next()?.parse::<u32>().ok()?,
            it.next()?.parse::<u32>().ok()?,
        ))
    });
    if let Some(minor) = minor.filter(|m| *m < (0, 34)) {
        c.err(
            &field,
            format!(
                "`controlPlane.tlsRoute` needs vcluster chart 0.34 or newer; this vcluster uses {}.{}",
                minor.0, minor.1
            ),
            Some("remove it: bootstrap renders the vcluster's route itself".into()),
        );
    } else if tls_route.get("enabled") == Some(&serde_json::Value::Bool(true))
        && v.access == VclusterAccess::Ingress
    {
        c.err(
            &field,
            "bootstrap renders this vcluster's route itself; the chart's TLSRoute would be a second route for the same hostname".into(),
            Some("remove `controlPlane.tlsRoute` from the values".into()),
        );
    }
}

/// How the router is reached on a cluster bootstrap did not create: a LoadBalancer Service (the
/// default) or a NodePort one, and a domain the user owns or one derived from the load
/// balancer's address. On kind the node's 443 is published instead: these do not apply.
fn router_exposure(c: &mut Check, env: &Env) {
    let r = &env.router;
    let existing = env.cluster.provider == Provider::Existing;
    if !existing && c.o.written("router.service") {
        c.warn(
            "router.service",
            "ignored with `provider: kind`: kind publishes the node's 443 on `router.httpsPort`"
                .into(),
            None,
        );
    }
    if let Some(base) = &r.domain_from_address {
        if !existing {
            c.err(
                "router.domainFromAddress",
                "needs `cluster.provider: existing`: on kind the router is reached on this machine"
                    .into(),
                Some(
                    "use `router.domain` (every name under localtest.me resolves to 127.0.0.1)"
                        .into(),
                ),
            );
        } else if r.service == RouterService::NodePort {
            c.err(
                "router.domainFromAddress",
                "derives the domain from the load balancer's address, but `router.service: NodePort` makes no load balancer".into(),
                Some("use `service: LoadBalancer`, or set `router.domain` to a domain whose names point at your nodes".into()),
            );
        }
        if c.o.written("router.domain") {
            c.err(
                "router.domain",
                format!(
                    "`router.domain` and `router.domainFromAddress: {base}` both name the domain"
                ),
                Some(
                    "keep one: `domain` for a domain you own, `domainFromAddress` for <address>."
                        .to_string()
                        + base,
                ),
            );
        }
        for (i, v) in env.vclusters.iter().enumerate() {
            let field = format!("vclusters[{i}].hostname");
            if v.access == VclusterAccess::Ingress && c.o.written(&field) {
                c.err(
                    &field,
                    format!("with `router.domainFromAddress` each hostname is derived (`{}.<address>.{base}`): it cannot be written", v.context),
                    Some("remove `hostname`, or set `router.domain` to a domain you own".into()),
                );
            }
        }
    }
    if existing && r.service == RouterService::NodePort && !(30000..=32767).contains(&r.https_port)
    {
        c.err(
            "router.httpsPort",
            format!(
                "with `router.service: NodePort` the https port is the Service's node port, and {} is outside 30000-32767",
                r.https_port
            ),
            Some("choose a port from 30000 to 32767 (the API server's default --service-node-port-range), for example `httpsPort: 30443`".into()),
        );
    }
}

/// The registry: a container name Docker and the nodes' DNS accept, an address to publish on.
fn registry(c: &mut Check, env: &Env) {
    let reg = &env.registry;
    if !reg.enabled {
        return;
    }
    // Docker's container-name rule, and a DNS label so the nodes resolve it on kind's network.
    if !is_rfc1123_label(&reg.name) {
        c.err(
            "registry.name",
            format!("`{}` is not a valid registry container name (an RFC 1123 label: the nodes resolve it by DNS)", reg.name),
            Some(label_hint(&reg.name)),
        );
    }
    if reg.listen_address.parse::<std::net::IpAddr>().is_err() {
        c.err(
            "registry.listenAddress",
            format!("`{}` is not an IP address", reg.listen_address),
            Some("use 127.0.0.1 (this machine only, as kind documents) or 0.0.0.0".into()),
        );
    }
    if env.cluster.provider == Provider::Existing {
        c.err(
            "registry.enabled",
            "a local registry needs `cluster.provider: kind`: it is wired into kind's nodes".into(),
            Some("remove the registry section, or point the cluster at a registry it can already pull from".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_rfc1123_label("dev-vcluster"));
        assert!(is_rfc1123_label("a1"));
        assert!(!is_rfc1123_label("Dev"));
        assert!(!is_rfc1123_label("-a"));
        assert!(!is_rfc1123_label("a_b"));
        assert!(!is_rfc1123_label(&"a".repeat(64)));
        assert!(is_dns_name("dev-vcluster.cnoe.localtest.me"));
        assert!(!is_dns_name("dev..me"));
    }
}
