//! Host ports: which ones the file needs (each with the field it comes from, so a conflict
//! names what to change), and who holds one, judged from what Docker and the system report
//! (pure). The bind test and the listener lookup are the driver's (`drivers::ports`).

use crate::core::config::{Env, Provider};
use crate::core::observed::{PortHolder, PublishedPort};
use serde::Serialize;

/// A host port the file needs, and the field that asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NeededPort {
    #[serde(flatten)]
    pub port: PublishedPort,
    pub field: String,
    /// The container that may hold this port for us: its step judges it by its mark (the
    /// registry step refuses a same-named container without ours), so the port check leaves it
    /// to that step rather than calling our own registry a conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judged_by: Option<String>,
}

/// Pure: every host port `up` binds, from the very kind config it hands to kind: the API
/// server's, then each port mapping (the file's, in order, then the router's 443 that the
/// renderer adds on `router.httpsPort` when the file maps none), then the local registry's when
/// bootstrap runs one. None for an existing cluster.
pub fn needed(env: &Env) -> Vec<NeededPort> {
    if env.cluster.provider == Provider::Existing {
        return Vec::new();
    }
    let ports = crate::core::cluster_diff::desired(env).ports;
    let mapped = env.cluster.port_mappings.len();
    let mut out: Vec<NeededPort> = ports
        .into_iter()
        .enumerate()
        .map(|(i, port)| NeededPort {
            field: match i {
                0 => "cluster.apiServer.port".to_owned(),
                i if i <= mapped => format!("cluster.portMappings[{}].hostPort", i - 1),
                _ => "router.httpsPort".to_owned(),
            },
            port,
            judged_by: None,
        })
        .collect();
    let r = &env.registry;
    if r.enabled && !r.shared {
        out.push(NeededPort {
            port: PublishedPort {
                container_port: crate::core::config::Registry::CONTAINER_PORT,
                protocol: "tcp".into(),
                host_ip: r.listen_address.clone(),
                host_port: r.port,
            },
            field: "registry.port".into(),
            judged_by: Some(r.name.clone()),
        });
    }
    out
}

/// A socket a process of this host listens on, as the system shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    pub pid: u32,
    pub program: String,
    pub ip: String,
    pub port: u16,
    /// tcp or udp.
    pub protocol: String,
}

/// A process holding a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: u32,
    pub program: String,
}

/// Who holds a host port we need.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "holder", rename_all = "kebab-case")]
pub enum PortConflict {
    Container {
        port: PublishedPort,
        field: String,
        container: String,
        cluster: Option<String>,
    },
    Process {
        port: PublishedPort,
        field: String,
        /// The processes listening on it, where the system shows them.
        processes: Vec<Process>,
        cause: String,
    },
}

impl std::fmt::Display for PortConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortConflict::Container {
                port,
                field,
                container,
                cluster,
            } => {
                write!(
                    f,
                    "{field}: host port {}:{}/{} is held by container `{container}`",
                    port.host_ip, port.host_port, port.protocol
                )?;
                if let Some(c) = cluster {
                    write!(f, " (node of kind cluster `{c}`)")?;
                }
                Ok(())
            }
            PortConflict::Process {
                port,
                field,
                processes,
                cause,
            } if processes.is_empty() => write!(
                f,
                "{field}: host port {}:{}/{} is held by a process on this host ({cause}); which one is not visible to this user: `{}` names it",
                port.host_ip,
                port.host_port,
                port.protocol,
                who_holds_command(port)
            ),
            PortConflict::Process {
                port,
                field,
                processes,
                ..
            } => write!(
                f,
                "{field}: host port {}:{}/{} is held by {} {} on this host",
                port.host_ip,
                port.host_port,
                port.protocol,
                if processes.len() == 1 { "process" } else { "processes" },
                processes
                    .iter()
                    .map(|p| format!("{} (`{}`)", p.pid, p.program))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The command that shows a port's holder to a user allowed to see every process.
fn who_holds_command(port: &PublishedPort) -> String {
    if cfg!(target_os = "macos") {
        format!(
            "sudo lsof -nP -i{}:{}",
            port.protocol.to_uppercase(),
            port.host_port
        )
    } else {
        let flag = if port.protocol == "udp" {
            "-lunp"
        } else {
            "-ltnp"
        };
        format!("sudo ss {flag} 'sport = :{}'", port.host_port)
    }
}

/// An address as a socket sees it: `::ffff:127.0.0.1` is 127.0.0.1, and brackets are dropped.
fn parsed(ip: &str) -> Option<std::net::IpAddr> {
    ip.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|a| a.to_canonical())
}

fn wildcard(ip: &str) -> bool {
    ip.is_empty() || parsed(ip).is_some_and(|a| a.is_unspecified())
}

/// Pure: whether two bindings of the same port collide: when either is on all addresses
/// (0.0.0.0 or ::, which Docker and kind also bind for the other family) or both are on the
/// same address, however it is written; two different addresses are two sockets.
pub fn overlaps(a_ip: &str, b_ip: &str) -> bool {
    if wildcard(a_ip) || wildcard(b_ip) {
        return true;
    }
    match (parsed(a_ip), parsed(b_ip)) {
        (Some(a), Some(b)) => a == b,
        _ => a_ip == b_ip,
    }
}

/// Pure: the ports held by a container other than this cluster's own nodes.
pub fn container_conflicts(
    needed: &[NeededPort],
    cluster: &str,
    holders: &[PortHolder],
) -> Vec<PortConflict> {
    let mut out = Vec::new();
    for NeededPort {
        port: p,
        field,
        judged_by,
    } in needed
    {
        let held = holders.iter().find(|h| {
            h.host_port == p.host_port
                && h.protocol == p.protocol
                && overlaps(&h.host_ip, &p.host_ip)
        });
        if let Some(h) = held {
            if h.cluster.as_deref() == Some(cluster) || judged_by.as_ref() == Some(&h.container) {
                continue;
            }
            let dup = out
                .iter()
                .any(|c| matches!(c, PortConflict::Container { port, .. } if port == p));
            if !dup {
                out.push(PortConflict::Container {
                    port: p.clone(),
                    field: field.clone(),
                    container: h.container.clone(),
                    cluster: h.cluster.clone(),
                });
            }
        }
    }
    out
}

/// Pure: the needed ports some container publishes (ours or not); a bind test on those would
/// only find Docker's own proxy.
pub fn held_by_containers(needed: &[NeededPort], holders: &[PortHolder]) -> Vec<PublishedPort> {
    needed
        .iter()
        .map(|n| &n.port)
        .filter(|p| {
            holders.iter().any(|h| {
                h.host_port == p.host_port
                    && h.protocol == p.protocol
                    && overlaps(&h.host_ip, &p.host_ip)
            })
        })
        .cloned()
        .collect()
}

/// Pure: the processes listening where `port` would bind, each once.
pub fn listeners_of(port: &PublishedPort, listening: &[Listening]) -> Vec<Process> {
    let mut out: Vec<Process> = Vec::new();
    for l in listening {
        if l.port == port.host_port
            && l.protocol == port.protocol
            && overlaps(&l.ip, &port.host_ip)
            && !out.iter().any(|p| p.pid == l.pid)
        {
            out.push(Process {
                pid: l.pid,
                program: l.program.clone(),
            });
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, hp: u16) -> PublishedPort {
        PublishedPort {
            container_port: 443,
            protocol: "tcp".into(),
            host_ip: ip.into(),
            host_port: hp,
        }
    }

    fn need(ip: &str, hp: u16) -> NeededPort {
        NeededPort {
            port: port(ip, hp),
            field: "router.httpsPort".into(),
            judged_by: None,
        }
    }

    fn holder(name: &str, cluster: Option<&str>, ip: &str, hp: u16) -> PortHolder {
        PortHolder {
            container: name.into(),
            cluster: cluster.map(Into::into),
            host_ip: ip.into(),
            host_port: hp,
            protocol: "tcp".into(),
        }
    }

    fn env(text: &str) -> Env {
        let l = crate::core::config::load_str(text, "t.yaml", &[]);
        l.env.unwrap_or_else(|| panic!("{:?}", l.diags.items))
    }

    #[test]
    fn every_needed_port_names_its_field() {
        let n = needed(&env(
            "cluster:\n  apiServer: {port: 7443}\n  portMappings:\n    - {containerPort: 80, hostPort: 8080}\n    - {containerPort: 53, hostPort: 5353, protocol: UDP}\nrouter: {httpsPort: 9443}\n",
        ));
        let got: Vec<(String, u16, &str)> = n
            .iter()
            .map(|n| (n.port.to_string(), n.port.host_port, n.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "127.0.0.1:7443->6443/tcp".to_owned(),
                    7443,
                    "cluster.apiServer.port"
                ),
                (
                    "0.0.0.0:8080->80/tcp".to_owned(),
                    8080,
                    "cluster.portMappings[0].hostPort"
                ),
                (
                    "0.0.0.0:5353->53/udp".to_owned(),
                    5353,
                    "cluster.portMappings[1].hostPort"
                ),
                ("0.0.0.0:9443->443/tcp".to_owned(), 9443, "router.httpsPort"),
            ]
        );
        let mapped = needed(&env(
            "cluster:\n  portMappings:\n    - {containerPort: 443, hostPort: 8443}\n",
        ));
        assert_eq!(mapped.len(), 2);
        assert_eq!(mapped[1].field, "cluster.portMappings[0].hostPort");
        assert!(needed(&env("cluster: {provider: existing, context: x}\n")).is_empty());
    }

    #[test]
    fn own_node_holding_the_port_is_fine() {
        let h = [holder("dev-control-plane", Some("dev"), "0.0.0.0", 8443)];
        assert!(container_conflicts(&[need("0.0.0.0", 8443)], "dev", &h).is_empty());
    }

    #[test]
    fn a_foreign_container_is_named_with_the_field() {
        let h = [holder("web", None, "0.0.0.0", 8443)];
        let c = container_conflicts(&[need("127.0.0.1", 8443)], "dev", &h);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].to_string(),
            "router.httpsPort: host port 127.0.0.1:8443/tcp is held by container `web`"
        );
    }

    #[test]
    fn another_kind_cluster_is_named_as_such() {
        let h = [holder(
            "other-control-plane",
            Some("other"),
            "127.0.0.1",
            6443,
        )];
        let c = container_conflicts(&[need("127.0.0.1", 6443)], "dev", &h);
        assert!(c[0].to_string().contains("node of kind cluster `other`"));
    }

    #[test]
    fn different_specific_addresses_do_not_collide() {
        let h = [holder("web", None, "127.0.0.2", 8443)];
        assert!(container_conflicts(&[need("127.0.0.1", 8443)], "dev", &h).is_empty());
        let udp = PortHolder {
            protocol: "udp".into(),
            ..holder("dns", None, "0.0.0.0", 8443)
        };
        assert!(container_conflicts(&[need("0.0.0.0", 8443)], "dev", &[udp]).is_empty());
    }

    #[test]
    fn the_same_port_on_two_addresses_is_two_sockets() {
        assert!(!overlaps("127.0.0.1", "192.168.1.5"));
        assert!(!overlaps("127.0.0.1", "::1"));
        assert!(overlaps("0.0.0.0", "192.168.1.5"));
        assert!(overlaps("::", "127.0.0.1"));
        assert!(overlaps("", "127.0.0.1"));
        assert!(overlaps("127.0.0.1", "127.0.0.1"));
        // One address, written two ways.
        assert!(overlaps("::ffff:127.0.0.1", "127.0.0.1"));
        assert!(overlaps("[::1]", "::1"));
        assert!(overlaps("0:0:0:0:0:0:0:1", "::1"));
    }

    #[test]
    fn ports_any_container_holds_are_not_bind_tested() {
        let h = [holder("dev-control-plane", Some("dev"), "0.0.0.0", 8443)];
        let held = held_by_containers(&[need("127.0.0.1", 8443), need("127.0.0.1", 6443)], &h);
        assert_eq!(held, vec![port("127.0.0.1", 8443)]);
    }

    fn listening(pid: u32, program: &str, ip: &str, port: u16, protocol: &str) -> Listening {
        Listening {
            pid,
            program: program.into(),
            ip: ip.into(),
            port,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn the_listening_process_is_named_with_pid_and_program() {
        let l = [
            listening(10, "nginx", "0.0.0.0", 8443, "tcp"),
            listening(10, "nginx", "::", 8443, "tcp"),
            listening(11, "dnsmasq", "0.0.0.0", 8443, "udp"),
            listening(12, "other", "127.0.0.2", 8443, "tcp"),
            listening(13, "web", "0.0.0.0", 8080, "tcp"),
        ];
        let p = listeners_of(&port("127.0.0.1", 8443), &l);
        assert_eq!(
            p,
            [Process {
                pid: 10,
                program: "nginx".into()
            }]
        );
        let c = PortConflict::Process {
            port: port("127.0.0.1", 8443),
            field: "router.httpsPort".into(),
            processes: p,
            cause: "in use".into(),
        };
        assert_eq!(
            c.to_string(),
            "router.httpsPort: host port 127.0.0.1:8443/tcp is held by process 10 (`nginx`) on this host"
        );
        let hidden = PortConflict::Process {
            port: port("0.0.0.0", 8443),
            field: "router.httpsPort".into(),
            processes: vec![],
            cause: "port 8443 is in use".into(),
        };
        assert!(
            hidden
                .to_string()
                .contains("(port 8443 is in use); which one is not visible to this user: `sudo "),
            "{hidden}"
        );
    }
}
