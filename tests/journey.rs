//! The user's journeys, the spine of the suite: `up`, kubectl, `verify -f`, a converged `up` with
//! zero writes, and `down`, run with the built binary from where the user stands (a devcontainer
//! on Docker's default bridge, a devcontainer already on kind's network, the native host) on the
//! real Docker engine with the kind double (running the kind node double) and the helm double.
//! What is checked is what the user sees: exit codes, output, the kubeconfig, kubectl's answers,
//! and what is left on the engine. See tests/journey_support for how the devcontainer is built.

mod journey_support;
mod support;

use journey_support::*;
use support::*;

/// Each fact the devcontainer stands for, seen from inside it.
fn facts(dc: &Devcontainer) {
    let here = std::fs::read_link("/proc/self/ns/net").unwrap();
    let inside = dc.sh("readlink /proc/self/ns/net");
    assert_eq!(inside.code, 0, "{}", inside.text());
    let own_ns = inside.stdout.trim() != here.to_string_lossy();
    assert_eq!(
        own_ns,
        dc.stand.net != Net::Host,
        "network namespace: inside {}, here {}",
        inside.stdout.trim(),
        here.display()
    );
    let marker = dc.sh("test -e /.dockerenv").code == 0;
    assert_eq!(marker, dc.stand.dockerenv, "/.dockerenv");
    let host_name = bootstrap::zone::hostname().unwrap();
    let name = dc
        .sh("cat /proc/sys/kernel/hostname")
        .stdout
        .trim()
        .to_owned();
    if dc.stand.net != Net::Host {
        assert_ne!(name, host_name, "the container has its own hostname");
    }
    for at in &dc.stand.socket_at {
        let s = dc.sh(&format!("test -S {at} && DOCKER_HOST=unix://{at} docker version --format '{{{{.Server.APIVersion}}}}'"));
        assert_eq!(s.code, 0, "the engine answers on {at}: {}", s.text());
    }
    // Docker's `host-gateway` is the default bridge's own address on the host (docker0).
    let bridge = docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    let ip = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", &bridge])
        .output()
        .unwrap();
    let ip = String::from_utf8_lossy(&ip.stdout);
    let gateway = ip
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let hdi = dc.sh("getent hosts host.docker.internal");
    assert_eq!(
        hdi.stdout.split_whitespace().next(),
        Some(gateway.as_str()),
        "host.docker.internal is the host gateway: {}",
        hdi.text()
    );
    for h in VCLUSTER_HOSTS {
        let r = dc.sh(&format!("getent hosts {h}"));
        assert!(r.stdout.starts_with("127.0.0.1"), "{h}: {}", r.text());
    }
    // The localhost trap: a port open on this machine's 127.0.0.1 is not the container's.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dial = dc.exec(
        "bash",
        &["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")],
    );
    assert_eq!(
        dial.code == 0,
        dc.stand.net == Net::Host,
        "127.0.0.1:{port} from inside: {}",
        dial.text()
    );
}

fn journey_in(dc: &Devcontainer, joined_by_up: bool) {
    facts(dc);
    let before = dc.networks();
    let t = walk(dc);
    eprintln!("{}", t.show());
    let up = &t.steps[0].1;
    assert_eq!(
        up.stderr.contains("joined this container"),
        joined_by_up,
        "{}",
        up.text()
    );
    assert_eq!(
        dc.networks(),
        before,
        "down must undo the network join it made, and only that"
    );
}

#[test]
fn devcontainer_on_the_default_bridge() {
    if !docker_or_skip("devcontainer_on_the_default_bridge") {
        return;
    }
    let dc = Devcontainer::start(Stand::devcontainer(Net::Bridge));
    journey_in(&dc, true);
}

#[test]
fn devcontainer_already_on_the_kind_network() {
    if !docker_or_skip("devcontainer_already_on_the_kind_network") {
        return;
    }
    let dc = Devcontainer::start(Stand::devcontainer(Net::Kind));
    journey_in(&dc, false);
}

#[test]
fn native_host() {
    if !docker_or_skip("native_host") || !full::unshare_works() {
        return;
    }
    let host = Host::new();
    let t = walk(&host);
    eprintln!("{}", t.show());
}
