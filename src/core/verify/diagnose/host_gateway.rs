//! A connection through the host gateway (`host.docker.internal`) refused, read with Docker's
//! facts. From a container, a refusal there says little by itself: on a Linux engine a port
//! published on 127.0.0.1 (where kind publishes the API by default) is simply not reachable
//! through the gateway, while Docker Desktop forwards it. Docker, whose socket we hold, shows
//! which container publishes the port and on which address, and that decides what to do. Pure:
//! the shell (`probe`) asks Docker only when such a refusal happened.

use super::{Diagnosis, Layer, Situation, Via};

/// Names that lead from a container to the host running its engine.
pub const GATEWAY_HOSTS: [&str; 2] = ["host.docker.internal", "gateway.docker.internal"];

pub fn is_host_gateway(host: &str) -> bool {
    GATEWAY_HOSTS.iter().any(|g| host.eq_ignore_ascii_case(g))
}

/// A container Docker shows publishing the port a refused connection dialed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub container: String,
    /// The host address it is published on (0.0.0.0 or :: for all).
    pub host_ip: String,
}

fn is_loopback_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| a.is_loopback())
}

/// `publishers`: what Docker showed for this port (empty: nobody publishes it).
pub(super) fn refused(s: &Situation, addr: &str, publishers: &[Publisher]) -> Diagnosis {
    let port = s.port;
    let shown = |ps: &[&Publisher]| {
        let mut names: Vec<String> = ps.iter().map(|p| format!("`{}`", p.container)).collect();
        names.dedup();
        let mut ips: Vec<&str> = ps.iter().map(|p| p.host_ip.as_str()).collect();
        ips.dedup();
        format!(
            "container {} publishing port {port} on {}",
            names.join(", "),
            ips.join(" and ")
        )
    };
    let on_loopback: Vec<&Publisher> = publishers
        .iter()
        .filter(|p| is_loopback_ip(&p.host_ip))
        .collect();
    let elsewhere: Vec<&Publisher> = publishers
        .iter()
        .filter(|p| !is_loopback_ip(&p.host_ip))
        .collect();
    if let (Some(first), true) = (on_loopback.first(), elsewhere.is_empty()) {
        let (inner, publish) = match &s.via {
            Via::Passthrough { hostname, .. } => (
                format!(
                    "https://{}:443 with tls-server-name {hostname}",
                    first.container
                ),
                "give the port mapping `listenAddress: 0.0.0.0` in envs.yaml",
            ),
            _ => (
                format!("https://{}:6443", first.container),
                "set `cluster.apiServer.address: 0.0.0.0` in envs.yaml",
            ),
        };
        return Diagnosis {
            layer: Layer::Tcp,
            diagnosis: format!(
                "connection to {} ({addr}) refused: Docker shows {} only, and a Linux Docker engine does not forward host.docker.internal to ports published on loopback (Docker Desktop does)",
                s.host,
                shown(&on_loopback),
            ),
            hint: format!(
                "join the `kind` network and use {inner} (`bootstrap up` joins a devcontainer on a Linux engine; by hand: `docker network connect kind <this container>`), or publish it on an address containers can reach: {publish}, then `bootstrap up --recreate`"
            ),
        };
    }
    if !elsewhere.is_empty() {
        return Diagnosis {
            layer: Layer::Tcp,
            diagnosis: format!(
                "connection to {} ({addr}) refused, though Docker shows {}: {} does not lead to that engine's host from here",
                s.host,
                shown(&elsewhere),
                s.host
            ),
            hint: "start this container with `--add-host host.docker.internal:host-gateway` (devcontainer.json `runArgs`), so the name is the host of the engine that publishes the port; a firewall between containers and the host (ufw, firewalld) refuses the same way".into(),
        };
    }
    Diagnosis {
        layer: Layer::Tcp,
        diagnosis: format!(
            "connection to {} ({addr}) refused: nothing listens on that port, and Docker shows no running container publishing port {port}",
            s.host
        ),
        hint: match &s.via {
            Via::Passthrough { https_port, .. } => format!(
                "is the cluster up, with the router's https port published? kind must map host port {https_port} to the node's 443 (extraPortMappings); `bootstrap status` shows it, `bootstrap up` starts it"
            ),
            _ => "is the cluster up? `bootstrap status` shows it, `bootstrap up` starts it; or check the port in the server URL".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sit(via: Via) -> Situation {
        Situation {
            context: "kind-dev".into(),
            host: "host.docker.internal".into(),
            port: 6443,
            via,
            in_container: true,
            ..Default::default()
        }
    }

    fn publisher(ip: &str) -> Publisher {
        Publisher {
            container: "dev-control-plane".into(),
            host_ip: ip.into(),
        }
    }

    #[test]
    fn published_on_loopback_names_the_container_and_both_ways_out() {
        let d = refused(&sit(Via::Api), "172.17.0.1:6443", &[publisher("127.0.0.1")]);
        assert_eq!(d.layer, Layer::Tcp);
        for want in [
            "host.docker.internal (172.17.0.1:6443) refused",
            "container `dev-control-plane` publishing port 6443 on 127.0.0.1 only",
            "does not forward host.docker.internal",
        ] {
            assert!(d.diagnosis.contains(want), "{want}: {}", d.diagnosis);
        }
        for want in [
            "join the `kind` network",
            "https://dev-control-plane:6443",
            "cluster.apiServer.address: 0.0.0.0",
            "--recreate",
        ] {
            assert!(d.hint.contains(want), "{want}: {}", d.hint);
        }
        assert!(!d.diagnosis.contains("nothing listens"), "{}", d.diagnosis);
    }

    #[test]
    fn the_router_port_on_loopback_points_at_the_node_s_443() {
        let s = Situation {
            port: 8443,
            ..sit(Via::Passthrough {
                hostname: "dev-vcluster.cnoe.localtest.me".into(),
                https_port: 8443,
            })
        };
        let d = refused(&s, "172.17.0.1:8443", &[publisher("127.0.0.1")]);
        assert!(
            d.hint.contains(
                "https://dev-control-plane:443 with tls-server-name dev-vcluster.cnoe.localtest.me"
            ),
            "{}",
            d.hint
        );
        assert!(d.hint.contains("listenAddress: 0.0.0.0"), "{}", d.hint);
    }

    #[test]
    fn published_on_all_addresses_yet_refused_is_the_gateway() {
        let d = refused(&sit(Via::Api), "10.0.0.9:6443", &[publisher("0.0.0.0")]);
        assert!(
            d.diagnosis.contains("does not lead to that engine's host"),
            "{}",
            d.diagnosis
        );
        assert!(d.hint.contains("host-gateway"), "{}", d.hint);
    }

    #[test]
    fn nobody_publishes_it() {
        let d = refused(&sit(Via::Api), "172.17.0.1:6443", &[]);
        assert!(
            d.diagnosis
                .contains("Docker shows no running container publishing port 6443"),
            "{}",
            d.diagnosis
        );
        assert!(d.hint.contains("bootstrap up"), "{}", d.hint);
    }

    #[test]
    fn gateway_names() {
        assert!(is_host_gateway("host.docker.internal"));
        assert!(is_host_gateway("HOST.docker.internal"));
        assert!(!is_host_gateway("127.0.0.1"));
    }
}
