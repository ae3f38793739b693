//! The localhost trap, for real: `bootstrap verify` inside a container (FROM-scratch image of
//! the binary and the libraries ldd lists, the host's Docker socket mounted, started with
//! `--add-host host.docker.internal:host-gateway`) against a TLS endpoint published on the host.
//! The 127.0.0.1 route is refused with the localhost-trap diagnosis; the devcontainer route
//! (host.docker.internal + tls-server-name) verifies.
//!
//! Assumes the Docker daemon shares this test's network namespace (a local engine), so that
//! host-gateway reaches the test server bound on 0.0.0.0.

mod verify_support;

use std::path::Path;
use std::process::{Command, Stdio};
use testkit::{ApiServer, Auth, Pki};
use verify_support::*;

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn copy_into(root: &Path, file: &Path) {
    let dest = root.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
}

/// The bootstrap binary (debug info stripped when objcopy is there, to keep the import small), its libraries, a
/// kubeconfig, and an nsswitch.conf so glibc reads the /etc/hosts Docker writes.
fn build_image(kubeconfig: &str) -> Image {
    let bin = Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let stripped = r.join("bootstrap");
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(bin)
        .arg(&stripped)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        std::fs::copy(bin, &stripped).unwrap();
    }
    let ldd = Command::new("ldd").arg(bin).output().expect("run ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split("=>")
            .last()
            .unwrap()
            .trim()
            .split(' ')
            .next()
            .unwrap_or_default();
        if path.starts_with('/') {
            copy_into(r, Path::new(path));
        }
    }
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("kube")).unwrap();
    std::fs::create_dir_all(r.join("tmp")).unwrap();
    std::fs::write(r.join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
    std::fs::write(r.join("kube/config"), kubeconfig).unwrap();
    let tag = format!("bootstrap-verify-test:{}", std::process::id());
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(r)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let import = Command::new("timeout")
        .args(["120", "docker", "import", "-", &tag])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    tar.wait().unwrap();
    assert!(
        import.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    Image(tag)
}

fn run_in_container(image: &Image, contexts: &[&str], json: bool) -> (i32, String, String) {
    let mut args: Vec<String> = [
        "120",
        "docker",
        "run",
        "--rm",
        "--add-host",
        "host.docker.internal:host-gateway",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        &image.0,
        "/bootstrap",
        "verify",
        "-f",
        "/kube/no-envs.yaml",
        "--kubeconfig",
        "/kube/config",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for c in contexts {
        args.push("--context".into());
        args.push(c.to_string());
    }
    if json {
        args.extend(["-o".to_string(), "json".to_string()]);
    }
    let out = Command::new("timeout").args(&args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn localhost_trap_and_its_fix_from_inside_a_container() {
    if !need("docker", &["version"]) {
        return;
    }
    let pki = Pki::new("kind-localdev-ca");
    // kind's API certificate names: localhost and 127.0.0.1, not host.docker.internal
    let srv = ApiServer::start(
        "0.0.0.0:0",
        &pki.server(&["localdev-control-plane", "localhost", "127.0.0.1"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let p = srv.port();
    let kubeconfig = kubeconfig_yaml(&[
        Ctx::new("host-route", &format!("https://127.0.0.1:{p}"), &pki.ca_pem).token("t"),
        Ctx::new(
            "devcontainer-route",
            &format!("https://host.docker.internal:{p}"),
            &pki.ca_pem,
        )
        .sni("localhost")
        .token("t"),
        Ctx::new(
            "no-server-name",
            &format!("https://host.docker.internal:{p}"),
            &pki.ca_pem,
        )
        .token("t"),
    ]);
    let image = build_image(&kubeconfig);

    let (code, out, err) = run_in_container(
        &image,
        &["host-route", "devcontainer-route", "no-server-name"],
        true,
    );
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let trap = &v["contexts"][0];
    assert_eq!(trap["failed_layer"], "tcp", "{out}");
    let diagnosis = trap["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.contains(&format!(
            "connection to 127.0.0.1:{p} refused, and this runs inside a container"
        )) && diagnosis.contains("localhost trap"),
        "{diagnosis}"
    );
    let hint = trap["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!(
            "server https://host.docker.internal:{p} with tls-server-name: localhost"
        )),
        "{hint}"
    );
    // the fix the hint names, run from the same container, verifies every layer
    let fixed = &v["contexts"][1];
    assert_eq!(fixed["ok"], true, "{out}");
    assert_eq!(fixed["layers"].as_array().unwrap().len(), 5, "{out}");
    assert!(
        fixed["layers"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("172."),
        "host.docker.internal from /etc/hosts: {out}"
    );
    // without tls-server-name the name check fails, and the hint names one the certificate holds
    let naive = &v["contexts"][2];
    assert_eq!(naive["failed_layer"], "tls", "{out}");
    assert!(
        naive["diagnosis"]
            .as_str()
            .unwrap()
            .contains("not valid for host.docker.internal"),
        "{out}"
    );
    assert!(
        naive["hint"]
            .as_str()
            .unwrap()
            .contains("tls-server-name: localhost"),
        "{out}"
    );

    let (code, out, err) = run_in_container(&image, &["devcontainer-route"], false);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("1 of 1 context verified"), "{out}");
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The Docker checks against a real engine: a stand-in node container (busybox, named and
/// labelled the way kind names and labels its nodes) publishing the API port but not the
/// router's, then stopped as after a reboot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_checks_see_the_node_container_and_its_ports() {
    use bootstrap::core::verify::environment::docker_checks;
    use bootstrap::core::verify::report::CheckStatus::{Fail, Pass};
    use bootstrap::drivers::probe::observe::docker_facts;
    if !need("docker", &["version"]) || !need("/bin/busybox", &["true"]) {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    copy_into(root.path(), Path::new("/bin/busybox"));
    let cluster = format!("verify{}", std::process::id());
    let image = Image(format!("bootstrap-verify-busybox:{}", std::process::id()));
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let import = Command::new("docker")
        .args(["import", "-", &image.0])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    tar.wait().unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let (api_port, router_port) = (free_port(), free_port());
    let node = Container(format!("{cluster}-control-plane"));
    docker(&[
        "run",
        "-d",
        "--name",
        &node.0,
        "--label",
        &format!("io.x-k8s.kind.cluster={cluster}"),
        "--label",
        "io.x-k8s.kind.role=control-plane",
        "-p",
        &format!("127.0.0.1:{api_port}:6443"),
        &image.0,
        "/bin/busybox",
        "sleep",
        "300",
    ]);
    let env = bootstrap::core::config::load_str(
        &format!(
            "cluster: {{ name: {cluster}, apiServer: {{ port: {api_port} }} }}\nrouter: {{ httpsPort: {router_port} }}\n"
        ),
        "envs.yaml",
        &[],
    )
    .env
    .expect("valid test env");
    let timeout = std::time::Duration::from_secs(10);
    let checks = docker_checks(&env, &docker_facts(&cluster, timeout, None).await);
    let statuses: Vec<_> = checks.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [Pass, Pass, Pass, Fail], "{checks:#?}");
    assert_eq!(checks[1].detail, format!("{} is running", node.0));
    assert_eq!(checks[2].detail, format!("127.0.0.1:{api_port} -> 6443"));
    assert!(
        checks[3].detail.contains(&format!(
            "does not publish the router's https port (443/tcp) on host port {router_port}"
        )),
        "{checks:#?}"
    );

    docker(&["stop", "-t", "0", &node.0]);
    let checks = docker_checks(&env, &docker_facts(&cluster, timeout, None).await);
    assert_eq!(checks[1].status, Fail, "{checks:#?}");
    assert_eq!(checks[1].detail, format!("container {} is exited", node.0));
    assert!(checks[1]
        .hint
        .as_deref()
        .unwrap()
        .contains(&format!("docker start {}", node.0)));

    drop(node);
    let checks = docker_checks(&env, &docker_facts(&cluster, timeout, None).await);
    assert!(
        checks[1].detail.contains("the kind cluster does not exist"),
        "{checks:#?}"
    );
}
