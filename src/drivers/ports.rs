//! Host ports held by processes outside Docker: found by trying to bind them.

use crate::core::observed::PublishedPort;
use crate::core::ports::PortConflict;

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
}
