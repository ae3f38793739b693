//! Checks before change, on a real Docker engine: a host port held by a foreign container or by a
//! process stops `up` before anything is created, naming the holder; a Docker daemon that is gone
//! (before or mid-way) gives one clear error and exit 1; kind and helm that can be neither found
//! nor fetched are both named before anything is created.

// Only the server and its hit count are used here.
#[allow(dead_code)]
#[path = "support/http_files.rs"]
mod http_files;
mod support;

use support::proxy::Proxy;
use support::*;

#[test]
fn port_held_by_a_foreign_container_is_named_and_nothing_changes() {
    if !docker_or_skip("port_held_by_a_foreign_container_is_named_and_nothing_changes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("fc"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let foreign = format!("{}-web", spec.name);
    let _c = Containers(vec![foreign.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &foreign,
        "-p",
        &format!("127.0.0.1:{}:80", spec.api_port),
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    let f = spec.write(dir.path());
    let log = dir.path().join("kind.log");
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[("KIND_DOUBLE_LOG", log.to_str().unwrap())],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        up.stderr.contains(&format!(
            "host port 127.0.0.1:{}/tcp is held by container `{foreign}`",
            spec.api_port
        )),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("nothing was changed"), "{}", up.text());
    assert!(nodes(&spec.name).is_empty(), "no node may be created");
    assert!(
        !log.exists(),
        "kind must not be called: {:?}",
        std::fs::read_to_string(&log)
    );
}

#[test]
fn port_held_by_a_process_is_named_and_nothing_changes() {
    if !docker_or_skip("port_held_by_a_process_is_named_and_nothing_changes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let mut spec = Spec::new(&unique("fp"));
    spec.https_port = listener.local_addr().unwrap().port();
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path());
    let log = dir.path().join("kind.log");
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[("KIND_DOUBLE_LOG", log.to_str().unwrap())],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    // The holder is this test process: named with its pid and program, and the file's field.
    let me = std::process::id();
    let program = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert!(
        up.stderr.contains(&format!(
            "cluster.portMappings[0].hostPort: host port 0.0.0.0:{}/tcp is held by process {me} (`{}`) on this host",
            spec.https_port,
            program.trim()
        )),
        "{}",
        up.text()
    );
    assert!(nodes(&spec.name).is_empty(), "no node may be created");
    assert!(!log.exists(), "kind must not be called");
    drop(listener);
}

/// The local registry's host port is one the file needs like the others: held by a process, `up`
/// stops before the cluster is made (not after, at the registry step), naming `registry.port`.
#[test]
fn the_registry_port_is_checked_before_any_change() {
    if !docker_or_skip("the_registry_port_is_checked_before_any_change") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (up, spec, dir, _clean) = up_with_registry("rp", &format!("port: {port}"));
    assert_eq!(up.code, 1, "{}", up.text());
    let me = std::process::id();
    assert!(
        up.stderr.contains(&format!(
            "registry.port: host port 127.0.0.1:{port}/tcp is held by process {me}"
        )),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("nothing was changed"), "{}", up.text());
    nothing_made(&spec, dir.path());
    drop(listener);
}

/// The registry's image is got before any change like the tools: one Docker cannot pull (here:
/// no such image, and no registry reachable) stops `up` before the cluster is made, naming it.
#[test]
fn a_registry_image_docker_cannot_get_stops_up_before_any_change() {
    if !docker_or_skip("a_registry_image_docker_cannot_get_stops_up_before_any_change") {
        return;
    }
    let (up, spec, dir, _clean) = up_with_registry(
        "ri",
        &format!(
            "port: {}, image: 'bootstrap-test/no-such-registry:1'",
            free_port()
        ),
    );
    assert_eq!(up.code, 1, "{}", up.text());
    for want in [
        "up stopped before any change",
        "registry: pulling bootstrap-test/no-such-registry:1",
        "nothing was changed",
    ] {
        assert!(up.stderr.contains(want), "missing {want:?}: {}", up.text());
    }
    nothing_made(&spec, dir.path());
}

/// `up` of a cluster with `registry: {name: <cluster>-registry, <fields>}`, kind's calls logged
/// beside the file; the Cleanup removes whatever was made.
fn up_with_registry(prefix: &str, fields: &str) -> (Run, Spec, tempfile::TempDir, Cleanup) {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique(prefix));
    let clean = Cleanup(vec![spec.name.clone()]);
    let f = dir.path().join("envs.yaml");
    std::fs::write(
        &f,
        format!(
            "{}registry: {{name: {}-registry, {fields}}}\n",
            spec.yaml(),
            spec.name
        ),
    )
    .unwrap();
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[(
            "KIND_DOUBLE_LOG",
            dir.path().join("kind.log").to_str().unwrap(),
        )],
    );
    (up, spec, dir, clean)
}

/// No node was made and kind (logging into `dir`) was never run.
fn nothing_made(spec: &Spec, dir: &std::path::Path) {
    assert!(nodes(&spec.name).is_empty(), "no node may be created");
    assert!(!dir.join("kind.log").exists(), "kind must not be called");
}

#[test]
fn daemon_absent_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("na"));
    let f = spec.write(dir.path());
    let host = format!("unix://{}/docker.sock", dir.path().display());
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
            "no Docker socket at {}/docker.sock (from DOCKER_HOST)",
            dir.path().display()
        )),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("hint: start Docker"), "{}", up.text());
    let st = bootstrap(
        &["-f", f.to_str().unwrap(), "status", "-o", "json"],
        &[("DOCKER_HOST", &host)],
    );
    assert_eq!(st.code, 1, "{}", st.text());
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["docker"]["reachable"], false);
}

#[test]
fn daemon_gone_mid_way_is_one_clear_error_and_creates_nothing() {
    if !docker_or_skip("daemon_gone_mid_way_is_one_clear_error_and_creates_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("gone"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path());
    // The proxy answers the version negotiation, then stops like a daemon that went away.
    let sock = dir.path().join("docker.sock");
    let proxy = Proxy::dying_after(&sock, 1);
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[("DOCKER_HOST", &proxy.docker_host())],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    let reqs = proxy.requests();
    assert!(
        reqs.len() >= 2 && reqs[0].contains("/version"),
        "the daemon must vanish after answering: {reqs:?}"
    );
    let errors: Vec<&str> = up
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", up.text());
    assert!(
        errors[0].contains(&format!(
            "the Docker daemon at {} is not answering while listing running containers",
            proxy.docker_host()
        )),
        "{}",
        up.text()
    );
    assert!(
        up.stderr.contains("hint: is Docker running?"),
        "{}",
        up.text()
    );
    assert!(!up.stderr.contains("panicked"), "{}", up.text());
    assert!(nodes(&spec.name).is_empty());
}

#[test]
fn missing_kind_is_named_with_an_install_hint_before_any_change() {
    if !docker_or_skip("missing_kind_is_named_with_an_install_hint_before_any_change") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("nk"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path());
    let empty_path = dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[
            ("BOOTSTRAP_KIND", ""),
            ("PATH", empty_path.to_str().unwrap()),
        ],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        up.stderr.contains("`kind` was not found in PATH"),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("kind v0.32.0"), "{}", up.text());
    assert!(up.stderr.contains("BOOTSTRAP_KIND"), "{}", up.text());
    assert!(up.stderr.contains("nothing was changed"), "{}", up.text());
    assert!(nodes(&spec.name).is_empty());

    let st = bootstrap(
        &["-f", f.to_str().unwrap(), "status", "-o", "json"],
        &[
            ("BOOTSTRAP_KIND", ""),
            ("PATH", empty_path.to_str().unwrap()),
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["tools"][0]["name"], "kind");
    assert!(
        doc["tools"][0]["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "{}",
        st.text()
    );
}

/// A machine with only Docker: neither kind nor helm on PATH, and the downloads fail (a mirror
/// that has nothing, as a network without GitHub would). Both tools are named in one run, before
/// the cluster is made, not after; the failed downloads leave nothing in the cache.
#[test]
fn kind_and_helm_that_cannot_be_fetched_stop_up_before_any_change() {
    if !docker_or_skip("kind_and_helm_that_cannot_be_fetched_stop_up_before_any_change") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("nf"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = dir.path().join("envs.yaml");
    std::fs::write(&f, format!("{}vclusters:\n  - name: dev\n", spec.yaml())).unwrap();
    let empty_path = dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let cache = dir.path().join("cache");
    let mirror = http_files::FileServer::start();
    let up = bootstrap(
        &["-f", f.to_str().unwrap(), "up"],
        &[
            ("BOOTSTRAP_KIND", ""),
            ("BOOTSTRAP_HELM", ""),
            ("BOOTSTRAP_OFFLINE", ""),
            ("BOOTSTRAP_DOWNLOAD_MIRROR", &mirror.base),
            ("XDG_CACHE_HOME", cache.to_str().unwrap()),
            ("PATH", empty_path.to_str().unwrap()),
        ],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    for want in [
        "up stopped before any change: 2 problems found",
        "could not fetch the pinned kind v0.32.0",
        "could not fetch the pinned helm v4.2.3",
        "BOOTSTRAP_KIND",
        "BOOTSTRAP_HELM",
        "nothing was changed",
    ] {
        assert!(up.stderr.contains(want), "missing {want:?}: {}", up.text());
    }
    assert!(
        !up.stderr.contains("cluster: started"),
        "the cluster step began: {}",
        up.text()
    );
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    assert_eq!(
        mirror.hits(&format!(
            "/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-{arch}"
        )),
        1,
        "kind was asked for once"
    );
    assert!(nodes(&spec.name).is_empty(), "no node may be created");
    let kept: Vec<_> = walkdir(&cache)
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(kept.is_empty(), "a failed download left files: {kept:?}");
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}
