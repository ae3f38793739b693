//! The sections that hold images near the cluster: the local registry and the pull-through
//! cache.

use super::*;

/// The registry: a container name Docker and the nodes' DNS accept, an address to publish on.
pub(super) fn registry(c: &mut Check, env: &Env) {
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

pub(super) fn cache(c: &mut Check, env: &Env) {
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
