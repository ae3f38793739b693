//! Checks made before anything changes: the executables a step needs, and that every host port
//! the cluster will publish is free or already ours. A problem names its holder and stops the run.

use crate::docker::{PortHolder, PublishedPort};
use serde::Serialize;
use std::path::PathBuf;

/// An outside program we drive, the variable that overrides where it is, and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub var: &'static str,
    pub hint: &'static str,
}

pub const KIND: Tool = Tool {
    name: "kind",
    var: "BOOTSTRAP_KIND",
    hint: "install kind v0.31.0 (known to work): `go install sigs.k8s.io/kind@v0.31.0`, or download \
https://kind.sigs.k8s.io/dl/v0.31.0/kind-linux-amd64 (kind-darwin-arm64 on Apple silicon) into your PATH",
};

pub const HELM: Tool = Tool {
    name: "helm",
    var: "BOOTSTRAP_HELM",
    hint:
        "install helm v3.19.3 (known to work): https://get.helm.sh/helm-v3.19.3-linux-amd64.tar.gz \
(helm-v3.19.3-darwin-arm64.tar.gz on Apple silicon), or `brew install helm`",
};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{name}` was not found in PATH\n  hint: {hint}; or set {var} to its path")]
    NotInPath {
        name: &'static str,
        var: &'static str,
        hint: &'static str,
    },
    #[error("{var}={value} does not name an executable ({cause})\n  hint: point {var} at the {name} binary, or unset it to search PATH")]
    BadOverride {
        name: &'static str,
        var: &'static str,
        value: String,
        cause: String,
    },
}

/// Find a tool: its override variable first (a path, or a name looked up in PATH), else PATH.
pub fn locate(tool: Tool) -> Result<PathBuf, ToolError> {
    match std::env::var(tool.var)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(value) => which::which(&value).map_err(|e| ToolError::BadOverride {
            name: tool.name,
            var: tool.var,
            value,
            cause: e.to_string(),
        }),
        None => which::which(tool.name).map_err(|_| ToolError::NotInPath {
            name: tool.name,
            var: tool.var,
            hint: tool.hint,
        }),
    }
}

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

/// Shell: try to bind each port no container holds. Binding tells "free" from "taken" without
/// guessing from /proc, and works the same on macOS.
pub fn process_conflicts(needed: &[PublishedPort], skip: &[PublishedPort]) -> Vec<PortConflict> {
    let mut out = Vec::new();
    for p in needed {
        if skip.contains(p) {
            continue;
        }
        if let Err(e) = try_bind(p) {
            let cause = match e.kind() {
                std::io::ErrorKind::AddrInUse => format!("port {} is in use", p.host_port),
                std::io::ErrorKind::PermissionDenied => {
                    format!("binding port {} needs privileges: {e}", p.host_port)
                }
                _ => format!("cannot bind {}:{}: {e}", p.host_ip, p.host_port),
            };
            out.push(PortConflict::Process {
                port: p.clone(),
                cause,
            });
        }
    }
    out
}

fn try_bind(p: &PublishedPort) -> std::io::Result<()> {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        p.host_ip.as_str()
    };
    let addr = (ip, p.host_port);
    match p.protocol.as_str() {
        "udp" => std::net::UdpSocket::bind(addr).map(drop),
        _ => std::net::TcpListener::bind(addr).map(drop),
    }
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

    #[test]
    fn a_listening_process_is_found_and_a_free_port_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = l.local_addr().unwrap().port();
        let c = process_conflicts(&[port("127.0.0.1", taken)], &[]);
        assert_eq!(c.len(), 1);
        assert!(
            c[0].to_string().contains("a process on this host"),
            "{}",
            c[0]
        );
        drop(l);
        assert!(process_conflicts(&[port("127.0.0.1", taken)], &[]).is_empty());
    }

    #[test]
    fn override_that_is_not_executable_is_reported() {
        let t = Tool {
            name: "kind",
            var: "BOOTSTRAP_TEST_NO_SUCH_TOOL_VAR",
            hint: "h",
        };
        std::env::set_var(t.var, "/nonexistent/kind");
        let e = locate(t).unwrap_err();
        std::env::remove_var(t.var);
        assert!(
            e.to_string()
                .contains("BOOTSTRAP_TEST_NO_SUCH_TOOL_VAR=/nonexistent/kind"),
            "{e}"
        );
    }
}
