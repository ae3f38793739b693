//! Host ports held by processes outside Docker: found by trying to bind them, then named by
//! asking the system which process listens there.
//!
//! The listener lookup uses the `listeners` crate: one API over Linux (/proc/net and each
//! process's fds, via rustix) and macOS (libproc), both places bootstrap runs; `procfs` is
//! Linux-only and would need a second path for macOS. It is small (rustix on Linux, byteorder
//! on macOS), MIT, and kept up (0.6.1, August 2026, after releases through 2024-2026).

use crate::core::observed::PublishedPort;
use crate::core::ports::{self, Listening, NeededPort, PortConflict};

/// Shell: try to bind each needed port no container holds. Binding tells "free" from "taken"
/// without guessing, the same on Linux and macOS; a taken port's holder is then looked up.
pub fn process_conflicts(needed: &[NeededPort], skip: &[PublishedPort]) -> Vec<PortConflict> {
    let mut listening: Option<Vec<Listening>> = None;
    let mut out = Vec::new();
    for NeededPort { port: p, field, .. } in needed {
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
            let processes = if e.kind() == std::io::ErrorKind::AddrInUse {
                ports::listeners_of(p, listening.get_or_insert_with(listeners))
            } else {
                Vec::new()
            };
            out.push(PortConflict::Process {
                port: p.clone(),
                field: field.clone(),
                processes,
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

/// Every socket a process of this host listens on (TCP in LISTEN, UDP bound), as far as this
/// user may see: another user's processes are hidden from non-root.
pub fn listeners() -> Vec<Listening> {
    let all = match listeners::get_all() {
        Ok(all) => all,
        Err(e) => {
            tracing::debug!(target: crate::logging::TARGET, "listing listening processes: {e}");
            return Vec::new();
        }
    };
    all.into_iter()
        .filter(|l| {
            l.protocol == listeners::Protocol::UDP || l.state == listeners::SocketState::Listen
        })
        .map(|l| Listening {
            pid: l.process.pid,
            program: l.process.name,
            ip: l.socket.ip().to_string(),
            port: l.socket.port(),
            protocol: match l.protocol {
                listeners::Protocol::TCP => "tcp".into(),
                listeners::Protocol::UDP => "udp".into(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(ip: &str, hp: u16) -> NeededPort {
        NeededPort {
            port: PublishedPort {
                container_port: 443,
                protocol: "tcp".into(),
                host_ip: ip.into(),
                host_port: hp,
            },
            field: "router.httpsPort".into(),
            judged_by: None,
        }
    }

    #[test]
    fn a_listening_process_is_named_and_a_free_port_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = l.local_addr().unwrap().port();
        let c = process_conflicts(&[need("127.0.0.1", taken)], &[]);
        assert_eq!(c.len(), 1);
        let me = std::process::id();
        let program = crate::drivers::process::program(me).unwrap_or_default();
        assert_eq!(
            c[0].to_string(),
            format!("router.httpsPort: host port 127.0.0.1:{taken}/tcp is held by process {me} (`{program}`) on this host"),
        );
        drop(l);
        assert!(process_conflicts(&[need("127.0.0.1", taken)], &[]).is_empty());
    }
}
