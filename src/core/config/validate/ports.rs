//! Host ports: what the cluster, the registry and the router bind on the host, each once.

use super::*;

/// Host ports: the API port, every mapped port, the registry and the router's 443 are bound on the host at once, each once.
pub(super) fn host_ports(c: &mut Check, env: &Env, kind: bool) {
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
pub(super) fn unique_host_ports(c: &mut Check, ports: &[(String, String, String)]) {
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
