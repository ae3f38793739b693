//! Semantic checks on a decoded `Env`: things that are each well-typed but wrong together.

use super::decode::Origins;
use super::diag::Diags;
use super::model::*;
use super::pins;
use std::collections::BTreeMap;

/// RFC 1123 label: what Kubernetes accepts for namespaces, and kind for cluster names.
pub fn is_rfc1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= DNS_LABEL_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_rfc1123_label)
}

/// A DNS label (RFC 1123): 63 characters.
pub const DNS_LABEL_MAX: usize = 63;
/// Helm refuses release names over 53 characters: of Kubernetes' 63 for a name it keeps 10 for
/// the suffixes charts add to the objects they name after the release (helm's
/// `ValidateReleaseName`, `maxReleaseNameLen`).
pub const HELM_RELEASE_MAX: usize = 53;
/// kind names the node container `<name>-control-plane` (14 characters more), which is also
/// the node's hostname and must stay a DNS label of 63; 50 leaves that room.
pub const KIND_CLUSTER_NAME_MAX: usize = 50;
/// What bootstrap puts before and after a vcluster's name for its defaults.
const VCLUSTER_RELEASE_PREFIX: &str = "vcluster-";
const VCLUSTER_NAME_SUFFIX: &str = "-vcluster";

/// A name that is not a label of at most `max` characters: what is wrong and what is valid.
/// `why` says where the limit comes from when it is not DNS's own 63.
pub fn label_problem(value: &str, what: &str, max: usize, why: &str) -> Option<(String, String)> {
    if is_rfc1123_label(value) && value.len() <= max {
        return None;
    }
    let fixed: String = value
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let fixed = fixed.trim_matches('-');
    let fixed = fixed
        .get(..max.min(fixed.len()))
        .unwrap_or(fixed)
        .trim_end_matches('-');
    let example = if is_rfc1123_label(fixed) && fixed != value {
        format!(" (for example `{fixed}`)")
    } else {
        String::new()
    };
    let long = if value.len() > max {
        format!("; this one has {}", value.len())
    } else {
        String::new()
    };
    Some((
        format!("`{value}` is not a valid {what} (an RFC 1123 label of at most {max} characters{long})"),
        format!(
            "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most {max} characters{why}{example}"
        ),
    ))
}

/// The rule for a kind cluster's name, the one `plan` applies and `init` applies before writing.
pub fn kind_cluster_name_problem(name: &str) -> Option<(String, String)> {
    label_problem(name, "kind cluster name", KIND_CLUSTER_NAME_MAX, "")
}

/// Which of a vcluster's names are made from its name (not written in the file).
#[derive(Debug, Clone, Copy)]
pub struct FromName {
    pub namespace: bool,
    pub release: bool,
    /// The context, and through it the hostname's first label.
    pub context: bool,
}

impl FromName {
    /// All of them, as in a file `bootstrap init` writes.
    pub const ALL: FromName = FromName {
        namespace: true,
        release: true,
        context: true,
    };
}

/// The rule for a vcluster name, the one `plan` applies and `init` applies before writing:
/// an RFC 1123 label short enough that each default made from it is valid too (the release
/// `vcluster-<name>` within Helm's 53, the namespace and context `<name>-vcluster` within 63).
/// Returns the message and hint.
pub fn vcluster_name_problem(name: &str, from_name: FromName) -> Option<(String, String)> {
    let mut max = DNS_LABEL_MAX;
    let mut why = String::new();
    if from_name.namespace || from_name.context {
        max = DNS_LABEL_MAX - VCLUSTER_NAME_SUFFIX.len();
        why = format!(
            " (the default namespace and context `{name}{VCLUSTER_NAME_SUFFIX}` must fit DNS's {DNS_LABEL_MAX})"
        );
    }
    if from_name.release {
        max = HELM_RELEASE_MAX - VCLUSTER_RELEASE_PREFIX.len();
        why = format!(
            " (the default Helm release `{VCLUSTER_RELEASE_PREFIX}{name}` must fit Helm's {HELM_RELEASE_MAX}, not DNS's {DNS_LABEL_MAX}: Helm keeps 10 for the chart's suffixes)"
        );
    }
    label_problem(name, "vcluster name", max, &why)
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
        let why = if max == HELM_RELEASE_MAX {
            " (Helm's limit for release names: it keeps 10 of DNS's 63 for the chart's suffixes)"
        } else {
            ""
        };
        if let Some((message, hint)) = label_problem(value, what, max, why) {
            self.err(field, message, Some(hint));
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
    labels(&mut c, env, kind);
    host_ports(&mut c, env, kind);
    registry(&mut c, env);
    cache(&mut c, env);
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
    if kind && cl.control_planes.is_multiple_of(2) {
        c.warn(
            "cluster.controlPlanes",
            format!(
                "{} control planes run {} etcd members, which tolerate no more failures than {}",
                cl.control_planes,
                cl.control_planes,
                cl.control_planes - 1
            ),
            Some("use an odd number (1, 3 or 5)".into()),
        );
    }
    if kind {
        // kind names its node containers `<name>-control-plane`; Docker and DNS both need a label.
        if let Some((message, hint)) = kind_cluster_name_problem(&cl.name) {
            c.err("cluster.name", message, Some(hint));
        }
    }
    if existing {
        for (field, set) in [
            ("cluster.portMappings", !cl.port_mappings.is_empty()),
            ("cluster.nodeImage", cl.node_image.is_some()),
            ("cluster.extraCertSANs", !cl.extra_cert_sans.is_empty()),
            ("cluster.workers", cl.workers > 0),
            ("cluster.controlPlanes", cl.control_planes > 1),
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
    // Host ports: the API port and every mapped port are bound on the host at once, each on
    // its address: (field, `port/PROTOCOL`, address).
    let mut host_ports: Vec<(String, String, String)> = Vec::new();
    if kind {
        host_ports.push((
            "cluster.apiServer.port".to_owned(),
            format!("{}/TCP", cl.api_server.port),
            cl.api_server.address.clone(),
        ));
        for (i, m) in cl.port_mappings.iter().enumerate() {
            host_ports.push((
                format!("{}.hostPort", mapping(i)),
                format!("{}/{:?}", m.host_port, m.protocol).to_uppercase(),
                m.listen_address.clone(),
            ));
        }
    }
    if env.registry.enabled && !env.registry.shared {
        host_ports.push((
            "registry.port".to_owned(),
            format!("{}/TCP", env.registry.port),
            env.registry.listen_address.clone(),
        ));
    }
    // Unless the file maps node 443 itself, the router's 443 is published on httpsPort too (the
    // kind config gets that mapping, on every address): it is bound with the rest. Found by
    // fuzzing: a mapping of containerPort 442 on 8443 passed, and kind would have failed half-way
    // through creating.
    if kind && !cl.port_mappings.iter().any(|m| m.container_port == 443) {
        let router = (
            "router.httpsPort".to_owned(),
            format!("{}/TCP", env.router.https_port),
            "0.0.0.0".to_owned(),
        );
        // Reported on the field the file wrote: the mapping when httpsPort is the default.
        if o.written("router.httpsPort") {
            host_ports.push(router);
        } else {
            host_ports.insert(host_ports.len().min(1), router);
        }
    }
    unique_host_ports(c, &host_ports);
    for (field, port, _) in &host_ports {
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

/// A host port is bound once per address: the same port on 127.0.0.1 and on 192.168.1.5 are two
/// sockets, while 0.0.0.0 (every address) takes the port on all of them. Each binding that
/// overlaps an earlier one is reported at the later field, naming the first.
fn unique_host_ports(c: &mut Check, ports: &[(String, String, String)]) {
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for (field, port, address) in ports {
        if c.o.rejected(field) {
            continue;
        }
        let first = seen
            .iter()
            .find(|(_, p, a)| p == port && crate::core::ports::overlaps(a, address));
        if let Some((first, _, first_address)) = first {
            let at = c.o.get(first);
            let line = if at.pos.line > 0 {
                format!(" (line {})", at.pos.line)
            } else {
                String::new()
            };
            let on = if first_address == address {
                format!("on {address}")
            } else {
                format!("on {address} and {first_address}, which overlap")
            };
            c.err(
                field,
                format!("duplicate host port `{port}`, already used by {first}{line}"),
                Some(format!("each host port can be bound once per address, and these are both {on} (0.0.0.0 is every address): choose another hostPort or listenAddress, or another router.httpsPort (node 443 is published on it on 0.0.0.0 unless a mapping has containerPort 443)")),
            );
        }
        seen.push((field, port, address));
    }
}

/// Label keys and values Kubernetes would refuse, and node labels that keep the router off the
/// node its nodeSelector asks for.
fn labels(c: &mut Check, env: &Env, kind: bool) {
    let mut maps: Vec<(&str, &BTreeMap<String, String>)> = Vec::new();
    if kind {
        maps.push(("cluster.nodeLabels", &env.cluster.node_labels));
    }
    if env.argocd.register {
        maps.push(("argocd.labels", &env.argocd.labels));
    }
    for (path, map) in maps {
        for (key, value) in map {
            let field = super::node::join(path, key);
            if let Some(why) = crate::core::labels::key_problem(key) {
                c.err(
                    &field,
                    format!("`{key}` is not a Kubernetes label key: {why}"),
                    Some("a key is an optional DNS prefix and '/' (such as `example.com/`), then a name of at most 63 letters, digits, '-', '_' or '.'".into()),
                );
            }
            if let Some(why) = crate::core::labels::value_problem(value) {
                c.err(
                    &field,
                    format!("`{value}` is not a Kubernetes label value: {why}"),
                    None,
                );
            }
        }
    }
    if !kind || !c.trusted(&["router.kind", "router.values"]) {
        return;
    }
    // The router's pods run only on a node whose labels match its nodeSelector (as rendered,
    // with the file's router.values merged in); kind's one node gets the file's nodeLabels.
    let values = crate::core::render::router::router_values(env);
    let pointer = match env.router.kind {
        RouterKind::IngressNginx => "/controller/nodeSelector",
        RouterKind::GatewayApi => "/nodeSelector",
    };
    let Some(selector) = values.pointer(pointer).and_then(|s| s.as_object()) else {
        return;
    };
    for (key, want) in selector {
        let (Some(have), Some(want)) = (env.cluster.node_labels.get(key), want.as_str()) else {
            continue;
        };
        if have != want {
            c.err(
                &super::node::join("cluster.nodeLabels", key),
                format!(
                    "`{key}: \"{have}\"` keeps the router off the node: {} runs only on a node labelled `{key}: \"{want}\"` (its nodeSelector), so its pod would never start",
                    env.router.kind.as_str()
                ),
                Some(format!(
                    "remove `{key}` from nodeLabels (bootstrap labels the node itself), or set it to \"{want}\""
                )),
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
    let bare = r.domain.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        let dashed = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
            std::net::IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
        };
        c.err(
            "router.domain",
            format!(
                "`{}` is an IP address, but each vcluster is reached by the name `<name>.<domain>`, which must be a DNS name: the router picks the vcluster by that name in TLS's SNI, which carries no IP address",
                r.domain
            ),
            Some(format!("use a domain whose names resolve to that address: `{dashed}.sslip.io` (sslip.io answers every name under it with the address in it), or `localtest.me` for 127.0.0.1")),
        );
    } else if !is_dns_name(&r.domain) {
        c.err(
            "router.domain",
            format!("`{}` is not a DNS name", r.domain),
            Some("for example `cnoe.localtest.me` (every name under localtest.me resolves to 127.0.0.1)".into()),
        );
    }
    c.label("router.namespace", &r.namespace, "namespace", 63);
    c.label(
        "router.release",
        &r.release,
        "Helm release name",
        HELM_RELEASE_MAX,
    );
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
        let (ns, rel, host, ctx) = (
            format!("{p}.namespace"),
            format!("{p}.release"),
            format!("{p}.hostname"),
            format!("{p}.context"),
        );
        let made_from_name = FromName {
            namespace: !o.written(&ns),
            release: !o.written(&rel),
            context: !o.written(&ctx) && !o.written(&host),
        };
        let name_problem = vcluster_name_problem(&v.name, made_from_name);
        let good_name = name_problem.is_none();
        if let Some((message, hint)) = name_problem {
            c.err(&format!("{p}.name"), message, Some(hint));
        }
        // Defaults made from a bad name are bad for the same reason: said once, at the name.
        let from_name = |field: &str| o.written(field) || good_name;
        if from_name(&ns) {
            c.label(&ns, &v.namespace, "namespace", 63);
        }
        if from_name(&rel) {
            c.label(&rel, &v.release, "Helm release name", HELM_RELEASE_MAX);
        }
        // The default hostname comes from the context, whose default comes from the name.
        let host_from_bad_name = !(o.written(&host) || o.written(&ctx) || good_name);
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
            label_problem(&reg.name, "registry container name", DNS_LABEL_MAX, "").map(|(_, hint)| hint),
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

fn cache(c: &mut Check, env: &Env) {
    let cache = &env.cache;
    if !cache.enabled {
        return;
    }
    if env.cluster.provider == Provider::Existing {
        c.err(
            "cache.enabled",
            "a pull-through cache needs `cluster.provider: kind`: it is wired into kind's nodes"
                .into(),
            Some(
                "remove the cache section; a cluster of your own pulls as its nodes are set up to"
                    .into(),
            ),
        );
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, u) in cache.upstreams.iter().enumerate() {
        let field = c.o.item("cache.upstreams", i);
        let (name, port) = match u.host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (u.host.as_str(), None),
        };
        if !is_dns_name(name) || port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            c.err(
                &field,
                format!("`{}` is not a registry host", u.host),
                Some("a DNS name with an optional port, as image names carry it: `docker.io`, `ghcr.io`, `registry.example.com:5000`".into()),
            );
        }
        if let Some(first) = seen.insert(&u.host, i) {
            c.err(
                &field,
                format!(
                    "duplicate upstream `{}`, already listed as cache.upstreams[{first}]",
                    u.host
                ),
                None,
            );
        }
        if env.registry.enabled && u.host == env.registry.host() {
            c.err(
                &field,
                format!(
                    "`{}` is the local registry's own name: its images are pushed there, not pulled through a cache",
                    u.host
                ),
                None,
            );
        }
        let rest = u
            .remote
            .strip_prefix("https://")
            .or_else(|| u.remote.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            c.err(
                &field,
                format!("`{}` is not the URL of a registry's API", u.remote),
                Some("an https:// (or http://) URL, such as https://registry-1.docker.io".into()),
            );
        }
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
