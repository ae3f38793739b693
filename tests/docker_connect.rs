//! Reaching Docker by each kind of address: tcp:// (through a loopback forwarder to the real
//! socket, since the engine here listens only on its unix socket) and a refused tcp:// address.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::unix::net::UnixStream;
use support::*;

/// Forward each TCP connection on 127.0.0.1:<port> to /var/run/docker.sock, byte for byte.
fn tcp_forwarder() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let Ok(unix) = UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut tcp_in, unix_out) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            std::thread::spawn(move || {
                pump(&mut tcp_in, unix_out, |u| u.shutdown(Shutdown::Write))
            });
            let (mut unix_in, tcp_out) = (unix, tcp);
            std::thread::spawn(move || {
                pump(&mut unix_in, tcp_out, |t| t.shutdown(Shutdown::Write))
            });
        }
    });
    port
}

fn pump<W: Write>(from: &mut impl Read, mut to: W, close: impl FnOnce(&W) -> std::io::Result<()>) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = close(&to);
}

#[test]
fn tcp_docker_host_is_used_and_loopback_is_local() {
    if !docker_or_skip("tcp_docker_host_is_used_and_loopback_is_local") {
        return;
    }
    let port = tcp_forwarder();
    let host = format!("tcp://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("tcp"));
    let f = spec.write(dir.path());
    let st = bootstrap(
        &["-f", f.to_str().unwrap(), "status", "-o", "json"],
        &[("DOCKER_HOST", &host)],
    );
    assert_eq!(st.code, 0, "{}", st.text());
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["docker"]["endpoint"], host.as_str());
    assert_eq!(doc["docker"]["source"], "from DOCKER_HOST");
    assert_eq!(doc["docker"]["reachable"], true, "{}", st.text());
    assert_eq!(doc["cluster"]["state"], "absent", "{}", st.text());
    assert_ne!(
        doc["zone"]["zone"],
        "remote-docker",
        "loopback is this machine: {}",
        st.text()
    );
}

#[test]
fn refused_tcp_docker_host_is_one_clear_error() {
    let port = free_port(); // free now, so nothing listens there
    let dir = tempfile::tempdir().unwrap();
    let f = Spec::new(&unique("tcpr")).write(dir.path());
    let host = format!("tcp://127.0.0.1:{port}");
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[("DOCKER_HOST", &host)],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    let errors: Vec<&str> = up
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", up.text());
    assert!(
        errors[0].contains(&format!(
            "the Docker daemon at {host} is not answering while negotiating the API version"
        )),
        "{}",
        up.text()
    );
    assert!(
        up.stderr.to_lowercase().contains("connection refused"),
        "{}",
        up.text()
    );
}
