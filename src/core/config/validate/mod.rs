//! Semantic checks on a decoded `Env`: things that are each well-typed but wrong together.

use super::decode::Origins;
use super::diag::Diags;
use super::model::*;
use super::pins;
use std::collections::BTreeMap;

mod images;
mod ports;
mod router;

use images::{cache, registry};
use ports::host_ports;
use router::{router_exposure, router_fields};

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
    let router = crate::core::router::router_for(env);
    let values = router.release(env).values;
    let pointer = router.node_selector();
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

/// vcluster renders a TLSRoute of its own (`controlPlane.tlsRoute`) from chart 0.34 on. bootstrap
/// renders each vcluster's route itself, so the chart's would be a second route for the same
/// hostname; and a chart older than 0.34 rejects the key at install.
fn chart_tls_route(c: &mut Check<'_>, p: &str, v: &Vcluster) {
    let Some(tls_route) = v.values.pointer("/controlPlane/tlsRoute") else {
        return;
    };
    let field = format!("{p}.values.controlPlane.tlsRoute");
    let minor = v
        .chart
        .version
        .as_deref()
        .and_then(crate::core::version::major_minor);
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
