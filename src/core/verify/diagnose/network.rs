//! The network layers: a name that does not resolve, a port that refuses or stays silent, and
//! the localhost trap (127.0.0.1 inside a container is the container itself).

#[allow(unused_imports)]
use super::*;

pub(super) fn dns(s: &Situation, timed_out: bool, message: &str) -> Diagnosis {
    let host = &s.host;
    let wildcard = LOOPBACK_WILDCARDS
        .iter()
        .find(|w| host.ends_with(&format!(".{w}")) || host == *w);
    let passthrough = matches!(s.via, Via::Passthrough { .. });
    if wildcard.is_some() || passthrough {
        let domain = match wildcard {
            Some(w) => w.to_string(),
            None => host
                .split_once('.')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_else(|| host.clone()),
        };
        return d(
            Layer::Dns,
            format!(
                "{host} does not resolve ({message}): the passthrough domain relies on DNS answering 127.0.0.1 for *.{domain}, and this resolver gave no answer (offline, or a resolver that blocks private answers as DNS rebinding)"
            ),
            format!(
                "add `127.0.0.1 {host}` to /etc/hosts, or use a resolver that allows rebinding for {domain} (dnsmasq: `rebind-domain-ok=/{domain}/`); inside a devcontainer use server https://host.docker.internal:{} with tls-server-name {host}",
                match &s.via {
                    Via::Passthrough { https_port, .. } => *https_port,
                    _ => s.port,
                }
            ),
        );
    }
    if timed_out {
        return d(
            Layer::Dns,
            format!("looking up {host} timed out after {} ms", s.timeout_ms),
            "check the resolver in /etc/resolv.conf answers (or raise --timeout)".into(),
        );
    }
    d(
        Layer::Dns,
        format!("{host} does not resolve ({message})"),
        format!(
            "check the server name in cluster `{}` of the kubeconfig, or add it to /etc/hosts",
            s.cluster
        ),
    )
}

pub(super) fn tcp(
    s: &Situation,
    kind: ConnectError,
    addr: &str,
    loopback: bool,
    message: &str,
) -> Diagnosis {
    match kind {
        ConnectError::Refused => {
            if loopback && s.in_container {
                return localhost_trap(s, addr);
            }
            if let (false, Some(publishers)) = (loopback, &s.publishers) {
                if is_host_gateway(&s.host) {
                    return host_gateway::refused(s, addr, publishers);
                }
            }
            let hint = match &s.via {
                Via::Passthrough { https_port, .. } => format!(
                    "is the cluster up, with the router's https port published? kind must map host port {https_port} to the node's 443 (extraPortMappings); `bootstrap status` shows it"
                ),
                Via::Api => "is the cluster up? `docker ps` should show its control-plane container publishing this port; `bootstrap up` starts it".into(),
                _ => "check the port in the server URL and that the cluster is up (`bootstrap status`)".into(),
            };
            d(Layer::Tcp, format!("connection to {addr} refused: nothing listens on that port"), hint)
        }
        ConnectError::TimedOut => d(
            Layer::Tcp,
            format!(
                "connection to {addr} timed out after {} ms: nothing answered (not even a refusal), so packets are dropped on the way",
                s.timeout_ms
            ),
            "the address is unreachable from here: a firewall, a wrong IP, a host or VM that is asleep or gone; a refused connection would mean the host is there with nothing on the port".into(),
        ),
        ConnectError::Unreachable => d(
            Layer::Tcp,
            format!("no route to {addr} ({message})"),
            "this address is not reachable from where you stand; check the network (VPN, Docker network) and the server address".into(),
        ),
        ConnectError::Other => d(
            Layer::Tcp,
            format!("connecting to {addr} failed: {message}"),
            "check the server address in the kubeconfig".into(),
        ),
    }
}

pub(super) fn localhost_trap(s: &Situation, addr: &str) -> Diagnosis {
    let (port, name) = match &s.via {
        Via::Passthrough {
            hostname,
            https_port,
        } => (*https_port, hostname.clone()),
        _ => {
            let name = match &s.tls_server_name {
                Some(n) => n.clone(),
                None if s.host.parse::<std::net::IpAddr>().is_ok() => "localhost".to_string(),
                None => s.host.clone(),
            };
            (s.port, name)
        }
    };
    let mut hint = format!(
        "use the devcontainer route: server https://host.docker.internal:{port} with tls-server-name: {name} (`bootstrap up --access devcontainer` writes it; on a Linux engine start the container with --add-host host.docker.internal:host-gateway)"
    );
    if !matches!(s.via, Via::Passthrough { .. }) {
        hint.push_str(
            "; on a Linux Docker engine a port published on 127.0.0.1 (kind's API) is not reachable that way: join the `kind` network or publish the API on 0.0.0.0",
        );
    }
    d(
        Layer::Tcp,
        format!(
            "connection to {addr} refused, and this runs inside a container: 127.0.0.1 is the container itself, not the host where the cluster's port is published (the localhost trap)"
        ),
        hint,
    )
}
