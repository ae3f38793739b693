//! The cluster step end to end on a real Docker engine, with the kind double creating nodes the
//! way kind does: create, converged (counted: zero Docker writes), stopped, drift, recreate.

mod support;

use support::proxy::Proxy;
use support::*;

#[test]
fn create_then_converged_up_makes_no_docker_writes() {
    if !docker_or_skip("create_then_converged_up_makes_no_docker_writes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("conv"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    let kind_log = dir.path().join("kind.log");
    let kind_log_s = kind_log.to_str().unwrap();

    let first = bootstrap(&["-f", f, "up"], &[("KIND_DOUBLE_LOG", kind_log_s)]);
    assert_eq!(first.code, 0, "{}", first.text());
    assert!(
        first
            .stderr
            .contains(&format!("cluster `{}`: created", spec.name)),
        "{}",
        first.text()
    );
    assert!(
        first.stderr.contains("Ensuring node image"),
        "kind's output is folded in:\n{}",
        first.text()
    );
    assert_eq!(
        nodes(&spec.name),
        vec![format!("{}-control-plane", spec.name)]
    );
    let ports = docker(&["port", &format!("{}-control-plane", spec.name)]);
    assert!(
        ports.contains(&format!("6443/tcp -> 127.0.0.1:{}", spec.api_port)),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("443/tcp -> 0.0.0.0:{}", spec.https_port)),
        "{ports}"
    );
    let calls_after_create = std::fs::read_to_string(&kind_log).unwrap();
    assert!(
        calls_after_create.contains("--kubeconfig"),
        "{calls_after_create}"
    );

    let sock = dir.path().join("docker.sock");
    let proxy = Proxy::start(&sock);
    let again = bootstrap(
        &["-f", f, "up"],
        &[
            ("DOCKER_HOST", &proxy.docker_host()),
            ("KIND_DOUBLE_LOG", kind_log_s),
        ],
    );
    assert!(
        again.stderr.contains("converged, nothing to do"),
        "{}",
        again.text()
    );
    let requests = proxy.requests();
    assert!(
        !requests.is_empty(),
        "the run must have gone through the proxy"
    );
    assert_eq!(
        proxy.writes(),
        Vec::<String>::new(),
        "a converged up wrote to Docker; all calls: {requests:?}"
    );
    // Only a read of the admin kubeconfig (`kind get kubeconfig`) may follow: no create, no delete.
    let calls = std::fs::read_to_string(&kind_log).unwrap();
    let later: Vec<&str> = calls[calls_after_create.len()..].lines().collect();
    assert!(
        later.iter().all(|c| c.starts_with("kind get kubeconfig")),
        "kind must not change a converged cluster: {later:?}"
    );
}

#[test]
fn stopped_node_is_started_and_status_agrees() {
    if !docker_or_skip("stopped_node_is_started_and_status_agrees") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("stop"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    assert!(bootstrap(&["-f", f, "up"], &[]).stderr.contains("created"));
    docker(&["kill", &format!("{}-control-plane", spec.name)]);

    let st = bootstrap(&["-f", f, "status", "-o", "json"], &[]);
    let doc: serde_json::Value =
        serde_json::from_str(&st.stdout).unwrap_or_else(|e| panic!("{e}\n{}", st.text()));
    assert_eq!(doc["cluster"]["state"], "stopped", "{}", st.text());

    let sock = dir.path().join("docker.sock");
    let proxy = Proxy::start(&sock);
    let up = bootstrap(&["-f", f, "up"], &[("DOCKER_HOST", &proxy.docker_host())]);
    assert!(up.stderr.contains("started"), "{}", up.text());
    let writes = proxy.writes();
    assert_eq!(writes.len(), 1, "only the start is a write: {writes:?}");
    assert!(
        writes[0].starts_with("POST ") && writes[0].contains("/start"),
        "{writes:?}"
    );

    let st = bootstrap(&["-f", f, "status", "-o", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["cluster"]["state"], "converged", "{}", st.text());
    assert_eq!(doc["cluster"]["nodes"][0]["networks"][0], "kind");
}

#[test]
fn drift_is_explained_and_only_recreate_fixes_it() {
    if !docker_or_skip("drift_is_explained_and_only_recreate_fixes_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::new(&unique("drift"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path()).to_str().unwrap().to_owned();
    assert!(bootstrap(&["-f", &f, "up"], &[]).stderr.contains("created"));
    let old_id = docker(&[
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{}-control-plane", spec.name),
    ]);

    // The file now wants another node image and another HTTPS host port.
    let old_https = spec.https_port;
    spec.https_port = free_port();
    spec.image = Some(NODE_IMAGE_V2.into());
    let f = spec.write(dir.path()).to_str().unwrap().to_owned();

    let sock = dir.path().join("docker.sock");
    let proxy = Proxy::start(&sock);
    let up = bootstrap(&["-f", &f, "up"], &[("DOCKER_HOST", &proxy.docker_host())]);
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(up.stderr.contains("needs to be recreated"), "{}", up.text());
    assert!(
        up.stderr.contains(&format!(
            "port mapping 0.0.0.0:{}->443/tcp is missing",
            spec.https_port
        )),
        "{}",
        up.text()
    );
    assert!(
        up.stderr
            .contains(&format!("publishes 0.0.0.0:{old_https}->443/tcp")),
        "{}",
        up.text()
    );
    assert!(
        up.stderr.contains(
            "the file wants bootstrap-test/kind-node:v2, the node runs bootstrap-test/kind-node:latest"
        ),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("--recreate"), "{}", up.text());
    assert_eq!(
        proxy.writes(),
        Vec::<String>::new(),
        "drift without --recreate must change nothing"
    );

    let st = bootstrap(&["-f", &f, "status"], &[]);
    assert!(st.stdout.contains("drifted"), "{}", st.text());
    assert!(st.stdout.contains("differs: "), "{}", st.text());

    let re = bootstrap(&["-f", &f, "up", "--recreate"], &[]);
    assert!(re.stderr.contains("recreated"), "{}", re.text());
    let new_id = docker(&[
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{}-control-plane", spec.name),
    ]);
    assert_ne!(old_id, new_id, "the node must be a new container");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}",
            &format!("{}-control-plane", spec.name)
        ]),
        NODE_IMAGE_V2
    );
    let st = bootstrap(&["-f", &f, "status", "-o", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["cluster"]["state"], "converged", "{}", st.text());
}

#[test]
fn file_without_port_mappings_publishes_the_router_port_and_converges() {
    if !docker_or_skip("file_without_port_mappings_publishes_the_router_port_and_converges") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("dflt"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = dir.path().join("envs.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: bootstrap/v1alpha1\nrouter:\n  httpsPort: {}\ncluster:\n  name: {}\n  apiServer: {{port: {}}}\n",
            spec.https_port, spec.name, spec.api_port
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let up = bootstrap(&["-f", f, "up"], &[]);
    assert!(up.stderr.contains("created"), "{}", up.text());
    let ports = docker(&["port", &format!("{}-control-plane", spec.name)]);
    assert!(
        ports.contains(&format!("443/tcp -> 0.0.0.0:{}", spec.https_port)),
        "{ports}"
    );
    let st = bootstrap(&["-f", f, "status", "-o", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(doc["cluster"]["state"], "converged", "{}", st.text());
}
