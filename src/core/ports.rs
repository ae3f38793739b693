//! Host ports: who holds a port the cluster needs, judged from what Docker reports (pure). The
//! bind test for processes outside Docker is the driver's (`drivers::ports`).

use crate::core::observed::{PortHolder, PublishedPort};
use serde::Serialize;

/// Who holds a host port we need.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "holder", rename_all = "kebab-case")]
pub enum PortConflict {
    Container {
        port: PublishedPort,
        container: String,
        cluster: Option<String>,
    },
    Process {
        port: PublishedPort,
        cause: String,
    },
}

impl std::fmt::Display for PortConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortConflict::Container {
                port,
                container,
                cluster,
            } => {
                write!(
                    f,
                    "host port {}:{}/{} is held by container `{container}`",
                    port.host_ip, port.host_port, port.protocol
                )?;
                if let Some(c) = cluster {
                    write!(f, " (node of kind cluster `{c}`)")?;
                }
                Ok(())
            }
            PortConflict::Process { port, cause } => write!(
                f,
                "host port {}:{}/{} is held by a process on this host ({cause})",
                port.host_ip, port.host_port, port.protocol
            ),
        }
    }
}

fn wildcard(ip: &str) -> bool {
    ip == "0.0.0.0" || ip == "::" || ip.is_empty()
}

/// Two bindings of the same port collide when either is on all addresses or both on the same one.
fn overlaps(a_ip: &str, b_ip: &str) -> bool {
    wildcard(a_ip) || wildcard(b_ip) || a_ip == b_ip
}

/// Pure: the ports held by a container other than this cluster's own nodes.
pub fn container_conflicts(
    needed: &[PublishedPort],
    cluster: &str,
    holders: &[PortHolder],
) -> Vec<PortConflict> {
    let mut out = Vec::new();
    for p in needed {
        let held = holders.iter().find(|h| {
            h.host_port == p.host_port
                && h.protocol == p.protocol
                && overlaps(&h.host_ip, &p.host_ip)
        });
        if let Some(h) = held {
            if h.cluster.as_deref() == Some(cluster) {
                continue;
            }
            let dup = out
                .iter()
                .any(|c| matches!(c, PortConflict::Container { port, .. } if port == p));
            if !dup {
                out.push(PortConflict::Container {
                    port: p.clone(),
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
pub fn held_by_containers(needed: &[PublishedPort], holders: &[PortHolder]) -> Vec<PublishedPort> {
    needed
        .iter()
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

    fn holder(name: &str, cluster: Option<&str>, ip: &str, hp: u16) -> PortHolder {
        PortHolder {
            container: name.into(),
            cluster: cluster.map(Into::into),
            host_ip: ip.into(),
            host_port: hp,
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn own_node_holding_the_port_is_fine() {
        let h = [holder("dev-control-plane", Some("dev"), "0.0.0.0", 8443)];
        assert!(container_conflicts(&[port("0.0.0.0", 8443)], "dev", &h).is_empty());
    }

    #[test]
    fn a_foreign_container_is_named() {
        let h = [holder("web", None, "0.0.0.0", 8443)];
        let c = container_conflicts(&[port("127.0.0.1", 8443)], "dev", &h);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].to_string(),
            "host port 127.0.0.1:8443/tcp is held by container `web`"
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
        let c = container_conflicts(&[port("127.0.0.1", 6443)], "dev", &h);
        assert!(c[0].to_string().contains("node of kind cluster `other`"));
    }

    #[test]
    fn different_specific_addresses_do_not_collide() {
        let h = [holder("web", None, "127.0.0.2", 8443)];
        assert!(container_conflicts(&[port("127.0.0.1", 8443)], "dev", &h).is_empty());
        let udp = PortHolder {
            protocol: "udp".into(),
            ..holder("dns", None, "0.0.0.0", 8443)
        };
        assert!(container_conflicts(&[port("0.0.0.0", 8443)], "dev", &[udp]).is_empty());
    }

    #[test]
    fn ports_any_container_holds_are_not_bind_tested() {
        let h = [holder("dev-control-plane", Some("dev"), "0.0.0.0", 8443)];
        let held = held_by_containers(&[port("127.0.0.1", 8443), port("127.0.0.1", 6443)], &h);
        assert_eq!(held, vec![port("127.0.0.1", 8443)]);
    }
}
