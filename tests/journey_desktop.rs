//! Docker Desktop and WSL2 cannot run here. These journeys give the real binary the evidence those
//! systems really show, in a container with those facts in place, and check what the user sees:
//! where `status` says they stand, the routes `up` writes, `verify`, and `down`.
//!
//! What Docker Desktop shows, and where it was read:
//! - `docker info` on Docker Desktop answers `Operating System: Docker Desktop`,
//!   `Name: docker-desktop`, and a LinuxKit kernel on macOS (`Kernel Version: 5.10.104-linuxkit`,
//!   recorded in cygnu7/belajar-docker docker-cheatsheet.sh) or the WSL2 kernel on Windows
//!   (`Kernel Version: 5.15.153.1-microsoft-standard-WSL2`, recorded in
//!   hamitmizrak/workshop-docker Docker_Tutorials.md). testcontainers-node tells Docker Desktop
//!   by exactly that field (`containerRuntimeOs === "Docker Desktop"`,
//!   packages/testcontainers/src/container-runtime/utils/remote-container-runtime-socket-path.ts).
//! - Its per-user socket: `~/.docker/desktop/docker.sock` on Linux and `~/.docker/run/docker.sock`
//!   on macOS (testcontainers-java
//!   core/src/main/java/org/testcontainers/dockerclient/DockerDesktopClientProviderStrategy.java),
//!   with no /var/run/docker.sock unless the user allows the default socket. Docker's own word:
//!   Docker Desktop for Linux "doesn't bind /var/run/docker.sock by default; it uses a per-user
//!   socket (desktop-linux context)" (docker/docs issue #23308, filed against docs.docker.com/desktop,
//!   whose fix is `DOCKER_HOST=$(docker context inspect desktop-linux ...)`); on macOS Docker's
//!   maintainers moved "the sockets to user-owned directories rather than root-owned directories
//!   (like /var/run)" (docker/for-mac issue #6529, Docker Desktop 4.13), and the setting "Allow the
//!   default Docker socket to be used" (Settings > Advanced; docs.docker.com
//!   desktop/mac/permission-requirements) brings the /var/run/docker.sock link back. The docker CLI (so kind)
//!   reaches it through the `desktop-linux` context, stored as
//!   ~/.docker/contexts/meta/<sha256 of the name>/meta.json (docker/cli
//!   cli/context/store/store.go, `contextdirOf`); bollard follows no context.
//! - WSL2: the distro's kernel release names WSL2 (/proc/sys/kernel/osrelease, the same string
//!   `docker info` shows above), there is no /.dockerenv, Docker Desktop's integration provides
//!   /var/run/docker.sock in the distro, and ports published by containers answer on the distro's
//!   localhost (the project's DESIGN.md route table: WSL2 + Docker Desktop uses the native routes),
//!   which a container on the host's network stands in for.
//!
//! The engine behind them is this machine's Linux engine: what only Docker Desktop's networking
//! does (forwarding host.docker.internal to ports published on 127.0.0.1) is not shown here, and
//! the Docker Desktop devcontainer journey publishes the API on 0.0.0.0 for that reason.

mod journey_support;
mod support;

use journey_support::*;
use support::*;

fn docker_desktop_info(kernel: &str) -> serde_json::Value {
    serde_json::json!({
        "OperatingSystem": "Docker Desktop",
        "Name": "docker-desktop",
        "KernelVersion": kernel,
        "OSType": "linux",
    })
}

const WSL2_KERNEL: &str = "5.15.153.1-microsoft-standard-WSL2";
const MACOS_KERNEL: &str = "5.10.104-linuxkit";

/// A place that is no container: host networking, no /.dockerenv.
fn not_a_container(socket_at: &str, info: serde_json::Value, kernel: Option<&str>) -> Stand {
    Stand {
        net: Net::Host,
        hostname: None,
        socket_at: vec![socket_at.to_owned()],
        info: Some(info),
        kernel_release: kernel.map(str::to_owned),
        dockerenv: false,
        run_args: Vec::new(),
        env: Vec::new(),
        api_address: "127.0.0.1".into(),
        user: None,
        kubeconfig_as_file: false,
    }
}

/// `bootstrap status -o json`, as the user runs it there.
fn status(dc: &Devcontainer) -> serde_json::Value {
    let s = dc.exec("bootstrap", &["-f", &dc.env_file(), "status", "-o", "json"]);
    serde_json::from_str(&s.stdout).unwrap_or_else(|e| panic!("{e}: {}", s.text()))
}

fn server_of(dc: &Devcontainer, context: &str) -> (Option<String>, Option<String>) {
    let text = std::fs::read_to_string(dc.ws.kubeconfig()).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&text).unwrap();
    let v = bootstrap::core::kubeconfig::doc::context_view(&d, context)
        .unwrap_or_else(|| panic!("no context {context}:\n{text}"));
    (v.server.clone(), v.tls_server_name.clone())
}

/// Checks the routes while the journey's cluster is up: `walk` runs the whole journey, so the
/// kubeconfig is read from its transcript's first `up` instead.
fn routes_written(t: &Transcript) -> String {
    t.steps[0].1.stdout.clone()
}

#[test]
fn wsl2_with_docker_desktop() {
    if !docker_or_skip("wsl2_with_docker_desktop") {
        return;
    }
    let dc = Devcontainer::start(not_a_container(
        "/var/run/docker.sock",
        docker_desktop_info(WSL2_KERNEL),
        Some(WSL2_KERNEL),
    ));
    // The facts in place, seen from inside.
    assert_eq!(
        dc.sh("cat /proc/sys/kernel/osrelease").stdout.trim(),
        WSL2_KERNEL
    );
    assert_ne!(
        dc.sh("test -e /.dockerenv").code,
        0,
        "no /.dockerenv in WSL"
    );
    let info = dc.sh("docker info --format '{{.OperatingSystem}}|{{.Name}}|{{.KernelVersion}}'");
    assert_eq!(
        info.stdout.trim(),
        format!("Docker Desktop|docker-desktop|{WSL2_KERNEL}"),
        "{}",
        info.text()
    );

    let s = status(&dc);
    assert_eq!(s["zone"]["zone"], "wsl2", "{s:#}");
    assert_eq!(s["zone"]["dockerDesktop"], true, "{s:#}");
    assert_eq!(s["zone"]["access"], "wsl2", "{s:#}");
    let t = walk(&dc);
    eprintln!("{}", t.show());
    // The native routes: published ports answer on the distro's localhost.
    let up = routes_written(&t);
    assert!(
        up.contains(&format!("https://127.0.0.1:{}", dc.ws.api_port)),
        "{up}"
    );
    assert!(
        up.contains(&format!(
            "https://dev-vcluster.cnoe.localtest.me:{}",
            dc.ws.https_port
        )),
        "{up}"
    );
    assert!(!up.contains("host.docker.internal"), "{up}");
    assert!(
        !t.steps[0].1.stderr.contains("joined this container"),
        "{}",
        t.steps[0].1.text()
    );
}

/// Docker Desktop on a Linux or macOS host: no /var/run/docker.sock, only the per-user socket,
/// which the docker CLI reaches through its `desktop-linux` context.
fn desktop_host(socket: &str) {
    let dc = Devcontainer::start(not_a_container(
        socket,
        docker_desktop_info(MACOS_KERNEL),
        None,
    ));
    let ctx = dc.sh(&format!(
        "set -e; d=$(printf %s desktop-linux | sha256sum | cut -d' ' -f1); mkdir -p /root/.docker/contexts/meta/$d; \
         printf '%s' '{{\"Name\":\"desktop-linux\",\"Metadata\":{{}},\"Endpoints\":{{\"docker\":{{\"Host\":\"unix://{socket}\",\"SkipTLSVerify\":false}}}}}}' > /root/.docker/contexts/meta/$d/meta.json; \
         printf '%s' '{{\"currentContext\":\"desktop-linux\"}}' > /root/.docker/config.json; \
         test ! -e /var/run/docker.sock; docker info --format '{{{{.OperatingSystem}}}}'"
    ));
    assert_eq!(ctx.stdout.trim(), "Docker Desktop", "{}", ctx.text());

    let s = status(&dc);
    assert_eq!(s["docker"]["endpoint"], format!("unix://{socket}"), "{s:#}");
    assert_eq!(
        s["docker"]["source"], "Docker Desktop's per-user socket",
        "{s:#}"
    );
    assert_eq!(s["zone"]["zone"], "native-host", "{s:#}");
    assert_eq!(s["zone"]["dockerDesktop"], true, "{s:#}");
    let t = walk(&dc);
    eprintln!("{}", t.show());
    let up = routes_written(&t);
    assert!(
        up.contains(&format!("https://127.0.0.1:{}", dc.ws.api_port)),
        "{up}"
    );
    assert!(
        up.contains(&format!("Docker daemon: ok: engine unix://{socket}")),
        "{up}"
    );
}

#[test]
fn docker_desktop_for_linux_per_user_socket() {
    if !docker_or_skip("docker_desktop_for_linux_per_user_socket") {
        return;
    }
    desktop_host("/root/.docker/desktop/docker.sock");
}

#[test]
fn docker_desktop_for_mac_per_user_socket() {
    if !docker_or_skip("docker_desktop_for_mac_per_user_socket") {
        return;
    }
    desktop_host("/root/.docker/run/docker.sock");
}

/// A devcontainer on Docker Desktop: Docker Desktop forwards host.docker.internal to the host, so
/// `up` does not join kind's network and writes the host-gateway routes with the names the
/// certificates hold.
#[test]
fn devcontainer_on_docker_desktop() {
    if !docker_or_skip("devcontainer_on_docker_desktop") {
        return;
    }
    let mut stand = Stand::devcontainer(Net::Bridge);
    stand.info = Some(docker_desktop_info(MACOS_KERNEL));
    // Only Docker Desktop forwards host.docker.internal to ports published on 127.0.0.1; this
    // Linux engine does not, so the API is published on all addresses here.
    stand.api_address = "0.0.0.0".into();
    let dc = Devcontainer::start(stand);
    let before = dc.networks();
    let s = status(&dc);
    assert_eq!(s["zone"]["zone"], "devcontainer", "{s:#}");
    assert_eq!(s["zone"]["dockerDesktop"], true, "{s:#}");

    let env = dc.env_file();
    let up = dc.exec("bootstrap", &["-f", &env, "up"]);
    assert_eq!(up.code, 0, "{}", up.text());
    assert!(
        !up.stderr.contains("joined this container"),
        "{}",
        up.text()
    );
    assert_eq!(dc.networks(), before, "Docker Desktop needs no join");
    let kind = server_of(&dc, &format!("kind-{}", dc.ws.cluster));
    assert_eq!(
        kind,
        (
            Some(format!("https://host.docker.internal:{}", dc.ws.api_port)),
            Some("localhost".into())
        )
    );
    let dev = server_of(&dc, "dev-vcluster");
    assert_eq!(
        dev,
        (
            Some(format!("https://host.docker.internal:{}", dc.ws.https_port)),
            Some("dev-vcluster.cnoe.localtest.me".into())
        )
    );
    let verify = dc.exec("bootstrap", &["-f", &env, "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.text());
    let down = dc.exec("bootstrap", &["-f", &env, "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(nodes(&dc.ws.cluster).is_empty());
}
