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
    let host_name = bootstrap::drivers::zone::hostname().unwrap();
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
    let gateway = host_gateway_ip();
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

fn journey_in(dc: &Devcontainer, joined_by_up: bool) -> Transcript {
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
    t
}

/// The first `up` installed the router the file names and routed through it: the same journey
/// holds whichever router serves it.
fn served_by(t: &Transcript, router: RouterUnderTest) {
    let up = &t.steps[0].1;
    let route = match router {
        RouterUnderTest::IngressNginx => {
            "applied Ingress staging-vcluster/vcluster-staging-helm-api"
        }
        RouterUnderTest::GatewayApi => {
            "applied TLSRoute staging-vcluster/vcluster-staging-helm-api"
        }
    };
    for want in [
        format!("helm install {}", router.release()),
        route.to_owned(),
    ] {
        assert!(up.stdout.contains(&want), "missing {want:?}:\n{}", t.show());
    }
}

#[test]
fn devcontainer_on_the_default_bridge() {
    if !docker_or_skip("devcontainer_on_the_default_bridge") {
        return;
    }
    let dc = Devcontainer::start(Stand::devcontainer(Net::Bridge));
    journey_in(&dc, true);
}

/// The engine socket the journeys go through (and the e2e devcontainer journey, whose real kind
/// runs kubeadm with `docker exec`) carries Docker's upgraded connections: `docker exec` and an
/// attached `docker run` answer 101 UPGRADED, then the process's output and exit code come back.
#[test]
fn the_engine_socket_carries_docker_exec_and_attach() {
    if !docker_or_skip("the_engine_socket_carries_docker_exec_and_attach") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = engine::Engine::start(&dir.path().join("docker.sock"), None);
    let host = format!("unix://{}", engine.path.display());
    let foreign = Foreign::start();
    let via = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .arg("-H")
            .arg(&host)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = via(&[
        "exec",
        &foreign.0,
        "/bin/busybox",
        "sh",
        "-c",
        "echo through; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "through\n"), "{err}");
    let (code, out, err) = via(&[
        "run",
        "--rm",
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "echo",
        "attached",
    ]);
    assert_eq!((code, out.as_str()), (0, "attached\n"), "{err}");
    assert!(
        engine
            .requests()
            .iter()
            .any(|r| r.contains("/exec/") && r.ends_with("/start")),
        "{:?}",
        engine.requests()
    );
}

/// The same journey with `router.kind: gateway-api` (envs/gateway.yaml's router: Traefik, our
/// Gateway's TLS passthrough listener, one TLSRoute per vcluster).
#[test]
fn devcontainer_on_the_default_bridge_with_the_gateway_api_router() {
    if !docker_or_skip("devcontainer_on_the_default_bridge_with_the_gateway_api_router")
        || !support::charts::charts_or_skip(
            "devcontainer_on_the_default_bridge_with_the_gateway_api_router",
        )
    {
        return;
    }
    let stand = Stand::devcontainer(Net::Bridge);
    let ws = Workspace::with_router(&stand.api_address, RouterUnderTest::GatewayApi);
    let dc = Devcontainer::start_in(stand, ws);
    let t = journey_in(&dc, true);
    served_by(&t, RouterUnderTest::GatewayApi);
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
    served_by(&t, RouterUnderTest::IngressNginx);
}

#[test]
fn native_host_with_the_gateway_api_router() {
    if !docker_or_skip("native_host_with_the_gateway_api_router")
        || !full::unshare_works()
        || !support::charts::charts_or_skip("native_host_with_the_gateway_api_router")
    {
        return;
    }
    let host = Host::with_router(RouterUnderTest::GatewayApi);
    let t = walk(&host);
    eprintln!("{}", t.show());
    served_by(&t, RouterUnderTest::GatewayApi);
}

/// From a devcontainer on the default bridge, the API kind published on 127.0.0.1 is refused
/// through host.docker.internal. The diagnosis must say why with Docker's facts (which container
/// publishes the port, on which address) and what to do, not "nothing listens on that port".
#[test]
fn a_refused_host_gateway_is_read_with_docker_s_facts() {
    if !docker_or_skip("a_refused_host_gateway_is_read_with_docker_s_facts") {
        return;
    }
    let dc = Devcontainer::start(Stand::devcontainer(Net::Bridge));
    let env = dc.env_file();
    let up = dc.exec("bootstrap", &["-f", &env, "up"]);
    assert_eq!(up.code, 0, "{}", up.text());
    // The user's own route to the API: through the host gateway, as Docker Desktop allows.
    let kind_ctx = format!("kind-{}", dc.ws.cluster);
    let one = dc.exec(
        "bootstrap",
        &["-f", &env, "kubeconfig", &kind_ctx, "--print"],
    );
    assert_eq!(one.code, 0, "{}", one.text());
    let node_route = format!("https://{}-control-plane:6443", dc.ws.cluster);
    assert!(one.stdout.contains(&node_route), "{}", one.text());
    let gateway = one.stdout.replace(
        &format!("server: {node_route}"),
        &format!(
            "server: https://host.docker.internal:{}\n    tls-server-name: localhost",
            dc.ws.api_port
        ),
    );
    let file = dc.ws.dir.path().join("gateway.kubeconfig");
    std::fs::write(&file, gateway).unwrap();
    let file = file.display().to_string();
    let v = dc.exec(
        "bootstrap",
        &["verify", "--kubeconfig", &file, "--context", &kind_ctx],
    );
    eprintln!(
        "$ bootstrap verify --kubeconfig {file} --context {kind_ctx}\n{}{}",
        v.stdout, v.stderr
    );
    assert_eq!(v.code, 1, "{}", v.text());
    let seen = format!("{}{}", v.stdout, v.stderr);
    for want in [
        format!(
            "host.docker.internal ({}:{}) refused",
            host_gateway_ip(),
            dc.ws.api_port
        ),
        format!(
            "Docker shows container `{}-control-plane` publishing port {} on 127.0.0.1 only",
            dc.ws.cluster, dc.ws.api_port
        ),
        "join the `kind` network".to_owned(),
        node_route.clone(),
        "cluster.apiServer.address: 0.0.0.0".to_owned(),
    ] {
        assert!(seen.contains(&want), "missing {want:?}:\n{seen}");
    }
    assert!(!seen.contains("nothing listens"), "{seen}");
    let down = dc.exec("bootstrap", &["-f", &env, "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
}

/// A devcontainer given its own hostname (`runArgs: ["--hostname=devbox"]`): Docker then knows it
/// by no name the hostname gives, so `up` must find its own container another way (the id in its
/// mountinfo) to join kind's network, and `down` to leave it.
#[test]
fn devcontainer_with_a_hostname_of_its_own() {
    if !docker_or_skip("devcontainer_with_a_hostname_of_its_own") {
        return;
    }
    let mut stand = Stand::devcontainer(Net::Bridge);
    stand.hostname = Some("devbox".into());
    let dc = Devcontainer::start(stand);
    assert_eq!(dc.sh("hostname").stdout.trim(), "devbox");
    journey_in(&dc, true);
}

/// A file's mode, owner and inode: what a write of the user's kubeconfig must keep.
fn kept(path: &std::path::Path) -> (u32, u32, u32, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.mode() & 0o7777, m.uid(), m.gid(), m.ino())
}

/// As the Dev Containers images run: the user `vscode` (uid 1000), Docker reached through the
/// socket's group, and the host's `~/.kube/config` bind-mounted as a single file (mode 0644,
/// owned by the host's uid 1000). A rename cannot replace a mounted file (EBUSY), so every write
/// goes in place under the lock, as kubectl's does: the host's file keeps its inode, mode and
/// owner, and nothing of ours (lock, temporary file) is left beside it.
#[test]
fn devcontainer_as_a_non_root_user_with_the_hosts_kubeconfig_mounted_as_a_file() {
    if !docker_or_skip(
        "devcontainer_as_a_non_root_user_with_the_hosts_kubeconfig_mounted_as_a_file",
    ) {
        return;
    }
    let mut stand = Stand::devcontainer(Net::Bridge);
    stand.user = Some(User::VSCODE);
    stand.kubeconfig_as_file = true;
    let ws = Workspace::new(&stand.api_address);
    let kc = ws.kubeconfig();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dc = Devcontainer::start_in(stand, ws);
    let who = dc.sh("id -u; id -G; echo $HOME");
    assert_eq!(
        who.stdout.split_whitespace().collect::<Vec<_>>(),
        ["1000", "1000", "988", "/home/vscode"],
        "{}",
        who.text()
    );
    let root = dc.sh("test -w /var/run/docker.sock && ! test -w /");
    assert_eq!(
        root.code,
        0,
        "not root, Docker through its group: {}",
        root.text()
    );
    let before = kept(&kc);
    assert_eq!((before.0, before.1, before.2), (0o644, 1000, 1000));
    journey_in(&dc, true);
    assert_eq!(
        kept(&kc),
        before,
        "mode, owner and inode of the host's kubeconfig"
    );
    // Beside it (kubectl's `cache` folder aside): no lock, no temporary file; the backup private.
    let beside =
        dc.sh("ls -A ~/.kube | grep -v '^cache$'; stat -c '%a %u' ~/.kube/config.bootstrap.bak");
    assert_eq!(
        beside.stdout.split_whitespace().collect::<Vec<_>>(),
        ["config", "config.bootstrap.bak", "600", "1000"],
        "only the file and its private backup: {}",
        beside.text()
    );
}

/// The host with `KUBECONFIG=a:b:c`, as kubectl users combine files: `a` does not exist, `b`
/// holds the user's context, `c` another team's clusters (mode 0640, owned by uid 1000). New
/// entries go where kubectl puts them (client-go's `GetDefaultFilename`: the first file that
/// exists, `b`); `down` removes them from there; `a` is never created and `c` is left byte for
/// byte, with its mode and owner.
#[test]
fn native_host_with_a_kubeconfig_list_of_three_files() {
    if !docker_or_skip("native_host_with_a_kubeconfig_list_of_three_files")
        || !full::unshare_works()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [a, b, c] = ["a.yaml", "b.yaml", "c.yaml"].map(|f| dir.path().join(f));
    let host = Host::with_kubeconfig_list(&[a.clone(), b.clone(), c.clone()], &b);
    let other = "apiVersion: v1\nkind: Config\nclusters:\n- name: team-b\n  cluster: {server: 'https://team-b.example.com:6443'}\ncontexts:\n- name: team-b\n  context: {cluster: team-b, user: team-b}\nusers:\n- name: team-b\n  user: {token: team-b-token}\n";
    std::fs::write(&c, other).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&c, Some(1000), Some(1000)).unwrap();
    let (b_before, c_before) = (kept(&b), kept(&c));
    let t = walk(&host);
    eprintln!("{}", t.show());
    // kubectl merged all three while our contexts were there (walk ran it on each of ours).
    assert!(
        t.show()
            .contains("kubectl --context dev-vcluster get --raw /version"),
        "{}",
        t.show()
    );
    assert!(
        !a.exists(),
        "the first, missing file of the list was created"
    );
    assert_eq!(
        std::fs::read_to_string(&c).unwrap(),
        other,
        "c.yaml changed"
    );
    assert_eq!(kept(&c), c_before, "c.yaml's mode or owner");
    let b_after = kept(&b);
    assert_eq!(
        (b_after.0, b_after.1, b_after.2),
        (b_before.0, b_before.1, b_before.2),
        "b.yaml's mode or owner"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") || n.starts_with(".bootstrap-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
