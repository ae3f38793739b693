//! The router: its fields, the node image its chart supports, and how it is reached on a
//! cluster bootstrap did not create.

use super::*;

/// The router section.
pub(super) fn router_fields(c: &mut Check, env: &Env, kind: bool) {
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

/// ingress-nginx is retired: its last chart line is tested up to Kubernetes 1.35, while kind
/// v0.32.0 creates 1.36 nodes by default. Say so when the file names the node image (a warning:
/// it may well still work). With `cluster.nodeImage` unset the image is kind's default: the
/// pinned kind v0.32.0's is assumed, and the warning says so (a kind of another version on PATH
/// may default to another image).
pub(super) fn router_supports_node_image(c: &mut Check<'_>, env: &Env) {
    if env.cluster.provider != Provider::Kind {
        return;
    }
    match &env.cluster.node_image {
        Some(image) => {
            if let Some((message, hint)) =
                crate::core::router::router_for(env).kubernetes_support(env, image)
            {
                c.warn("cluster.nodeImage", message, Some(hint));
            }
        }
        // No image written: kind's own default, which for the pinned kind v0.32.0 is a 1.36 node.
        // Said when the file chose ingress-nginx; a file that names no router gets the default
        // one quietly (the reference says which, and why it is still ingress-nginx).
        None if c.o.written("router.kind") => {
            if let Some((message, hint)) = crate::core::router::router_for(env)
                .kubernetes_support(env, pins::KIND_DEFAULT_NODE_IMAGE)
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

/// How the router is reached on a cluster bootstrap did not create: a LoadBalancer Service (the
/// default) or a NodePort one, and a domain the user owns or one derived from the load
/// balancer's address. On kind the node's 443 is published instead: these do not apply.
pub(super) fn router_exposure(c: &mut Check, env: &Env) {
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
