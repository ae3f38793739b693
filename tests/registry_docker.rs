//! The local registry on the real Docker engine with a real registry (distribution's `registry`
//! from Debian's docker-registry package, in a FROM-scratch image built by
//! tests/support/registry-image.sh): created on kind's network and published on a host port,
//! `docker push localhost:<port>/...` lands in it (its `/v2/_catalog` lists the image), a node
//! gets kind's documented hosts.toml and can reach the registry by the name written there, the
//! KEP-1755 ConfigMap is applied through the API (the apiserver double), a second run changes
//! nothing, and removal takes exactly what carries our mark.

mod support;

use base64::Engine;
use bootstrap::core::config::load_str;
use bootstrap::core::render::registry::Action;
use bootstrap::drivers::registry;
use k8s_openapi::api::core::v1::ConfigMap;
use std::process::Command;
use support::{docker, docker_or_skip, docker_status, free_port, unique, Containers};
use testkit::{ApiServer, Auth, Pki};

/// kind's network, as kind makes it; shared with other tests, so made if absent and kept.
fn kind_network() {
    if !docker_status(&["network", "inspect", "kind"]) {
        let _ = docker_status(&["network", "create", "kind"]);
    }
}

/// A container that Docker lists as a kind node of `cluster` (kind's labels), on kind's network.
/// Its busybox runs applets from `sh -c` (cat, wget, test, rm), as a kind node's shell does.
fn node(cluster: &str) -> String {
    let name = format!("{cluster}-control-plane");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("io.x-k8s.kind.cluster={cluster}"),
        "--label",
        "io.x-k8s.kind.role=control-plane",
        "--network",
        "kind",
        "bootstrap-test/busybox:latest",
    ]);
    name
}

struct Api {
    server: ApiServer,
    client: kube::Client,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let pki = Pki::new("kind-ca");
    let serving = pki.server(&["127.0.0.1"]);
    let admin = pki.client("kubernetes-admin", "system:masters");
    let server = ApiServer::start(
        "127.0.0.1:0",
        &serving,
        Auth {
            client_ca_pem: Some(pki.ca_pem.clone()),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: k\n  context: {{cluster: k, user: k}}\nusers:\n- name: k\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            server.port(),
            b64(&pki.ca_pem),
            b64(&admin.cert_pem),
            b64(&admin.key_pem)
        ),
    )
    .unwrap();
    let client = bootstrap::drivers::kube::client_for_context(&kc, "k")
        .await
        .unwrap();
    Api {
        server,
        client,
        _dir: dir,
    }
}

fn catalog(port: u16) -> String {
    let mut resp = ureq::get(&format!("http://127.0.0.1:{port}/v2/_catalog"))
        .call()
        .unwrap();
    resp.body_mut().read_to_string().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_image_lands_in_the_registry_the_nodes_are_told_about() {
    let test = "a_pushed_image_lands_in_the_registry_the_nodes_are_told_about";
    if !docker_or_skip(test) || !support::registry::image_or_skip(test) {
        return;
    }
    kind_network();
    let cluster = unique("rg");
    let port = free_port();
    let node = node(&cluster);
    let reg_name = format!("{cluster}-registry");
    let image = format!("localhost:{port}/bt/hello:1");
    let _clean = Containers(vec![node.clone(), reg_name.clone()]);
    let env = load_str(
        &format!("cluster: {{name: {cluster}}}\nregistry: {{port: {port}, image: bootstrap-test/registry:latest}}\n"),
        "envs.yaml",
        &[],
    )
    .env
    .unwrap();
    let conn = bootstrap::drivers::docker::connect().await.unwrap();
    let api = api().await;

    // Plan: nothing there yet.
    let seen = registry::observe(&conn, &env).await.unwrap();
    assert_eq!(
        registry::plan(&env, &seen).unwrap(),
        vec![
            Action::Create,
            Action::Connect,
            Action::WriteHosts { node: node.clone() }
        ]
    );
    let dry = registry::apply(&conn, &env, Some(&api.client), true, &|_| {})
        .await
        .unwrap();
    assert!(dry.iter().all(|c| c.starts_with("would ")), "{dry:?}");
    assert!(
        dry.contains(&"would apply ConfigMap kube-public/local-registry-hosting".to_owned()),
        "{dry:?}"
    );
    assert!(
        !docker_status(&["inspect", &reg_name]),
        "a dry run created the container"
    );
    assert_eq!(api.server.writes(), 0);

    // Up.
    let changes = registry::apply(&conn, &env, Some(&api.client), false, &|_| {})
        .await
        .unwrap();
    let text = changes.join("\n");
    for want in [
        format!("create registry container {reg_name} (bootstrap-test/registry:latest, 127.0.0.1:{port} -> 5000)"),
        format!("connect registry container {reg_name} to network kind"),
        format!("write /etc/containerd/certs.d/localhost:{port}/hosts.toml on node {node}"),
        "applied ConfigMap kube-public/local-registry-hosting".to_owned(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in\n{text}");
    }
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &reg_name]);
    assert!(
        labels.contains(&format!("\"dev.bootstrap.owner\":\"env/{cluster}\"")),
        "{labels}"
    );
    let bound = docker(&["port", &reg_name, "5000/tcp"]);
    assert_eq!(bound, format!("127.0.0.1:{port}"));

    // Up again: converged, no Docker action and no API write.
    let writes = api.server.writes();
    let again = registry::apply(&conn, &env, Some(&api.client), false, &|_| {})
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(api.server.writes(), writes);

    // The node's host file is kind's documented one (kind-with-registry.sh at v0.32.0, step 3:
    // `[host."http://${reg_name}:5000"]` in /etc/containerd/certs.d/localhost:${reg_port}/hosts.toml),
    // after our mark.
    let hosts = docker(&[
        "exec",
        &node,
        "sh",
        "-c",
        &format!("cat /etc/containerd/certs.d/localhost:{port}/hosts.toml"),
    ]);
    let lines: Vec<&str> = hosts.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("# written by bootstrap for env/{cluster}").as_str(),
            format!("[host.\"http://{reg_name}:5000\"]").as_str()
        ]
    );

    // The ConfigMap is KEP-1755's, as kind's guide applies it (step 5).
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(api.client.clone(), "kube-public");
    let cm = cms.get("local-registry-hosting").await.unwrap();
    let v1: serde_json::Value =
        serde_saphyr::from_str(&cm.data.unwrap()["localRegistryHosting.v1"]).unwrap();
    assert_eq!(v1["host"], format!("localhost:{port}"));
    assert_eq!(
        v1["help"],
        "https://kind.sigs.k8s.io/docs/user/local-registry/"
    );

    // A locally built image, pushed as a user would, is listed by the registry's API.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM bootstrap-test/busybox:latest\nLABEL test={cluster}\n"),
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &image, ctx.path().to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let pushed = Command::new("docker")
        .args(["push", &image])
        .output()
        .unwrap();
    let _ = docker_status(&["rmi", &image]);
    assert!(
        pushed.status.success(),
        "docker push: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let listed = catalog(port);
    assert!(listed.contains("\"bt/hello\""), "{listed}");
    // And the name hosts.toml sends containerd to answers from the node, over kind's network.
    let from_node = docker(&[
        "exec",
        &node,
        "sh",
        "-c",
        &format!("wget -qO- http://{reg_name}:5000/v2/_catalog"),
    ]);
    assert!(from_node.contains("\"bt/hello\""), "{from_node}");

    // Down: the ConfigMap, the host file, the container; a second down finds nothing.
    let removed = registry::remove(&conn, &env, Some(&api.client), true)
        .await
        .unwrap();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(!docker_status(&["inspect", &reg_name]));
    assert!(!docker_status(&[
        "exec",
        &node,
        "sh",
        "-c",
        &format!("test -e /etc/containerd/certs.d/localhost:{port}/hosts.toml")
    ]));
    assert!(cms
        .get_opt("local-registry-hosting")
        .await
        .unwrap()
        .is_none());
    assert!(registry::remove(&conn, &env, Some(&api.client), true)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_the_user_runs_is_used_only_when_shared_and_then_left_alone() {
    let test = "a_registry_the_user_runs_is_used_only_when_shared_and_then_left_alone";
    if !docker_or_skip(test) || !support::registry::image_or_skip(test) {
        return;
    }
    kind_network();
    let cluster = unique("rs");
    let port = free_port();
    let node = node(&cluster);
    let theirs = format!("{cluster}-mine");
    let _clean = Containers(vec![node.clone(), theirs.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &theirs,
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "bootstrap-test/registry:latest",
    ]);
    let yaml = |shared: bool| {
        format!("cluster: {{name: {cluster}}}\nregistry: {{name: {theirs}, port: {port}, shared: {shared}}}\n")
    };
    let conn = bootstrap::drivers::docker::connect().await.unwrap();

    let env = load_str(&yaml(false), "envs.yaml", &[]).env.unwrap();
    let e = registry::apply(&conn, &env, None, false, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "a container named `{theirs}` exists that bootstrap did not create"
        )),
        "{e}"
    );
    assert!(e.contains("registry.shared: true"), "{e}");

    let env = load_str(&yaml(true), "envs.yaml", &[]).env.unwrap();
    let changes = registry::apply(&conn, &env, None, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}"); // connect to kind, write the node's host file
    let removed = registry::remove(&conn, &env, None, true).await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}"); // the host file only
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &theirs]),
        "true"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_finds_our_registry_by_its_mark_after_the_file_dropped_it() {
    let test = "down_finds_our_registry_by_its_mark_after_the_file_dropped_it";
    if !docker_or_skip(test) || !support::registry::image_or_skip(test) {
        return;
    }
    kind_network();
    let cluster = unique("rd");
    let port = free_port();
    let name = format!("{cluster}-custom");
    let _clean = Containers(vec![name.clone()]);
    let conn = bootstrap::drivers::docker::connect().await.unwrap();
    let with = load_str(
        &format!("cluster: {{name: {cluster}}}\nregistry: {{name: {name}, port: {port}, image: bootstrap-test/registry:latest}}\n"),
        "envs.yaml",
        &[],
    )
    .env
    .unwrap();
    registry::apply(&conn, &with, None, false, &|_| {})
        .await
        .unwrap();
    assert!(docker_status(&["inspect", &name]));
    // The user removed the section (and with it the name): the mark still finds it.
    let without = load_str(&format!("cluster: {{name: {cluster}}}\n"), "envs.yaml", &[])
        .env
        .unwrap();
    let removed = registry::remove(&conn, &without, None, true).await.unwrap();
    assert_eq!(removed, vec![format!("registry container {name} removed")]);
    assert!(!docker_status(&["inspect", &name]));
}
